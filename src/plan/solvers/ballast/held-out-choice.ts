/**
 * The choice of validated selection (time-objective.ts, step 6): each layer's candidate row and the
 * replica option R from held-out per-batch step times, by the one-standard-error rule (Breiman et al.,
 * Classification and Regression Trees, 1984, sec. 3.4.3; Hastie, Tibshirani, Friedman, The Elements of
 * Statistical Learning, 2nd ed., sec. 7.10): among the candidates whose mean held-out time is within
 * one standard error of the best, take the most conservative. Here the standard error is that of the
 * paired difference to the best (the same batches score both), so a row earns its place only when it
 * beats the more conservative rows by more than the batch-to-batch noise of the held-out estimate.
 * With `seMult` 0 it is the plain minimum (ties to the more conservative).
 *
 * Shapes: times[Ri] maps a candidate name to BatchTimes [folds][steps][L] -> Float64Array [B_fs] of
 * per-batch layer times (us); w [steps] step weights summing to 1; order[Ri] candidate names, most
 * conservative first; Ri ordered by R ascending (a smaller R is more conservative).
 * Mean of a candidate at layer l: sum_f (1/F) sum_s w_s mean_b t[f][s][l][b].
 * Variance of a difference d = a - b: sum_f (1/F^2) sum_s w_s^2 var_b(d[f][s][l]) / B_fs
 * (var with divisor B - 1; batches resampled with overlap are not independent, so this understates
 * the noise: the rule errs toward the candidate with the larger gain, not the conservative one).
 */
import { greedySlots } from './greedy-slots.ts';

export type BatchTimes = Float64Array[][][];

export interface HeldOutChoice {
  /** [L] index into the R options, and the candidate name, of each layer. */
  rIndex: Int32Array;
  names: string[];
  /** Per R option: mean held-out time, summed over layers, of the rows picked at that R. */
  totals: number[];
}

export function meanAt(t: BatchTimes, l: number, w: number[]): number {
  let m = 0;
  for (const fold of t) {
    fold.forEach((step, s) => {
      const a = step[l];
      let x = 0;
      for (const v of a) x += v;
      m += (w[s] * x) / Math.max(1, a.length) / t.length;
    });
  }
  return m;
}

export function seOfDiff(a: BatchTimes, b: BatchTimes, l: number, w: number[]): number {
  let v = 0;
  const F = a.length;
  for (let f = 0; f < F; f++) {
    a[f].forEach((step, s) => {
      const x = step[l];
      const y = b[f][s][l];
      const B = x.length;
      if (B < 2) return;
      let mean = 0;
      for (let i = 0; i < B; i++) mean += x[i] - y[i];
      mean /= B;
      let ss = 0;
      for (let i = 0; i < B; i++) ss += (x[i] - y[i] - mean) ** 2;
      v += (w[s] * w[s] * (ss / (B - 1))) / B / (F * F);
    });
  }
  return Math.sqrt(v);
}

/** Sum over layers of the rows named per layer, batch by batch: BatchTimes with one "layer". */
function summed(t: Map<string, BatchTimes>, names: string[]): BatchTimes {
  const first = t.get(names[0])!;
  return first.map((fold, f) =>
    fold.map((_, s) => {
      const out = new Float64Array(first[f][s][0].length);
      names.forEach((n, l) => {
        const a = t.get(n)![f][s][l];
        for (let i = 0; i < out.length; i++) out[i] += a[i];
      });
      return [out];
    }),
  );
}

/** Index of the most conservative option within seMult standard errors of the best (see header). */
function oneSe(opts: BatchTimes[], l: number, w: number[], seMult: number): number {
  const means = opts.map((t) => meanAt(t, l, w));
  let best = 0;
  for (let i = 1; i < opts.length; i++) if (means[i] < means[best] * (1 - 1e-12)) best = i;
  for (let i = 0; i < best; i++) {
    const d = means[i] - means[best];
    if (d <= 1e-12 * Math.abs(means[best]) || d <= seMult * seOfDiff(opts[i], opts[best], l, w)) return i;
  }
  return best;
}

/**
 * Each layer's row at each R by the rule, then R: uniform slots (slotsLeft undefined) the smallest R
 * within seMult standard errors of the best model total; variable slots greedy, one slot per GPU in
 * one layer at a time while slots are left, to the layer whose held-out time drops most, and only
 * when the drop exceeds seMult standard errors of it.
 */
export function chooseHeldOut(times: Map<string, BatchTimes>[], order: string[][], L: number, w: number[], slotsLeft: number | undefined, seMult = 1): HeldOutChoice {
  const picks = times.map((m, i) => Array.from({ length: L }, (_, l) => order[i][oneSe(order[i].map((n) => m.get(n)!), l, w, seMult)]));
  const totalsT = times.map((m, i) => summed(m, picks[i]));
  const totals = totalsT.map((t) => meanAt(t, 0, w));
  let rIndex: Int32Array;
  if (slotsLeft === undefined) rIndex = new Int32Array(L).fill(oneSe(totalsT, 0, w, seMult));
  else
    rIndex = greedySlots(L, times.length, slotsLeft, (l, i) => {
      const a = times[i].get(picks[i][l])!;
      const b = times[i + 1].get(picks[i + 1][l])!;
      const gain = meanAt(a, l, w) - meanAt(b, l, w);
      return gain > seMult * seOfDiff(a, b, l, w) ? gain : 0;
    });
  return { rIndex, names: Array.from({ length: L }, (_, l) => picks[rIndex[l]][l]), totals };
}
