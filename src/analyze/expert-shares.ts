/**
 * Each expert's share of its layer's traffic (the histogram normalised per layer).
 *
 *   shares[l][e] = load[l][e] / sum_e' load[l][e']
 *
 * Shapes: `load` Float64Array[L][E] row-major, `numExperts` E -> Float64Array[L][E]; each row sums to 1,
 * except a layer with no traffic, whose row is all 0.
 */
export function expertShares(load: Float64Array, numExperts: number): Float64Array {
  const E = numExperts;
  if (!(E >= 1) || load.length % E !== 0) throw new RangeError(`load of length ${load.length} is not [L][${E}]`);
  const out = new Float64Array(load.length);
  for (let o = 0; o < load.length; o += E) {
    let s = 0;
    for (let e = 0; e < E; e++) s += load[o + e];
    if (s === 0) continue;
    for (let e = 0; e < E; e++) out[o + e] = load[o + e] / s;
  }
  return out;
}
