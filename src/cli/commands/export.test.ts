import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writePlanFile } from '../../plan/plan-file.ts';
import { main } from '../main.ts';
import { runExport } from './export.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-export-cmd-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('plan forms: a ballast plan file exported --to sglang gives its phy2log as physical_to_logical_map', async () => {
  const planPath = join(dir, 'plan.json');
  // 2 layers, 4 experts, 2 ranks, 6 slots: rank 0 = slots 0-2, rank 1 = slots 3-5.
  writePlanFile(planPath, {
    version: 1,
    numLayers: 2,
    numExperts: 4,
    numRanks: 2,
    layerIds: [1, 2],
    ranksPerNode: 2,
    phy2log: [Int32Array.from([0, 1, 2, 3, 0, 1]), Int32Array.from([3, 2, 1, 0, 2, 3])],
  });
  const out = join(dir, 'sglang.json');
  const msg = await runExport(planPath, { to: 'sglang', out });
  assert.match(msg, /sglang plan/);
  // No model: num_hidden_layers = largest layer id + 1 = 3, said in a note; row 0 (dense) is the trivial p % 4.
  assert.match(msg, /note: 3 decoder layers .*largest MoE layer id \(2\) \+ 1/);
  assert.match(msg, /--tp-size 2 --ep-size 2 --ep-num-redundant-experts 2 --init-expert-location/);
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), {
    physical_to_logical_map: [
      [0, 1, 2, 3, 0, 1],
      [0, 1, 2, 3, 0, 1],
      [3, 2, 1, 0, 2, 3],
    ],
  });
  // A config.json with more decoder layers: rows to its num_hidden_layers.
  const cfgPath = join(dir, 'config.json');
  writeFileSync(cfgPath, JSON.stringify({ hidden_size: 8, moe_intermediate_size: 4, n_routed_experts: 4, num_experts_per_tok: 2, num_hidden_layers: 4, first_k_dense_replace: 1 }));
  const msg4 = await runExport(planPath, { to: 'sglang', out, model: cfgPath });
  assert.match(msg4, /^ {2}4 decoder layers/m);
  assert.equal((JSON.parse(readFileSync(out, 'utf8')) as { physical_to_logical_map: number[][] }).physical_to_logical_map.length, 4);
  // A plan that carries num_hidden_layers in params (from the trace metadata) needs no --model.
  const withN = join(dir, 'plan-n.json');
  writeFileSync(withN, JSON.stringify({ ...JSON.parse(readFileSync(planPath, 'utf8')), params: { num_hidden_layers: 5 } }));
  assert.match(await runExport(withN, { to: 'sglang', out }), /^ {2}5 decoder layers .* from the plan's params \(num_hidden_layers\)/m);
  // A config with fewer layers than the plan's ids: refused, nothing silently cut.
  writeFileSync(cfgPath, JSON.stringify({ hidden_size: 8, moe_intermediate_size: 4, n_routed_experts: 4, num_experts_per_tok: 2, num_hidden_layers: 2 }));
  await assert.rejects(runExport(planPath, { to: 'sglang', out, model: cfgPath }), /MoE layer id 2 is out of range for 2 decoder layers/);
});

test('CLI: ballast export law.tgz --to json writes logical_count; a bad input exits 2', async () => {
  const out = join(dir, 'law.json');
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    stderr += s;
    return true;
  }) as typeof process.stderr.write;
  let ok: number;
  let bad: number;
  try {
    ok = await main(['export', 'data/esft-dsv2lite/raw/law.tgz', '--to', 'json', '--out', out]);
    bad = await main(['export', join(dir, 'missing.csv'), '--to', 'csv', '--out', join(dir, 'x.csv')]);
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
  }
  assert.equal(ok, 0);
  const lc = (JSON.parse(readFileSync(out, 'utf8')) as { logical_count: number[][] }).logical_count;
  // Rows are decoder layers 0..26 of DeepSeek-V2-Lite (layer 0 dense, zero); the ESFT reader names the
  // architecture, so num_hidden_layers comes from that preset.
  assert.equal(lc.length, 27);
  assert.equal(lc[0].reduce((a, b) => a + b, 0), 0);
  assert.equal(lc[1].reduce((a, b) => a + b, 0), 6 * 8327);
  assert.equal(bad, 2);
  assert.match(stderr, /missing\.csv: no such file or directory/);
});
