/**
 * ballast: the project's own placement solver.
 *
 * Per layer (layers are independent):
 *   1. slots: fixed P = E + R, or chosen under a per-GPU memory budget (budget.ts), uniform or — when
 *      the target allows it — per layer by greedy marginal gain, each layer priced by steps 2-4 at P
 *      slots, scored per load window when windows are given (else in-sample);
 *   2. replica counts: greedy argmax of w/c with c_e <= G (attains min over counts of max_e w_e/c_e);
 *      when windows are given, on a forecast of the next traffic (forecast.ts: recency-weighted mean
 *      share + z * std), so replicas go to experts that are hot or volatile;
 *   3. packing: LPT + swap local search with exactly P/G slots per rank and no two replicas of one
 *      expert on a rank, balancing load / speed (pack.ts);
 *   4. a safety candidate: the DeepSeek EPLB packing (eplb.ts) improved by the same swap search when
 *      it is valid; the in-sample best is kept, so ballast is never worse than deepseek in-sample;
 *      the forecast plan is kept only when its in-sample max is no worse than deepseek's;
 *   4b. with token routes, balance first (tolerance 0, the default) and no current placement:
 *      variance-aware swaps (rank-variance.ts) lower a bound on the expected per-batch max, using
 *      the batch covariance of expert counts estimated on the planning routes (between-sequence
 *      topic covariance, shrunk, plus each expert's own per-token variance), while every rank stays at or
 *      below deepseek's in-sample max (or a lower bound on it), so the in-sample guarantee holds;
 *      the in-sample max may rise within that room where the model says a burstier rank costs
 *      more per batch than a slightly heavier mean;
 *   5. with token routes: co-activated experts are pulled onto one rank (and node) by swaps that keep
 *      max load within (1 + balanceTolerance) of step 3's (locality.ts); the default tolerance is 0:
 *      only swaps that cost no balance, in-sample or per batch on a held-out part of the routes;
 *   6. with a current placement: the smallest set of moves that reaches the new plan's max within
 *      `moveThreshold` (moves.ts); a layer whose current max is already that good is left alone.
 * Deterministic: no randomness, ties break by lowest index.
 */
import type { Plan } from '../../../core/plan.ts';
import { mulberry32 } from '../../../core/random.ts';
import { sampleRouteWindows, sliceRoutes } from '../../../core/token-routes.ts';
import { greedyReplicaCounts } from '../../lower-bound.ts';
import type { PlacementSolver, SolveInput } from '../../solver.ts';
import { checkSolveInput, emptyPlan } from '../check-input.ts';
import { eplbScratch, rebalanceLayer, rebalanceLowerBound } from '../deepseek/eplb.ts';
import { slotsUnderBudget, windowCost } from './budget.ts';
import { forecastLayer } from './forecast.ts';
import { batchCovariance, coactivation, improveLocality, pairWeights } from './locality.ts';
import { distinctRanksPerToken } from '../../../analyze/distinct-ranks-per-token.ts';
import { countMoves, minimiseMoves } from './moves.ts';
import { improve, loadRow, packLayer, packScratch } from './pack.ts';
import { batchCountCovariance, reduceRankVariance } from './rank-variance.ts';
import { InputError } from '../../../core/errors.ts';
import { batchRankLoad } from '../../../analyze/batch-rank-load.ts';

/**
 * The swap search stops once a layer's max is within this fraction of its lower bound (0.05%): far
 * inside the 0.5% goal, and it keeps a full DeepSeek-V3-shape plan fast.
 */
const STOP_GAP = 5e-4;

/** Layers with at most this many slots get RESTARTS extra searches from perturbed weights. */
const SMALL_SHAPE_SLOTS = 64;
/** Share of balanceTolerance the validation part's per-batch max/mean may use. */
const CHECK_MARGIN = 1;
const RESTARTS = 24;
/**
 * Most planning tokens the route statistics are taken from (sampleRouteWindows: 8 evenly spread
 * windows). 32768 tokens give each layer ~28 co-activations per expert pair on average at k = 8,
 * E = 256, and 128 batches of 256 tokens for the batch covariance; the ESFT traces (8-9K tokens) are
 * used whole.
 */
export const ROUTE_SAMPLE_TOKENS = 32768;

export interface BallastOptions {
  /** Standard deviations added to the forecast mean (default 1). */
  z?: number;
  /** Recency half-life in windows (default max(1, W/2)). */
  halfLife?: number;
  /** Fraction of the fresh plan's max a current layer may exceed and still be kept (default 0.01). */
  moveThreshold?: number;
  /**
   * Tokens per forward-pass batch the variance-aware step (routes only) models (default
   * input.batchTokens, else 512, the `simulate --batch-tokens` default). Held-out results change
   * little between 256 and 2048.
   */
  batchTokens?: number;
  /**
   * Count within-token co-activation as covariance in the variance-aware step (default false). True
   * models per-batch variance fully and balances best per batch, but it pushes experts that the same
   * tokens choose onto different ranks, so tokens reach more ranks (more dispatch traffic); false
   * leaves that pull to the locality step and spreads only experts that rise and fall together
   * across sequences (topics). bench/RESULTS.md "Held-out" compares the two.
   */
  coactivationVariance?: boolean;
  /** Most planning tokens route statistics are taken from (default ROUTE_SAMPLE_TOKENS; Infinity = all). */
  routeSampleTokens?: number;
}

/** Shapes: input.load [L][E] (+ windows [W][L][E], routes [T][L][k]) -> Plan with phy2log[L][P_l]. */
export function solveBallast(input: SolveInput, opts: BallastOptions = {}): Plan {
  const { numLayers: L, numExperts: E, numRanks: G } = input;
  const R = input.redundantSlots ?? 0;
  const budgeted =
    input.memoryBudgetBytes !== undefined && input.expertBytes !== undefined && (input.allowVariableSlots || R === 0);
  const P0 = Math.ceil(E / G) * G;
  let slots: Int32Array | undefined;
  let maxP: number;
  if (budgeted) {
    checkSolveInput({ ...input, redundantSlots: P0 - E, memoryBudgetBytes: undefined });
    if (input.allowVariableSlots) {
      // slots are chosen below by pricing each layer's own solve; size buffers for the most a layer can get
      maxP = Math.min(E * G, P0 + Math.max(0, Math.floor(input.memoryBudgetBytes! / input.expertBytes! + 1e-9)) * G);
    } else {
      slots = slotsUnderBudget(input.load, L, E, G, input.memoryBudgetBytes!, input.expertBytes!, false);
      maxP = slots[0];
    }
  } else {
    const P = checkSolveInput(input);
    slots = new Int32Array(L).fill(P);
    maxP = P;
  }

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
  // Balance first: by default locality is taken only where it costs no balance (tolerance 0), so
  // ballast is never worse than deepseek; a stated tolerance (e.g. 0.02) trades balance for locality.
  const tol = input.balanceTolerance ?? 0;
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
  const rowC = new Int32Array(maxP);
  const loadBuf = new Float64Array(G);
  const seen = new Int32Array(E);
  const chosen = { fresh: 0, forecast: 0, deepseek: 0 };
  const phy2log: Int32Array[] = [];
  const layerMax = new Float64Array(L);
  // Route statistics (co-activation, batch covariance, the locality checks) cost O(T); on long traces
  // they are taken from an evenly spread sample of ROUTE_SAMPLE_TOKENS tokens.
  const statRoutes = input.routes ? sampleRouteWindows(input.routes, opts.routeSampleTokens ?? ROUTE_SAMPLE_TOKENS) : undefined;
  const coact = statRoutes ? coactivation(statRoutes, numNodes) : undefined;
  /**
   * Steps 2-4 (and the small-shape restarts) for layer l with P slots. Returns a view of scratch (copy
   * it before the next call), its in-sample max of load / speed, and which candidate won.
   */
  const solveLayer = (l: number, P: number): { row: Int32Array; max: number; which: keyof typeof chosen; dsCap: number } => {
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
    let dsValid = false;
    let restartWon = false;
    // DeepSeek EPLB candidate, unless a bound on its max from its node-level steps already shows it
    // cannot beat ours (equal speeds; the bound is in plain load units).
    const dsBound = uniformSpeed && W < 2 ? rebalanceLowerBound(w, P, numGroups, numNodes, G, es) * ps.invSpeed[0] * (1 - 1e-6) : 0;
    const dsCannotWin = dsBound >= bestMax;
    if ((bestMax > target * (1 + 1e-9) || W >= 2) && !dsCannotWin) {
      // DeepSeek EPLB candidate on the same load (it ignores speeds): when its max beats ours and it
      // is valid (no colocated replicas), start the swap search from it instead.
      const rowDv = rowD.subarray(0, P);
      rebalanceLayer(w, P, numGroups, numNodes, G, rowDv, es);
      dsMax = rowMax(w, rowDv, G, ps.invSpeed, loadBuf, seen);
      const colocated = hasColocated(rowDv, G, seen);
      dsValid = !colocated;
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
    if (P <= SMALL_SHAPE_SLOTS && bestMax > target * (1 + 1e-9) && which !== 'forecast') {
      // Small shapes (few slots per rank, where local search can stall): deterministic restarts from
      // perturbed weights (seeded), each repaired by the search on the true weights; keep the best.
      const rand = mulberry32(input.seed ?? 0x9e3779b9);
      const rowAv = rowA.subarray(0, P);
      const work = rowC.subarray(0, P);
      for (let k = 0; k < RESTARTS && bestMax > target * (1 + 1e-9); k++) {
        for (let e = 0; e < E; e++) forecast[e] = w[e] * (1 + 0.3 * (rand() - 0.5));
        greedyReplicaCounts(forecast, P - E, G, counts);
        packLayer(forecast, counts, P, ps, work, 0, 1 << 30, 0);
        loadRow(w, work, ps);
        const m = improve(w, P / G, ps, target, 1 << 30, 0);
        if (m < bestMax * (1 - 1e-12)) {
          rowAv.set(ps.slots.subarray(0, P));
          best = rowAv;
          bestMax = m;
          restartWon = true;
        }
      }
    }
    // Room for the variance-aware step: deepseek's in-sample max when it was computed, else the
    // bound that showed it cannot beat ours (deepseek's max is at least that), else our own max.
    // With unequal speeds deepseek's plan is judged in plain load, ours in load / speed: no room.
    const dsCap = !uniformSpeed ? bestMax : dsMax < Infinity ? Math.max(dsMax, bestMax) : dsBound > bestMax ? dsBound : bestMax;
    return { row: best, max: bestMax, which, dsCap };
  };
  if (!slots) {
    // Variable slots under the budget: price each layer by what its own solve achieves — per load
    // window when windows are given (what a hot or surging expert costs per batch), else in-sample.
    const winLoads = new Float64Array(G);
    const winCnt = new Int32Array(E);
    const scale = new Float64Array(L).fill(1);
    if (W >= 2 && input.windows) {
      for (let l = 0; l < L; l++) {
        let t = 0;
        let tw = 0;
        for (let e = 0; e < E; e++) t += input.load[l * E + e];
        for (let w = 0; w < W; w++) for (let e = 0; e < E; e++) tw += input.windows[(w * L + l) * E + e];
        scale[l] = tw > 0 ? t / tw : 0;
      }
    }
    const cost = (l: number, P: number): number => {
      const r = solveLayer(l, P);
      if (W >= 2 && input.windows && scale[l] > 0) return windowCost(input.windows, W, L, E, l, r.row, G, ps.invSpeed, scale[l], winLoads, winCnt);
      return r.max;
    };
    slots = slotsUnderBudget(input.load, L, E, G, input.memoryBudgetBytes!, input.expertBytes!, true, cost);
  }
  const slotsOf = slots;
  let moved = 0;
  let keptLayers = 0;
  const currentOk = input.current ? currentMatches(input, slotsOf) : false;
  const varModel = statRoutes && !input.current && tol === 0 ? batchCountCovariance(statRoutes, opts.batchTokens ?? input.batchTokens ?? 512, { coactivation: opts.coactivationVariance ?? false }) : undefined;
  let varianceLayers = 0;
  for (let l = 0; l < L; l++) {
    const P = slotsOf[l];
    const w = input.load.subarray(l * E, (l + 1) * E);
    const { row: best, max: bestMax, which, dsCap } = solveLayer(l, P);
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
    if (varModel) {
      const V = varModel.V.subarray(l * E * E, (l + 1) * E * E);
      const next = reduceRankVariance(row, w, V, varModel.mean.subarray(l * E, (l + 1) * E), G, dsCap, ps);
      if (!sameRow(next, row)) varianceLayers++;
      row = next;
      layerMax[l] = rowMax(w, row, G, ps.invSpeed, loadBuf, seen);
    }
    phy2log.push(row);
  }

  let locality: { cap: number; mu: number; validatedOn: string } | undefined;
  if (coact && statRoutes && !input.current) {
    // Co-locating co-activated experts makes rank loads burstier per batch, so the trade-off is chosen
    // by validation: candidates (cap on the histogram max: tol, tol/2, tol/4; weight mu on keeping
    // covarying experts apart: 0, 0.5, 2, 8) are fitted on the first 2/3 of the planning routes and
    // scored on the last 1/3 (in-sample when there are fewer than 8 batches). Among those whose
    // per-batch max/mean (256-token batches) stays within (1 + CHECK_MARGIN * tol) of the balanced
    // plan's, the one with the fewest distinct ranks per token wins and is refitted on all routes;
    // none -> the balanced plan.
    const routes = statRoutes;
    const batch = Math.min(256, Math.max(1, Math.floor(routes.numTokens / 4)));
    const nb = Math.floor(routes.numTokens / batch);
    const split = nb >= 8 ? Math.floor((nb * 2) / 3) * batch : 0;
    const fit = split > 0 ? sliceRoutes(routes, 0, split) : routes;
    const check = { startToken: split };
    const coFit = split > 0 ? coactivation(fit, numNodes) : coact;
    const covFit = batchCovariance(fit, batch);
    const balanced = emptyPlan(input, 'ballast', phy2log.map((r) => r.slice()));
    const base = batchRankLoad(routes, balanced, batch, check).mean;
    let bestRanks = distinctRanksPerToken(routes, balanced, G / numNodes, check).ranks;
    let chosenCfg: { mu: number; cap: number } | undefined;
    for (const mu of [0, 0.5, 2, 8]) {
      const weights = Array.from({ length: L }, (_, l) => pairWeights(coFit, covFit, l, mu));
      for (const cap of tol > 0 ? [tol, tol / 2, tol / 4] : [0]) {
        const rows = phy2log.map((r, l) =>
          improveLocality(r, input.load.subarray(l * E, (l + 1) * E), weights[l], G, numNodes, layerMax[l] * (1 + cap), ps),
        );
        const cand = emptyPlan(input, 'ballast', rows);
        if (batchRankLoad(routes, cand, batch, check).mean > base * (1 + tol * CHECK_MARGIN)) continue;
        const ranks = distinctRanksPerToken(routes, cand, G / numNodes, check).ranks;
        if (ranks < bestRanks) {
          bestRanks = ranks;
          chosenCfg = { mu, cap };
        }
      }
    }
    if (chosenCfg) {
      const cov = batchCovariance(routes, batch);
      const { mu, cap } = chosenCfg;
      for (let l = 0; l < L; l++) {
        phy2log[l] = improveLocality(phy2log[l], input.load.subarray(l * E, (l + 1) * E), pairWeights(coact, cov, l, mu), G, numNodes, layerMax[l] * (1 + cap), ps);
      }
      const of = routes === input.routes ? '' : ' of the sampled routes';
      locality = { cap, mu, validatedOn: split > 0 ? `tokens ${split}..${routes.numTokens}${of}` : `all planning tokens${of}` };
    }
  }
  const plan = emptyPlan(input, 'ballast', phy2log, {
    slotsPerLayer: uniformSlotsOf(slotsOf) ?? Array.from(slotsOf),
    redundantSlots: uniformSlotsOf(slotsOf) !== undefined ? slotsOf[0] - E : undefined,
    forecast: W >= 2 ? { windows: W, z: fopts.z, halfLife: fopts.halfLife } : undefined,
    balanceTolerance: coact ? tol : undefined,
    locality,
    routeSample: statRoutes && input.routes && statRoutes !== input.routes ? { tokens: statRoutes.numTokens, of: input.routes.numTokens, windows: 8 } : undefined,
    varianceAware: varModel ? { batchTokens: varModel.batchTokens, sequences: varModel.sequences, layersChanged: varianceLayers } : undefined,
    speedAware: !uniformSpeed,
    candidates: chosen,
  });
  if (input.current) {
    plan.stats = { expertsMoved: currentOk ? moved : undefined, layersKept: currentOk ? keptLayers : 0 };
  }
  return plan;
}

function sameRow(a: Int32Array, b: Int32Array): boolean {
  for (let p = 0; p < a.length; p++) if (a[p] !== b[p]) return false;
  return true;
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
