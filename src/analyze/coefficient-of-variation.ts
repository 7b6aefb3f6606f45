/**
 * Coefficient of variation of one load vector: population standard deviation over the mean.
 *
 *   cv(x) = sqrt( (1/n) * sum_i (x_i - m)^2 ) / m,   m = (1/n) * sum_i x_i
 *
 * Shapes: `values` ArrayLike<number>[n], n >= 1, values >= 0 -> number >= 0.
 * 0 for a perfectly even vector; when every value is 0 (no traffic) the result is 0.
 */
export function coefficientOfVariation(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) throw new RangeError('coefficientOfVariation needs at least one value');
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  if (sum === 0) return 0;
  const m = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i] - m;
    ss += d * d;
  }
  return Math.sqrt(ss / n) / m;
}
