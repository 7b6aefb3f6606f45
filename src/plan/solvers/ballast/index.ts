/**
 * ballast: the project's own placement solver.
 *
 * Per layer (layers are independent):
 *   1. slots: fixed P = E + R, or chosen under a per-GPU memory budget (budget.ts), uniform or — when
 *      the target allows it — per layer by greedy marginal gain;
 *   2. replica counts: greedy argmax of w/c with c_e <= G (attains min over counts of max_e w_e/c_e);
 *      when windows are given, on a forecast of the next traffic (forecast.ts: recency-weighted mean
 *      share + z * std), so replicas go to experts that are hot or volatile;
 *   3. packing: LPT + swap local search with exactly P/G slots per rank and no two replicas of one
 *      expert on a rank, balancing load / speed (pack.ts);
 *   4. a safety candidate: the DeepSeek EPLB packing (eplb.ts) improved by the same swap search when
 *      it is valid; the in-sample best is kept, so ballast is never worse than deepseek in-sample;
 *      the forecast plan is kept only when its in-sample max is no worse than deepseek's;
 *   5. with token routes: co-activated experts are pulled onto one rank (and node) by swaps that keep
 *      max load within (1 + balanceTolerance) of step 3's (locality.ts);
 *   6. with a current placement: the smallest set of moves that reaches the new plan's max within
 *      `moveThreshold` (moves.ts); a layer whose current max is already that good is left alone.
 * Deterministic: no randomness, ties break by lowest index.
 */
import type { Plan } from '../../../core/plan.ts';
import { greedyReplicaCounts } from '../../lower-bound.ts';
import type { PlacementSolver, SolveInput } from '../../solver.ts';
import { checkSolveInput, emptyPlan } from '../check-input.ts';
import { eplbScratch, rebalanceLayer, rebalanceLowerBound } from '../deepseek/eplb.ts';
import { slotsUnderBudget } from './budget.ts';
import { forecastLayer } from './forecast.ts';
import { coactivation, improveLocality } from './locality.ts';
import { countMoves, minimiseMoves } from './moves.ts';
import { improve, loadRow, packLayer, packScratch } from './pack.ts';
import { InputError } from '../../../core/errors.ts';
import { batchRankLoad } from '../../../analyze/batch-rank-load.ts';

/**
 * The swap search stops once a layer's max is within this fraction of its lower bound (0.05%): far
 * inside the 0.5% goal, and it keeps a full DeepSeek-V3-shape plan fast.
 */
const STOP_GAP = 5e-4;

export interface BallastOptions {
  /** Standard deviations added to the forecast mean (default 1). */
  z?: number;
  /** Recency half-life in windows (default max(1, W/2)). */
  halfLife?: number;
  /** Fraction of the fresh plan's max a current layer may exceed and still be kept (default 0.01). */
  moveThreshold?: number;
}

/** Shapes: input.load [L][E] (+ windows [W][L][E], routes [T][L][k]) -> Plan with phy2log[L][P_l]. */
export function solveBallast(input: SolveInput, opts: BallastOptions = {}): Plan {
  const { numLayers: L, numExperts: E, numRanks: G } = input;
  const R = input.redundantSlots ?? 0;
  const budgeted =
    input.memoryBudgetBytes !== undefined && input.expertBytes !== undefined && (input.allowVariableSlots || R === 0);
  let slots: Int32Array;
  if (budgeted) {
    checkSolveInput({ ...input, redundantSlots: Math.ceil(E / G) * G - E, memoryBudgetBytes: undefined });
    slots = slotsUnderBudget(input.load, L, E, G, input.memoryBudgetBytes!, input.expertBytes!, !!input.allowVariableSlots);
  } else {
    const P = checkSolveInput(input);
    slots = new Int32Array(L).fill(P);
  }
  let maxP = 0;
  for (let l = 0; l < L; l++) maxP = Math.max(maxP, slots[l]);

  const speeds = input.cluster?.gpus.map((g) => g.speed);
  let sumSpeed = G;
  let maxSpeed = 1;
  let uniformSpeed = true;
  if (speeds) {
    sumSpeed = 0;
    maxSpeed = 0;
    for (let r = 0; r < G; r++) {
      const v = speeds[r];
      if (!(v > 0) || !Number.isFinite(v)) throw new InputError('--cluster', `gpus[${r}].speed`, `expected a positive speed, got ${v}`);
      sumSpeed += v;
      maxSpeed = Math.max(maxSpeed, v);
      if (v !== speeds[0]) uniformSpeed = false;
    }
  }
  const numNodes = input.numNodes ?? 1;
  const numGroups = input.numGroups ?? 1;
  const tol = input.balanceTolerance ?? 0.02;
  const moveThreshold = opts.moveThreshold ?? 0.01;
  const W = input.windows ? (input.numWindows ?? input.windows.length / (L * E)) : 0;
  const fopts = { z: opts.z ?? 1, halfLife: opts.halfLife ?? Math.max(1, W / 2) };

  const ps = packScratch(E, G, maxP, speeds);
  const es = eplbScratch(E, maxP, G, numGroups);
  const counts = new Int32Array(E);
  const forecast = new Float64Array(E);
  const fMean = new Float64Array(E);
  const fSq = new Float64Array(E);
  const rowB = new Int32Array(maxP);
  const rowA = new Int32Array(maxP);
  const rowD = new Int32Array(maxP);
  const loadBuf = new Float64Array(G);
  const seen = new Int32Array(E);
  const chosen = { fresh: 0, forecast: 0, deepseek: 0 };
  const phy2log: Int32Array[] = [];
  const layerMax = new Float64Array(L);
  const coact = input.routes ? coactivation(input.routes, numNodes) : undefined;
  let moved = 0;
  let keptLayers = 0;
  const currentOk = input.current ? currentMatches(input, slots) : false;

  for (let l = 0; l < L; l++) {
    const P = slots[l];
    const w = input.load.subarray(l * E, (l + 1) * E);
    let total = 0;
    for (let e = 0; e < E; e++) total += w[e];
    greedyReplicaCounts(w, P - E, G, counts);
    let maxSlot = 0;
    for (let e = 0; e < E; e++) maxSlot = Math.max(maxSlot, w[e] / counts[e]);
    const target = Math.max(total / sumSpeed, maxSlot / maxSpeed);

    const rowBv = rowB.subarray(0, P);
    let best = rowBv;
    let bestMax = packLayer(w, counts, P, ps, rowBv, target * (1 + STOP_GAP), P / G >= 6 ? G : 1 << 30);
    let which: keyof typeof chosen = 'fresh';

    let dsMax = Infinity;
    // DeepSeek EPLB candidate, unless a bound on its max from its node-level steps already shows it
    // cannot beat ours (equal speeds; the bound is in plain load units).
    const dsCannotWin =
      uniformSpeed && W < 2 && rebalanceLowerBound(w, P, numGroups, numNodes, G, es) * ps.invSpeed[0] * (1 - 1e-6) >= bestMax;
    if ((bestMax > target * (1 + 1e-9) || W >= 2) && !dsCannotWin) {
      // DeepSeek EPLB candidate on the same load (it ignores speeds): when its max beats ours and it
      // is valid (no colocated replicas), start the swap search from it instead.
      const rowDv = rowD.subarray(0, P);
      rebalanceLayer(w, P, numGroups, numNodes, G, rowDv, es);
      dsMax = rowMax(w, rowDv, G, ps.invSpeed, loadBuf, seen);
      const colocated = hasColocated(rowDv, G, seen);
      if (dsMax < bestMax && colocated) {
        // DeepSeek's plan is invalid here but lower: keep searching ours until it is at least as good.
        loadRow(w, rowBv, ps);
        const m = improve(w, P / G, ps, dsMax, 1 << 30, 0);
        if (m < bestMax) {
          rowBv.set(ps.slots.subarray(0, P));
          bestMax = m;
        }
      }
      if (dsMax < bestMax && !colocated) {
        loadRow(w, rowDv, ps);
        const m = improve(w, P / G, ps, target * (1 + STOP_GAP), 4 * G);
        if (m < bestMax) {
          rowDv.set(ps.slots.subarray(0, P));
          best = rowDv;
          bestMax = m;
          which = 'deepseek';
        }
      }
    }
    if (W >= 2 && input.windows) {
      if (forecastLayer(input.windows, W, L, E, l, total, fopts, forecast, fMean, fSq)) {
        greedyReplicaCounts(forecast, P - E, G, counts);
        const rowAv = rowA.subarray(0, P);
        packLayer(forecast, counts, P, ps, rowAv, 0);
        const mA = rowMax(w, rowAv, G, ps.invSpeed, loadBuf, seen);
        if (mA <= dsMax) {
          best = rowAv;
          bestMax = mA;
          which = 'forecast';
        }
      }
    }
    chosen[which]++;
    let row: Int32Array = best.slice();
    layerMax[l] = bestMax;
    if (input.current && currentOk) {
      const cur = input.current.phy2log[l];
      const res = minimiseMoves(cur, row, w, G, ps, bestMax * (1 + moveThreshold));
      row = res.row;
      if (res.kept) keptLayers++;
      moved += countMoves(cur, row, G, E);
    }
    phy2log.push(row);
  }

  let localityCap: number | undefined;
  if (coact && tol > 0 && input.routes && !input.current) {
    // Co-locating co-activated experts makes rank loads burstier per batch, so the cap on the
    // histogram max is chosen on the planning routes: the largest of tol, tol/2, ... tol/16 whose
    // per-batch max/mean (256-token batches) stays within (1 + tol) of the balanced plan's.
    const balanced = emptyPlan(input, 'ballast', phy2log.map((r) => r.slice()));
    const batch = Math.min(256, Math.max(1, Math.floor(input.routes.numTokens / 4)));
    const base = batchRankLoad(input.routes, balanced, batch).mean;
    for (let k = 0; k < 5; k++) {
      const cap = tol / 2 ** k;
      const rows = phy2log.map((r, l) =>
        improveLocality(r, input.load.subarray(l * E, (l + 1) * E), coact, l, G, numNodes, layerMax[l] * (1 + cap), ps),
      );
      const v = batchRankLoad(input.routes, emptyPlan(input, 'ballast', rows), batch).mean;
      if (v <= base * (1 + tol)) {
        for (let l = 0; l < L; l++) phy2log[l] = rows[l];
        localityCap = cap;
        break;
      }
    }
  }
  const plan = emptyPlan(input, 'ballast', phy2log, {
    slotsPerLayer: uniformSlotsOf(slots) ?? Array.from(slots),
    redundantSlots: uniformSlotsOf(slots) !== undefined ? slots[0] - E : undefined,
    forecast: W >= 2 ? { windows: W, z: fopts.z, halfLife: fopts.halfLife } : undefined,
    balanceTolerance: coact ? tol : undefined,
    localityCap,
    speedAware: !uniformSpeed,
    candidates: chosen,
  });
  if (input.current) {
    plan.stats = { expertsMoved: currentOk ? moved : undefined, layersKept: currentOk ? keptLayers : 0 };
  }
  return plan;
}

function uniformSlotsOf(slots: Int32Array): number | undefined {
  for (let l = 1; l < slots.length; l++) if (slots[l] !== slots[0]) return undefined;
  return slots[0];
}

/** True when the current plan has the same shape (layers, experts, ranks, slot counts). */
function currentMatches(input: SolveInput, slots: Int32Array): boolean {
  const c = input.current!;
  if (c.numLayers !== input.numLayers || c.numExperts !== input.numExperts || c.numRanks !== input.numRanks) {
    throw new InputError(
      '--current',
      '',
      `the current plan is ${c.numLayers} layers x ${c.numExperts} experts on ${c.numRanks} ranks, expected ${input.numLayers} x ${input.numExperts} on ${input.numRanks}`,
    );
  }
  for (let l = 0; l < slots.length; l++) if (c.phy2log[l].length !== slots[l]) return false;
  return true;
}

/** max_r load_r / speed_r of a row (replicas split load evenly). */
export function rowMax(
  w: Float64Array,
  row: Int32Array,
  G: number,
  invSpeed: Float64Array,
  loads: Float64Array,
  cnt: Int32Array,
): number {
  const P = row.length;
  const S = P / G;
  cnt.fill(0);
  for (let p = 0; p < P; p++) cnt[row[p]]++;
  loads.fill(0);
  for (let p = 0; p < P; p++) loads[Math.floor(p / S)] += w[row[p]] / cnt[row[p]];
  let m = 0;
  for (let r = 0; r < G; r++) m = Math.max(m, loads[r] * invSpeed[r]);
  return m;
}

function hasColocated(row: Int32Array, G: number, seen: Int32Array): boolean {
  const S = row.length / G;
  if (S === 1) return false;
  seen.fill(-1);
  for (let p = 0; p < row.length; p++) {
    const r = Math.floor(p / S);
    if (seen[row[p]] === r) return true;
    seen[row[p]] = r;
  }
  return false;
}

export const solver: PlacementSolver = {
  name: 'ballast',
  description: 'ballast: forecast-aware replicas, cardinality-constrained packing near the lower bound, locality, few moves',
  supportsReplicas: true,
  solve: (input) => solveBallast(input),
};
