/**
 * Parallel layouts give the engine's true totals: pipeline-parallel stages merged by layer id,
 * sequence-parallel MoE (every TP rank's own chunk counted) and data-parallel ranks summed, across real
 * processes on the vLLM mirror (capture/python/tests/layout_worker.py); plus the stage gate's refusals.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runAnalyze } from '../cli/commands/analyze.ts';
import { totalCounts } from '../core/load-trace.ts';
import { readInputs } from '../ingest/read-inputs.ts';
import { renderAnalysis } from '../show/analyze-view.ts';
import { traceMetaView } from '../show/report/build.ts';
import { readBallastTrace } from '../ingest/ballast/reader.ts';
import { StageGate } from './layout.ts';
import { isReplica } from './merge.ts';
import { type AgentWindow, parseAgentWindow } from './protocol.ts';
import { BALLAST, FIXTURE, PYTHON, runBounded, truthOf } from './test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-layout-'));
const env = { BALLAST_SESSION_DIR: join(dir, 'sessions') };
after(() => rmSync(dir, { recursive: true, force: true }));
const WORKER = join(FIXTURE, '..', 'layout_worker.py');

async function runLayout(layout: string) {
  const out = join(dir, `${layout}.ballast`);
  const res = await runBounded('node', [BALLAST, 'run', '--out', out, '--flush-ms', '200', '--', PYTHON, WORKER, 'launch', layout], { timeoutMs: 180_000, env });
  assert.equal(res.code, 0, res.stderr);
  assert.doesNotMatch(res.stderr, /capture disabled|check failed|HTTP 409/);
  const t = truthOf(res.stdout) as unknown as { layer_ids: number[]; counts: number[][] };
  const trace = readBallastTrace(out, { warn: () => {} });
  return { t, trace, stderr: res.stderr };
}

test('pipeline parallel: two stages with disjoint layers become one trace with every layer, exact', async () => {
  const { t, trace, stderr } = await runLayout('pp');
  assert.deepEqual(trace.load!.meta.layerIds, [0, 1, 2, 3]);
  assert.deepEqual(t.layer_ids, [0, 1, 2, 3]);
  assert.deepEqual(Array.from(totalCounts(trace.load!)), t.counts.flat());
  assert.match(stderr, /2 agent process\(es\)/);
  assert.equal(trace.load!.meta.extra?.capturePath, 'vllm-capture-fn');
  assert.equal(trace.load!.meta.extra?.engine, 'vllm');
  // tokens are the tokens of one forward pass (5+3+9+1), not counted once per stage
  assert.equal(trace.load!.windows.reduce((s, w) => s + (w.tokens ?? 0), 0), 18);
  // analyze and report say which capture path, engine and version produced the trace
  const out = join(dir, 'pp.ballast');
  const [a] = await runAnalyze([out], { placement: 'linear' });
  assert.deepEqual(a.trace.capture, { path: 'vllm-capture-fn', engine: 'vllm', engineVersion: '0.11.0-mirror' });
  assert.match(renderAnalysis(a, { color: false }), /\ncaptured via vllm-capture-fn \(vllm 0\.11\.0-mirror\)\n/);
  const [input] = await readInputs([out]);
  assert.equal(traceMetaView(input, totalCounts(input.load)).capture, 'vllm-capture-fn (vllm 0.11.0-mirror)');
});

test('sequence-parallel MoE (TP=2, each rank its own chunk) plus a second DP rank: all three summed, exact', async () => {
  const { t, trace } = await runLayout('spdp');
  assert.deepEqual(Array.from(totalCounts(trace.load!)), t.counts.flat());
  assert.equal(trace.load!.windows.reduce((s, w) => s + (w.tokens ?? 0), 0), 3 * 18);
});

function win(o: { pid: number; pp?: [number, number]; ids: number[]; counts: number[]; tp?: number; sp?: boolean; sum?: boolean; tokens?: number; nhl?: unknown }): AgentWindow {
  return parseAgentWindow({
    v: 1, pid: o.pid, host: 'h', rank: o.pid, tp_rank: o.tp ?? null, layer_ids: o.ids, experts: 2, seq: 0, flush_ms: 100,
    ...(o.nhl !== undefined ? { num_hidden_layers: o.nhl } : {}),
    ...(o.pp ? { pp_rank: o.pp[0], pp_size: o.pp[1] } : {}),
    ...(o.sp ? { sequence_parallel: true } : {}),
    ...(o.sum ? { sum_ranks: true } : {}),
    parts: [{ phase: null, steps: 1, tokens: o.tokens ?? 4, counts: o.counts }],
    capture: { path: 'vllm-capture-fn', engine: 'vllm', engine_version: '0.11.0', check: 'ok' },
  });
}

test('stage gate: holds stages until all reported, widens by layer id, refuses overlaps and late stages in one line', () => {
  const released: AgentWindow[] = [];
  const logs: string[] = [];
  const g = new StageGate(60_000, (ws) => released.push(...ws), (l) => logs.push(l));
  const plain = win({ pid: 9, ids: [0], counts: [1, 2] });
  assert.deepEqual(new StageGate(10, () => {}, () => {}).admit(plain), { windows: [plain] }, 'no PP: passes untouched');
  const s1 = g.admit(win({ pid: 2, pp: [1, 2], ids: [5, 7], counts: [1, 0, 0, 3], tokens: 4 }));
  assert.deepEqual(s1, { windows: [] }, 'held until stage 0 reports');
  assert.match((g.admit(win({ pid: 3, pp: [0, 2], ids: [1, 5], counts: [0, 0, 0, 0] })) as { refuse: string }).refuse, /stages 1 and 0 both report layers \[5\]/);
  const s0 = g.admit(win({ pid: 1, pp: [0, 2], ids: [1, 3], counts: [2, 0, 0, 1], tokens: 4 })) as { windows: AgentWindow[] };
  assert.equal(s0.windows.length, 2);
  assert.deepEqual(g.layerIds, [1, 3, 5, 7]);
  const byPid = new Map(s0.windows.map((w) => [w.pid, w]));
  assert.deepEqual(Array.from(byPid.get(2)!.parts[0].counts), [0, 0, 0, 0, 1, 0, 0, 3]);
  assert.deepEqual(Array.from(byPid.get(1)!.parts[0].counts), [2, 0, 0, 1, 0, 0, 0, 0]);
  assert.equal(byPid.get(2)!.parts[0].tokens, 0, 'the later stage routes the same tokens: counted once');
  assert.equal(byPid.get(1)!.parts[0].tokens, 4);
  const late = g.admit(win({ pid: 4, pp: [2, 3], ids: [9], counts: [1, 1] })) as { refuse: string };
  assert.match(late.refuse, /pipeline stage 2 \(layers \[9\]\) arrived after the trace layout was fixed to layers \[1, 3, 5, 7\]/);
  assert.match((g.admit(win({ pid: 1, pp: [0, 2], ids: [1], counts: [1, 1] })) as { refuse: string }).refuse, /stage 0 sent layers \[1\], earlier \[1, 3\]/);
  assert.equal(released.length, 0);
  assert.deepEqual(logs, []);
});

test('stage gate: a stage that never reports is named in one line after the wait, the others are kept', async () => {
  const released: AgentWindow[] = [];
  const logs: string[] = [];
  const g = new StageGate(50, (ws) => released.push(...ws), (l) => logs.push(l));
  g.admit(win({ pid: 1, pp: [0, 2], ids: [0, 1], counts: [1, 1, 1, 1] }));
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(released.length, 1);
  assert.deepEqual(logs, ['pipeline parallel: stage(s) 1 of 2 sent nothing within 50 ms; the trace holds the layers of stages 0 only']);
});

test('TP replicas are skipped unless the MoE is sequence parallel; capture source is parsed', () => {
  assert.equal(isReplica(win({ pid: 1, ids: [0], counts: [1, 1], tp: 1 })), true);
  assert.equal(isReplica(win({ pid: 1, ids: [0], counts: [1, 1], tp: 1, sp: true })), false);
  assert.equal(isReplica(win({ pid: 1, ids: [0], counts: [1, 1], tp: 0 })), false);
  // EPLB load view: each EP rank counted its own physical slots, so tp_rank 1 is a disjoint part, not a replica
  assert.equal(isReplica(win({ pid: 1, ids: [0], counts: [1, 1], tp: 1, sum: true })), false);
  assert.deepEqual(win({ pid: 1, ids: [0], counts: [1, 1] }).capture, { path: 'vllm-capture-fn', engine: 'vllm', engineVersion: '0.11.0', check: 'ok' });
  assert.throws(() => win({ pid: 1, pp: [2, 2], ids: [0], counts: [1, 1] }), (e: Error & { where?: string }) => e.where === 'key pp_rank' && /expected a stage below pp_size 2, got 2/.test(e.message));
});

test('num_hidden_layers: an optional integer above every layer id, refused otherwise with the key named', () => {
  assert.equal(win({ pid: 1, ids: [1, 3], counts: [1, 1, 1, 1], nhl: 4 }).numHiddenLayers, 4);
  assert.equal(win({ pid: 1, ids: [1, 3], counts: [1, 1, 1, 1] }).numHiddenLayers, undefined);
  assert.equal(win({ pid: 1, ids: [1, 3], counts: [1, 1, 1, 1], nhl: null }).numHiddenLayers, undefined);
  for (const bad of [0, -4, 2.5, '4', true, 1e300, [4]]) {
    assert.throws(() => win({ pid: 1, ids: [1, 3], counts: [1, 1, 1, 1], nhl: bad }), (e: Error & { where?: string }) => e.where === 'key num_hidden_layers' && /expected an integer >= 1/.test(e.message), String(bad));
  }
  // 3 decoder layers cannot hold MoE layer 3 (ids are 0-based decoder ids).
  assert.throws(() => win({ pid: 1, ids: [1, 3], counts: [1, 1, 1, 1], nhl: 3 }), (e: Error & { where?: string }) => e.where === 'key num_hidden_layers' && /more decoder layers than the largest layer id 3, got 3/.test(e.message));
});

test('stage gate: stages agree on num_hidden_layers, a stage without it takes the others\', a contradicting stage is refused', () => {
  const g = new StageGate(60_000, () => {}, () => {});
  assert.deepEqual(g.admit(win({ pid: 1, pp: [0, 2], ids: [1, 2], counts: [1, 0, 0, 1], nhl: 6 })), { windows: [] });
  const clash = g.admit(win({ pid: 2, pp: [1, 2], ids: [3, 5], counts: [1, 0, 0, 1], nhl: 7 })) as { refuse: string };
  assert.match(clash.refuse, /pipeline stages 0 and 1 report num_hidden_layers 6 and 7/);
  const fixed = g.admit(win({ pid: 3, pp: [1, 2], ids: [3, 5], counts: [1, 0, 0, 1] })) as { windows: AgentWindow[] };
  assert.equal(fixed.windows.length, 2);
  assert.deepEqual(fixed.windows.map((w) => w.numHiddenLayers), [6, 6], 'the stage without it gets the other stage\'s');
  assert.equal((g.admit(win({ pid: 3, pp: [1, 2], ids: [3, 5], counts: [0, 1, 1, 0] })) as { windows: AgentWindow[] }).windows[0].numHiddenLayers, 6);
  // No stage sends it: nothing is made up.
  const h = new StageGate(60_000, () => {}, () => {});
  h.admit(win({ pid: 1, pp: [0, 2], ids: [0], counts: [1, 1] }));
  const ws = (h.admit(win({ pid: 2, pp: [1, 2], ids: [1], counts: [1, 1] })) as { windows: AgentWindow[] }).windows;
  assert.deepEqual(ws.map((w) => w.numHiddenLayers), [undefined, undefined]);
});
