/**
 * ballast's time objective: choose, per layer, the placement row and the number of replicas that
 * minimise the predicted MoE step time at the deployment's step size(s), instead of max/mean tokens.
 *
 * Inputs: a SolveInput (planning load, routes when known), the cost model, and one or more step
 * specs {tokens, weight} (one for a phase; prefill + decode weighted by how often each runs for a mix).
 *
 * Steps:
 *   1. routes: the planning routes, or — count-only traces — routes sampled from the counts with the
 *      model's top-k (predict/sample-counts.ts; layers drawn independently, so no co-activation: the
 *      plan says so in params.timeObjective.routes);
 *   2. batches: `batches` start offsets per step size drawn from the routes (step-time.ts
 *      resampleStarts); a step size larger than the routes is an InputError;
 *   3. replica options: R = 0 and multiples of G while the memory budget (bytes per GPU for replicas,
 *      over all layers) allows one more replica per GPU in every layer (uniform slots) — at most
 *      `maxReplicaSteps` of them — or the fixed input.redundantSlots when no budget is given;
 *   4. candidates per R: ballast balanced (tolerance 0), ballast spreading co-activated experts over
 *      GPUs (its variance step with within-token co-activation counted, at the smallest step size),
 *      ballast trading balance for locality
 *      (tolerances 0.02 and 0.05, which the comm-tradeoff bench shows cut distinct GPUs per token by up
 *      to 18%), ballast packing the expected per-step slot time of each expert (step-time.ts
 *      expertStepWeights: the decode objective, activated experts) and, at R = 0, that packing improved
 *      by a swap search on the busiest GPU's activated experts (activation-search.ts), DeepSeek EPLB (when it places no two
 *      replicas of an expert on one GPU) and, at R = 0, the engines' linear default;
 *   5. every candidate row of every layer is timed on the resampled batches (layerStepTime, weighted
 *      over the step specs); each layer takes its fastest row; the layers' sum is the predicted step
 *      time at that R. Uniform slots (vLLM, SGLang): the R with the lowest sum wins, so replicas go in
 *      only where they pay over the whole model. Variable slots (allowVariableSlots): greedy per layer
 *      by time saved per replica slot under the budget, so layers where replicas do not pay keep 0.
 *   6. selection (opts.selection, default 'validated'): step 5 on the planning tokens themselves
 *      ('in-sample') rewards rows that fit those tokens (replicas of this trace's hot experts, experts
 *      co-placed for the co-activation seen, swaps that fit the sampled batches). 'validated' makes the
 *      candidates of step 4 on one of two folds of the planning tokens and times them on the other
 *      (folds: consecutive blocks cut at a sequence start; count-only traces with windows: the first
 *      and second half of the windows), and makes step 5's choice — each layer's candidate name, the
 *      R — on the mean held-out time; ties go to the more conservative name (CONSERVATIVE_ORDER:
 *      linear, deepseek, then the rows that rely more on the planning data). The chosen configuration
 *      is then made again on all planning tokens. A step larger than a held-out block is scored
 *      in-sample (at a smaller size it would be another regime). A count-only trace without windows offers no
 *      evidence that its hot experts stay hot (folds of routes sampled from one count table are iid),
 *      so validated selection takes no replicas there. The plan names the rule and why
 *      (params.timeObjective.selection).
 *
 * Shapes: input.load [L][E], input.routes [T][L][k] -> Plan with phy2log[L][P_l] and
 * params.timeObjective { steps, predictedStepUs, selection, perReplicas, candidatesChosen, routing, routes }.
 */
import { defaultPlan } from '../../../core/default-placements.ts';
import { InputError } from '../../../core/errors.ts';
import type { Plan } from '../../../core/plan.ts';
import { routesToCounts, sliceRoutes, type TokenRoutes } from '../../../core/token-routes.ts';
import type { CostModel } from '../../../predict/cost-model.ts';
import { sampleRoutesFromCounts } from '../../../predict/sample-counts.ts';
import type { SolveInput } from '../../solver.ts';
import { emptyPlan } from '../check-input.ts';
import { solveDeepseek } from '../deepseek/index.ts';
import { solveBallast } from './index.ts';
import { activationSwapSearch } from './activation-search.ts';
import { type BatchTimes, chooseHeldOut, type HeldOutChoice, meanAt } from './held-out-choice.ts';
import { greedySlots } from './greedy-slots.ts';
import { expertStepWeights, layerStepTime, REPLICA_ROUTING, resampleStarts, type StepRouting, type StepTimeScratch, stepTimeScratch } from './step-time.ts';

export interface StepSpec {
  /** Name shown in params ('prefill', 'decode'). */
  name: string;
  /** Tokens per forward pass. */
  tokens: number;
  /** Relative frequency of this step (a mix: 1 prefill step per `decodePerPrefill` decode steps). */
  weight: number;
  /** Routes this step's batches are drawn from (a phase's own tokens); default the planning routes. */
  routes?: TokenRoutes;
}

export interface TimeObjectiveOptions {
  cm: CostModel;
  steps: StepSpec[];
  /** Resampled batches per step size (default: clamp(4 * T / n, 32, 256)). */
  batches?: number;
  seed?: number;
  routing?: StepRouting;
  /** Model top-k, needed to sample routes from count-only traces. */
  topK?: number;
  /** Tokens sampled from counts for count-only traces (default 8192). */
  sampleTokens?: number;
  /** Most replica steps (of G slots) tried under a budget (default 2). */
  maxReplicaSteps?: number;
  /** Locality tolerances tried (default [0.02, 0.05]). */
  tolerances?: number[];
  /** How the configuration is chosen (default 'validated'; file header, step 6). */
  selection?: SelectionRule;
}

interface Candidate {
  name: string;
  R: number;
  rows: Int32Array[];
  /** [L] weighted mean step time of each layer's row, us. */
  layerUs: Float64Array;
  /** [steps][L] per step spec, us. */
  stepUs: Float64Array[];
  activatedMax: Float64Array[];
  tokensMax: Float64Array[];
  /** [steps][L] -> [B] per-batch layer times, us (held-out timing only). */
  batchUs?: Float64Array[][];
}

function hasColocated(row: Int32Array, G: number): boolean {
  const S = row.length / G;
  const seen = new Map<number, number>();
  for (let p = 0; p < row.length; p++) {
    const r = Math.floor(p / S);
    if (seen.get(row[p]) === r) return true;
    seen.set(row[p], r);
  }
  return false;
}

/** Replica options R (multiples of G above the padding) the budget allows, uniform in every layer. */
export function replicaOptions(input: SolveInput, maxSteps: number): number[] {
  const { numExperts: E, numRanks: G, numLayers: L } = input;
  const P0 = Math.ceil(E / G) * G;
  const base = P0 - E;
  if (input.memoryBudgetBytes === undefined || input.expertBytes === undefined) {
    const R = input.redundantSlots ?? 0;
    return R > base ? [base, R] : [base];
  }
  const perStep = L * input.expertBytes; // one more slot per GPU in every layer
  const padBytes = (base / G) * L * input.expertBytes;
  const steps = Math.floor((input.memoryBudgetBytes - padBytes) / perStep + 1e-9);
  if (steps < 1 && !input.allowVariableSlots) {
    throw new InputError(
      '--memory-budget',
      '',
      `the budget leaves ${Math.max(0, input.memoryBudgetBytes - padBytes)} bytes per GPU for replicas; one replica per GPU in each of the ${L} layers needs ${perStep} bytes (no replica fits)`,
    );
  }
  if (input.allowVariableSlots && input.memoryBudgetBytes - padBytes < input.expertBytes) {
    throw new InputError(
      '--memory-budget',
      '',
      `the budget leaves ${Math.max(0, input.memoryBudgetBytes - padBytes)} bytes per GPU for replicas; one replica needs ${input.expertBytes} bytes (no replica fits)`,
    );
  }
  const maxByShape = Math.floor((E * G - P0) / G);
  const out = [base];
  const most = input.allowVariableSlots ? Math.min(maxSteps, maxByShape) : Math.min(steps, maxSteps, maxByShape);
  for (let s = 1; s <= most; s++) out.push(base + s * G);
  return out;
}

/** How the configuration (candidate row and replica count of each layer) is chosen (file header, 5-6). */
export type SelectionRule = 'validated' | 'validated-min' | 'in-sample';

/** One step size's resampled batches: `starts` [B] offsets into `routes` [T][L][k], `tokens` per step. */
interface StepData {
  tokens: number;
  weight: number;
  routes: TokenRoutes;
  starts: Int32Array;
}

interface RowSet {
  name: string;
  R: number;
  rows: Int32Array[];
}

/** Order in which validated selection breaks ties: the engines' default first, then by how much each row relies on the planning data. */
export const CONSERVATIVE_ORDER = ['linear', 'deepseek', 'balanced', 'activation', 'spread', 'locality-0.02', 'locality-0.05', 'activation-search'];

/** Distinct held-out steps of the largest size that routes sampled from counts are drawn for. */
const VAL_BATCHES = 32;

const batchesFor = (opts: TimeObjectiveOptions, T: number, n: number) => opts.batches ?? Math.max(32, Math.min(256, Math.floor((4 * T) / n)));

/**
 * Candidate rows at each replica option (file header, step 4), made from `input` (its load, and its
 * routes when it has them) and the steps' batches. Shapes: -> [Rs.length][candidates] of rows [L][P].
 */
function generateCandidates(input: SolveInput, steps: StepData[], Rs: number[], cm: CostModel, tolerances: number[]): RowSet[][] {
  const { numLayers: L, numExperts: E, numRanks: G } = input;
  const wSum = steps.reduce((a, s) => a + s.weight, 0);
  // Expected per-step slot time of each expert, weighted over the steps (the activation candidate).
  const actW = new Float64Array(L * E);
  for (const s of steps) {
    const w = expertStepWeights(cm, s.routes, s.starts, s.tokens);
    for (let j = 0; j < w.length; j++) actW[j] += (s.weight / wSum) * w[j];
  }
  let si = 0;
  steps.forEach((s, i) => {
    if (s.tokens < steps[si].tokens) si = i;
  });
  const base: SolveInput = { ...input, memoryBudgetBytes: undefined, allowVariableSlots: false, batchTokens: steps[0].tokens };
  const out: RowSet[][] = [];
  for (const R of Rs) {
    const list: RowSet[] = [];
    const add = (name: string, rows: Int32Array[]) => list.push({ name, R, rows });
    const inR = { ...base, redundantSlots: R };
    add('balanced', solveBallast({ ...inR, balanceTolerance: 0 }).phy2log);
    if (input.routes) {
      // Experts the same tokens choose spread over GPUs (the variance step counting co-activation):
      // fewer of one GPU's experts wake up together in a small step.
      add('spread', solveBallast({ ...inR, balanceTolerance: 0 }, { coactivationVariance: true, batchTokens: steps[si].tokens }).phy2log);
      for (const tol of tolerances) add(`locality-${tol}`, solveBallast({ ...inR, balanceTolerance: tol }).phy2log);
    }
    const actRows = solveBallast({ ...inR, load: actW, routes: undefined, windows: undefined, numWindows: undefined }).phy2log;
    add('activation', actRows);
    if (R === 0 && E % G === 0) {
      // Swap search on the busiest GPU's activated experts at the smallest step (activation-search.ts).
      add('activation-search', actRows.map((row, l) => activationSwapSearch(steps[si].routes, l, row, steps[si].starts, steps[si].tokens, G).row));
    }
    const ds = solveDeepseek(inR);
    if (!ds.phy2log.some((row) => hasColocated(row, G))) add('deepseek', ds.phy2log);
    if (R === 0 && E % G === 0) add('linear', defaultPlan('linear', L, E, G, input.layerIds).phy2log);
    out.push(list);
  }
  return out;
}

/** Every candidate row timed on the steps' batches (file header, step 5). */
function timeCandidates(cm: CostModel, sets: RowSet[][], steps: StepData[], L: number, routing: StepRouting, sc: StepTimeScratch, perBatch = false): Candidate[][] {
  const wSum = steps.reduce((a, s) => a + s.weight, 0);
  return sets.map((list) =>
    list.map(({ name, R, rows }) => {
      const layerUs = new Float64Array(L);
      const stepUs = steps.map(() => new Float64Array(L));
      const activatedMax = steps.map(() => new Float64Array(L));
      const tokensMax = steps.map(() => new Float64Array(L));
      const batchUs = perBatch ? steps.map((s) => Array.from({ length: L }, () => new Float64Array(s.starts.length))) : undefined;
      for (let l = 0; l < L; l++) {
        steps.forEach((s, i) => {
          const r = layerStepTime(cm, s.routes, l, rows[l], s.starts, s.tokens, sc, routing, batchUs?.[i][l]);
          stepUs[i][l] = r.timeUs;
          activatedMax[i][l] = r.activatedMax;
          tokensMax[i][l] = r.tokensMax;
          layerUs[l] += (s.weight / wSum) * r.timeUs;
        });
      }
      return { name, R, rows, layerUs, stepUs, activatedMax, tokensMax, batchUs };
    }),
  );
}

/** [Rs][name] -> [L] weighted step time of each layer's row, us. */
type ScoreTable = Map<string, Float64Array>[];

interface Choice {
  /** [L] index into Rs and candidate name of each layer. */
  rIndex: Int32Array;
  names: string[];
  /** Per R: the sum over layers of each layer's best score. */
  totals: number[];
}

/**
 * Each layer's best candidate at each R by `score` (the first in `order` wins a tie), then R: uniform
 * slots the R with the lowest sum (the smaller on a tie); variable slots greedy per layer by time
 * saved per replica slot under `slotsLeft` (one slot per GPU in one layer each).
 */
function choose(score: ScoreTable, order: string[][], L: number, slotsLeft: number | undefined): Choice {
  const best = score.map((m, i) => {
    const pick: string[] = [];
    let total = 0;
    for (let l = 0; l < L; l++) {
      let b = order[i][0];
      for (const name of order[i]) if (m.get(name)![l] < m.get(b)![l] * (1 - 1e-12)) b = name;
      pick.push(b);
      total += m.get(b)![l];
    }
    return { pick, total };
  });
  let rIndex: Int32Array;
  if (slotsLeft !== undefined) rIndex = greedySlots(L, score.length, slotsLeft, (l, i) => score[i].get(best[i].pick[l])![l] - score[i + 1].get(best[i + 1].pick[l])![l]);
  else {
    let bi = 0;
    for (let i = 1; i < score.length; i++) if (best[i].total < best[bi].total * (1 - 1e-12)) bi = i;
    rIndex = new Int32Array(L).fill(bi);
  }
  return { rIndex, names: Array.from({ length: L }, (_, l) => best[rIndex[l]].pick[l]), totals: best.map((b) => b.total) };
}

/** Token index splitting routes into two folds: the first sequence start at or after half, else half. */
export function foldCut(r: TokenRoutes): number {
  const T = r.numTokens;
  let c = T;
  for (const s of r.seqStarts) {
    if (s >= T / 2) {
      c = s;
      break;
    }
  }
  return c > 0 && c < T ? c : Math.floor(T / 2);
}

interface Fold {
  /** Planning part: the input to make candidates from, and each step's routes. */
  train: SolveInput;
  trainSteps: TokenRoutes[];
  /** Held-out part: each step's routes. */
  valSteps: TokenRoutes[];
}

/**
 * The two folds of validated selection (file header, step 6), or why there are none.
 *   - recorded routes: consecutive blocks cut at a sequence start (foldCut), each step's own routes
 *     cut the same way; each fold plans on one block's counts and routes and is scored on the other;
 *   - count-only with >= 2 windows: the first and second half of the windows, routes sampled from
 *     each half's counts (so the folds show how the load moved over time);
 *   - count-only without windows: each half of the sampled planning routes planned on, and scored on
 *     routes drawn afresh from the same counts (>= VAL_BATCHES distinct steps of the largest size):
 *     independent draws that show sampling noise only, not shift.
 */
function makeFolds(input: SolveInput, routes: TokenRoutes, stepRoutes: TokenRoutes[], opts: TimeObjectiveOptions): { folds?: Fold[]; how: string } {
  const { numLayers: L, numExperts: E } = input;
  const W = input.numWindows ?? 0;
  const half = (r: TokenRoutes): [TokenRoutes, TokenRoutes] | undefined => {
    const c = foldCut(r);
    return c >= 1 && r.numTokens - c >= 1 ? [sliceRoutes(r, 0, c), sliceRoutes(r, c, r.numTokens)] : undefined;
  };
  if (!input.routes && W >= 2 && input.windows) {
    const per = L * E;
    const h = Math.floor(W / 2);
    const sumOf = (w0: number, w1: number) => {
      const out = new Float64Array(per);
      for (let w = w0; w < w1; w++) for (let j = 0; j < per; j++) out[j] += input.windows![w * per + j];
      return out;
    };
    const loads = [sumOf(0, h), sumOf(h, W)];
    const T = Math.max(Math.floor(routes.numTokens / 2), VAL_BATCHES * Math.max(...opts.steps.map((s) => s.tokens)));
    const sampled = loads.map((ld, i) => sampleRoutesFromCounts(ld, L, E, routes.topK, T, (opts.seed ?? 1) + 101 * (i + 1), input.layerIds));
    const folds = [0, 1].map((f) => ({
      train: { ...input, load: loads[f], routes: undefined, windows: undefined, numWindows: undefined },
      trainSteps: stepRoutes.map(() => sampled[f]),
      valSteps: stepRoutes.map(() => sampled[1 - f]),
    }));
    return { folds, how: `2 folds: windows [0, ${h}) and [${h}, ${W}) (routes sampled from each half's counts), each planned on one half and scored on the other` };
  }
  const main = half(routes);
  const steps = stepRoutes.map((r) => (r === routes ? main : half(r)));
  if (!main || steps.some((s) => !s)) return { how: 'too few planning tokens to hold any out' };
  if (!input.routes) {
    // Count-only: held-out routes are drawn afresh from the counts, enough for VAL_BATCHES distinct
    // steps of the largest size, so the held-out estimate has a batch-to-batch spread to test against.
    const T = Math.max(main[1].numTokens, VAL_BATCHES * Math.max(...opts.steps.map((s) => s.tokens)));
    const fresh = [0, 1].map((f) => sampleRoutesFromCounts(input.load, L, E, routes.topK, T, (opts.seed ?? 1) + 211 * (f + 1), input.layerIds));
    const folds = [0, 1].map((f) => ({ train: input, trainSteps: stepRoutes.map(() => main[f]), valSteps: stepRoutes.map(() => fresh[f]) }));
    return { folds, how: `2 folds: each half of the sampled routes planned on, and scored on ${T} tokens drawn afresh from the same counts (independent draws: they show sampling noise, not shift)` };
  }
  const folds = [0, 1].map((f) => ({
    train: { ...input, load: routesToCounts(main[f]), routes: main[f], windows: undefined, numWindows: undefined },
    trainSteps: steps.map((s) => s![f]),
    valSteps: steps.map((s) => s![1 - f]),
  }));
  const c = foldCut(routes);
  const how = `2 folds: planning tokens [0, ${c}) and [${c}, ${routes.numTokens}) (cut at a sequence start), each planned on one block and scored on the other`;
  return { folds, how };
}

/** The time objective (see file header). */
export function solveBallastTime(input: SolveInput, opts: TimeObjectiveOptions): Plan {
  const { numLayers: L, numExperts: E, numRanks: G } = input;
  const cm = opts.cm;
  if (cm.numRanks !== G) throw new RangeError(`cost model has ${cm.numRanks} ranks, the input ${G}`);
  let routes: TokenRoutes;
  let routesNote: string;
  if (input.routes) {
    routes = input.routes;
    routesNote = `${routes.numTokens} planning tokens of recorded routes`;
  } else {
    const k = opts.topK;
    if (!(k !== undefined && k >= 1)) throw new InputError('--model', '', 'a count-only trace needs the model\'s top-k to sample routes from its counts');
    const T = opts.sampleTokens ?? 8192;
    routes = sampleRoutesFromCounts(input.load, L, E, k, T, opts.seed ?? 1, input.layerIds);
    routesNote = `count-only trace: ${T} tokens of routes sampled from the counts with top-${k} (layers independent, no co-activation)`;
  }
  const stepRoutes = opts.steps.map((s) => s.routes ?? routes);
  opts.steps.forEach((s, i) => {
    const T = stepRoutes[i].numTokens;
    if (!(s.tokens >= 1) || s.tokens > T) {
      throw new InputError(`--${s.name}-tokens`, '', `a step of ${s.tokens} tokens is larger than the ${T} planning tokens of the trace${s.routes ? ` (${s.name})` : ''}`);
    }
  });
  const routing = opts.routing ?? 'token-mod';
  const seed = opts.seed ?? 1;
  const stepsOn = (rs: TokenRoutes[], seedOff: number): StepData[] =>
    opts.steps.map((s, i) => {
      const T = rs[i].numTokens;
      const n = Math.min(s.tokens, T);
      return { tokens: n, weight: s.weight, routes: rs[i], starts: resampleStarts(T, n, batchesFor(opts, T, n), seed + seedOff + 7919 * i) };
    });
  const steps = stepsOn(stepRoutes, 0);
  const selection = opts.selection ?? 'validated';
  const tolerances = opts.tolerances ?? [0.02, 0.05];
  let Rs = replicaOptions(input, opts.maxReplicaSteps ?? 2);
  const why: string[] = [];
  const countOnlyNoWindows = !input.routes && !((input.numWindows ?? 0) >= 2 && input.windows);
  if (selection !== 'in-sample' && countOnlyNoWindows && Rs.length > 1) {
    Rs = [Rs[0]];
    why.push(
      'count-only trace without windows: no replicas (one count table cannot show whether its hot experts stay hot; under a shift a replica costs a slot and, in decode, an activated expert, while a placement without replicas costs nothing against linear on average)',
    );
  }
  const maxP = E + Rs[Rs.length - 1];
  const sc = stepTimeScratch(cm, E, maxP);
  const candidates = timeCandidates(cm, generateCandidates(input, steps, Rs, cm, tolerances), steps, L, routing, sc, selection !== 'in-sample');
  const variable = input.allowVariableSlots && input.memoryBudgetBytes !== undefined && input.expertBytes !== undefined;
  const slotsLeft = variable ? Math.floor((input.memoryBudgetBytes! - (Rs[0] / G) * L * input.expertBytes!) / input.expertBytes! + 1e-9) : undefined;
  const inSampleScore: ScoreTable = candidates.map((list) => new Map(list.map((c) => [c.name, c.layerUs])));
  let choice: Choice | HeldOutChoice = choose(inSampleScore, candidates.map((list) => list.map((c) => c.name)), L, slotsLeft);
  let heldOut: ScoreTable | undefined;
  let heldOutChoice: HeldOutChoice | undefined;
  let rule = 'in-sample: each layer takes the row and R with the lowest predicted time on the planning tokens';
  if (selection !== 'in-sample') {
    const { folds, how } = makeFolds(input, routes, stepRoutes, opts);
    if (!folds) {
      why.push(`no validation (${how}): in-sample choice`);
    } else {
      const times: Map<string, BatchTimes>[] = Rs.map(() => new Map());
      const fits = opts.steps.map(() => true);
      folds.forEach((f, fi) => {
        const trainSteps = stepsOn(f.trainSteps, 1000 * (fi + 1));
        const valSteps = stepsOn(f.valSteps, 1000 * (fi + 1) + 500);
        const timed = timeCandidates(cm, generateCandidates(f.train, trainSteps, Rs, cm, tolerances), valSteps, L, routing, sc, true);
        timed.forEach((list, i) => {
          for (const c of list) {
            const acc = times[i].get(c.name) ?? [];
            acc[fi] = c.batchUs!;
            times[i].set(c.name, acc);
          }
        });
        opts.steps.forEach((s, i) => {
          if (valSteps[i].tokens < s.tokens) fits[i] = false;
        });
      });
      // A step larger than a held-out block cannot be timed held out at its size (a smaller step is
      // another regime: fewer tokens per expert): that step is scored in-sample, and the plan says so.
      opts.steps.forEach((s, i) => {
        if (fits[i]) return;
        why.push(`${s.name}: a ${s.tokens}-token step is larger than a held-out block, so ${s.name} steps are scored in-sample`);
        times.forEach((m, ri) => {
          for (const [name, t] of m) {
            const c = candidates[ri].find((x) => x.name === name);
            if (c) for (const fold of t) if (fold) fold[i] = c.batchUs![i];
          }
        });
      });
      // A name counts only where every fold and the final candidates have it (deepseek drops out where it co-locates replicas).
      const order = candidates.map((list, i) =>
        CONSERVATIVE_ORDER.filter((n) => list.some((c) => c.name === n) && times[i].get(n)?.filter(Boolean).length === folds.length),
      );
      const wSum = opts.steps.reduce((a, s) => a + s.weight, 0);
      const w = opts.steps.map((s) => s.weight / wSum);
      const seMult = selection === 'validated' ? 1 : 0;
      heldOutChoice = chooseHeldOut(times, order, L, w, slotsLeft, seMult);
      heldOut = times.map((m, i) => new Map(order[i].map((n) => [n, Float64Array.from({ length: L }, (_, l) => meanAt(m.get(n)!, l, w))])));
      choice = heldOutChoice;
      rule =
        `${selection}: ${how}; each layer takes the row, and the model the R, ` +
        (seMult > 0
          ? `by the one-standard-error rule on held-out predicted time (the most conservative within one standard error of the paired difference to the best; order ${CONSERVATIVE_ORDER.join(' < ')}, smaller R first)`
          : `with the lowest held-out predicted time (ties to the more conservative: ${CONSERVATIVE_ORDER.join(' < ')})`) +
        ', then that configuration is made again on all planning tokens';
    }
  }
  const phy2log: Int32Array[] = [];
  const chosen: Record<string, number> = {};
  const predicted = opts.steps.map(() => ({ us: 0, activatedMax: 0, tokensMax: 0 }));
  let heldOutUs = 0;
  for (let l = 0; l < L; l++) {
    const c = candidates[choice.rIndex[l]].find((x) => x.name === choice.names[l])!;
    phy2log.push(c.rows[l].slice());
    const key = `${c.name} R=${c.R}`;
    chosen[key] = (chosen[key] ?? 0) + 1;
    if (heldOut) heldOutUs += heldOut[choice.rIndex[l]].get(c.name)![l];
    opts.steps.forEach((_, i) => {
      predicted[i].us += c.stepUs[i][l];
      predicted[i].activatedMax += c.activatedMax[i][l] / L;
      predicted[i].tokensMax += c.tokensMax[i][l] / L;
    });
  }
  const inSampleChoice = choose(inSampleScore, candidates.map((list) => list.map((c) => c.name)), L, slotsLeft);
  const perReplicas = Rs.map((R, i) => {
    const out: Record<string, unknown> = { redundantSlots: R, predictedUs: round(inSampleChoice.totals[i]) };
    for (const c of candidates[i]) out[c.name] = round(sum(c.layerUs));
    if (heldOut && heldOutChoice) {
      const h: Record<string, number> = { best: round(heldOutChoice.totals[i]) };
      for (const [n, v] of heldOut[i]) h[n] = round(sum(v));
      out.heldOutUs = h;
    }
    return out;
  });
  const uniform = phy2log.every((r) => r.length === phy2log[0].length);
  return emptyPlan(input, 'ballast', phy2log, {
    objective: 'time',
    redundantSlots: uniform ? phy2log[0].length - E : phy2log.map((r) => r.length - E),
    timeObjective: {
      steps: opts.steps.map((s, i) => ({
        name: s.name,
        tokens: s.tokens,
        weight: s.weight,
        routes: s.routes ? `${s.routes.numTokens} ${s.name} tokens` : undefined,
        batches: steps[i].starts.length,
        predictedStepUs: round(predicted[i].us),
        busiestGpuActivatedExperts: round(predicted[i].activatedMax),
        busiestGpuTokenExpertPairs: round(predicted[i].tokensMax),
      })),
      selection: { rule, notes: why, heldOutPredictedUs: heldOut ? round(heldOutUs) : undefined },
      routes: routesNote,
      routing: { estimate: routing, vllm: REPLICA_ROUTING.vllm, sglang: REPLICA_ROUTING.sglang },
      perReplicas,
      candidatesChosen: chosen,
      costModel: `${cm.model.name} on ${cm.cluster.name}`,
      network: G > cm.ranksPerNode ? 'across nodes one copy per destination GPU is counted (DeepEP normal kernels send one per node): network copies are overestimated' : undefined,
    },
  });
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}

function round(x: number): number {
  return Number(x.toPrecision(6));
}
