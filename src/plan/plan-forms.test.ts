import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../core/errors.ts';
import { type PlanReadContext, readPlanFile } from './plan-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-planforms-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const p = join(dir, `f${n++}.json`);
  writeFileSync(p, text);
  return p;
}
const rows = (p: { phy2log: Int32Array[] }) => p.phy2log.map((r) => Array.from(r));
function throwsInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof InputError && re.test(`${e.where}: ${e.message}`), String(re));
}

test('SGLang physical_to_logical_map needs the rank count and gives it back as slots', () => {
  const f = file(JSON.stringify({ physical_to_logical_map: [[0, 1, 2, 3, 0, 1], [3, 2, 1, 0, 3, 2]] }));
  throwsInput(() => readPlanFile(f), /pass --ranks G/);
  const p = readPlanFile(f, { numRanks: 2 });
  assert.equal(p.numLayers, 2);
  assert.equal(p.numExperts, 4);
  assert.equal(p.numRanks, 2);
  assert.deepEqual(rows(p), [[0, 1, 2, 3, 0, 1], [3, 2, 1, 0, 3, 2]]);
  throwsInput(() => readPlanFile(file(JSON.stringify({ logical_count: [[1, 2]] })), { numRanks: 2 }), /load \(logical_count\), not a placement/);
  // 6 slots over 4 ranks is not a plan
  throwsInput(() => readPlanFile(f, { numRanks: 4 }), /6 slots do not divide evenly over 4 ranks/);
});

test('vLLM offline-EPLB mapping among load records; rank count from eplb_load_meta', () => {
  const lines = [
    { record_type: 'eplb_load_meta', version: 1, model: 'm', num_ranks: 2, num_groups: 1, num_nodes: 1, num_layers: 2, num_redundant_experts: 2 },
    { record_type: 'eplb_load_stats', version: 1, step: 1, expert_load: [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], p2l_map: [[0, 1, 2, 3, 0, 1], [0, 1, 2, 3, 0, 1]] },
    { record_type: 'eplb_initial_mapping', version: 1, num_redundant_experts: 2, num_slots: 6, initial_global_assignments: { '1': [3, 2, 1, 0, 3, 2], '0': [0, 1, 2, 3, 0, 1] } },
    { record_type: 'eplb_load_stats', version: 1, step: 2, expert_load: [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], p2l_map: [[0, 1, 2, 3, 0, 1], [0, 1, 2, 3, 0, 1]] },
  ];
  const f = file(lines.map((l) => JSON.stringify(l)).join('\n'));
  const p = readPlanFile(f);
  assert.equal(p.numRanks, 2);
  assert.equal(p.numExperts, 4);
  assert.equal(p.model, 'm');
  assert.deepEqual(rows(p), [[0, 1, 2, 3, 0, 1], [3, 2, 1, 0, 3, 2]]);
  throwsInput(() => readPlanFile(f, { numRanks: 3 }), /for 2 ranks but 3 were asked/);
  // A lone mapping line (plain JSON) needs --ranks.
  const lone = file(JSON.stringify(lines[2]));
  throwsInput(() => readPlanFile(lone), /pass --ranks G/);
  assert.deepEqual(rows(readPlanFile(lone, { numRanks: 2 })), [[0, 1, 2, 3, 0, 1], [3, 2, 1, 0, 3, 2]]);
  throwsInput(() => readPlanFile(file(`${JSON.stringify(lines[2])}\n${JSON.stringify(lines[2])}\n`), { numRanks: 2 }), /line 2: second eplb_initial_mapping record \(first on line 1\)/);
  throwsInput(() => readPlanFile(file(`${JSON.stringify(lines[2])}\n{oops\n`), { numRanks: 2 }), /line 2: expected one JSON object/);
  const short = { ...lines[2], initial_global_assignments: { '0': [0, 1, 2, 3] } };
  throwsInput(() => readPlanFile(file(JSON.stringify(short)), { numRanks: 2 }), /expected 6 slot entries \(num_slots\), got 4/);
});

test('expert_to_ep_rank: one row for every layer, or one per layer; no replicas; equal experts per rank', () => {
  const f = file(JSON.stringify({ expert_to_ep_rank: [1, 0, 1, 0] }));
  const one = readPlanFile(f);
  assert.equal(one.numLayers, 1);
  assert.equal(one.numRanks, 2);
  // rank 0 holds experts 1 and 3, rank 1 holds 0 and 2 (ascending within a rank)
  assert.deepEqual(rows(one), [[1, 3, 0, 2]]);
  const ctx: PlanReadContext = { numLayers: 3, layerIds: [1, 2, 3] };
  const three = readPlanFile(f, ctx);
  assert.deepEqual(rows(three), [[1, 3, 0, 2], [1, 3, 0, 2], [1, 3, 0, 2]]);
  assert.deepEqual(three.layerIds, [1, 2, 3]);
  const perLayer = readPlanFile(file(JSON.stringify({ expert_to_ep_rank: [[0, 0, 1, 1], [1, 1, 0, 0]] })));
  assert.deepEqual(rows(perLayer), [[0, 1, 2, 3], [2, 3, 0, 1]]);
  throwsInput(() => readPlanFile(file(JSON.stringify({ expert_to_ep_rank: [0, 0, 0, 1] }))), /rank 0 gets 3 experts; every rank must get 4\/2 = 2/);
  throwsInput(() => readPlanFile(file(JSON.stringify({ expert_to_ep_rank: [0, 1, 2, 3] })), { numRanks: 2 }), /expected a rank in \[0, 2\), got 2/);
});

test('DeepSeek phy2log/log2phy/logcnt: consistent outputs read; inconsistent ones are refused at the key', () => {
  // DeepSeek lists replicas in replica order, not slot order: expert 0 in slots 4 and 0.
  const good = {
    phy2log: [[0, 1, 2, 3, 0, 1]],
    log2phy: [[[4, 0], [1, 5], [2, -1], [3, -1]]],
    logcnt: [[2, 2, 1, 1]],
  };
  throwsInput(() => readPlanFile(file(JSON.stringify(good))), /pass --ranks G/);
  const p = readPlanFile(file(JSON.stringify(good)), { numRanks: 2 });
  assert.deepEqual(rows(p), [[0, 1, 2, 3, 0, 1]]);
  assert.equal(p.numExperts, 4);
  throwsInput(() => readPlanFile(file(JSON.stringify({ ...good, logcnt: [[2, 1, 1, 1]] })), { numRanks: 2 }), /key logcnt\[0\]\[1\]: says 1 replicas but phy2log\[0\] holds expert 1 2 times/);
  throwsInput(
    () => readPlanFile(file(JSON.stringify({ ...good, log2phy: [[[4, 0], [1, 3], [2, -1], [3, -1]]] })), { numRanks: 2 }),
    /key log2phy\[0\]\[1\]: lists slots \[1, 3\] but phy2log\[0\] puts expert 1 in slots \[1, 5\]/,
  );
  // phy2log alone, with the shape ballast writes
  const q = readPlanFile(file(JSON.stringify({ phy2log: [[0, 1, 2, 3]], num_gpus: 4, num_nodes: 2 })));
  assert.equal(q.numRanks, 4);
  assert.equal(q.ranksPerNode, 2);
});

test('anything else is "not a plan" with the accepted forms listed', () => {
  throwsInput(() => readPlanFile(file(JSON.stringify({ hello: 1 }))), /not a plan; expected ballast plan JSON/);
});
