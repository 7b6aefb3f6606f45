/**
 * Downsampling for long time series: split n points into at most `buckets` contiguous buckets and
 * keep each bucket's min, max and mean, so spikes survive (a straggler window is never averaged away).
 *
 * downsampleMinMax(values[n], buckets) -> { start[B], end[B] (exclusive), min[B], max[B], mean[B] }
 */
export interface Buckets {
  start: number[];
  end: number[];
  min: number[];
  max: number[];
  mean: number[];
}

export function downsampleMinMax(values: ArrayLike<number>, buckets: number): Buckets {
  const n = values.length;
  const B = Math.max(1, Math.min(n, Math.floor(buckets)));
  const out: Buckets = { start: [], end: [], min: [], max: [], mean: [] };
  if (n === 0) return out;
  for (let b = 0; b < B; b++) {
    const s = Math.floor((b * n) / B);
    const e = Math.floor(((b + 1) * n) / B);
    let mn = Number.POSITIVE_INFINITY;
    let mx = Number.NEGATIVE_INFINITY;
    let sum = 0;
    let cnt = 0;
    for (let i = s; i < e; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
      sum += v;
      cnt++;
    }
    out.start.push(s);
    out.end.push(e);
    out.min.push(cnt ? mn : Number.NaN);
    out.max.push(cnt ? mx : Number.NaN);
    out.mean.push(cnt ? sum / cnt : Number.NaN);
  }
  return out;
}
