import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import { readPlanFile } from '../../plan/plan-file.ts';
import { planToDeepseek, planToExpertMap, planToSglang, planToVllmJsonl, writePlanExport } from './plan-exports.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-planexp-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function plan(rows: number[][], E: number, G: number, extra: Partial<Plan> = {}): Plan {
  return { version: 1, numLayers: rows.length, numExperts: E, numRanks: G, layerIds: rows.map((_, i) => i + 1), phy2log: rows.map((r) => Int32Array.from(r)), ranksPerNode: G, ...extra };
}
const rows = (p: Plan) => p.phy2log.map((r) => Array.from(r));
function throwsInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof InputError && re.test(e.message), String(re));
}

// 3 layers, 8 experts, 4 ranks, 12 slots (one redundant slot per rank), 2 nodes of 2 ranks.
const withReplicas = plan(
  [
    [0, 1, 4, 2, 3, 0, 5, 6, 1, 7, 0, 2],
    [7, 6, 0, 5, 4, 1, 3, 2, 7, 1, 0, 6],
    [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3],
  ],
  8,
  4,
  { ranksPerNode: 2 },
);
const variable = plan([[0, 1, 2, 3], [0, 1, 2, 3, 0, 1, 2, 3], [3, 2, 1, 0]], 4, 2, { allowColocatedReplicas: false });
const noReplicas = plan([[0, 1, 2, 3, 4, 5, 6, 7], [2, 5, 0, 7, 1, 3, 4, 6]], 8, 4);

test('sglang export: one row per decoder layer (ids 1..3 of 5), dense rows trivial; round-trips by row index', () => {
  const out = join(dir, 'sglang.json');
  const layers = { numHiddenLayers: 5, source: 'test', inferred: false };
  writePlanExport(withReplicas, 'sglang', out, { layers });
  // SGLang's init_trivial row for P = 12, E = 8: p % 8.
  const trivial = [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3];
  const want = [trivial, ...rows(withReplicas), trivial];
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), { physical_to_logical_map: want });
  const back = readPlanFile(out, { numRanks: 4 });
  assert.deepEqual(rows(back), want);
  assert.deepEqual(back.layerIds, [0, 1, 2, 3, 4]);
  throwsInput(() => planToSglang(withReplicas, { numHiddenLayers: 3, source: 'x', inferred: false }), /do not fit 3 decoder layers/);
  throwsInput(() => writePlanExport(withReplicas, 'sglang', out), /num_hidden_layers/);
});

test('vllm-jsonl export: meta + mapping lines, round-trips with no context', () => {
  const text = planToVllmJsonl(withReplicas);
  const lines = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(lines[0].record_type, 'eplb_load_meta');
  assert.equal(lines[0].num_ranks, 4);
  assert.equal(lines[0].num_nodes, 2);
  assert.equal(lines[1].record_type, 'eplb_initial_mapping');
  assert.equal(lines[1].num_slots, 12);
  assert.equal(lines[1].num_redundant_experts, 4);
  assert.deepEqual(lines[1].initial_global_assignments['2'], [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]);
  const out = join(dir, 'vllm.jsonl');
  writePlanExport(withReplicas, 'vllm-jsonl', out);
  const back = readPlanFile(out);
  assert.deepEqual(rows(back), rows(withReplicas));
  assert.equal(back.ranksPerNode, 2);
});

test('deepseek export carries log2phy/logcnt and per-layer slot counts; round-trips', () => {
  const d = planToDeepseek(withReplicas);
  // layer 0: expert 0 sits in slots 0, 5, 10; expert 7 only in slot 9; X = 3
  assert.deepEqual(d.log2phy[0][0], [0, 5, 10]);
  assert.deepEqual(d.log2phy[0][7], [9, -1, -1]);
  assert.deepEqual(d.logcnt[0], [3, 2, 2, 1, 1, 1, 1, 1]);
  for (const p of [withReplicas, variable]) {
    const out = join(dir, 'ds.json');
    writePlanExport(p, 'deepseek', out);
    const back = readPlanFile(out);
    assert.deepEqual(rows(back), rows(p));
    assert.equal(back.numRanks, p.numRanks);
  }
});

test('expert-map export follows vLLM PR #34811: one [E] map; layers that differ need --layer; refuses replicas', () => {
  // Layers 1 and 2 of noReplicas differ: refused unless one layer is chosen.
  throwsInput(() => planToExpertMap(noReplicas), /layers 1 and 2 place experts on different ranks.*--layer N/);
  // Layer 2 (index 1): slots [2,5 | 0,7 | 1,3 | 4,6] over 4 ranks of 2 slots.
  assert.deepEqual(planToExpertMap(noReplicas, 2).expert_to_ep_rank, [1, 2, 0, 2, 3, 0, 3, 1]);
  throwsInput(() => planToExpertMap(noReplicas, 7), /no layer 7; its layers are 1, 2/);
  const same = plan([[0, 1, 2, 3], [0, 1, 2, 3]], 4, 2);
  assert.deepEqual(planToExpertMap(same).expert_to_ep_rank, [0, 0, 1, 1]);
  // Round trip: same expert -> rank; within a rank, slots come back in ascending expert order.
  const out = join(dir, 'map.json');
  writePlanExport(noReplicas, 'expert-map', out, { layer: 2 });
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), { expert_to_ep_rank: [1, 2, 0, 2, 3, 0, 3, 1] });
  assert.deepEqual(rows(readPlanFile(out)), [[2, 5, 0, 7, 1, 3, 4, 6]]);
  throwsInput(() => planToExpertMap(withReplicas), /cannot carry replicas/);
});

test('variable-slot plans are refused by sglang and vllm-jsonl, naming the forms that carry them', () => {
  throwsInput(() => planToSglang(variable, { numHiddenLayers: 4, source: 'test', inferred: false }), /4, 8 slots.*ballast plan JSON or --to deepseek/);
  throwsInput(() => planToVllmJsonl(variable), /one slot count for every layer.*ballast plan JSON or --to deepseek/);
});
