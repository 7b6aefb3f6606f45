/**
 * What ties an expert id to its position, read from a checkpoint's config.json, so that `reorder`
 * can refuse a plan that would change the model and `--verify` can route as the model routes.
 *
 * Per family (model_type), from the HF modelling code and the engines' loaders:
 *   - plain top-k (softmax or sigmoid scores, optional router bias or correction bias): any permutation
 *     of a layer's experts keeps its function when the router rows move with the experts.
 *     mixtral, qwen2_moe, qwen3_moe, qwen3_next, olmoe, gpt_oss, llama4(_text), hunyuan_v1_moe,
 *     minimax_m2, ernie4_5_moe, glm4_moe (n_group 1), kimi_k2 / deepseek_v3 / deepseek_v32 with n_group 1.
 *   - group-limited top-k (DeepSeek-V2 `topk_method: group_limited_greedy`, DeepSeek-V3 / Kimi-K2 /
 *     GLM-4.5 `noaux_tc`, `n_group` or `num_group` groups of E / n_group contiguous experts, `topk_group`
 *     chosen): transformers `models/deepseek_v3/modeling_deepseek_v3.py` DeepseekV3TopkRouter /
 *     DeepseekV3MoE.route_tokens_to_experts (`group_scores = topk(2).sum`), deepseek_v2
 *     `DeepseekV2Moe` (`group_limited_greedy`: group score = max). A permutation keeps the function
 *     only if every block of E/n_group slots receives exactly the experts of one old group.
 *     `topk_method: greedy` (DeepSeek-V2-Lite) ignores the groups; so does topk_group >= n_group.
 *   - hash routing (DeepSeek-V4 `num_hash_layers`: the first layers pick experts from a token-id
 *     table `tid2eid`): the expert ids are fixed by the table, so those layers must keep the identity.
 * Values may be per-layer lists (e.g. Hunyuan `moe_topk: [8, 8, ...]`): `perLayer` picks layer l's.
 * Unknown model_type, or a config.json that is missing: InputError (the caller refuses, writes nothing).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../core/errors.ts';

export type ScoreFn = 'softmax' | 'sigmoid' | 'sqrtsoftplus';

/** How layer l picks experts. */
export interface LayerRouting {
  kind: 'topk' | 'group-limited' | 'hash';
  topK: number;
  /** group-limited only */
  numGroups?: number;
  topkGroup?: number;
  /** group score: max of the group's scores (V2) or the sum of its top two (V3 noaux_tc). */
  groupScore?: 'max' | 'top2-sum';
}

export interface ModelRouting {
  file: string;
  modelType: string;
  numExperts: number;
  hiddenSize: number;
  scoring: ScoreFn;
  /** quantization_config.quant_method and bits, when present. */
  quant?: { method: string; bits?: number; groupSize?: number };
  layer(l: number): LayerRouting;
  /** One line saying which constraint applies, for the CLI. */
  describe(): string;
}

/** model_types reorder knows, with the scoring function when config.json does not say. */
const KNOWN: Record<string, ScoreFn> = {
  mixtral: 'softmax',
  qwen2_moe: 'softmax',
  qwen3_moe: 'softmax',
  qwen3_next: 'softmax',
  olmoe: 'softmax',
  gpt_oss: 'softmax',
  llama4: 'sigmoid',
  llama4_text: 'sigmoid',
  hunyuan_v1_moe: 'softmax',
  minimax_m2: 'sigmoid',
  ernie4_5_moe: 'softmax',
  glm4_moe: 'sigmoid',
  deepseek_v2: 'softmax',
  deepseek_v3: 'sigmoid',
  deepseek_v32: 'sigmoid',
  deepseek_v4: 'sqrtsoftplus',
  kimi_k2: 'sigmoid',
};

export function knownModelTypes(): string[] {
  return Object.keys(KNOWN);
}

function perLayer(v: unknown, l: number): unknown {
  return Array.isArray(v) ? v[l] : v;
}

/** Read `<dir>/config.json`; see the module comment. */
export function readModelRouting(dir: string): ModelRouting {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new InputError(file, '', 'missing; reorder needs the checkpoint\'s config.json to know how the model routes (groups, hash layers)');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InputError(file, '', 'not valid JSON; expected a HuggingFace config.json');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(file, '', 'expected a JSON object (HuggingFace config.json)');
  const top = raw as Record<string, unknown>;
  const nested = top.text_config && typeof top.text_config === 'object' ? (top.text_config as Record<string, unknown>) : undefined;
  const c: Record<string, unknown> = nested ? { ...top, ...nested, model_type: top.model_type, quantization_config: top.quantization_config ?? nested.quantization_config } : top;
  const modelType = typeof c.model_type === 'string' ? c.model_type : '';
  if (!(modelType in KNOWN)) {
    throw new InputError(file, 'key model_type', `${modelType ? `"${modelType}" is` : 'no model_type; it is'} not a model family reorder knows the routing of; expected one of ${knownModelTypes().join(', ')}`);
  }
  const int = (keys: string[], l?: number): number | undefined => {
    for (const k of keys) {
      const v = l === undefined ? c[k] : perLayer(c[k], l);
      if (v === undefined || v === null) continue;
      if (!Number.isInteger(v) || (v as number) < 0) throw new InputError(file, `key ${k}`, `expected a non-negative integer${l !== undefined && Array.isArray(c[k]) ? ` at layer ${l}` : ''}, got ${JSON.stringify(v)}`);
      return v as number;
    }
    return undefined;
  };
  const eKeys = ['n_routed_experts', 'num_local_experts', 'num_experts', 'moe_num_experts'];
  const numExperts = int(eKeys, 0);
  if (numExperts === undefined || numExperts < 1) throw new InputError(file, '', `missing ${eKeys.join(' / ')}; expected the routed expert count`);
  const hiddenSize = int(['hidden_size', 'd_model']);
  if (hiddenSize === undefined) throw new InputError(file, '', 'missing hidden_size; expected the model width');
  const sf = c.scoring_func;
  let scoring = KNOWN[modelType];
  if (sf !== undefined) {
    if (sf !== 'softmax' && sf !== 'sigmoid' && sf !== 'sqrtsoftplus') throw new InputError(file, 'key scoring_func', `expected softmax, sigmoid or sqrtsoftplus, got ${JSON.stringify(sf)}`);
    scoring = sf;
  }
  const topkMethod = typeof c.topk_method === 'string' ? c.topk_method : undefined;
  if (topkMethod !== undefined && !['greedy', 'group_limited_greedy', 'noaux_tc'].includes(topkMethod)) {
    throw new InputError(file, 'key topk_method', `"${topkMethod}" is not a routing method reorder knows; expected greedy, group_limited_greedy or noaux_tc`);
  }
  const hashLayers = int(['num_hash_layers']) ?? 0;
  const q = c.quantization_config as Record<string, unknown> | undefined;
  const quant = q && typeof q === 'object' && typeof q.quant_method === 'string'
    ? { method: q.quant_method, bits: Number.isInteger(q.bits) ? (q.bits as number) : undefined, groupSize: Number.isInteger(q.group_size) ? (q.group_size as number) : undefined }
    : undefined;
  const layer = (l: number): LayerRouting => {
    const topK = int(['moe_topk', 'num_experts_per_tok', 'experts_per_token', 'moe_top_k', 'num_experts_per_token', 'moe_k'], l) ?? 1;
    if (l < hashLayers) return { kind: 'hash', topK };
    const g = int(['n_group', 'num_group', 'num_expert_group'], l) ?? 1;
    const tg = int(['topk_group'], l) ?? g;
    if (g > 1 && tg < g && topkMethod !== 'greedy') {
      const e = int(eKeys, l) ?? numExperts;
      if (e % g !== 0) throw new InputError(file, 'key n_group', `${g} groups do not divide ${e} experts`);
      const groupScore = topkMethod === 'group_limited_greedy' || (topkMethod === undefined && modelType === 'deepseek_v2') ? 'max' : 'top2-sum';
      return { kind: 'group-limited', topK, numGroups: g, topkGroup: tg, groupScore };
    }
    return { kind: 'topk', topK };
  };
  const describe = (): string => {
    const l = layer(hashLayers);
    const parts = [`${modelType}: ${scoring} scores`];
    if (l.kind === 'group-limited') parts.push(`group-limited top-${l.topK} (${l.numGroups} groups of ${numExperts / l.numGroups!}, ${l.topkGroup} chosen; experts stay in their group)`);
    else parts.push(`top-${l.topK}, no groups`);
    if (hashLayers > 0) parts.push(`layers 0..${hashLayers - 1} hash-routed (kept in place)`);
    return parts.join(', ');
  };
  return { file, modelType, numExperts, hiddenSize, scoring, quant, layer, describe };
}
