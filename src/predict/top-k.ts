/**
 * The top-k a replay uses, and where it came from. Count-only traces (CSV, npy, JSON, SGLang
 * logical_count) record how many token-expert pairs each expert served, not how many experts each
 * token picked; the replay needs k to turn counts into tokens per step and to estimate how many GPUs a
 * token reaches. In order:
 *   1. token routes        k is the routes' own width
 *   2. trace metadata      a capture that knew the model wrote meta.topK
 *   3. the model config    --model (preset or config.json: num_experts_per_tok), or the model ballast
 *                          chose from the trace's model name
 * With none of them there is no honest default (top-1 would undercount GPUs per token k-fold): one
 * line asks for --model.
 *
 * Shapes: reads routes [T][L][k] and load.meta; returns { topK: k >= 1, source }.
 */
import { InputError } from '../core/errors.ts';
import type { LoadTrace } from '../core/load-trace.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import type { ModelConfig } from './model-config.ts';

export interface TopKChoice {
  topK: number;
  /** Where k came from, in words: 'token routes', 'trace metadata', 'model DeepSeek-V2-Lite (...)'. */
  source: string;
}

export function resolveTopK(o: { routes?: TokenRoutes; load: LoadTrace; model?: ModelConfig; path?: string }): TopKChoice {
  if (o.routes) return { topK: o.routes.topK, source: 'token routes' };
  const meta = o.load.meta.topK;
  if (meta !== undefined && Number.isInteger(meta) && meta >= 1) return { topK: meta, source: 'trace metadata' };
  if (o.model) {
    const field = o.model.fieldSources.topK?.split(': ').pop() ?? 'top-k';
    const from = o.model.source === 'preset' ? `model preset ${o.model.name}` : o.model.source;
    return { topK: o.model.topK, source: `${from}: ${field}` };
  }
  throw new InputError(
    o.path ?? '--model',
    '',
    `the trace has expert counts but no top-k (experts per token); pass --model (preset or config.json) so the replay uses the model's top-k`,
  );
}

/** The load trace with meta.topK set (a shallow copy; counts are shared). */
export function withTopK(load: LoadTrace, k: number): LoadTrace {
  return load.meta.topK === k ? load : { ...load, meta: { ...load.meta, topK: k } };
}

/** One line for outputs: "top-6 (token routes)". */
export function topKLine(c: TopKChoice): string {
  return `top-${c.topK} (${c.source})`;
}
