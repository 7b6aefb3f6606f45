import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runInProcess as run } from '../../cli/in-process.ts';
import { encodeSafetensors } from '../safetensors/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-plan-for-reorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));


// Two MoE layers (0, 1), 8 experts in 4 groups of 2 (DeepSeek-V3 style routing, 2 groups chosen).
// Layer 0: [10,10,1,1,1,1,0,0] -> group loads 20, 2, 2, 0. Layer 1: all 1.
const CSV = join(dir, 'load.csv');
const L0 = [10, 10, 1, 1, 1, 1, 0, 0];
writeFileSync(CSV, `layer,expert,count\n${L0.map((c, e) => `0,${e},${c}`).join('\n')}\n${Array.from({ length: 8 }, (_, e) => `1,${e},1`).join('\n')}\n`);
const CK = join(dir, 'ck');
mkdirSync(CK);
writeFileSync(join(CK, 'config.json'), JSON.stringify({ model_type: 'deepseek_v3', n_routed_experts: 8, n_group: 4, topk_group: 2, topk_method: 'noaux_tc', num_experts_per_tok: 2, hidden_size: 4 }));
const tensors = [];
for (const l of [0, 1]) {
  for (let e = 0; e < 8; e++) tensors.push({ name: `model.layers.${l}.mlp.experts.${e}.down_proj.weight`, dtype: 'F32', shape: [4], data: new Uint8Array(new Float32Array([e, l, 1, 2]).buffer) });
  tensors.push({ name: `model.layers.${l}.mlp.gate.weight`, dtype: 'F32', shape: [8, 4], data: new Uint8Array(Float32Array.from({ length: 32 }, (_, i) => Math.sin(i * 1.7 + l)).buffer) });
  tensors.push({ name: `model.layers.${l}.mlp.gate.e_score_correction_bias`, dtype: 'F32', shape: [8], data: new Uint8Array(Float32Array.from({ length: 8 }, (_, i) => i / 10).buffer) });
}
writeFileSync(join(CK, 'model.safetensors'), encodeSafetensors(tensors));

test('plan --for reorder on 2 GPUs: whole groups per rank, cost against the unconstrained plan worked by hand', async () => {
  const out = join(dir, 'p2.json');
  const r = await run(['plan', CSV, '--ranks', '2', '--for', 'reorder', '--model', CK, '--no-gate', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  // a rank holds 2 whole groups: best {20, 0} | {2, 2} -> max 20 / mean 12; unconstrained 12 | 12 -> 1
  assert.ok(Math.abs(j.reorder.layers[0].maxOverMean - 20 / 12) < 1e-12);
  assert.ok(Math.abs(j.reorder.layers[0].unconstrainedMaxOverMean - 1) < 1e-12);
  assert.equal(j.reorder.layers[1].maxOverMean, 1);
  assert.ok(Math.abs(j.reorder.maxOverMean - (20 / 12 + 1) / 2) < 1e-12);
  // as the checkpoint is (identity): layer 0 ranks 22 | 2 -> 22/12
  assert.ok(Math.abs(j.reorder.identityMaxOverMean - (22 / 12 + 1) / 2) < 1e-12);
  assert.equal(j.reorder.layers[0].routing, 'group-limited');
  // the written plan is the constrained one and reorder carries it out
  const o = await run(['reorder', CK, '--plan', out, '--out', join(dir, 'r2'), '--verify']);
  assert.equal(o.code, 0, o.stderr);
  assert.match(o.stdout, /function check: 1 of 1 permuted layers re-routed on 64 random inputs choose the same experts at their new slots/);
});

test('plan --for reorder on 4 GPUs: one group per rank; the unconstrained plan is refused by reorder, the constrained one applied', async () => {
  const free = join(dir, 'free.json');
  const r0 = await run(['plan', CSV, '--ranks', '4', '--no-gate', '--out', free]);
  assert.equal(r0.code, 0, r0.stderr);
  const refused = await run(['reorder', CK, '--plan', free, '--out', join(dir, 'r-free')]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /layer 0: slots \d-\d \(group block \d\) would hold experts of groups \d, \d; group-limited routing/);
  const out = join(dir, 'p4.json');
  const r = await run(['plan', CSV, '--ranks', '4', '--for', 'reorder', '--model', join(CK, 'config.json'), '--no-gate', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  // one group per rank: layer 0 max 20 / mean 6; unconstrained {10,0},{10,0},{1,1},{1,1}: 10/6
  assert.match(r.stdout, /for reorder {2}deepseek_v3: sigmoid scores, group-limited top-2 \(4 groups of 2, 2 chosen/);
  assert.match(r.stdout.replace(/\s+/g, ' '), /max\/mean 2\.167 as reorder can apply it vs 1\.333 unconstrained \(constraint costs 62\.5%\)/); // output wraps at 100 columns
  const p = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(p.params.for, 'reorder');
  assert.equal((await run(['reorder', CK, '--plan', out, '--out', join(dir, 'r4')])).code, 0);
});

test('plan --for reorder: bad input in one line, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['--for', 'reorder'], /--for: reorder plans need the checkpoint's config\.json: pass --model/],
    [['--for', 'reorder', '--model', 'deepseek-v3'], /--model: deepseek-v3: --for reorder needs a checkpoint directory or its config\.json/],
    [['--for', 'reorder', '--model', CK, '--redundant', '2'], /--for: reorder plans have one slot per expert/],
    [['--for', 'vllm'], /--for: expected "reorder", got "vllm"/],
  ];
  for (const [args, re] of cases) {
    const r = await run(['plan', CSV, '--ranks', '4', '--no-gate', ...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
