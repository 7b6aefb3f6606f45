/**
 * Which checkpoint tensors belong to which MoE layer and expert. A tensor `<p>layers.N.<block>.<rest>`
 * with block one of block_sparse_moe | mlp | feed_forward | moe | ffn is classified by `<rest>`:
 *
 *   per-expert  experts.M.<suffix>                  Mixtral w1/w2/w3, Qwen/DeepSeek/OLMoE gate_proj..., any
 *                                                   suffix (weight_scale_inv, qweight, qzeros, scales, g_idx)
 *   fused       experts.<name>  [E, ...]            GPT-OSS gate_up_proj_blocks/_scales/_bias, down_proj_*,
 *                                                   Llama 4 gate_up_proj / down_proj
 *   router      gate.weight, router.weight          [E, H] or [H, E]
 *               gate.wg.weight                      Hunyuan [E, H]
 *               gate.bias, router.bias              [E] (GPT-OSS, Llama 4 has none)
 *               gate.e_score_correction_bias        DeepSeek-V3, Kimi-K2, GLM-4.5 [E]
 *               e_score_correction_bias             MiniMax-M2 block_sparse_moe.* [E]
 *               moe_statics.e_score_correction_bias ERNIE-4.5 [1, E]
 *               gate.qweight/qzeros/scales/g_idx    GPTQ / AWQ quantized router
 *   hash-table  gate.tid2eid                        DeepSeek-V4 hash layers (token id -> expert ids)
 *   shared      shared_expert(s).*, shared_mlp.*, shared_expert_gate.*  (not routed; left alone)
 *   moe-other   anything else in the block          refused when its layer is permuted
 * Names are from the checkpoints' model.safetensors.index.json files (cited per family in
 * reorder-fixtures.py).
 */

export type RouterRole = 'weight' | 'bias' | 'correction' | 'qweight' | 'qzeros' | 'scales' | 'g_idx';

/** `block` is the tensor's block prefix (`model.layers.3.mlp`), `layer` its layer number. */
export type ExpertTensorKind =
  | { kind: 'per-expert'; block: string; layer: number; expert: number; prefix: string; suffix: string }
  | { kind: 'fused'; block: string; layer: number }
  | { kind: 'router'; block: string; layer: number; role: RouterRole }
  | { kind: 'hash-table'; block: string; layer: number }
  | { kind: 'shared'; block: string; layer: number }
  | { kind: 'moe-other'; block: string; layer: number }
  | { kind: 'other' };

const LAYER_BLOCK = /^((?:.*\.)?layers\.(\d+)\.(?:block_sparse_moe|mlp|feed_forward|moe|ffn))\.(.+)$/;
const PER_EXPERT = /^experts\.(\d+)\.(.+)$/;
const FUSED = /^experts\.([A-Za-z_].*)$/;
const ROUTERS: [RegExp, RouterRole][] = [
  [/^(?:gate|router)\.weight$/, 'weight'],
  [/^gate\.wg\.weight$/, 'weight'],
  [/^(?:gate|router)\.bias$/, 'bias'],
  [/^(?:(?:gate|router|moe_statics)\.)?e_score_correction_bias$/, 'correction'],
  [/^(?:gate|router)\.qweight$/, 'qweight'],
  [/^(?:gate|router)\.qzeros$/, 'qzeros'],
  [/^(?:gate|router)\.scales$/, 'scales'],
  [/^(?:gate|router)\.g_idx$/, 'g_idx'],
];
const SHARED = /^(?:shared_experts?|shared_mlp|shared_expert_gate)\./;

/** Classify one tensor name. */
export function classifyTensor(name: string): ExpertTensorKind {
  const m = LAYER_BLOCK.exec(name);
  if (!m) return { kind: 'other' };
  const layer = Number(m[2]);
  const block = m[1];
  const rest = m[3];
  let r = PER_EXPERT.exec(rest);
  if (r) return { kind: 'per-expert', block, layer, expert: Number(r[1]), prefix: `${m[1]}.experts`, suffix: r[2] };
  r = FUSED.exec(rest);
  if (r) return { kind: 'fused', block, layer };
  for (const [re, role] of ROUTERS) if (re.test(rest)) return { kind: 'router', block, layer, role };
  if (rest === 'gate.tid2eid') return { kind: 'hash-table', block, layer };
  if (SHARED.test(rest)) return { kind: 'shared', block, layer };
  return { kind: 'moe-other', block, layer };
}

/** Name of the per-expert tensor for another expert index. */
export function perExpertName(prefix: string, expert: number, suffix: string): string {
  return `${prefix}.${expert}.${suffix}`;
}
