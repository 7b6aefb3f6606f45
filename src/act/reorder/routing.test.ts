import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { formatInputError, InputError } from '../../core/errors.ts';
import { classifyTensor } from './expert-tensors.ts';
import { readModelRouting } from './model-routing.ts';
import { permuteLastAxis, permutePacked, routerPermuter } from './router-permute.ts';
import { checkRouting, type FloatRouter, normals, route } from './verify-routing.ts';

const root = mkdtempSync(join(tmpdir(), 'ballast-routing-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function cfg(c: unknown): string {
  const d = join(root, `c${n++}`);
  mkdirSync(d);
  if (c !== undefined) writeFileSync(join(d, 'config.json'), JSON.stringify(c));
  return d;
}

test('config.json: group-limited routing in both namings, topk_method, per-layer lists, text_config, hash layers', () => {
  const v3 = readModelRouting(cfg({ model_type: 'deepseek_v3', n_routed_experts: 256, n_group: 8, topk_group: 4, topk_method: 'noaux_tc', num_experts_per_tok: 8, hidden_size: 7168 }));
  assert.deepEqual(v3.layer(5), { kind: 'group-limited', topK: 8, numGroups: 8, topkGroup: 4, groupScore: 'top2-sum' });
  assert.equal(v3.scoring, 'sigmoid');
  const ng = readModelRouting(cfg({ model_type: 'kimi_k2', n_routed_experts: 64, num_group: 4, topk_group: 2, num_experts_per_tok: 6, hidden_size: 8 }));
  assert.equal(ng.layer(1).kind, 'group-limited');
  assert.equal(ng.layer(1).numGroups, 4);
  // DeepSeek-V2: group_limited_greedy (max per group); V2-Lite's greedy ignores groups
  const v2 = readModelRouting(cfg({ model_type: 'deepseek_v2', n_routed_experts: 160, n_group: 8, topk_group: 3, topk_method: 'group_limited_greedy', num_experts_per_tok: 6, hidden_size: 8 }));
  assert.equal(v2.layer(1).groupScore, 'max');
  assert.equal(v2.scoring, 'softmax');
  const lite = readModelRouting(cfg({ model_type: 'deepseek_v2', n_routed_experts: 64, n_group: 8, topk_group: 3, topk_method: 'greedy', num_experts_per_tok: 6, hidden_size: 8 }));
  assert.equal(lite.layer(1).kind, 'topk');
  // all groups chosen: no constraint
  assert.equal(readModelRouting(cfg({ model_type: 'deepseek_v3', n_routed_experts: 8, n_group: 4, topk_group: 4, hidden_size: 8 })).layer(0).kind, 'topk');
  // Llama 4 nests text_config; Hunyuan's moe_topk is per layer
  const l4 = readModelRouting(cfg({ model_type: 'llama4', text_config: { model_type: 'llama4_text', num_local_experts: 16, num_experts_per_tok: 1, hidden_size: 5120 } }));
  assert.equal(l4.numExperts, 16);
  assert.equal(l4.hiddenSize, 5120);
  const hy = readModelRouting(cfg({ model_type: 'hunyuan_v1_moe', num_experts: 64, moe_topk: [8, 8, 2], hidden_size: 8 }));
  assert.equal(hy.layer(2).topK, 2);
  // DeepSeek-V4: first num_hash_layers layers are hash-routed
  const v4 = readModelRouting(cfg({ model_type: 'deepseek_v4', n_routed_experts: 256, num_hash_layers: 3, num_experts_per_tok: 6, hidden_size: 8 }));
  assert.equal(v4.layer(2).kind, 'hash');
  assert.equal(v4.layer(3).kind, 'topk');
  assert.equal(v4.scoring, 'sqrtsoftplus');
  // quantization_config
  assert.deepEqual(readModelRouting(cfg({ model_type: 'qwen3_moe', num_experts: 8, hidden_size: 8, quantization_config: { quant_method: 'awq', bits: 4, group_size: 128 } })).quant, { method: 'awq', bits: 4, groupSize: 128 });
});

test('config.json refusals name the file and the key', () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /config\.json: missing/],
    [{ model_type: 'dbrx', num_experts: 16, hidden_size: 8 }, /key model_type: "dbrx" is not a model family reorder knows/],
    [{ num_experts: 16, hidden_size: 8 }, /no model_type/],
    [{ model_type: 'deepseek_v3', n_routed_experts: 8, hidden_size: 8, topk_method: 'random' }, /key topk_method: "random" is not a routing method/],
    [{ model_type: 'deepseek_v3', hidden_size: 8 }, /missing n_routed_experts/],
    [{ model_type: 'deepseek_v3', n_routed_experts: 8, hidden_size: 8, scoring_func: 'relu' }, /key scoring_func/],
  ];
  for (const [c, re] of bad) {
    assert.throws(() => readModelRouting(cfg(c)), (e: unknown) => e instanceof InputError && re.test(formatInputError(e)), String(re));
  }
});

test('tensor names: routers, correction biases, shared experts, hash tables, unknowns', () => {
  const k = (s: string) => {
    const c = classifyTensor(s);
    return c.kind === 'router' ? `router:${c.role}` : c.kind;
  };
  assert.equal(k('model.layers.3.mlp.gate.wg.weight'), 'router:weight'); // Hunyuan
  assert.equal(k('model.layers.3.block_sparse_moe.e_score_correction_bias'), 'router:correction'); // MiniMax-M2
  assert.equal(k('model.layers.3.mlp.moe_statics.e_score_correction_bias'), 'router:correction'); // ERNIE-4.5
  assert.equal(k('model.layers.3.mlp.gate.qzeros'), 'router:qzeros');
  assert.equal(k('model.layers.3.mlp.router.bias'), 'router:bias'); // GPT-OSS
  assert.equal(k('language_model.model.layers.1.feed_forward.router.weight'), 'router:weight'); // Llama 4
  assert.equal(k('model.layers.3.mlp.shared_expert_gate.weight'), 'shared'); // Qwen2-MoE / Qwen3-Next: not a router
  assert.equal(k('model.layers.3.mlp.shared_mlp.down_proj.weight'), 'shared');
  assert.equal(k('layers.0.ffn.gate.tid2eid'), 'hash-table');
  assert.equal(k('model.layers.3.mlp.gate.weight_scale_inv'), 'moe-other');
  assert.equal(k('model.layers.3.mlp.experts.gate_up_proj_blocks'), 'fused');
  assert.equal(k('model.layers.3.mlp.experts.17.down_proj.weight_scale_inv'), 'per-expert');
  assert.equal(k('model.layers.3.self_attn.q_proj.weight'), 'other');
});

test('packed permutation worked by hand: GPTQ qzeros (fields in order) and AWQ (order 0,2,4,6,1,3,5,7)', () => {
  const word = (v: number) => new Uint8Array(Uint32Array.of(v).buffer);
  const read = (b: Uint8Array) => new DataView(b.buffer).getUint32(0, true);
  const rev = [7, 6, 5, 4, 3, 2, 1, 0];
  // GPTQ: field j = expert j, value j+1 -> 0x87654321; reversed experts -> 0x12345678
  assert.equal(read(permutePacked(word(0x87654321), 1, 1, 4, rev)), 0x12345678);
  // AWQ: field i = column order[i]; columns valued c+1 -> fields 1,3,5,7,2,4,6,8 -> 0x86427531;
  // reversed columns valued 8-c -> fields 8,6,4,2,7,5,3,1 -> 0x13572468
  assert.equal(read(permutePacked(word(0x86427531), 1, 1, 4, rev, [0, 2, 4, 6, 1, 3, 5, 7])), 0x13572468);
  // 8-bit fields: bytes of one word are experts 0..3
  assert.equal(read(permutePacked(word(0x44332211), 1, 1, 8, [2, 0, 3, 1])), 0x22441133);
  // last axis: [2 rows, 3 experts] of 2-byte values
  assert.deepEqual(Array.from(permuteLastAxis(Uint8Array.of(1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6), 2, 3, 2, [2, 0, 1])), [3, 3, 1, 1, 2, 2, 6, 6, 4, 4, 5, 5]);
});

test('router layouts reorder refuses rather than guess', () => {
  const t = (dtype: string, shape: number[]) => ({ name: 'x', dtype, shape });
  assert.throws(() => routerPermuter(t('F32', [8, 8]), 'weight', 8, 8, undefined), /E = H = 8: cannot tell which axis/);
  assert.throws(() => routerPermuter(t('I32', [4, 8]), 'qweight', 8, 32, undefined), /quant_method gptq or awq/);
  assert.throws(() => routerPermuter(t('I32', [32, 2]), 'qweight', 8, 32, { method: 'awq', bits: 3 }), /bits 2, 4 or 8/);
  assert.throws(() => routerPermuter(t('I32', [32, 2]), 'qweight', 8, 32, { method: 'awq', bits: 8 }), /AWQ packing order is known for 4 bits only/);
  assert.throws(() => routerPermuter(t('F8_E4M3', [8, 32]), 'weight', 8, 32, undefined), /quantized router weight/);
  assert.equal(routerPermuter(t('I32', [32]), 'g_idx', 8, 32, { method: 'gptq', bits: 4 }), 'copy');
});

test('routing by hand, and the function check catches what a byte check cannot', () => {
  // E 4, H 2: logits = W x = [1, .5, -1, -.5] for x = [1, .5]
  const W: FloatRouter = { weight: Float64Array.of(1, 0, 0, 1, -1, 0, 0, -1) };
  assert.deepEqual(route(W, 4, 2, Float64Array.of(1, 0.5), 'softmax', { kind: 'topk', topK: 2 }), [0, 1]);
  // correction bias lifts expert 3 over expert 1
  assert.deepEqual(route({ ...W, correction: Float64Array.of(0, 0, 0, 0.9) }, 4, 2, Float64Array.of(1, 0.5), 'sigmoid', { kind: 'topk', topK: 2 }), [3, 0]);
  // groups {0,1} {2,3}, one group chosen by its top-2 sum: sigmoid [.73,.62,.27,.38] -> group 0
  assert.deepEqual(route(W, 4, 2, Float64Array.of(1, 0.5), 'sigmoid', { kind: 'group-limited', topK: 2, numGroups: 2, topkGroup: 1, groupScore: 'top2-sum' }), [0, 1]);

  const E = 8;
  const H = 6;
  const w = normals(3, E * H);
  const b = normals(4, E);
  const permuteRows = (p: number[]): FloatRouter => ({ weight: Float64Array.from({ length: E * H }, (_, i) => w[p[Math.floor(i / H)] * H + (i % H)]), correction: Float64Array.from(p, (o) => b[o] * 0.3) });
  const before: FloatRouter = { weight: w, correction: Float64Array.from(b, (v) => v * 0.3) };
  const inv = (p: number[]) => p.reduce((a, o, s) => ((a[o] = s), a), new Array<number>(p.length));
  const grouped = { kind: 'group-limited' as const, topK: 2, numGroups: 4, topkGroup: 2, groupScore: 'top2-sum' as const };
  const keep = [5, 4, 0, 1, 7, 6, 2, 3]; // whole groups of 2 moved
  assert.equal(checkRouting(before, permuteRows(keep), inv(keep), E, H, 'sigmoid', grouped).problem, undefined);
  // every byte moved consistently, but experts cross groups: the layer's choices change
  const cross = [1, 2, 0, 3, 4, 5, 6, 7];
  assert.match(checkRouting(before, permuteRows(cross), inv(cross), E, H, 'sigmoid', grouped).problem ?? '', /before the rewrite the router chose experts now at slots/);
  // the router left unpermuted while the experts moved (the old reorder on an unknown router name)
  assert.ok(checkRouting(before, before, inv(keep), E, H, 'sigmoid', grouped).problem);
  // without groups the crossing permutation is fine
  assert.equal(checkRouting(before, permuteRows(cross), inv(cross), E, H, 'sigmoid', { kind: 'topk', topK: 2 }).problem, undefined);
});
