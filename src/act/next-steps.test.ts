import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Plan } from '../core/plan.ts';
import { nextSteps } from './next-steps.ts';

const plan = (rows: number[][], E: number, G: number): Plan => ({ version: 1, numLayers: rows.length, numExperts: E, numRanks: G, layerIds: rows.map((_, i) => i + 1), phy2log: rows.map((r) => Int32Array.from(r)), ranksPerNode: G });

test('APPLY, no replicas: SGLang export + exact flags, vLLM via reorder', () => {
  const t = nextSteps({ plan: plan([[0, 1, 2, 3], [3, 2, 1, 0]], 4, 2), verdict: 'apply', out: 'p.json' }).join('\n');
  assert.match(t, /^ {2}wrote p\.json$/m);
  assert.match(t, /^ {2}next steps$/m);
  assert.match(t, /ballast export p\.json --to sglang --out sglang-map\.json {3}then launch with --tp-size 2 --ep-size 2 --ep-num-redundant-experts 0 --init-expert-location sglang-map\.json --ep-dispatch-algorithm static/);
  assert.match(t, /ballast reorder CHECKPOINT --plan p\.json --out NEW_CHECKPOINT --verify/);
  assert.match(t, /group-routed models .* --for reorder --model CHECKPOINT/);
  assert.match(t, /no vLLM release loads them/);
  // A plan made with --for reorder needs no such hint.
  const p = plan([[0, 1, 2, 3]], 4, 2);
  p.params = { for: 'reorder' };
  assert.doesNotMatch(nextSteps({ plan: p, verdict: 'apply', out: 'p.json' }).join('\n'), /group-routed/);
});

test('KEEP CURRENT says so next to the file it wrote; replicas: vLLM gets online EPLB with R, not reorder', () => {
  // 4 experts + 2 redundant over 2 ranks.
  const t = nextSteps({ plan: plan([[0, 1, 2, 3, 0, 1]], 4, 2), verdict: 'keep current', out: 'p.json' }).join('\n');
  assert.match(t, /^ {2}wrote p\.json {2}\(KEEP CURRENT: the gate predicts this plan does not pay; keep the placement you have/m);
  assert.match(t, /next steps \(only if you apply it anyway; the gate says keep current\)/);
  assert.match(t, /--ep-num-redundant-experts 2/);
  assert.match(t, /no vLLM release loads a placement with 2 redundant slots.*re-plan with --for reorder --model CHECKPOINT.*--eplb-config\.num_redundant_experts 2/);
  assert.doesNotMatch(t, /ballast reorder CHECKPOINT/);
});

test('no --out, variable slots: asks for --out; SGLang needs uniform slots', () => {
  const t = nextSteps({ plan: plan([[0, 1], [0, 1, 0, 1]], 2, 2) }).join('\n');
  assert.match(t, /pass --out plan\.json/);
  assert.match(t, /SGLang {3}needs one slot count for every layer/);
});
