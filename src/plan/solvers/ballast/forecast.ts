/**
 * Forecasting the next traffic from per-window loads, so replicas go where the load will be rather
 * than where the planning histogram's mean was.
 *
 * For one layer with windows x[W][E] (token counts), each window is turned into shares
 * s_we = x_we / sum_e x_we (windows with no tokens are skipped). With recency weights
 * a_w = 2^(-(W-1-w)/h) (half-life h windows, newest weighs 1):
 *   mean_e = sum_w a_w s_we / sum_w a_w                 (drift: recent windows count more)
 *   std_e  = sqrt(sum_w a_w (s_we - mean_e)^2 / sum_w a_w)   (batch-to-batch variation)
 *   plan_e = (mean_e + z * std_e) * T / sum_e (mean_e + z * std_e)
 * where T is the layer's total planning load, so the forecast keeps the histogram's scale.
 */

export interface ForecastOptions {
  /** Weight of one standard deviation (default 1). */
  z: number;
  /** Half-life in windows for recency weights (default max(1, W / 2)). */
  halfLife: number;
}

/**
 * Shapes: windows Float64Array[W][L][E], layer l, total T -> writes out[E]; returns false (out
 * untouched) when fewer than 2 windows carry tokens.
 */
export function forecastLayer(
  windows: Float64Array,
  W: number,
  L: number,
  E: number,
  l: number,
  total: number,
  opts: ForecastOptions,
  out: Float64Array,
  mean: Float64Array,
  sq: Float64Array,
): boolean {
  mean.fill(0);
  sq.fill(0);
  let aSum = 0;
  let used = 0;
  for (let w = 0; w < W; w++) {
    const base = (w * L + l) * E;
    let t = 0;
    for (let e = 0; e < E; e++) t += windows[base + e];
    if (!(t > 0)) continue;
    used++;
    const a = 2 ** (-(W - 1 - w) / opts.halfLife);
    aSum += a;
    const k = a / t;
    for (let e = 0; e < E; e++) mean[e] += k * windows[base + e];
  }
  if (used < 2) return false;
  for (let e = 0; e < E; e++) mean[e] /= aSum;
  for (let w = 0; w < W; w++) {
    const base = (w * L + l) * E;
    let t = 0;
    for (let e = 0; e < E; e++) t += windows[base + e];
    if (!(t > 0)) continue;
    const a = 2 ** (-(W - 1 - w) / opts.halfLife);
    for (let e = 0; e < E; e++) {
      const d = windows[base + e] / t - mean[e];
      sq[e] += a * d * d;
    }
  }
  let s = 0;
  for (let e = 0; e < E; e++) {
    out[e] = mean[e] + opts.z * Math.sqrt(sq[e] / aSum);
    s += out[e];
  }
  const k = s > 0 ? total / s : 0;
  for (let e = 0; e < E; e++) out[e] *= k;
  return true;
}
