/**
 * Done-when test of issue 12 (reorder): for every fixture family (real checkpoints' tensor names,
 * reorder-fixtures.py cites each), `ballast reorder` either keeps the model's function, checked by a
 * forward pass of router + experts before and after written in numpy independently of ballast, or
 * refuses in one line with exit 2 and nothing written. One Python process writes every fixture, one
 * checks every output.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { runInProcess as run } from '../../cli/in-process.ts';
import { readSafetensorsHeader } from '../safetensors/safetensors.ts';
import { dequantRouter } from './verify-routing.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const SCRIPT = join(HERE, 'reorder-fixtures.py');
const root = mkdtempSync(join(tmpdir(), 'ballast-reorder-fx-'));
after(() => rmSync(root, { recursive: true, force: true }));


let manifest: { families: string[]; refusals: string[] };
const runs = new Map<string, { code: number; stdout: string; stderr: string }>();

before(async () => {
  execFileSync('/usr/bin/python3', [SCRIPT, 'gen', root]);
  manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));
  for (const f of [...manifest.families, ...manifest.refusals]) {
    runs.set(f, await run(['reorder', join(root, f, 'ckpt'), '--plan', join(root, f, 'plan.json'), '--out', join(root, f, 'out'), '--verify']));
  }
});

test('every fixture family: reorder keeps the function (numpy forward pass of router + experts before/after)', () => {
  assert.deepEqual(manifest.families, ['mixtral', 'qwen2_moe', 'qwen3_moe', 'qwen3_next', 'deepseek_v2', 'deepseek_v3', 'kimi_k2', 'glm4_moe', 'gpt_oss', 'llama4', 'olmoe', 'hunyuan', 'minimax_m2', 'ernie45', 'ernie45_he', 'gptq', 'awq']);
  for (const f of manifest.families) assert.equal(runs.get(f)!.code, 0, `${f}: ${runs.get(f)!.stderr}`);
  const res = JSON.parse(execFileSync('/usr/bin/python3', [SCRIPT, 'check', root], { encoding: 'utf8' }));
  for (const f of manifest.families) {
    const r = res[f];
    // same function: float64 reference, identical bytes in, so only summation-order noise is allowed
    assert.ok(r.maxdiff <= 1e-9 * Math.max(1, r.scale), `${f}: outputs changed by ${r.maxdiff}`);
    // the check has teeth: keeping the old router with the moved experts changes the output a lot
    assert.ok(r.teeth > 0.05 * r.scale, `${f}: teeth ${r.teeth} vs scale ${r.scale}`);
    // the plan took effect: every slot's expert moved (no fixed points in the fixture plans), and slot s
    // now computes what old expert new_to_old[s] computed
    assert.equal(r.moved, 8 * (f === 'deepseek_v2' || f === 'deepseek_v3' || f === 'kimi_k2' || f === 'glm4_moe' || f === 'llama4' || f === 'ernie45' || f === 'ernie45_he' ? 2 : 3), f);
    assert.equal(r.images, true, f);
  }
  // the MTP layer (model.layers.3 in the DeepSeek-V3 / Kimi-K2 / GLM-4.5 fixtures) was checked and left alone
  for (const f of ['deepseek_v3', 'kimi_k2', 'glm4_moe']) assert.deepEqual(res[f].layers, [1, 2, 3]);
  assert.match(runs.get('deepseek_v3')!.stderr, /MoE layers 3 are not in the plan/);
  // --verify's dequantiser (TypeScript) agrees with the numpy one on the GPTQ and AWQ routers
  for (const [f, block] of [['gptq', 'model.layers.0.mlp.gate'], ['awq', 'model.layers.0.block_sparse_moe.gate']] as const) {
    const file = join(root, f, 'ckpt', 'model-00001-of-00003.safetensors');
    const h = readSafetensorsHeader(file);
    const raw = readFileSync(file);
    const get = (s: string) => {
      const t = h.byName.get(`${block}.${s}`)!;
      return { bytes: new Uint8Array(raw.subarray(t.start, t.end)), shape: t.shape, dtype: t.dtype };
    };
    const w = dequantRouter(f, 4, 8, get('qweight'), get('qzeros'), get('scales'), f === 'gptq' ? get('g_idx') : undefined)!;
    const ref = (res.dequant[f] as number[][]).flat();
    assert.equal(w.length, ref.length);
    assert.ok(ref.every((v, i) => Math.abs(v - w[i]) < 1e-12), f);
    assert.ok(ref.some((v) => Math.abs(v) > 0.01), f);
  }
  // the group constraint is real: the refused crossing plan, carried out naively, changes the output
  assert.ok(res.crossing_naive_maxdiff > 0.1, `crossing plan would change the layer by ${res.crossing_naive_maxdiff}`);
});

test('--verify re-routes every permuted layer on random inputs, GPTQ and AWQ routers dequantised', () => {
  assert.match(runs.get('deepseek_v3')!.stdout, /function check: 2 of 2 permuted layers re-routed on 64 random inputs choose the same experts at their new slots\n/);
  assert.match(runs.get('deepseek_v3')!.stdout, /group-limited top-2 \(4 groups of 2, 2 chosen/);
  assert.match(runs.get('gptq')!.stdout, /function check: 3 of 3 permuted layers re-routed on 64 random inputs choose the same experts/);
  assert.match(runs.get('awq')!.stdout, /function check: 3 of 3 permuted layers re-routed on 64 random inputs choose the same experts/);
});

test('refusals: one line naming the file and what is missing, exit 2, nothing written', () => {
  const expect: Record<string, RegExp> = {
    refuse_unknown_type: /config\.json: key model_type: "arctic" is not a model family reorder knows/,
    refuse_no_config: /config\.json: missing; reorder needs the checkpoint's config\.json/,
    refuse_crossing_groups: /--plan: phy2log\[0\]: layer 1: slots 0-1 \(group block 0\) would hold experts of groups 0, 1; group-limited routing \(4 groups of 2, top 2 groups\)/,
    refuse_fp8_router: /key model\.layers\.1\.mlp\.gate\.weight_scale_inv: layer 1's MoE block holds a tensor reorder does not recognise/,
    refuse_hash_layer: /layer 0 routes by a token-id hash table \(num_hash_layers\)/,
  };
  assert.deepEqual(manifest.refusals, Object.keys(expect));
  for (const [f, re] of Object.entries(expect)) {
    const r = runs.get(f)!;
    assert.equal(r.code, 2, f);
    assert.equal(r.stdout, '', f);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${f}: ${r.stderr}`);
    assert.match(lines[0], re, f);
    assert.ok(!/\n\s+at /.test(r.stderr), `${f}: stack trace`);
    assert.ok(!existsSync(join(root, f, 'out')), f);
    assert.deepEqual(readdirSync(join(root, f)).filter((n) => n.includes('.tmp-')), [], f);
  }
});
