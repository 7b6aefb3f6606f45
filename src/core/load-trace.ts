/**
 * Load trace: token counts per MoE layer and per logical expert, as a sequence of windows.
 *
 * Shapes (row-major, all typed arrays):
 *   counts[W][L][E]  Float64Array, W windows x L MoE layers x E logical experts.
 *                    A "window" is one step, pass or reporting interval; a histogram with no
 *                    time axis is a trace with W = 1.
 *   windows[W]       per-window metadata (step, time, phase, rank), same order as `counts`.
 *
 * Counts are token-expert assignments: with top-k routing, each token adds k across a layer.
 */

/** Where the trace came from and what produced it. */
export interface TraceSource {
  /** Path (or URL) the trace was read from. */
  path: string;
  /** Reader or format name: 'ballast', 'csv', 'npy', 'json', 'esft', 'vllm-jsonl', ... */
  format: string;
  /** Set when the file was cut short (a capture killed or still running): what may be missing. */
  incomplete?: string;
}

export type Phase = 'prefill' | 'decode' | 'mixed';

export interface TraceMeta {
  /** Model name or path, when known. */
  model?: string;
  /** Model-level layer index of each MoE layer, length L (e.g. [1..26] for DeepSeek-V2-Lite). */
  layerIds: number[];
  /** Experts selected per token per layer, when known. */
  topK?: number;
  /** Sources in the order they were read (several when files are merged). */
  sources: TraceSource[];
  /** Phase of the whole trace when uniform and known. */
  phase?: Phase;
  /**
   * How the engine sharded the MoE layers, when the capture could tell: 'ep' (experts placed on
   * GPUs: placement matters) or 'tp' (every GPU holds a slice of every expert: nothing to place).
   */
  moeParallel?: 'ep' | 'tp';
  /** Free-form attribution / notes carried along (licence, upstream repository). */
  attribution?: string;
  /** Anything else a reader wants to keep (JSON-serialisable). */
  extra?: Record<string, unknown>;
}

export interface WindowInfo {
  /** Engine step or pass index, when known. */
  step?: number;
  /** Wall-clock time at the end of the window, ms since epoch, when known. */
  timeMs?: number;
  phase?: Phase;
  /** Rank that recorded this window when windows are per rank (before merging). */
  rank?: number;
  /** Tokens processed in this window (not token-expert pairs), when known. */
  tokens?: number;
}

export interface LoadTrace {
  meta: TraceMeta;
  numWindows: number;
  numLayers: number;
  numExperts: number;
  /** [W][L][E] counts, row-major. */
  counts: Float64Array;
  /** Length W. */
  windows: WindowInfo[];
}

/** Build a LoadTrace, checking that shapes agree. `counts` is [W][L][E] row-major. */
export function makeLoadTrace(
  meta: TraceMeta,
  numLayers: number,
  numExperts: number,
  counts: Float64Array,
  windows?: WindowInfo[],
): LoadTrace {
  const per = numLayers * numExperts;
  if (per <= 0) throw new RangeError(`load trace needs L>0 and E>0, got L=${numLayers} E=${numExperts}`);
  if (counts.length % per !== 0) {
    throw new RangeError(`counts length ${counts.length} is not a multiple of L*E = ${per}`);
  }
  const numWindows = counts.length / per;
  const w = windows ?? Array.from({ length: numWindows }, () => ({}));
  if (w.length !== numWindows) throw new RangeError(`windows length ${w.length} != W = ${numWindows}`);
  if (meta.layerIds.length !== numLayers) {
    throw new RangeError(`meta.layerIds length ${meta.layerIds.length} != L = ${numLayers}`);
  }
  return { meta, numWindows, numLayers, numExperts, counts, windows: w };
}

/** Sum over windows [w0, w1) (default all). Returns [L][E] row-major. */
export function totalCounts(trace: LoadTrace, w0 = 0, w1 = trace.numWindows): Float64Array {
  const per = trace.numLayers * trace.numExperts;
  const out = new Float64Array(per);
  const c = trace.counts;
  for (let w = w0; w < w1; w++) {
    const base = w * per;
    for (let i = 0; i < per; i++) out[i] += c[base + i];
  }
  return out;
}

/** View of window `w` as [L][E] (no copy). */
export function windowCounts(trace: LoadTrace, w: number): Float64Array {
  const per = trace.numLayers * trace.numExperts;
  return trace.counts.subarray(w * per, (w + 1) * per);
}

/** View of layer `l` in an [L][E] matrix (no copy). Returns [E]. */
export function layerRow(matrix: Float64Array, numExperts: number, l: number): Float64Array {
  return matrix.subarray(l * numExperts, (l + 1) * numExperts);
}

/** Default layer ids 0..L-1. */
export function defaultLayerIds(numLayers: number): number[] {
  return Array.from({ length: numLayers }, (_, i) => i);
}
