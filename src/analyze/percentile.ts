/**
 * Nearest-rank percentile: the smallest value such that at least p of the values are <= it.
 *
 *   sorted ascending s_1..s_n,   percentile(x, p) = s_ceil(p * n)   (rank clamped to [1, n])
 *
 * Shapes: `values` ArrayLike<number>[n], p in [0, 1] -> one of the values (NaN when n = 0).
 * e.g. p = 0.99 over 100 values is the 99th smallest; over 50 values it is the largest (ceil(49.5) = 50).
 * Sorts a copy; the input is untouched.
 */
export function nearestRankPercentile(values: ArrayLike<number>, p: number): number {
  const n = values.length;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`percentile must be in [0, 1], got ${p}`);
  if (n === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(n, Math.max(1, Math.ceil(p * n - 1e-9)));
  return sorted[rank - 1];
}
