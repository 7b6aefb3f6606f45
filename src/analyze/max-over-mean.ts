/**
 * Peak-to-average ratio of one load vector (imbalance ratio, straggler factor).
 *
 *   maxOverMean(x) = max_i x_i / mean_i x_i
 *
 * Shapes: `values` ArrayLike<number>[n], n >= 1, values >= 0 -> number >= 1.
 * Used for expert loads of one layer (n = E) and rank loads of one layer (n = G).
 * When every value is 0 (no traffic) the result is 1: nothing is imbalanced.
 */
export function maxOverMean(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) throw new RangeError('maxOverMean needs at least one value');
  let max = values[0];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    sum += v;
    if (v > max) max = v;
  }
  if (sum === 0) return 1;
  return (max * n) / sum;
}
