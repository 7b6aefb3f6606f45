/**
 * `ballast demo`: the main job end to end on the bundled real trace (DeepSeek ESFT, law task,
 * DeepSeek-V2-Lite architecture: 26 MoE layers x 64 experts, top-6, token-level routes):
 *   1. measure imbalance for 8 GPUs under the engines' default (linear) placement;
 *   2. plan with every solver side by side on the demo cluster (8xH100-SXM);
 *   3. predict held-out: plan on the first half, replay the second half in 512-token batches;
 *   4. the gate's verdict on applying the ballast plan instead of the default.
 * Thin: every number comes from analyze/, plan/ and predict/.
 */
import type { Command } from 'commander';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultPlan } from '../../core/default-placements.ts';
import { InputError } from '../../core/errors.ts';
import { fractionFlag, intFlag } from '../flags.ts';
import { routesToCounts, type TokenRoutes } from '../../core/token-routes.ts';
import { analyzeTrace } from '../../analyze/analyze-trace.ts';
import { readInput } from '../../ingest/readers.ts';
import { loadCluster } from '../../plan/cluster/load.ts';
import { planStats } from '../../plan/plan-stats.ts';
import { getSolver } from '../../plan/solvers/index.ts';
import type { SolveInput } from '../../plan/solver.ts';
import { renderGate } from '../../predict/gate.ts';
import { gatePlan, type PlanGateResult } from '../../predict/plan-gate.ts';
import { loadModelConfig } from '../../predict/model-config.ts';
import { renderSimulation } from '../../predict/render-simulation.ts';
import { guessModel, simulate } from '../../predict/simulate.ts';
import { renderAnalysis } from '../../show/analyze-view.ts';
import { colors, fmt, useColor, wrapText } from '../../show/term.ts';
import { performance } from 'node:perf_hooks';

/** The bundled demo trace (converted from data/esft-dsv2lite/raw/law.tgz by scripts/make-demo-data.ts). */
export const DEMO_TRACE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'data', 'demo', 'esft-law.ballast');

export interface DemoOptions {
  trace: string;
  ranks: number;
  redundant: number;
  cluster: string;
  batchTokens: number;
  trainFraction: number;
}

export interface DemoResult {
  analysis: ReturnType<typeof analyzeTrace>;
  solvers: {
    solver: string;
    /** Balance the solver may give up for locality (ballast only). */
    balanceTolerance?: number;
    redundant: number;
    maxOverMean: number;
    lowerBound: number;
    gapToBound: number;
    distinctRanksPerToken?: number;
    extraHbmBytes?: number;
    solveMs: number;
  }[];
  simulation: Awaited<ReturnType<typeof simulate>>;
  /** Gate verdicts for the ballast plan without replicas and with `redundant` replicas. */
  gates: { redundant: number; gate: PlanGateResult }[];
}

/** Run the demo pipeline and return every result (no printing). */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const data = await readInput(o.trace);
  const { load, routes } = data;
  if (!routes) throw new InputError(o.trace, '', 'the demo needs a trace with token routes');
  const cluster = await loadCluster(o.cluster);
  if (cluster.gpus.length !== o.ranks) {
    throw new InputError('--ranks', '', `the ${o.cluster} cluster has ${cluster.gpus.length} GPUs, not ${o.ranks}`);
  }
  const L = load.numLayers;
  const E = load.numExperts;
  const layerIds = load.meta.layerIds;
  const linear = defaultPlan('linear', L, E, o.ranks, layerIds, cluster.gpusPerNode);

  // 1. Measure under the engines' default placement.
  const analysis = analyzeTrace(load, { ranks: o.ranks, placement: 'linear', routes, batchTokens: o.batchTokens });

  /** SolveInput for planning `counts` [L][E] (with the routes behind them) at R redundant slots. */
  const base = (counts: Float64Array, planRoutes: TokenRoutes, R: number): SolveInput => ({
    load: counts,
    numLayers: L,
    numExperts: E,
    layerIds,
    numRanks: o.ranks,
    numNodes: cluster.numNodes,
    numGroups: 1,
    redundantSlots: R,
    cluster,
    routes: planRoutes,
    batchTokens: o.batchTokens,
  });

  // 2. Plan on the whole trace with every solver (in-sample numbers, like `ballast plan`).
  const whole = routesToCounts(routes);
  const solvers: DemoResult['solvers'] = [];
  const model = guessModel(E, routes.topK, load.meta.model)?.model ?? loadModelConfig('DeepSeek-V2-Lite');
  for (const [name, R, tol] of [
    ['linear', 0, undefined],
    ['round-robin', 0, undefined],
    ['deepseek', o.redundant, undefined],
    ['ballast', o.redundant, undefined],
    ['ballast', o.redundant, 0.02],
  ] as const) {
    const input: SolveInput = {
      ...base(whole, routes, R),
      windows: load.counts,
      numWindows: load.numWindows,
      allowColocatedReplicas: name === 'deepseek',
      balanceTolerance: tol,
    };
    const t0 = performance.now();
    const plan = await getSolver(name).solve(input);
    const solveMs = performance.now() - t0;
    const st = planStats(plan, whole, { current: linear, routes, cluster, expertBytes: undefined });
    solvers.push({
      solver: name,
      balanceTolerance: tol,
      redundant: R,
      maxOverMean: st.maxOverMean ?? Number.NaN,
      lowerBound: st.lowerBound ?? Number.NaN,
      gapToBound: st.gapToBound ?? Number.NaN,
      distinctRanksPerToken: st.distinctRanksPerToken,
      extraHbmBytes: st.extraHbmBytes,
      solveMs,
    });
  }

  // 3. Predict held-out: plan on the first part, replay the rest.
  const simulation = await simulate({
    trace: { path: o.trace, load, routes },
    model,
    cluster,
    redundant: o.redundant,
    policies: ['linear', 'deepseek', 'ballast', 'oracle', 'vllm-eplb'],
    batchTokens: o.batchTokens,
    trainFraction: o.trainFraction,
    oracleSolver: 'ballast',
  });

  // 4. Gate, as `ballast plan` runs it: the ballast plan made on the training part vs the default,
  // scored on the rest.
  const gates: DemoResult['gates'] = [];
  for (const R of o.redundant > 0 ? [0, o.redundant] : [0]) {
    const solveInput = base(whole, routes, R);
    const gate = await gatePlan({
      load,
      routes,
      solveInput,
      solver: getSolver('ballast'),
      current: linear,
      currentName: 'linear',
      model,
      cluster,
      batchTokens: o.batchTokens,
      trainFraction: o.trainFraction,
    });
    gates.push({ redundant: R, gate });
  }
  return { analysis, solvers, simulation, gates };
}

export function renderDemo(r: DemoResult, o: DemoOptions, color: boolean): string {
  const c = colors();
  const h = (s: string) => (color ? c.bold(c.cyan(s)) : s);
  const a = r.analysis;
  const out: string[] = [];
  out.push(h(`ballast demo: ${a.trace.model ?? 'trace'}`));
  out.push(
    `  ${a.trace.layers} MoE layers x ${a.trace.experts} experts, top-${a.trace.topK}, ${a.summary.tokens ?? '?'} tokens; ` +
      'routing recorded by DeepSeek (deepseek-ai/ESFT, MIT) on the law task',
  );
  out.push('');
  out.push(h(`1. Measure: ${o.ranks} GPUs, engines' default (linear) placement`));
  out.push(renderAnalysis(a, { color }));
  out.push('');
  out.push(h(`2. Plan: solvers side by side on ${o.cluster} (in-sample, whole trace)`));
  out.push('  solver                  replicas  max/mean  lower bound  gap     GPUs/token  solve ms');
  for (const s of r.solvers) {
    const label = s.balanceTolerance ? `${s.solver} (locality ${Math.round(s.balanceTolerance * 100)}%)` : s.solver;
    out.push(
      `  ${label.padEnd(22)}  ${String(s.redundant).padStart(8)}  ${fmt(s.maxOverMean, 3).padStart(8)}  ${fmt(s.lowerBound, 3).padStart(11)}  ${`${fmt(s.gapToBound * 100, 1)}%`.padStart(6)}  ${fmt(s.distinctRanksPerToken, 2).padStart(10)}  ${fmt(s.solveMs, 1).padStart(8)}`,
    );
  }
  out.push('  (GPUs/token: distinct GPUs a token is sent to per layer; fewer means less all-to-all traffic.');
  out.push('   "locality 2%": ballast allowed to give up 2% balance to keep co-activated experts together)');
  out.push('');
  out.push(h(`3. Predict: plan on the first ${Math.round(o.trainFraction * 100)}%, replay the rest in ${o.batchTokens}-token batches`));
  out.push(renderSimulation(r.simulation));
  out.push('');
  out.push(h('4. Gate: apply a ballast plan (made on the first part, scored on the rest), or keep the default?'));
  for (const g of r.gates) {
    out.push(`  ballast plan with ${g.redundant} redundant slot${g.redundant === 1 ? '' : 's'} per layer:`);
    out.push(renderGate(g.gate).replace(/^/gm, '  '));
  }
  return out.join('\n');
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('Run the main job (measure, plan, predict, gate) on the bundled real ESFT law trace.')
    .option('--trace <file>', 'use another trace with token routes instead of the bundled one')
    .option('--ranks <G>', 'GPUs (expert-parallel ranks)', '8')
    .option('--redundant <R>', 'redundant expert slots per layer for replica-capable solvers', '8')
    .option('--cluster <preset|file>', 'cluster preset or JSON', '8xH100-SXM')
    .option('--batch-tokens <N>', 'tokens per replayed batch', '512')
    .option('--train-fraction <f>', 'plan on this leading fraction of the tokens, score the rest', '0.5')
    .option('--json', 'print every result as JSON')
    .action(async (f: { trace?: string; ranks: string; redundant: string; cluster: string; batchTokens: string; trainFraction: string; json?: boolean }) => {
      const tf = fractionFlag(f.trainFraction, '--train-fraction')!;
      const o: DemoOptions = {
        trace: f.trace ?? DEMO_TRACE,
        ranks: intFlag(f.ranks, '--ranks', 1)!,
        redundant: intFlag(f.redundant, '--redundant', 0)!,
        cluster: f.cluster,
        batchTokens: intFlag(f.batchTokens, '--batch-tokens', 1)!,
        trainFraction: tf,
      };
      const r = await runDemo(o);
      if (f.json) process.stdout.write(`${JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
      else process.stdout.write(`${wrapText(renderDemo(r, o, useColor()))}\n`);
    });
}
