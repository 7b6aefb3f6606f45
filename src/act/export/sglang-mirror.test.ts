/**
 * The SGLang exports loaded the way SGLang loads them: testdata/sglang_expert_location_mirror.py
 * re-implements SGLang's --init-expert-location parsing and per-layer dispatch from its source (cited
 * there), in Python, without ballast's code. One Python process checks every case.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { main } from '../../cli/main.ts';
import { runExport } from '../../cli/commands/export.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-sglang-mirror-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MIRROR = join(import.meta.dirname, 'testdata', 'sglang_expert_location_mirror.py');
const DEMO = 'data/demo/esft-law.ballast';
// https://huggingface.co/deepseek-ai/DeepSeek-V2-Lite/blob/main/config.json (the fields SGLang reads here)
const DSV2_LITE = { num_hidden_layers: 27, first_k_dense_replace: 1, moe_layer_freq: 1, n_routed_experts: 64, n_group: 1 };

async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const w = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = w;
  }
}

interface MirrorResult {
  ok: boolean;
  error?: string;
  rows?: number;
  layers?: Record<string, { ranks: number[][]; dispatch_ok: boolean }>;
  logical_count?: Record<string, number[]>;
}

function mirror(cases: object[]): MirrorResult[] {
  const r = spawnSync('/usr/bin/python3', [MIRROR], { input: JSON.stringify(cases), encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as MirrorResult[];
}

test('demo plan: the SGLang export has 27 rows, row l = decoder layer l, and SGLang (mirror) dispatches every MoE layer to the plan', async () => {
  const planPath = join(dir, 'plan.json');
  const code = await quiet(() => main(['plan', DEMO, '--ranks', '8', '--redundant', '8', '--no-gate', '--out', planPath]));
  assert.equal(code, 0);
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as { layerIds: number[]; phy2log: number[][] };
  const out = join(dir, 'sglang.json');
  const msg = await runExport(planPath, { to: 'sglang', out });
  // The plan's model name is the ESFT checkpoint "(DeepSeek-V2-Lite arch)": num_hidden_layers from that preset.
  assert.match(msg, /27 decoder layers .* preset DeepSeek-V2-Lite/);
  assert.match(msg, /--ep-size 8 --ep-num-redundant-experts 8 --init-expert-location \S+sglang\.json --ep-dispatch-algorithm static/);
  const map = (JSON.parse(readFileSync(out, 'utf8')) as { physical_to_logical_map: number[][] }).physical_to_logical_map;
  assert.equal(map.length, 27);

  // The same plan written MoE layers only (what ballast wrote before): 26 rows, off by one.
  const old = join(dir, 'moe-only.json');
  writeFileSync(old, JSON.stringify({ physical_to_logical_map: plan.phy2log }));
  const [good, bad, wrongR] = mirror([
    { file: out, config: DSV2_LITE, ep_size: 8, ep_num_redundant_experts: 8 },
    { file: old, config: DSV2_LITE, ep_size: 8, ep_num_redundant_experts: 8 },
    { file: out, config: DSV2_LITE, ep_size: 8, ep_num_redundant_experts: 0 },
  ]);
  assert.ok(good.ok, good.error);
  assert.equal(good.rows, 27);
  // Truth from the plan's definition: slot p of P = 72 sits on rank floor(p / 9).
  for (let i = 0; i < plan.layerIds.length; i++) {
    const id = plan.layerIds[i];
    const want = Array.from({ length: 64 }, (_, e) => [...new Set(plan.phy2log[i].flatMap((x, p) => (x === e ? [Math.floor(p / 9)] : [])))].sort((a, b) => a - b));
    assert.deepEqual(good.layers![String(id)].ranks, want, `decoder layer ${id}`);
    assert.equal(good.layers![String(id)].dispatch_ok, true);
  }
  assert.equal(bad.ok, false);
  assert.match(bad.error!, /IndexError.*26/);
  assert.equal(wrongR.ok, false);
  assert.match(wrongR.error!, /map shape \(27, 72\) for 64 physical experts/);
});

test('ESFT law --to json: logical_count has 27 rows, SGLang (mirror) reads decoder layer l as the published counts of MoE layer l', async () => {
  const out = join(dir, 'law.json');
  const msg = await runExport('data/esft-dsv2lite/raw/law.tgz', { to: 'json', out });
  assert.match(msg, /27 decoder layers/);
  const published = JSON.parse(readFileSync('data/esft-dsv2lite/load_counts.json', 'utf8')) as { moe_layers: number[]; tasks: { law: { counts: number[][] } } };
  const [r] = mirror([{ file: out, config: DSV2_LITE, ep_size: 8, ep_num_redundant_experts: 0 }]);
  assert.ok(r.ok, r.error);
  assert.equal(r.rows, 27);
  published.moe_layers.forEach((id, li) => assert.deepEqual(r.logical_count![String(id)], published.tasks.law.counts[li], `layer ${id}`));
  const lc = (JSON.parse(readFileSync(out, 'utf8')) as { logical_count: number[][] }).logical_count;
  assert.deepEqual(lc[0], new Array(64).fill(0));
});
