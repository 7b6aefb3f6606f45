/**
 * exact: the optimal placement per layer (least possible max rank load / speed) from a MILP (model.ts)
 * solved by HiGHS (wasm) in a worker thread, for small shapes only (it refuses more than 64 experts or
 * 16 ranks). Used to certify the other solvers' gap on small shapes. Layers are solved independently;
 * each plan layer records whether HiGHS proved it optimal (params.optimal) and the optimum
 * (params.optimalMax, in the load's unit).
 */
import { startWorker } from '../../../runtime/start-worker.ts';
import { InputError } from '../../../core/errors.ts';
import type { Plan } from '../../../core/plan.ts';
import type { PlacementSolver, SolveInput } from '../../solver.ts';
import { checkSolveInput, emptyPlan, layerLoad } from '../check-input.ts';
import { layerModel, rowFromSolution } from './model.ts';
import { layerRankLoads, rankLowerBound } from '../../lower-bound.ts';
import { solveBallast } from '../ballast/index.ts';

export const EXACT_MAX_EXPERTS = 64;
export const EXACT_MAX_RANKS = 16;

interface WorkerReply {
  results?: { status: string; objective: number; columns: Record<string, { Primal: number }> }[];
  error?: string;
}

/** Run HiGHS on LP texts in a worker. Shapes: models[n] -> results[n]. */
export function solveModelsInWorker(models: string[], timeLimit: number): Promise<NonNullable<WorkerReply['results']>> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(new URL('./worker.ts', import.meta.url), { models, timeLimit });
    let done = false;
    worker.once('message', (msg: WorkerReply) => {
      done = true;
      void worker.terminate();
      if (msg.error || !msg.results) reject(new Error(`exact solver: ${msg.error ?? 'no result'}`));
      else resolve(msg.results);
    });
    worker.once('error', (err) => {
      done = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!done) reject(new Error(`exact solver worker exited with code ${code}`));
    });
  });
}

/** Shapes: input.load [L][E] (E <= 64, G <= 16) -> Plan with phy2log[L][P]. */
export async function solveExact(input: SolveInput, timeLimitSeconds = 60): Promise<Plan> {
  const P = checkSolveInput(input);
  const { numLayers: L, numExperts: E, numRanks: G } = input;
  if (E > EXACT_MAX_EXPERTS || G > EXACT_MAX_RANKS) {
    throw new InputError(
      '--solver',
      '',
      `the exact solver handles at most ${EXACT_MAX_EXPERTS} experts and ${EXACT_MAX_RANKS} GPUs, got ${E} experts on ${G} GPUs`,
    );
  }
  const speeds = input.cluster?.gpus.map((g) => g.speed);
  const models: string[] = [];
  // Bounds on T prune the search: below, the lower bound (equal speeds); above, ballast's plan.
  const upper = solveBallast({ ...input, routes: undefined, current: undefined, windows: undefined });
  for (let l = 0; l < L; l++) {
    const w = layerLoad(input, l);
    const lb = speeds ? undefined : rankLowerBound(w, G, P);
    const ub = layerRankLoads(w, upper.phy2log[l], G);
    let m = 0;
    for (let r = 0; r < G; r++) m = Math.max(m, ub[r] / (speeds ? speeds[r] : 1));
    models.push(layerModel(w, P, G, speeds, { lower: lb, upper: m * (1 + 1e-9) + 1e-9 }));
  }
  const results = await solveModelsInWorker(models, timeLimitSeconds);
  const phy2log = results.map((r, l) => {
    if (r.status !== 'Optimal' && r.status !== 'Time limit reached') {
      throw new Error(`exact solver: layer ${l}: HiGHS status ${r.status}`);
    }
    return rowFromSolution(r.columns, E, G, P);
  });
  return emptyPlan(input, 'exact', phy2log, {
    redundantSlots: P - E,
    optimal: results.map((r) => r.status === 'Optimal'),
    optimalMax: results.map((r) => r.objective),
  });
}

export const solver: PlacementSolver = {
  name: 'exact',
  description: `optimal MILP per layer (HiGHS), small shapes only (<= ${EXACT_MAX_EXPERTS} experts, <= ${EXACT_MAX_RANKS} GPUs)`,
  supportsReplicas: true,
  solve: (input) => solveExact(input),
};
