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
 *
 * Shapes: input.load [L][E], input.routes [T][L][k] -> Plan with phy2log[L][P_l] and
 * params.timeObjective { steps, predictedStepUs, perReplicas, candidatesChosen, routing, routes }.
 */
import { defaultPlan } from '../../../core/default-placements.ts';
import { InputError } from '../../../core/errors.ts';
import type { Plan } from '../../../core/plan.ts';
import type { TokenRoutes } from '../../../core/token-routes.ts';
import type { CostModel } from '../../../predict/cost-model.ts';
import { sampleRoutesFromCounts } from '../../../predict/sample-counts.ts';
import type { SolveInput } from '../../solver.ts';
import { emptyPlan } from '../check-input.ts';
import { solveDeepseek } from '../deepseek/index.ts';
import { solveBallast } from './index.ts';
import { activationSwapSearch } from './activation-search.ts';
import { expertStepWeights, layerStepTime, REPLICA_ROUTING, resampleStarts, type StepRouting, stepTimeScratch } from './step-time.ts';

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
  const starts = opts.steps.map((s, i) => {
    const T = stepRoutes[i].numTokens;
    const B = opts.batches ?? Math.max(32, Math.min(256, Math.floor((4 * T) / s.tokens)));
    return resampleStarts(T, s.tokens, B, (opts.seed ?? 1) + 7919 * i);
  });
  const wSum = opts.steps.reduce((a, s) => a + s.weight, 0);
  const Rs = replicaOptions(input, opts.maxReplicaSteps ?? 2);
  const maxP = E + Rs[Rs.length - 1];
  const sc = stepTimeScratch(cm, E, maxP);

  // Expected per-step slot time of each expert, weighted over the steps (the activation candidate).
  const actW = new Float64Array(L * E);
  opts.steps.forEach((s, i) => {
    const w = expertStepWeights(cm, stepRoutes[i], starts[i], s.tokens);
    for (let j = 0; j < w.length; j++) actW[j] += (s.weight / wSum) * w[j];
  });

  const time = (name: string, R: number, rows: Int32Array[]): Candidate => {
    const layerUs = new Float64Array(L);
    const stepUs = opts.steps.map(() => new Float64Array(L));
    const activatedMax = opts.steps.map(() => new Float64Array(L));
    const tokensMax = opts.steps.map(() => new Float64Array(L));
    for (let l = 0; l < L; l++) {
      opts.steps.forEach((s, i) => {
        const r = layerStepTime(cm, stepRoutes[i], l, rows[l], starts[i], s.tokens, sc, routing);
        stepUs[i][l] = r.timeUs;
        activatedMax[i][l] = r.activatedMax;
        tokensMax[i][l] = r.tokensMax;
        layerUs[l] += (s.weight / wSum) * r.timeUs;
      });
    }
    return { name, R, rows, layerUs, stepUs, activatedMax, tokensMax };
  };

  const base: SolveInput = { ...input, routes: input.routes, memoryBudgetBytes: undefined, allowVariableSlots: false, batchTokens: opts.steps[0].tokens };
  const candidates: Candidate[][] = [];
  for (const R of Rs) {
    const list: Candidate[] = [];
    const inR = { ...base, redundantSlots: R };
    list.push(time('balanced', R, solveBallast({ ...inR, balanceTolerance: 0 }).phy2log));
    if (input.routes) {
      // Experts the same tokens choose spread over GPUs (the variance step counting co-activation):
      // fewer of one GPU's experts wake up together in a small step.
      list.push(time('spread', R, solveBallast({ ...inR, balanceTolerance: 0 }, { coactivationVariance: true, batchTokens: Math.min(...opts.steps.map((s) => s.tokens)) }).phy2log));
      for (const tol of opts.tolerances ?? [0.02, 0.05]) list.push(time(`locality-${tol}`, R, solveBallast({ ...inR, balanceTolerance: tol }).phy2log));
    }
    const actRows = solveBallast({ ...inR, load: actW, routes: undefined, windows: undefined, numWindows: undefined }).phy2log;
    list.push(time('activation', R, actRows));
    if (R === 0 && E % G === 0) {
      // Swap search on the busiest GPU's activated experts at the smallest step (activation-search.ts).
      let si = 0;
      opts.steps.forEach((s, i) => {
        if (s.tokens < opts.steps[si].tokens) si = i;
      });
      const rows = actRows.map((row, l) => activationSwapSearch(stepRoutes[si], l, row, starts[si], opts.steps[si].tokens, G).row);
      list.push(time('activation-search', R, rows));
    }
    const ds = solveDeepseek(inR);
    if (!ds.phy2log.some((row) => hasColocated(row, G))) list.push(time('deepseek', R, ds.phy2log));
    if (R === 0 && E % G === 0) list.push(time('linear', R, defaultPlan('linear', L, E, G, input.layerIds).phy2log));
    candidates.push(list);
  }
  // Best row per layer at each R.
  const bestAt = candidates.map((list) => {
    const pick = new Int32Array(L);
    let total = 0;
    for (let l = 0; l < L; l++) {
      let b = 0;
      for (let c = 1; c < list.length; c++) if (list[c].layerUs[l] < list[b].layerUs[l] * (1 - 1e-12)) b = c;
      pick[l] = b;
      total += list[b].layerUs[l];
    }
    return { pick, total };
  });
  // R per layer.
  const rIndex = new Int32Array(L);
  if (input.allowVariableSlots && input.memoryBudgetBytes !== undefined && input.expertBytes !== undefined) {
    const padBytes = ((Rs[0]) / G) * L * input.expertBytes;
    let left = input.memoryBudgetBytes - padBytes;
    const slotBytes = input.expertBytes; // one more slot per GPU in one layer
    for (;;) {
      let bestL = -1;
      let bestGain = 0;
      for (let l = 0; l < L; l++) {
        const i = rIndex[l];
        if (i + 1 >= Rs.length || left < slotBytes - 1e-6) continue;
        const now = candidates[i][bestAt[i].pick[l]].layerUs[l];
        const next = candidates[i + 1][bestAt[i + 1].pick[l]].layerUs[l];
        const gain = now - next;
        if (gain > bestGain) {
          bestGain = gain;
          bestL = l;
        }
      }
      if (bestL < 0) break;
      rIndex[bestL]++;
      left -= slotBytes;
    }
  } else {
    let bi = 0;
    for (let i = 1; i < Rs.length; i++) if (bestAt[i].total < bestAt[bi].total * (1 - 1e-12)) bi = i;
    rIndex.fill(bi);
  }
  const phy2log: Int32Array[] = [];
  const chosen: Record<string, number> = {};
  const predicted = opts.steps.map(() => ({ us: 0, activatedMax: 0, tokensMax: 0 }));
  for (let l = 0; l < L; l++) {
    const c = candidates[rIndex[l]][bestAt[rIndex[l]].pick[l]];
    phy2log.push(c.rows[l].slice());
    const key = `${c.name} R=${c.R}`;
    chosen[key] = (chosen[key] ?? 0) + 1;
    opts.steps.forEach((_, i) => {
      predicted[i].us += c.stepUs[i][l];
      predicted[i].activatedMax += c.activatedMax[i][l] / L;
      predicted[i].tokensMax += c.tokensMax[i][l] / L;
    });
  }
  const perReplicas = Rs.map((R, i) => {
    const out: Record<string, unknown> = { redundantSlots: R, predictedUs: round(bestAt[i].total) };
    for (const c of candidates[i]) out[c.name] = round(sum(c.layerUs));
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
        batches: starts[i].length,
        predictedStepUs: round(predicted[i].us),
        busiestGpuActivatedExperts: round(predicted[i].activatedMax),
        busiestGpuTokenExpertPairs: round(predicted[i].tokensMax),
      })),
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
