/**
 * Memory-budgeted replica slots, held out: uniform R vs per-layer (variable) slots at the same bytes.
 *
 * Plans ballast on the first half of data/demo/esft-law.ballast (ESFT law, DeepSeek-V2-Lite: 26 layers
 * x 64 experts, top-6; cut at the first sequence boundary at or after half the tokens, as
 * `ballast simulate --train-fraction 0.5` does), with one load window per planning sequence (as
 * `ballast plan` passes the trace's windows), on 8 GPUs with 8.6 MB experts, under several per-GPU
 * budgets. Scores each plan on the second half per 512-token batch with batchRankLoad (mean and p99
 * over batches of the layer-mean max/mean rank load) and in-sample (planning half) with planBalance.
 * Also: the same without windows (counts only).
 *
 * Run: node --import tsx bench/budget-heldout.ts [path]
 */
import { batchRankLoad } from '../src/analyze/batch-rank-load.ts';
import { routesToCounts, sliceRoutes, type TokenRoutes } from '../src/core/token-routes.ts';
import { readInput } from '../src/ingest/readers.ts';
import { planBalance } from '../src/plan/lower-bound.ts';
import { solveBallast } from '../src/plan/solvers/ballast/index.ts';
import type { SolveInput } from '../src/plan/solver.ts';
import { ESFT_TASKS, esftRoutes } from '../src/plan/solvers/real-data.ts';

const path = process.argv[2] ?? new URL('../data/demo/esft-law.ballast', import.meta.url).pathname;
const G = 8;
const EB = 8.6e6;
const BATCH = 512;
const BUDGETS_GB = [1.9, 2.0, 2.1, 2.3];

interface Split {
  name: string;
  routes: TokenRoutes;
  plan: [number, number];
  score: [number, number];
}

/** Plan on [a, b), score on [c, d): one window per planning sequence. */
function run(sp: Split, budgetGB: number, variable: boolean, withWindows: boolean) {
  const { routes } = sp;
  const { numLayers: L, numExperts: E } = routes;
  const [a, b] = sp.plan;
  const load = routesToCounts(routes, a, b);
  const bounds: number[] = [];
  for (const s of routes.seqStarts) if (s >= a && s < b) bounds.push(s);
  bounds.push(b);
  const W = bounds.length - 1;
  const windows = new Float64Array(W * L * E);
  for (let w = 0; w < W; w++) windows.set(routesToCounts(routes, bounds[w], bounds[w + 1]), w * L * E);
  const oneCopy = (E / G) * L * EB;
  const input: SolveInput = {
    load,
    windows: withWindows ? windows : undefined,
    numWindows: withWindows ? W : undefined,
    numLayers: L,
    numExperts: E,
    layerIds: Array.from({ length: L }, (_, i) => i),
    numRanks: G,
    numNodes: 1,
    numGroups: 1,
    redundantSlots: 0,
    memoryBudgetBytes: budgetGB * 1e9 - oneCopy,
    expertBytes: EB,
    allowVariableSlots: variable,
    routes: sliceRoutes(routes, a, b),
  };
  const t = performance.now();
  const plan = solveBallast(input);
  const ms = performance.now() - t;
  let extra = 0;
  for (const row of plan.phy2log) extra += (row.length - E) / G;
  const ins = planBalance(load, plan);
  let worst = 0;
  for (const v of ins.maxOverMean) worst = Math.max(worst, v);
  const ho = batchRankLoad(routes, plan, BATCH, { startToken: sp.score[0], endToken: sp.score[1] });
  return { plan, ms, extra, inMean: ins.meanMaxOverMean, inWorst: worst, hoMean: ho.mean, hoP99: ho.p99, batches: ho.perBatch.length };
}

function halves(name: string, routes: TokenRoutes): Split[] {
  const T = routes.numTokens;
  let cut = T;
  for (const s of routes.seqStarts) if (s >= T / 2) { cut = s; break; }
  return [
    { name: `${name} 1st->2nd`, routes, plan: [0, cut], score: [cut, T] },
    { name: `${name} 2nd->1st`, routes, plan: [cut, T], score: [0, cut] },
  ];
}

const demo = await readInput(path);
if (!demo.routes) throw new Error(`${path} has no token routes`);
const r0 = demo.routes;
const main = halves('demo law', r0)[0];
console.log(
  `${path}: ${r0.numLayers} layers x ${r0.numExperts} experts, top-${r0.topK}, ${r0.numTokens} tokens; plan on [${main.plan}), score [${main.score}) in ${BATCH}-token batches; G=${G}, expert ${EB / 1e6} MB; one window per planning sequence`,
);
const fmt = (x: number) => x.toFixed(4);
console.log('budget  windows  mode      extra/GPU  in-sample mean (worst)  held-out mean  p99     solve ms  slots per layer');
for (const withWindows of [true, false]) {
  for (const gb of BUDGETS_GB) {
    for (const variable of [false, true]) {
      const r = run(main, gb, variable, withWindows);
      const per = r.plan.phy2log.map((x) => x.length);
      console.log(
        `${gb.toFixed(1)}GB  ${withWindows ? 'yes' : 'no '}      ${variable ? 'variable' : 'uniform '}  ${String(r.extra).padStart(4)}       ${fmt(r.inMean)} (${fmt(r.inWorst)})        ${fmt(r.hoMean)}         ${fmt(r.hoP99)}  ${r.ms.toFixed(0).padStart(6)}    ${variable ? per.join(',') : String(per[0])}`,
      );
    }
  }
}

// Every ESFT task, both directions: mean over the 6 splits of the held-out per-batch numbers.
const splits: Split[] = [];
for (const task of ESFT_TASKS) splits.push(...halves(task, esftRoutes(task)));
console.log(`\nmean over ${splits.length} splits (ESFT ${ESFT_TASKS.join('/')}, plan on one half, score the other, ${BATCH}-token batches)`);
console.log('budget  windows  uniform mean / p99     variable mean / p99    variable/uniform mean  splits variable better');
for (const withWindows of [true, false]) {
  for (const gb of BUDGETS_GB) {
    let um = 0, up = 0, vm = 0, vp = 0, better = 0;
    for (const sp of splits) {
      const u = run(sp, gb, false, withWindows);
      const v = run(sp, gb, true, withWindows);
      um += u.hoMean / splits.length;
      up += u.hoP99 / splits.length;
      vm += v.hoMean / splits.length;
      vp += v.hoP99 / splits.length;
      if (v.hoMean < u.hoMean) better++;
    }
    console.log(`${gb.toFixed(1)}GB  ${withWindows ? 'yes' : 'no '}      ${fmt(um)} / ${fmt(up)}      ${fmt(vm)} / ${fmt(vp)}      ${(vm / um).toFixed(4)}                 ${better}/${splits.length}`);
  }
}
