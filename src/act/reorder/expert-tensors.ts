/**
 * Which checkpoint tensors belong to which MoE layer and expert (HF naming):
 *   per-expert   model.layers.N.block_sparse_moe.experts.M.w1.weight          (Mixtral)
 *                model.layers.N.mlp.experts.M.gate_proj.weight                (Qwen-MoE, DeepSeek, OLMoE)
 *                (any suffix after the expert index: weight_scale_inv, qweight, ...)
 *   fused        model.layers.N.mlp.experts.gate_up_proj / .down_proj [E][...] (expert = leading dim;
 *                also feed_forward.experts.* for Llama 4)
 *   router rows  model.layers.N.(block_sparse_moe|mlp).gate.weight [E][H], .gate.bias [E],
 *                .gate.e_score_correction_bias [E]; feed_forward.router.weight / .bias (Llama 4)
 * Shared experts (mlp.shared_experts.*, shared_expert_gate) are not routed experts and are left alone.
 */

const BLOCK = '(?:block_sparse_moe|mlp|feed_forward|moe)';
const PER_EXPERT = new RegExp(`^(.*\\.layers\\.(\\d+)\\.${BLOCK}\\.experts)\\.(\\d+)\\.(.+)$`);
const FUSED = new RegExp(`^(.*\\.layers\\.(\\d+)\\.${BLOCK}\\.experts)\\.([A-Za-z_][^]*)$`);
const ROUTER = new RegExp(`^(.*\\.layers\\.(\\d+)\\.${BLOCK}\\.(?:gate|router))\\.(weight|bias|e_score_correction_bias)$`);

export type ExpertTensorKind =
  | { kind: 'per-expert'; layer: number; expert: number; prefix: string; suffix: string }
  | { kind: 'fused'; layer: number }
  | { kind: 'router'; layer: number }
  | { kind: 'other' };

/** Classify one tensor name. */
export function classifyTensor(name: string): ExpertTensorKind {
  let m = PER_EXPERT.exec(name);
  if (m) return { kind: 'per-expert', layer: Number(m[2]), expert: Number(m[3]), prefix: m[1], suffix: m[4] };
  m = FUSED.exec(name);
  if (m) return { kind: 'fused', layer: Number(m[2]) };
  m = ROUTER.exec(name);
  if (m) return { kind: 'router', layer: Number(m[2]) };
  return { kind: 'other' };
}

/** Name of the per-expert tensor for another expert index. */
export function perExpertName(prefix: string, expert: number, suffix: string): string {
  return `${prefix}.${expert}.${suffix}`;
}
