/**
 * Gini coefficient of one load vector (mean absolute difference over twice the mean).
 *
 *   gini(x) = sum_i sum_j |x_i - x_j| / (2 * n^2 * m),   m = mean of x
 *           = 2 * sum_i i * x_(i) / (n * sum x) - (n + 1) / n    (x_(i) sorted ascending, i = 1..n)
 *
 * Shapes: `values` ArrayLike<number>[n], n >= 1, values >= 0 -> number in [0, (n-1)/n].
 * 0 for an even vector; (n-1)/n when one expert carries everything (not rescaled to 1).
 * When every value is 0 (no traffic) the result is 0. Sorts a copy (O(n log n)); the input is untouched.
 */
export function gini(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) throw new RangeError('gini needs at least one value');
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    sum += sorted[i];
    weighted += (i + 1) * sorted[i];
  }
  if (sum === 0) return 0;
  const g = (2 * weighted) / (n * sum) - (n + 1) / n;
  // Rounding can leave -1e-17 for an even vector.
  return g < 0 ? 0 : g;
}
