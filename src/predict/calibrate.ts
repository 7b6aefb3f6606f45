/**
 * Calibration: fit c0, hbmEff and eff of the compute model to measured expert-GEMM times.
 *
 * Measurements file (CSV with a header, or JSON):
 *   tokens,active_experts,time_us          one rank, one MoE layer: `tokens` token-expert pairs spread
 *   4096,8,118.2                            evenly over `active_experts` experts, measured expert-compute
 *   ...                                     time (grouped GEMM, excluding dispatch/combine) in microseconds
 *   JSON: [{"tokens":4096,"activeExperts":8,"timeUs":118.2}, ...] or {"measurements":[...]}
 *
 * Model (cost-model.ts): time = A * (c0 + max(m / hbmEff, q * (n / A) / eff)) with
 *   m = B_e / HBM (us), q = 6*H*F / FLOPS (us per token) from the model config and GPU.
 * Fit: least squares on y = time / A. Points sorted by tokens per expert x = n / A; for every split s
 * the first s are taken as memory-bound (y = c0 + m*a) and the rest compute-bound (y = c0 + q*x*b),
 * a = 1/hbmEff, b = 1/eff; each split is a linear least-squares problem in (c0, a, b); the split whose
 * parameters (all positive) give the smallest squared error of the full max() model wins. With no
 * compute-bound point c0 is not identifiable from the memory plateau and is fixed at 0.
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../core/errors.ts';
import type { CostModel } from './cost-model.ts';

export interface Measurement {
  tokens: number;
  activeExperts: number;
  timeUs: number;
}

export interface CalibrationFit {
  c0Us: number;
  hbmEff: number;
  eff: number;
  rmseUs: number;
  points: number;
}

/** Read a measurements file (CSV or JSON). Throws InputError naming the line or key. */
export function readMeasurements(path: string): Measurement[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InputError(path, '', 'cannot read measurements file');
  }
  const trimmed = text.trim();
  const out: Measurement[] = [];
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (e) {
      throw new InputError(path, '', `not JSON (${(e as Error).message})`);
    }
    const arr = Array.isArray(json) ? json : (json as Record<string, unknown>).measurements;
    if (!Array.isArray(arr)) throw new InputError(path, 'measurements', 'expected an array of {tokens, activeExperts, timeUs}');
    arr.forEach((m, i) => {
      const o = m as Record<string, unknown>;
      const tokens = o.tokens;
      const A = o.activeExperts ?? o.active_experts;
      const t = o.timeUs ?? o.time_us;
      if (typeof tokens !== 'number' || typeof A !== 'number' || typeof t !== 'number' || !(tokens > 0) || !(A >= 1) || !(t > 0)) {
        throw new InputError(path, `measurements[${i}]`, 'expected positive tokens, activeExperts >= 1 and timeUs');
      }
      out.push({ tokens, activeExperts: A, timeUs: t });
    });
  } else {
    const lines = text.split(/\r?\n/);
    const head = lines[0].split(',').map((s) => s.trim().toLowerCase());
    const it = head.indexOf('tokens');
    const ia = head.findIndex((h) => h === 'active_experts' || h === 'activeexperts');
    const iu = head.findIndex((h) => h === 'time_us' || h === 'timeus');
    if (it < 0 || ia < 0 || iu < 0) throw new InputError(path, 'line 1', 'expected a header tokens,active_experts,time_us');
    for (let i = 1; i < lines.length; i++) {
      if (lines[i].trim() === '') continue;
      const c = lines[i].split(',').map(Number);
      const m = { tokens: c[it], activeExperts: c[ia], timeUs: c[iu] };
      if (!(m.tokens > 0) || !(m.activeExperts >= 1) || !(m.timeUs > 0)) {
        throw new InputError(path, `line ${i + 1}`, 'expected positive tokens, active_experts >= 1 and time_us');
      }
      out.push(m);
    }
  }
  if (out.length < 3) throw new InputError(path, '', `need at least 3 measurements to fit 3 constants, got ${out.length}`);
  return out;
}

/** Solve the 3x3 system M p = v (Gaussian elimination with partial pivoting); undefined when singular. */
function solve3(M: number[][], v: number[]): number[] | undefined {
  const a = M.map((r, i) => [...r, v[i]]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    if (Math.abs(a[p][c]) < 1e-12) return undefined;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let k = c; k < 4; k++) a[r][k] -= f * a[c][k];
    }
  }
  return [a[0][3] / a[0][0], a[1][3] / a[1][1], a[2][3] / a[2][2]];
}

/**
 * Fit c0, hbmEff, eff for rank 0's GPU of `cm` (its HBM/FLOPS and the model's B_e, H, F) to `ms`.
 */
export function fitCalibration(cm: CostModel, ms: Measurement[]): CalibrationFit {
  // Nominal terms at efficiency 1 (undo the model's current efficiencies).
  const m = cm.memUs[0] * cm.constants.hbmEff;
  const q = cm.tokenUs[0] * cm.constants.eff;
  const pts = ms.map((x) => ({ x: x.tokens / x.activeExperts, y: x.timeUs / x.activeExperts, A: x.activeExperts, t: x.timeUs })).sort((p, r) => p.x - r.x);
  const N = pts.length;
  const sse = (c0: number, a: number, b: number) => {
    let s = 0;
    for (const p of pts) {
      const pred = p.A * (c0 + Math.max(m * a, q * p.x * b));
      s += (pred - p.t) ** 2;
    }
    return s;
  };
  let best: { c0: number; a: number; b: number; e: number } | undefined;
  for (let s = 0; s <= N; s++) {
    let c0: number;
    let a: number;
    let b: number;
    if (s === N) {
      // All memory-bound: only c0 + m*a is determined; fix c0 = 0, b stays nominal.
      const mean = pts.reduce((z, p) => z + p.y, 0) / N;
      c0 = 0;
      a = mean / m;
      b = 1;
    } else {
      // Normal equations for rows [1, m, 0] (memory) and [1, 0, q x] (compute).
      const M = [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ];
      const v = [0, 0, 0];
      for (let i = 0; i < N; i++) {
        const row = i < s ? [1, m, 0] : [1, 0, q * pts[i].x];
        for (let r = 0; r < 3; r++) {
          v[r] += row[r] * pts[i].y;
          for (let c = 0; c < 3; c++) M[r][c] += row[r] * row[c];
        }
      }
      if (s === 0) {
        // No memory-bound point: hbmEff not determined; keep it nominal (a = 1) and fit c0, b.
        M[1] = [0, 1, 0];
        v[1] = 1;
        M[0][1] = 0;
        M[2][1] = 0;
      }
      const p = solve3(M, v);
      if (!p) continue;
      [c0, a, b] = p;
    }
    if (!(a > 0) || !(b > 0) || !(c0 >= -1e-9)) continue;
    c0 = Math.max(0, c0);
    const e = sse(c0, a, b);
    if (!best || e < best.e) best = { c0, a, b, e };
  }
  if (!best) throw new InputError('--calibrate', '', 'no positive fit of c0, hbmEff, eff; check the measurements');
  return { c0Us: best.c0, hbmEff: 1 / best.a, eff: 1 / best.b, rmseUs: Math.sqrt(best.e / N), points: N };
}
