/**
 * Normalised Shannon entropy of the load shares of one layer.
 *
 *   p_i = x_i / sum x,   H = -sum_{i: p_i > 0} p_i ln p_i,   normalizedEntropy = H / ln n
 *
 * Shapes: `values` ArrayLike<number>[n], n >= 1, values >= 0 -> number in [0, 1].
 * 1 = every expert gets the same share; 0 = one expert gets everything.
 * Experts with zero load contribute 0 (the limit of p ln p as p -> 0).
 * Defined as 1 when n = 1 (ln 1 = 0: a single expert is trivially even) and when every value is 0
 * (no traffic: nothing is imbalanced).
 */
export function normalizedEntropy(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) throw new RangeError('normalizedEntropy needs at least one value');
  if (n === 1) return 1;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  if (sum === 0) return 1;
  let h = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v > 0) {
      const p = v / sum;
      h -= p * Math.log(p);
    }
  }
  const e = h / Math.log(n);
  return e > 1 ? 1 : e;
}
