/**
 * Routed experts and top-k from a HuggingFace config.json object (text_config nested for multimodal
 * models). Shapes: JSON object -> { experts, topK } (a dense model has no experts field: undefined).
 */
export interface MoeShape {
  experts: number;
  topK?: number;
  modelType?: string;
}

const EXPERTS = ['n_routed_experts', 'num_local_experts', 'num_experts', 'moe_num_experts'];
const TOPK = ['num_experts_per_tok', 'moe_top_k', 'num_experts_per_token', 'moe_k'];

export function moeOfConfig(cfg: unknown): MoeShape | undefined {
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) return undefined;
  const raw = cfg as Record<string, unknown>;
  const c = raw.text_config && typeof raw.text_config === 'object' ? { ...raw, ...(raw.text_config as Record<string, unknown>) } : raw;
  const pick = (keys: string[]) => {
    for (const k of keys) {
      const v = Array.isArray(c[k]) ? (c[k] as unknown[])[0] : c[k];
      if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    }
    return undefined;
  };
  const experts = pick(EXPERTS);
  if (experts === undefined || experts < 2) return undefined;
  return { experts, topK: pick(TOPK), modelType: typeof c.model_type === 'string' ? c.model_type : undefined };
}
