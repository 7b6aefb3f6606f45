/**
 * Token routes: for each token and MoE layer, the k experts the router chose.
 *
 * Shapes (row-major, token-major so that a batch of consecutive tokens is contiguous):
 *   experts[T][L][k]   Uint8Array when E <= 256, else Uint16Array. Entry (t, l, j) is at
 *                      (t * L + l) * k + j.
 *   weights[T][L][k]   Float32Array gate weights, same layout, when known.
 *   seqStarts[S + 1]   Uint32Array: sequence s covers tokens [seqStarts[s], seqStarts[s+1]).
 *                      seqStarts[0] = 0 and seqStarts[S] = T.
 *
 * A 1M-token x 60-layer x top-8 trace is 480 MB of Uint8 ids.
 */
import type { Phase, TraceMeta } from './load-trace.ts';

export type ExpertIdArray = Uint8Array | Uint16Array;

export interface TokenRoutes {
  meta: TraceMeta;
  numTokens: number;
  numLayers: number;
  numExperts: number;
  topK: number;
  experts: ExpertIdArray;
  weights?: Float32Array;
  seqStarts: Uint32Array;
  /** Per-token phase, when the capture could tell prefill from decode (0 prefill, 1 decode). */
  phase?: Uint8Array;
}

/** Allocate an id array of the narrowest type that holds expert ids < numExperts. */
export function allocExpertIds(numExperts: number, length: number): ExpertIdArray {
  if (numExperts <= 256) return new Uint8Array(length);
  if (numExperts <= 65536) return new Uint16Array(length);
  throw new RangeError(`numExperts ${numExperts} exceeds 65536`);
}

/** Build TokenRoutes, checking shapes. */
export function makeTokenRoutes(args: {
  meta: TraceMeta;
  numLayers: number;
  numExperts: number;
  topK: number;
  experts: ExpertIdArray;
  weights?: Float32Array;
  seqStarts?: Uint32Array;
  phase?: Uint8Array;
}): TokenRoutes {
  const { numLayers: L, topK: k } = args;
  const per = L * k;
  if (per <= 0) throw new RangeError(`token routes need L>0 and k>0, got L=${L} k=${k}`);
  if (args.experts.length % per !== 0) {
    throw new RangeError(`experts length ${args.experts.length} is not a multiple of L*k = ${per}`);
  }
  const T = args.experts.length / per;
  if (args.weights && args.weights.length !== args.experts.length) {
    throw new RangeError(`weights length ${args.weights.length} != experts length ${args.experts.length}`);
  }
  const seqStarts = args.seqStarts ?? Uint32Array.of(0, T);
  if (seqStarts[0] !== 0 || seqStarts[seqStarts.length - 1] !== T) {
    throw new RangeError(`seqStarts must start at 0 and end at T=${T}`);
  }
  for (let i = 1; i < seqStarts.length; i++) {
    if (seqStarts[i] < seqStarts[i - 1]) throw new RangeError(`seqStarts not non-decreasing at ${i}`);
  }
  if (args.phase && args.phase.length !== T) throw new RangeError(`phase length != T=${T}`);
  return {
    meta: args.meta,
    numTokens: T,
    numLayers: L,
    numExperts: args.numExperts,
    topK: k,
    experts: args.experts,
    weights: args.weights,
    seqStarts,
    phase: args.phase,
  };
}

/**
 * Per-layer expert histogram of tokens [t0, t1). Returns [L][E] Float64Array.
 */
export function routesToCounts(r: TokenRoutes, t0 = 0, t1 = r.numTokens): Float64Array {
  const { numLayers: L, numExperts: E, topK: k, experts } = r;
  const out = new Float64Array(L * E);
  const per = L * k;
  for (let t = t0; t < t1; t++) {
    const base = t * per;
    for (let l = 0; l < L; l++) {
      const o = l * E;
      const b = base + l * k;
      for (let j = 0; j < k; j++) out[o + experts[b + j]] += 1;
    }
  }
  return out;
}

/** Slice tokens [t0, t1) into a new TokenRoutes (copies; sequence boundaries are clipped). */
export function sliceRoutes(r: TokenRoutes, t0: number, t1: number): TokenRoutes {
  const per = r.numLayers * r.topK;
  const experts = r.experts.slice(t0 * per, t1 * per) as ExpertIdArray;
  const weights = r.weights?.slice(t0 * per, t1 * per);
  const starts: number[] = [0];
  for (let s = 0; s < r.seqStarts.length; s++) {
    const v = r.seqStarts[s];
    if (v > t0 && v < t1) starts.push(v - t0);
  }
  starts.push(t1 - t0);
  return makeTokenRoutes({
    meta: r.meta,
    numLayers: r.numLayers,
    numExperts: r.numExperts,
    topK: r.topK,
    experts,
    weights,
    seqStarts: Uint32Array.from(starts),
    phase: r.phase?.slice(t0, t1),
  });
}

export type { Phase };

/**
 * An evenly spread sample of a long trace's tokens, for statistics whose cost grows with T (co-
 * activation, batch covariance): `windows` windows of floor(maxTokens / windows) consecutive tokens,
 * window i starting at floor(i * T / windows), moved forward to a sequence start when one falls in the
 * window's first half and the window still ends before the next one's point (so whole sequences are
 * kept where possible), concatenated. Sequence starts are
 * the window boundaries and the original starts inside windows. Returns `r` itself when
 * T <= maxTokens. Shapes: r [T][L][k] -> [windows * floor(maxTokens / windows)][L][k].
 */
export function sampleRouteWindows(r: TokenRoutes, maxTokens: number, windows = 8): TokenRoutes {
  const T = r.numTokens;
  if (T <= maxTokens) return r;
  const n = Math.max(1, Math.min(windows, maxTokens));
  const len = Math.floor(maxTokens / n);
  const per = r.numLayers * r.topK;
  const experts = allocExpertIds(r.numExperts, n * len * per);
  const weights = r.weights ? new Float32Array(n * len * per) : undefined;
  const phase = r.phase ? new Uint8Array(n * len) : undefined;
  const starts: number[] = [];
  let s = 0;
  for (let i = 0; i < n; i++) {
    const point = Math.floor((i * T) / n);
    while (s < r.seqStarts.length && r.seqStarts[s] < point) s++;
    let t0 = point;
    const nextPoint = i + 1 < n ? Math.floor(((i + 1) * T) / n) : T;
    if (s < r.seqStarts.length && r.seqStarts[s] < point + len / 2 && r.seqStarts[s] + len <= nextPoint) t0 = r.seqStarts[s];
    t0 = Math.min(t0, T - len);
    const o = i * len;
    experts.set(r.experts.subarray(t0 * per, (t0 + len) * per), o * per);
    if (weights) weights.set(r.weights!.subarray(t0 * per, (t0 + len) * per), o * per);
    if (phase) phase.set(r.phase!.subarray(t0, t0 + len), o);
    starts.push(o);
    for (let q = 0; q < r.seqStarts.length; q++) {
      const v = r.seqStarts[q];
      if (v > t0 && v < t0 + len) starts.push(o + v - t0);
    }
  }
  starts.push(n * len);
  return makeTokenRoutes({
    meta: r.meta,
    numLayers: r.numLayers,
    numExperts: r.numExperts,
    topK: r.topK,
    experts,
    weights,
    seqStarts: Uint32Array.from(starts),
    phase,
  });
}
