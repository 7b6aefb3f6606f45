/**
 * The hottest expert of one layer and its share of the layer's traffic.
 *
 *   expert = argmax_i x_i (lowest id on ties),   share = x_expert / sum x
 *
 * Shapes: `values` ArrayLike<number>[E], E >= 1, values >= 0 -> { expert: index in [0, E), share in [0, 1] }.
 * When every value is 0 (no traffic) there is no hottest expert: { expert: -1, share: 0 }.
 */
export function hottestExpert(values: ArrayLike<number>): { expert: number; share: number } {
  const n = values.length;
  if (n === 0) throw new RangeError('hottestExpert needs at least one value');
  let best = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += values[i];
    if (values[i] > values[best]) best = i;
  }
  if (sum === 0) return { expert: -1, share: 0 };
  return { expert: best, share: values[best] / sum };
}
