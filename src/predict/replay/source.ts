/**
 * What is replayed (`ReplaySource`): token routes cut into batches, or a load trace's windows; and the
 * per-batch expert counts [L][E] a policy re-plans from.
 */
import type { LoadTrace } from '../../core/load-trace.ts';
import { routesToCounts, type TokenRoutes } from '../../core/token-routes.ts';

export type ReplicaRouting = 'token-mod' | 'least-loaded';

export type ReplaySource =
  | { kind: 'routes'; routes: TokenRoutes; startToken: number; endToken: number; batchTokens: number }
  | {
      kind: 'counts';
      load: LoadTrace;
      startWindow: number;
      endWindow: number;
      /**
       * Tokens per step: each window's counts are scaled to this many tokens (its expected load per
       * step), so a histogram captured over 200K tokens predicts a 512-token step. Undefined: windows
       * are scored as recorded (each window is one engine step).
       */
      stepTokens?: number;
      /** Experts per token (resolved at the edge, top-k.ts: routes, trace metadata or the model). */
      topK: number;
    };

/** Number of batches a source yields. */
export function numBatches(src: ReplaySource): number {
  if (src.kind === 'routes') return Math.max(0, Math.floor((src.endToken - src.startToken) / src.batchTokens));
  return Math.max(0, src.endWindow - src.startWindow);
}

/** Tokens of window `b` of a counts source: its recorded tokens, else layer 0's pairs / k. */
export function recordedTokens(src: Extract<ReplaySource, { kind: 'counts' }>, b: number): number {
  const w = src.startWindow + b;
  const info = src.load.windows[w];
  if (info?.tokens && info.tokens > 0) return info.tokens;
  const E = src.load.numExperts;
  const per = src.load.numLayers * E;
  let layer0 = 0;
  for (let e = 0; e < E; e++) layer0 += src.load.counts[w * per + e];
  return layer0 / src.topK;
}

/** Tokens batch `b` of a counts source stands for (stepTokens when set). */
export function windowTokens(src: Extract<ReplaySource, { kind: 'counts' }>, b: number): number {
  return src.stepTokens ?? recordedTokens(src, b);
}

/** Per-layer expert counts [L][E] of batch `b` (copies; counts sources scaled to stepTokens). */
export function batchCounts(src: ReplaySource, b: number): Float64Array {
  if (src.kind === 'routes') {
    const t0 = src.startToken + b * src.batchTokens;
    return routesToCounts(src.routes, t0, t0 + src.batchTokens);
  }
  const per = src.load.numLayers * src.load.numExperts;
  const w = src.startWindow + b;
  const out = src.load.counts.slice(w * per, (w + 1) * per);
  if (src.stepTokens !== undefined) {
    const rec = recordedTokens(src, b);
    const f = rec > 0 ? src.stepTokens / rec : 0;
    for (let i = 0; i < out.length; i++) out[i] *= f;
  }
  return out;
}
