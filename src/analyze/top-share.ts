/**
 * Share of a layer's traffic carried by its hottest `fraction` of experts.
 *
 *   count = topCount(n, fraction) = max(1, ceil(fraction * n))   (e.g. n = 64: 10% -> 7, 25% -> 16)
 *   topShare = (sum of the `count` largest x_i) / sum x
 *
 * The ceiling is taken after subtracting 1e-9, so that fraction * n that is an integer up to float
 * rounding (0.1 * 30 = 3.0000000000000004) gives that integer, not the next one.
 *
 * Shapes: `values` ArrayLike<number>[n], n >= 1, values >= 0; fraction in (0, 1] -> number in [count/n, 1].
 * When every value is 0 (no traffic) the share is 0.
 */
export function topShare(values: ArrayLike<number>, fraction: number): number {
  const n = values.length;
  if (n === 0) throw new RangeError('topShare needs at least one value');
  const count = topCount(n, fraction);
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  if (sum === 0) return 0;
  let top = 0;
  for (let i = n - count; i < n; i++) top += sorted[i];
  return top / sum;
}

/** Number of experts in the hottest `fraction` of `n`: max(1, ceil(fraction * n - 1e-9)), at most n. */
export function topCount(n: number, fraction: number): number {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`fraction must be in (0, 1], got ${fraction}`);
  return Math.min(n, Math.max(1, Math.ceil(fraction * n - 1e-9)));
}
