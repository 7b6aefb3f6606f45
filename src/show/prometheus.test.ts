import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeLoadTrace } from '../core/load-trace.ts';
import { escapeLabel, renderTracePrometheus } from './prometheus.ts';

/** Parse exposition lines into name{labels} -> value. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

// 2 windows x 2 layers (ids 3, 7) x 4 experts. Totals: layer 3 = [4,2,2,0] (sum 8, mean 2, max 4);
// layer 7 = [1,1,1,1] (sum 4, mean 1, max 1).
const trace = makeLoadTrace(
  { model: 'toy"moe', layerIds: [3, 7], topK: 2, sources: [] },
  2,
  4,
  Float64Array.from([3, 1, 0, 0, 1, 0, 1, 0, /* w1 */ 1, 1, 2, 0, 0, 1, 0, 1]),
  [{ tokens: 3, timeMs: 1000 }, { tokens: 3, timeMs: 2500 }],
);

test('per-layer imbalance and balancedness worked out by hand', () => {
  const s = samples(renderTracePrometheus(trace, { session: 's1' }));
  assert.equal(s.get('ballast_layer_imbalance{layer="3"}'), 2); // 4 / 2
  assert.equal(s.get('ballast_layer_balancedness{layer="3"}'), 0.5);
  assert.equal(s.get('ballast_layer_imbalance{layer="7"}'), 1);
  assert.equal(s.get('ballast_imbalance_max'), 2);
  // (2 + 1) / (4 + 1)
  assert.equal(s.get('ballast_balancedness'), 0.6);
  assert.equal(s.get('ballast_assignments_total'), 12);
  assert.equal(s.get('ballast_tokens_total'), 6);
  assert.equal(s.get('ballast_windows_total'), 2);
  assert.equal(s.get('ballast_last_update_timestamp_seconds'), 2.5);
  assert.equal(s.get('ballast_info{model="toy\\"moe",session="s1"}'), 1);
  assert.equal([...s.keys()].some((k) => k.startsWith('ballast_expert_load')), false);
});

test('recent scope, per-expert series, EP ranks and rank totals', () => {
  const text = renderTracePrometheus(trace, { scope: 'recent', perExpert: true, epRanks: 2, rankTotals: new Map([[1, 5], [0, 7]]) });
  const s = samples(text);
  // last window: layer 3 = [1,1,2,0] -> max 2 / mean 1
  assert.equal(s.get('ballast_layer_imbalance{layer="3"}'), 2);
  assert.equal(s.get('ballast_expert_load{layer="3",expert="2"}'), 2);
  // EP ranks (linear, 2 experts each): layer 3 -> [2, 2], layer 7 -> [1, 1]; totals [3, 3]
  assert.equal(s.get('ballast_ep_rank_load{rank="0"}'), 3);
  assert.equal(s.get('ballast_layer_ep_imbalance{layer="3"}'), 1);
  assert.equal(s.get('ballast_rank_assignments_total{rank="0"}'), 7);
  assert.ok(text.indexOf('rank="0"') < text.indexOf('rank="1"'));
  // Every sample line belongs to a family declared with TYPE before it.
  const declared = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
  for (const k of s.keys()) assert.ok(declared.has(k.split('{')[0]), k);
});

test('a layer with no load reports 0, never NaN', () => {
  const t = makeLoadTrace({ layerIds: [0], sources: [] }, 1, 2, new Float64Array(2));
  const text = renderTracePrometheus(t);
  assert.ok(!text.includes('NaN'));
  assert.equal(samples(text).get('ballast_layer_imbalance{layer="0"}'), 0);
  assert.equal(escapeLabel('a\\b\n'), 'a\\\\b\\n');
});
