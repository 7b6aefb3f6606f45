/**
 * MoE model dimensions for the cost model, from a HuggingFace `config.json` or a named preset.
 *
 * `loadModelConfig(spec)` takes a preset name (case-insensitive, e.g. 'DeepSeek-V3', 'qwen3-30b-a3b'),
 * a HuggingFace model id whose last part names a preset ('deepseek-ai/DeepSeek-V3'), a path to a
 * `config.json`, or a directory holding one. It returns a `ModelConfig` whose `fieldSources` says where
 * every number came from (config field or preset), for `--explain`.
 *
 * Fields read (first one present wins; nested `text_config` is used when present, as in Llama 4):
 *   hidden size      hidden_size
 *   expert FFN size  moe_intermediate_size, then intermediate_size
 *   routed experts   n_routed_experts, num_local_experts, num_experts, moe_num_experts
 *   top-k            num_experts_per_tok, moe_top_k
 *   layers           num_hidden_layers
 *   MoE layer set    DeepSeek: first_k_dense_replace + moe_layer_freq; Qwen-MoE: decoder_sparse_step +
 *                    mlp_only_layers; Llama 4: moe_layers or interleave_moe_layer_step; else every layer
 *   weight dtype     quantization_config (fp8 -> 1 byte, 4-bit -> 0.5), else torch_dtype / dtype
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../core/errors.ts';

export interface ModelConfig {
  /** Display name (preset name or the config's _name_or_path / path). */
  name: string;
  /** HuggingFace model id, when known. */
  hfId?: string;
  /** 'preset' or the config.json path it was read from. */
  source: string;
  /** H: hidden size. */
  hiddenSize: number;
  /** F: one routed expert's FFN (intermediate) size. */
  expertFfnSize: number;
  /** E: routed experts per MoE layer. */
  numExperts: number;
  /** k: routed experts per token. */
  topK: number;
  /** Shared (always-on) experts per MoE layer, when the model has them (not routed, not placed). */
  numSharedExperts: number;
  /** Decoder layers in total. */
  numLayers: number;
  /** Model-level indices of the MoE layers. */
  moeLayerIds: number[];
  /** Weight storage dtype name: 'fp8', 'bf16', 'fp16', 'fp32', 'int4', ... */
  weightDtype: string;
  /** Bytes per expert weight (fp8 1, bf16 2, fp32 4, 4-bit 0.5). */
  bytesPerWeight: number;
  /** Expert groups of group-limited routing (DeepSeek n_group), when present. */
  numGroups?: number;
  /** Where each field came from: field name -> 'config.json: hidden_size' / 'preset DeepSeek-V3 (...)'. */
  fieldSources: Record<string, string>;
}

/** Bytes of one routed expert in one layer: B_e = 3 * H * F * bytes_per_weight (docs/cost-model.md#formulas). */
export function expertBytes(m: ModelConfig): number {
  return 3 * m.hiddenSize * m.expertFfnSize * m.bytesPerWeight;
}

/** Raw HF-style config values of a preset (only the fields ballast reads). */
interface PresetDef {
  name: string;
  hfId: string;
  config: Record<string, unknown>;
}

/**
 * Presets: the published config.json values of each model (HuggingFace ids in `hfId`), reduced to the
 * fields the cost model reads. They go through the same parser as a user's config.json.
 */
export const MODEL_PRESETS: PresetDef[] = [
  {
    // https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json (FP8 block-quantized weights)
    name: 'DeepSeek-V3',
    hfId: 'deepseek-ai/DeepSeek-V3',
    config: {
      hidden_size: 7168,
      intermediate_size: 18432,
      moe_intermediate_size: 2048,
      n_routed_experts: 256,
      n_shared_experts: 1,
      num_experts_per_tok: 8,
      num_hidden_layers: 61,
      first_k_dense_replace: 3,
      moe_layer_freq: 1,
      n_group: 8,
      topk_group: 4,
      torch_dtype: 'bfloat16',
      quantization_config: { quant_method: 'fp8', fmt: 'e4m3', weight_block_size: [128, 128] },
    },
  },
  {
    // https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json
    name: 'Qwen3-30B-A3B',
    hfId: 'Qwen/Qwen3-30B-A3B',
    config: {
      hidden_size: 2048,
      intermediate_size: 6144,
      moe_intermediate_size: 768,
      num_experts: 128,
      num_experts_per_tok: 8,
      num_hidden_layers: 48,
      decoder_sparse_step: 1,
      mlp_only_layers: [],
      torch_dtype: 'bfloat16',
    },
  },
  {
    // https://huggingface.co/Qwen/Qwen3-235B-A22B/blob/main/config.json
    name: 'Qwen3-235B-A22B',
    hfId: 'Qwen/Qwen3-235B-A22B',
    config: {
      hidden_size: 4096,
      intermediate_size: 12288,
      moe_intermediate_size: 1536,
      num_experts: 128,
      num_experts_per_tok: 8,
      num_hidden_layers: 94,
      decoder_sparse_step: 1,
      mlp_only_layers: [],
      torch_dtype: 'bfloat16',
    },
  },
  {
    // https://huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json
    name: 'Mixtral-8x7B',
    hfId: 'mistralai/Mixtral-8x7B-v0.1',
    config: {
      hidden_size: 4096,
      intermediate_size: 14336,
      num_local_experts: 8,
      num_experts_per_tok: 2,
      num_hidden_layers: 32,
      torch_dtype: 'bfloat16',
    },
  },
  {
    // https://huggingface.co/allenai/OLMoE-1B-7B-0924/blob/main/config.json
    name: 'OLMoE-1B-7B',
    hfId: 'allenai/OLMoE-1B-7B-0924',
    config: {
      hidden_size: 2048,
      intermediate_size: 1024,
      num_experts: 64,
      num_experts_per_tok: 8,
      num_hidden_layers: 16,
      torch_dtype: 'bfloat16',
    },
  },
  {
    // https://huggingface.co/meta-llama/Llama-4-Maverick-17B-128E-Instruct/blob/main/config.json (text_config)
    // MoE every second layer (interleave_moe_layer_step 2): layers 1, 3, ..., 47; one shared expert.
    name: 'Llama-4-Maverick',
    hfId: 'meta-llama/Llama-4-Maverick-17B-128E-Instruct',
    config: {
      text_config: {
        hidden_size: 5120,
        intermediate_size: 8192,
        intermediate_size_mlp: 16384,
        num_local_experts: 128,
        num_experts_per_tok: 1,
        num_hidden_layers: 48,
        interleave_moe_layer_step: 2,
        torch_dtype: 'bfloat16',
      },
    },
  },
  {
    // https://huggingface.co/deepseek-ai/DeepSeek-V2-Lite/blob/main/config.json (the ESFT traces' architecture)
    name: 'DeepSeek-V2-Lite',
    hfId: 'deepseek-ai/DeepSeek-V2-Lite',
    config: {
      hidden_size: 2048,
      intermediate_size: 10944,
      moe_intermediate_size: 1408,
      n_routed_experts: 64,
      n_shared_experts: 2,
      num_experts_per_tok: 6,
      num_hidden_layers: 27,
      first_k_dense_replace: 1,
      moe_layer_freq: 1,
      n_group: 1,
      topk_group: 1,
      torch_dtype: 'bfloat16',
    },
  },
  {
    // https://huggingface.co/meta-llama/Llama-4-Scout-17B-16E-Instruct/blob/main/config.json (text_config)
    // Every layer MoE (interleave_moe_layer_step 1), 16 routed experts, top-1, one shared expert.
    name: 'Llama-4-Scout',
    hfId: 'meta-llama/Llama-4-Scout-17B-16E-Instruct',
    config: {
      text_config: {
        hidden_size: 5120,
        intermediate_size: 8192,
        intermediate_size_mlp: 16384,
        num_local_experts: 16,
        num_experts_per_tok: 1,
        num_hidden_layers: 48,
        interleave_moe_layer_step: 1,
        torch_dtype: 'bfloat16',
      },
    },
  },
];

/** Preset names, for --help and error messages. */
export function modelPresetNames(): string[] {
  return MODEL_PRESETS.map((p) => p.name);
}

function normName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** The preset matching a name or HF id (case/punctuation-insensitive), or undefined. */
export function findModelPreset(spec: string): PresetDef | undefined {
  const n = normName(spec);
  const last = normName(spec.split('/').pop() ?? spec);
  return MODEL_PRESETS.find(
    (p) =>
      normName(p.name) === n ||
      normName(p.hfId) === n ||
      normName(p.name) === last ||
      normName(p.hfId.split('/')[1]) === last ||
      // Family aliases without a version or size ('olmoe', 'mixtral'): a name with digits must match
      // exactly, so 'DeepSeek-V2' never resolves to DeepSeek-V2-Lite.
      (last.length >= 5 && !/\d/.test(last) && normName(p.name).startsWith(last)),
  );
}

/**
 * Ids of released variants that share a preset's architecture (same config.json shape), normalised:
 * DeepSeek-V3-0324, -Base, R1 and R1-0528 publish the DeepSeek-V3 config; Maverick and Scout are named
 * by size and expert count in their ids.
 */
const MODEL_ID_ALIASES: Record<string, string> = {
  deepseekv3: 'DeepSeek-V3',
  deepseekr1: 'DeepSeek-V3',
  deepseekv2lite: 'DeepSeek-V2-Lite',
  llama4maverick17b128e: 'Llama-4-Maverick',
  llama4maverick: 'Llama-4-Maverick',
  llama4scout17b16e: 'Llama-4-Scout',
  llama4scout: 'Llama-4-Scout',
  mixtral8x7b: 'Mixtral-8x7B',
  olmoe1b7b: 'OLMoE-1B-7B',
  qwen330ba3b: 'Qwen3-30B-A3B',
  qwen3235ba22b: 'Qwen3-235B-A22B',
};

/** Trailing id parts that name a release, tuning or dtype, not the architecture. */
const RELEASE_SUFFIX = /^(instruct|chat|base|hf|thinking|fp8|bf16|fp16|awq|gptq|int4|int8|w4a16|w8a8|dynamic|v0\.\d|\d{4})$/i;

/**
 * Resolve a model id (HF id, with or without org) to a preset by family and size: trailing release,
 * tuning and dtype parts are dropped (`-Instruct`, `-0324`, `-FP8`, `-v0.1`, ...) and what is left must
 * name the preset exactly. Returns the preset, how it matched and whether the id says FP8 weights.
 */
export function resolveModelPreset(spec: string): { preset: PresetDef; how: string; fp8: boolean; weight?: { dtype: string; bytes: number; suffix: string } } | undefined {
  const exact = MODEL_PRESETS.find((p) => normName(p.name) === normName(spec) || normName(p.hfId) === normName(spec));
  const last = spec.trim().split('/').pop() ?? spec;
  const parts = last.split('-');
  let fp8 = false;
  let weight: { dtype: string; bytes: number; suffix: string } | undefined;
  while (parts.length > 1 && RELEASE_SUFFIX.test(parts[parts.length - 1])) {
    const w = parts[parts.length - 1].toLowerCase();
    if (w === 'fp8') fp8 = true;
    // Quantised releases named by their weight width (GPTQ/AWQ releases are 4-bit unless they say Int8).
    if (weight === undefined || weight.dtype === 'int4') {
      if (w === 'fp8') weight = { dtype: 'fp8', bytes: 1, suffix: w };
      else if (w === 'bf16' || w === 'fp16') weight = { dtype: w, bytes: 2, suffix: w };
      else if (w === 'int8' || w === 'w8a8') weight = { dtype: 'int8', bytes: 1, suffix: w };
      else if (weight === undefined && (w === 'int4' || w === 'w4a16' || w === 'awq' || w === 'gptq')) weight = { dtype: 'int4', bytes: 0.5, suffix: w };
    }
    parts.pop();
  }
  if (exact) return { preset: exact, how: 'named', fp8, weight };
  const key = normName(parts.join('-'));
  const byName = MODEL_PRESETS.find((p) => normName(p.name) === key || normName(p.hfId.split('/')[1]) === key);
  if (byName) return { preset: byName, how: 'family and size of', fp8, weight };
  const alias = MODEL_ID_ALIASES[key];
  if (alias) {
    const p = MODEL_PRESETS.find((x) => x.name === alias);
    if (p) return { preset: p, how: 'family and size of', fp8, weight };
  }
  const loose = findModelPreset(spec);
  return loose ? { preset: loose, how: 'family name', fp8, weight } : undefined;
}

/**
 * Load a model config from a preset name / HF id or a config.json path (file or directory).
 * Throws InputError naming the file and field when a required value is missing or malformed.
 */
export function loadModelConfig(spec: string): ModelConfig {
  let isPath = false;
  let path = spec;
  try {
    const st = statSync(spec);
    isPath = true;
    if (st.isDirectory()) path = join(spec, 'config.json');
  } catch {
    isPath = false;
  }
  if (!isPath) {
    const hit = resolveModelPreset(spec);
    const preset = hit?.preset;
    if (!preset) {
      throw new InputError(
        '--model',
        '',
        `"${spec}" is neither a file nor a known preset; expected a config.json path or one of ${modelPresetNames().join(', ')}`,
      );
    }
    const cfg = parseHfConfig(preset.config, `preset ${preset.name} (${preset.hfId})`, {
      name: preset.name,
      hfId: preset.hfId,
      source: 'preset',
    });
    const w = hit.weight;
    if (w && cfg.bytesPerWeight !== w.bytes) {
      // A release in another width than the preset (Llama-4-Maverick-17B-128E-Instruct-FP8, -AWQ,
      // -GPTQ-Int4; a -BF16 upcast of the FP8 DeepSeek-V3).
      cfg.weightDtype = w.dtype;
      cfg.bytesPerWeight = w.bytes;
      cfg.fieldSources.bytesPerWeight = cfg.fieldSources.weightDtype = `model id "${spec}" names a ${w.suffix.toUpperCase()} release (${w.bytes} bytes per weight)`;
    }
    return cfg;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InputError(path, '', 'cannot read model config');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(path, '', `not JSON (${(e as Error).message}); expected a HuggingFace config.json`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    throw new InputError(path, '', 'expected a JSON object (HuggingFace config.json)');
  }
  const o = json as Record<string, unknown>;
  const name = typeof o._name_or_path === 'string' && o._name_or_path ? o._name_or_path : path;
  return parseHfConfig(o, `config.json ${path}`, { name, source: path });
}

/**
 * Parse HF config fields into a ModelConfig. `origin` labels field sources ('config.json x' or
 * 'preset X (id)'); errors name `meta.source` as the file.
 */
export function parseHfConfig(
  raw: Record<string, unknown>,
  origin: string,
  meta: { name: string; hfId?: string; source: string },
): ModelConfig {
  const file = meta.source === 'preset' ? `preset ${meta.name}` : meta.source;
  const nested = raw.text_config && typeof raw.text_config === 'object' ? (raw.text_config as Record<string, unknown>) : undefined;
  const c: Record<string, unknown> = nested ? { ...raw, ...nested } : raw;
  const prefix = nested ? 'text_config.' : '';
  const src: Record<string, string> = {};

  const pickInt = (field: string, keys: string[], required: boolean): number | undefined => {
    for (const k of keys) {
      const v = c[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new InputError(file, `key ${prefix}${k}`, `expected a non-negative integer, got ${JSON.stringify(v)}`);
      }
      src[field] = `${origin}: ${prefix}${k}`;
      return v;
    }
    if (required) throw new InputError(file, '', `missing ${keys.join(' / ')}; expected ${field} for an MoE model`);
    return undefined;
  };

  const hiddenSize = pickInt('hiddenSize', ['hidden_size', 'd_model'], true)!;
  const expertFfnSize = pickInt('expertFfnSize', ['moe_intermediate_size', 'intermediate_size', 'ffn_dim'], true)!;
  const numExperts = pickInt('numExperts', ['n_routed_experts', 'num_local_experts', 'num_experts', 'moe_num_experts'], true)!;
  const topK = pickInt('topK', ['num_experts_per_tok', 'moe_top_k', 'num_experts_per_token'], true)!;
  const numLayers = pickInt('numLayers', ['num_hidden_layers', 'num_layers', 'n_layer'], true)!;
  if (numExperts < 1) throw new InputError(file, 'numExperts', 'expected at least one routed expert (is this an MoE model?)');
  if (topK < 1 || topK > numExperts) throw new InputError(file, 'topK', `expected 1 <= top-k <= ${numExperts}, got ${topK}`);
  const numSharedExperts = pickInt('numSharedExperts', ['n_shared_experts', 'num_shared_experts'], false) ?? (nested && c.intermediate_size_mlp !== undefined ? 1 : 0);
  if (src.numSharedExperts === undefined) src.numSharedExperts = nested && numSharedExperts ? `${origin}: Llama 4 has one shared expert per MoE layer` : `${origin}: no shared-expert field (0)`;
  const nGroup = pickInt('numGroups', ['n_group'], false);

  // MoE layer set.
  let moeLayerIds: number[];
  if (Array.isArray(c.moe_layers)) {
    moeLayerIds = (c.moe_layers as unknown[]).map((v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new InputError(file, `key ${prefix}moe_layers[${i}]`, 'expected an integer');
      return v;
    });
    src.moeLayerIds = `${origin}: ${prefix}moe_layers`;
  } else if (c.first_k_dense_replace !== undefined || c.moe_layer_freq !== undefined) {
    const k = (c.first_k_dense_replace as number) ?? 0;
    const f = (c.moe_layer_freq as number) ?? 1;
    if (!Number.isInteger(k) || k < 0) throw new InputError(file, `key ${prefix}first_k_dense_replace`, 'expected a non-negative integer');
    if (!Number.isInteger(f) || f < 1) throw new InputError(file, `key ${prefix}moe_layer_freq`, 'expected a positive integer');
    moeLayerIds = [];
    for (let i = 0; i < numLayers; i++) if (i >= k && i % f === 0) moeLayerIds.push(i);
    src.moeLayerIds = `${origin}: ${prefix}first_k_dense_replace=${k}, moe_layer_freq=${f} (layer i is MoE when i >= k and i % freq == 0)`;
  } else if (c.decoder_sparse_step !== undefined || c.mlp_only_layers !== undefined) {
    const s = (c.decoder_sparse_step as number) ?? 1;
    if (!Number.isInteger(s) || s < 1) throw new InputError(file, `key ${prefix}decoder_sparse_step`, 'expected a positive integer');
    const dense = new Set(Array.isArray(c.mlp_only_layers) ? (c.mlp_only_layers as number[]) : []);
    moeLayerIds = [];
    for (let i = 0; i < numLayers; i++) if (!dense.has(i) && (i + 1) % s === 0) moeLayerIds.push(i);
    src.moeLayerIds = `${origin}: ${prefix}decoder_sparse_step=${s}, mlp_only_layers (layer i is MoE when (i+1) % step == 0)`;
  } else if (c.interleave_moe_layer_step !== undefined) {
    const s = c.interleave_moe_layer_step as number;
    if (!Number.isInteger(s) || s < 1) throw new InputError(file, `key ${prefix}interleave_moe_layer_step`, 'expected a positive integer');
    moeLayerIds = [];
    for (let i = s - 1; i < numLayers; i += s) moeLayerIds.push(i);
    src.moeLayerIds = `${origin}: ${prefix}interleave_moe_layer_step=${s} (layers step-1, 2*step-1, ...)`;
  } else {
    moeLayerIds = Array.from({ length: numLayers }, (_, i) => i);
    src.moeLayerIds = `${origin}: no layer-pattern field, every one of num_hidden_layers is MoE`;
  }

  // Weight dtype.
  const { dtype, bytes, how } = weightDtypeOf(c, file, prefix);
  src.bytesPerWeight = `${origin}: ${how}`;
  src.weightDtype = src.bytesPerWeight;

  return {
    name: meta.name,
    hfId: meta.hfId,
    source: meta.source,
    hiddenSize,
    expertFfnSize,
    numExperts,
    topK,
    numSharedExperts,
    numLayers,
    moeLayerIds,
    weightDtype: dtype,
    bytesPerWeight: bytes,
    numGroups: nGroup,
    fieldSources: src,
  };
}

const DTYPE_BYTES: Record<string, [string, number]> = {
  bfloat16: ['bf16', 2],
  bf16: ['bf16', 2],
  float16: ['fp16', 2],
  fp16: ['fp16', 2],
  half: ['fp16', 2],
  float32: ['fp32', 4],
  fp32: ['fp32', 4],
  float: ['fp32', 4],
  float8_e4m3fn: ['fp8', 1],
  fp8: ['fp8', 1],
};

function weightDtypeOf(c: Record<string, unknown>, file: string, prefix: string): { dtype: string; bytes: number; how: string } {
  const q = c.quantization_config as Record<string, unknown> | undefined;
  if (q && typeof q === 'object') {
    const method = String(q.quant_method ?? '').toLowerCase();
    if (method === 'fp8' || method === 'fbgemm_fp8') return { dtype: 'fp8', bytes: 1, how: `quantization_config.quant_method=${method} (1 byte per weight)` };
    if (method === 'mxfp4') return { dtype: 'mxfp4', bytes: 0.5, how: 'quantization_config.quant_method=mxfp4 (0.5 byte per weight)' };
    let bits = typeof q.bits === 'number' ? q.bits : typeof q.w_bit === 'number' ? q.w_bit : undefined;
    if (bits === undefined && q.config_groups && typeof q.config_groups === 'object') {
      for (const g of Object.values(q.config_groups as Record<string, unknown>)) {
        const w = (g as Record<string, unknown>)?.weights as Record<string, unknown> | undefined;
        if (w && typeof w.num_bits === 'number') {
          bits = w.num_bits;
          break;
        }
      }
    }
    if (typeof bits === 'number' && bits > 0 && bits <= 32) {
      return { dtype: bits === 8 ? 'int8' : bits === 4 ? 'int4' : `int${bits}`, bytes: bits / 8, how: `quantization_config (${method || 'quantized'}, ${bits} bits per weight)` };
    }
    throw new InputError(file, 'key quantization_config', `cannot tell the weight width of quant_method "${method}"; expected fp8, mxfp4 or a bits/num_bits field (or pass --set bytesPerWeight=N)`);
  }
  for (const key of ['torch_dtype', 'dtype']) {
    const v = c[key];
    if (typeof v === 'string') {
      const d = DTYPE_BYTES[v.toLowerCase()];
      if (!d) throw new InputError(file, `key ${prefix}${key}`, `unknown dtype "${v}"; expected bfloat16, float16, float32 or float8_e4m3fn`);
      return { dtype: d[0], bytes: d[1], how: `${prefix}${key}=${v} (${d[1]} bytes per weight)` };
    }
  }
  return { dtype: 'bf16', bytes: 2, how: 'no torch_dtype / quantization_config: assumed bf16 (2 bytes per weight)' };
}
