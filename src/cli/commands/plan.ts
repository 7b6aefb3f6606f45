/**
 * `ballast plan <trace> --ranks G ...`: plan an expert-to-GPU placement from a routing trace
 * (docs/plan.md).
 *
 * `runPlan` does the work (read the trace, check the shape, build the SolveInput, time the solver,
 * validate its plan, score it with `planStats`) and returns everything; `planToReport` gives the
 * --json object and `renderPlanRun` the terminal summary. Impossible shapes are InputErrors naming the
 * numbers, before any solver runs.
 */
import { PRESET_NAMES } from '../../plan/cluster/presets.ts';
import type { Command } from 'commander';
import { performance } from 'node:perf_hooks';
import type { Cluster } from '../../core/cluster.ts';
import { defaultPlan } from '../../core/default-placements.ts';
import { InputError } from '../../core/errors.ts';
import { checkPlanMatchesTrace, type Plan, uniformSlots, validatePlan } from '../../core/plan.ts';
import { type InputData, readInput } from '../../ingest/readers.ts';
import { loadCluster } from '../../plan/cluster/load.ts';
import { layerRankLoads, planBalance } from '../../plan/lower-bound.ts';
import { readPlanFile, writePlanFile } from '../../plan/plan-file.ts';
import { type FullPlanStats, planStats } from '../../plan/plan-stats.ts';
import type { SolveInput } from '../../plan/solver.ts';
import { checkSolveInput } from '../../plan/solvers/check-input.ts';
import { getSolver, SOLVERS } from '../../plan/solvers/index.ts';
import pc from 'picocolors';
import { fractionFlag } from '../flags.ts';
import { renderGate } from '../../predict/gate.ts';
import { loadModelConfig } from '../../predict/model-config.ts';
import type { PlanGateResult } from '../../predict/plan-gate.ts';
import { runPlanGate } from '../../predict/plan-gate-run.ts';
import { solveInputForTrace } from '../../plan/solve-input.ts';
import { bar, fmt, useColor, wrapText } from '../../show/term.ts';
import { planForReorder, type ReorderPlanReport, renderReorderPlan, routingForModel } from '../../act/reorder/plan-for-reorder.ts';
import { nextSteps } from '../../act/next-steps.ts';
import { DEFAULT_DECODE_TOKENS, DEFAULT_PREFILL_TOKENS, type PhaseFlags, phasePlanToReport, renderPhasePlanRun, runPhasePlan } from './plan-phase.ts';

/** Parsed options of `ballast plan`. */
export interface PlanOptions {
  trace: string;
  format?: string;
  /** EP size G; defaults to the cluster's GPU count. */
  ranks?: number;
  nodes?: number;
  groups?: number;
  redundant?: number;
  /** HBM per GPU for expert weights of all MoE layers (one copy of each plus replicas), bytes. */
  memoryBudget?: number;
  expertBytes?: number;
  /** Preset name, cluster JSON path, or 'discover'. */
  cluster?: string;
  solver?: string;
  /** Path of the plan in force now (any plan form). */
  current?: string;
  allowColocatedReplicas?: boolean;
  /** Let the solver choose a slot count per layer (under --memory-budget). */
  variableSlots?: boolean;
  balanceTolerance?: number;
  seed?: number;
  out?: string;
  /** Run the gate (default true). */
  gate?: boolean;
  /** Model preset or config.json for the gate's cost model (default: guessed from the trace shape). */
  model?: string;
  /** Tokens per step for the gate's replay (default 512). */
  batchTokens?: number;
  /** Gate: share of the trace the judged plan is made on (default 0.5). */
  trainFraction?: number;
  /** Gate: steps a placement stays in force, to amortise the move (default 3000). */
  horizonSteps?: number;
  /** Gate: HBM per GPU free for replicas, bytes (default: the cluster's). */
  hbmHeadroom?: number;
  /** Gate: the MoE layers are served with tensor parallelism. */
  moeTp?: boolean;
  /** 'reorder': a plan `ballast reorder` can carry out (config.json's routing constraints, from --model). */
  for?: 'reorder';
}

export interface PlanRun {
  plan: Plan;
  stats: FullPlanStats;
  /** Solver time only, ms (performance.now() around solve()). */
  solveMs: number;
  input: SolveInput;
  data: InputData;
  cluster?: Cluster;
  current?: Plan;
  /** The placement the new plan is compared with: --current, else the engines' linear default. */
  reference?: { name: string; maxOverMean: number };
  /** The gate's verdict on applying this solver's plan (plan-gate.ts), when it could run. */
  gate?: PlanGateResult;
  /** Why there is no gate, or how its model was chosen. */
  gateNotes: string[];
  /** --for reorder: what the routing constraint costs (act/reorder/plan-for-reorder.ts). */
  reorder?: ReorderPlanReport;
}

export const DEFAULT_SOLVER = 'ballast';

/** Read, check, solve and score. Throws InputError for bad input or impossible shapes. */
export async function runPlan(opts: PlanOptions): Promise<PlanRun> {
  const solver = getSolver(opts.solver ?? DEFAULT_SOLVER);
  const cluster = opts.cluster !== undefined ? loadCluster(opts.cluster) : undefined;
  // The gate's model is read before anything is solved or written, so a bad --model stops early.
  const gateModel = opts.gate !== false && opts.model !== undefined ? loadModelConfig(opts.model) : undefined;
  // --for reorder reads config.json's routing before anything is solved; no replicas.
  const reorderRouting = opts.for === 'reorder' ? routingForModel(opts.model) : undefined;
  if (reorderRouting && ((opts.redundant ?? 0) > 0 || opts.memoryBudget !== undefined || opts.variableSlots)) {
    throw new InputError('--for', '', 'reorder plans have one slot per expert: drop --redundant, --memory-budget and --variable-slots');
  }
  const data = await readInput(opts.trace, { format: opts.format });
  const trace = data.load;
  const { numLayers: L, numExperts: E } = trace;

  const G = opts.ranks ?? cluster?.gpus.length;
  if (G === undefined) throw new InputError('--ranks', '', 'expected the EP size: --ranks G (or a --cluster to take it from)');
  if (cluster && cluster.gpus.length !== G) {
    throw new InputError('--ranks', '', `--ranks ${G} but the cluster ${cluster.name} has ${cluster.gpus.length} GPUs (${cluster.numNodes} nodes x ${cluster.gpusPerNode}); they must match`);
  }
  if (cluster && opts.nodes !== undefined && opts.nodes !== cluster.numNodes) {
    throw new InputError('--nodes', '', `--nodes ${opts.nodes} but the cluster ${cluster.name} has ${cluster.numNodes} nodes`);
  }
  const numNodes = opts.nodes ?? cluster?.numNodes ?? 1;
  if (G % numNodes !== 0) throw new InputError('--nodes', '', `${numNodes} nodes do not divide ${G} GPUs; expected a node count that divides ${G}`);
  const numGroups = opts.groups ?? 1;
  if (E % numGroups !== 0) throw new InputError('--groups', '', `${numGroups} expert groups do not divide ${E} experts; expected a group count that divides ${E}`);

  let redundant = opts.redundant ?? 0;
  let extraBudget: number | undefined;
  if (opts.memoryBudget !== undefined) {
    const eb = opts.expertBytes;
    if (eb === undefined) throw new InputError('--expert-bytes', '', '--memory-budget needs --expert-bytes B (bytes of one expert in one layer)');
    const oneCopy = (E / G) * L * eb;
    if (opts.memoryBudget < oneCopy) {
      throw new InputError(
        '--memory-budget',
        '',
        `${opts.memoryBudget} bytes per GPU is below one copy of each expert: ${E} experts / ${G} GPUs x ${L} layers x ${eb} bytes = ${oneCopy} bytes`,
      );
    }
    extraBudget = opts.memoryBudget - oneCopy;
    if (opts.redundant === undefined) redundant = uniformRedundantUnderBudget(E, G, L, eb, extraBudget);
  }
  if (opts.variableSlots && opts.memoryBudget === undefined) {
    throw new InputError('--variable-slots', '', 'needs --memory-budget (the slots per layer are chosen under it)');
  }

  let current: Plan | undefined;
  if (opts.current !== undefined) {
    current = readPlanFile(opts.current, { numRanks: G, numExperts: E, numLayers: L, layerIds: trace.meta.layerIds, ranksPerNode: G / numNodes });
    checkPlanMatchesTrace(current, L, E, opts.current);
    if (current.numRanks !== G) throw new InputError(opts.current, '', `the current plan is for ${current.numRanks} ranks but --ranks is ${G}`);
  }

  const input = solveInputForTrace(trace, data.routes, {
    numRanks: G,
    numNodes,
    numGroups,
    redundantSlots: redundant,
    memoryBudgetBytes: extraBudget,
    expertBytes: opts.expertBytes,
    allowVariableSlots: opts.variableSlots ?? false,
    cluster,
    current,
    allowColocatedReplicas: opts.allowColocatedReplicas ?? false,
    balanceTolerance: opts.balanceTolerance,
    seed: opts.seed,
    batchTokens: opts.batchTokens,
  });
  const load = input.load;
  checkSolveInput(input);

  const t0 = performance.now();
  let plan = await solver.solve(input);
  const solveMs = performance.now() - t0;

  try {
    validatePlan(plan, `solver ${solver.name}`);
    checkPlanMatchesTrace(plan, L, E, `solver ${solver.name}`);
  } catch (e) {
    throw new Error(`solver ${solver.name} produced an invalid plan: ${(e as Error).message}`);
  }
  if (plan.numRanks !== G) throw new Error(`solver ${solver.name} produced a plan for ${plan.numRanks} ranks, not ${G}`);
  if (trace.meta.model && !plan.model) plan.model = trace.meta.model;
  // Engine files are indexed by decoder layer (SGLang: num_hidden_layers rows); carry the count the
  // trace recorded so `ballast export` need not guess it (src/act/export/decoder-layers.ts).
  const nhl = trace.meta.extra?.num_hidden_layers ?? trace.meta.extra?.numHiddenLayers;
  if (Number.isInteger(nhl) && (nhl as number) > 0 && plan.params?.num_hidden_layers === undefined) {
    plan.params = { ...(plan.params ?? {}), num_hidden_layers: nhl as number };
  }
  let reorder: ReorderPlanReport | undefined;
  if (reorderRouting) ({ plan, report: reorder } = planForReorder(plan, load, reorderRouting));
  const stats = planStats(plan, load, { current, expertBytes: opts.expertBytes, routes: data.routes, cluster });
  plan.stats = stats;

  let reference: PlanRun['reference'];
  if (current) reference = { name: 'current', maxOverMean: planBalance(load, current).meanMaxOverMean };
  else if (E % G === 0 && plan.solver !== 'linear') {
    reference = { name: 'linear', maxOverMean: planBalance(load, defaultPlan('linear', L, E, G, trace.meta.layerIds, G / numNodes)).meanMaxOverMean };
  }
  if (opts.out !== undefined) writePlanFile(opts.out, plan);
  let gate: PlanGateResult | undefined;
  let gateNotes: string[] = [];
  if (opts.gate !== false) {
    ({ gate, notes: gateNotes } = await runPlanGate({
      load: trace,
      routes: data.routes,
      plan,
      solveInput: input,
      solver,
      cluster,
      current,
      numNodes,
      model: gateModel,
      batchTokens: opts.batchTokens,
      trainFraction: opts.trainFraction,
      horizonSteps: opts.horizonSteps,
      hbmHeadroomBytes: opts.hbmHeadroom,
      moeTp: opts.moeTp,
    }));
  }
  return { plan, stats, solveMs, input, data, cluster, current, reference, gate, gateNotes, reorder };
}

/**
 * Redundant slots per layer, the same in every layer, that fit `extraBytes` per GPU: each layer needs
 * P0 = ceil(E/G)*G slots; every further G slots cost expertBytes per GPU per layer.
 * Returns R = P - E (>= P0 - E).
 */
export function uniformRedundantUnderBudget(E: number, G: number, L: number, expertBytes: number, extraBytes: number): number {
  const P0 = Math.ceil(E / G) * G;
  const padBytes = ((P0 - E) / G) * L * expertBytes;
  if (padBytes > extraBytes + 1e-6) {
    throw new InputError(
      '--memory-budget',
      '',
      `${E} experts over ${G} GPUs need ${P0} slots per layer; the ${P0 - E} padding slots over ${L} layers need ${padBytes} more bytes per GPU than one copy of each expert, and the budget leaves ${extraBytes}`,
    );
  }
  const steps = Math.floor((extraBytes - padBytes) / (L * expertBytes) + 1e-9);
  const maxSteps = Math.floor((E * G - P0) / G); // at most G replicas of every expert
  return P0 - E + Math.min(steps, maxSteps) * G;
}

/** Slot count: one number when every layer has the same P, else P per layer. */
function slotCounts(plan: Plan): number | number[] {
  return uniformSlots(plan) ? plan.phy2log[0].length : plan.phy2log.map((r) => r.length);
}

/** The --json object: { plan: {...}, stats, timing: { solveMs } }. */
export function planToReport(run: PlanRun, out?: string): object {
  const { plan } = run;
  const slots = slotCounts(plan);
  return {
    plan: {
      solver: plan.solver,
      model: plan.model,
      trace: run.data.path,
      traceFormat: run.data.format,
      traceIncomplete: run.data.load.meta.sources.find((s) => s.incomplete)?.incomplete ?? null,
      numLayers: plan.numLayers,
      numExperts: plan.numExperts,
      numRanks: plan.numRanks,
      numNodes: plan.numRanks / plan.ranksPerNode,
      ranksPerNode: plan.ranksPerNode,
      numGroups: run.input.numGroups,
      numSlots: slots,
      redundantSlots: typeof slots === 'number' ? slots - plan.numExperts : slots.map((p) => p - plan.numExperts),
      allowColocatedReplicas: plan.allowColocatedReplicas ?? false,
      cluster: run.cluster?.name,
      layerIds: plan.layerIds,
      params: plan.params,
      out,
      phy2log: plan.phy2log.map((r) => Array.from(r)),
    },
    stats: run.stats,
    reference: run.reference,
    gate: run.gate,
    gateNotes: run.gateNotes,
    traceWarnings: run.data.warnings,
    reorder: run.reorder,
    timing: { solveMs: run.solveMs },
  };
}

function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** Terminal summary: solver and shape, balance vs bound, moves, HBM, fan-out, worst layer's rank loads. */
export function renderPlanRun(run: PlanRun, opts: { color?: boolean; out?: string } = {}): string {
  const c = pc.createColors(opts.color ?? false);
  const { plan, stats } = run;
  const slots = slotCounts(plan);
  const nodes = plan.numRanks / plan.ranksPerNode;
  const lines: string[] = [];
  const slotText = typeof slots === 'number' ? `${slots} slots (${slots - plan.numExperts} redundant)` : `${Math.min(...slots)}-${Math.max(...slots)} slots per layer`;
  lines.push(`${c.bold('plan')}  solver ${c.cyan(plan.solver ?? '?')}  ${plan.numLayers} layers x ${plan.numExperts} experts -> ${plan.numRanks} GPUs${nodes > 1 ? ` on ${nodes} nodes` : ''}, ${slotText}${run.cluster ? `  cluster ${run.cluster.name}` : ''}`);
  lines.push(`  trace      ${run.data.path} (${run.data.format})`);
  for (const s of run.data.load.meta.sources) if (s.incomplete) lines.push(`  trace      ${s.incomplete}`);
  const ref = run.reference ? `   ${run.reference.name} ${fmt(run.reference.maxOverMean, 3)}` : '';
  lines.push(`  max/mean   ${c.bold(fmt(stats.maxOverMean, 3))} in-sample (mean over layers)   bound ${fmt(stats.lowerBound, 3)}   gap ${fmt(stats.gapToBound * 100, 2)}%${ref}`);
  if (stats.speedAdjustedMaxOverMean !== undefined) {
    lines.push(`  speeds     ${fmt(stats.speedAdjustedMaxOverMean, 3)} slowest GPU time / time of a speed-proportional split (GPUs differ in speed)`);
  }
  if (stats.expertsMoved !== undefined) {
    lines.push(`  moved      ${stats.expertsMoved} expert replicas vs current${stats.movedBytes !== undefined ? ` (${bytes(stats.movedBytes)})` : ''}`);
  }
  lines.push(`  extra HBM  ${stats.extraSlotsPerRank} slots per GPU over all layers${stats.extraHbmBytes !== undefined ? ` = ${bytes(stats.extraHbmBytes)} per GPU` : ''}`);
  if (stats.distinctRanksPerToken !== undefined) {
    lines.push(`  fan-out    ${fmt(stats.distinctRanksPerToken, 2)} distinct GPUs per token${nodes > 1 ? `, ${fmt(stats.distinctNodesPerToken, 2)} nodes` : ''}`);
  }
  if (plan.allowColocatedReplicas && !run.input.allowColocatedReplicas) {
    lines.push(c.yellow('  note       this plan puts two replicas of one expert on one GPU (the solver allowed it)'));
  }
  lines.push(`  solve      ${fmt(run.solveMs, 1)} ms`);
  if (run.reorder) lines.push(...renderReorderPlan(run.reorder));
  // Worst layer's rank loads.
  const l = stats.worstLayer;
  const E = plan.numExperts;
  const loads = layerRankLoads(run.input.load.subarray(l * E, (l + 1) * E), plan.phy2log[l], plan.numRanks);
  let max = 0;
  let sum = 0;
  for (const v of loads) {
    max = Math.max(max, v);
    sum += v;
  }
  const mean = sum / loads.length;
  lines.push(`  worst layer ${plan.layerIds[l]} (index ${l}): max/mean ${fmt(stats.worstMaxOverMean, 3)}`);
  if (plan.numRanks <= 16) {
    const w = String(plan.numRanks - 1).length;
    loads.forEach((v, r) => {
      const x = mean > 0 ? v / mean : 0;
      const b = bar(v, max, 30).padEnd(30);
      lines.push(`    gpu ${String(r).padStart(w)} ${x > 1.05 ? c.red(b) : b} ${fmt(x, 2)}x`);
    });
  } else {
    const ticks = '▁▂▃▄▅▆▇█';
    const spark = Array.from(loads, (v) => ticks[max > 0 ? Math.min(7, Math.floor((v / max) * 7.999)) : 0]).join('');
    lines.push(`    ${spark}  (GPU 0..${plan.numRanks - 1}; max ${fmt(max / mean, 2)}x mean)`);
  }
  if (run.gate) {
    const g = run.gate;
    const verdict = g.verdict === 'apply' ? c.green(c.bold('APPLY')) : c.yellow(c.bold('KEEP CURRENT'));
    lines.push(`  gate       ${verdict} vs ${g.against}: ${g.heldOut ? `a ${plan.solver} plan made on ${g.plannedOn}, scored on the rest` : 'in-sample, scored on the trace the plan was made on (too short to hold a part out)'}`);
    lines.push(renderGate(g).split('\n').slice(1).map((x) => `  ${x}`).join('\n'));
  }
  for (const n of run.data.warnings) lines.push(c.yellow(`  note       ${n}`));
  for (const n of run.gateNotes) lines.push(c.dim(`  note       ${n}`));
  lines.push(...nextSteps({ plan, verdict: run.gate?.verdict, out: opts.out }));
  return lines.join('\n');
}

const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** Parse "42", "44MB", "2.5GiB" into bytes. */
export function parseBytes(s: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(s);
  const unit = m ? (m[2] === '' ? 'b' : m[2].toLowerCase()) : '';
  if (!m || BYTE_UNITS[unit] === undefined) throw new InputError(flag, '', `expected a byte count such as 44000000, 44MB or 2.5GiB, got "${s}"`);
  return Math.round(Number(m[1]) * BYTE_UNITS[unit]);
}

function intFlag(s: string | undefined, flag: string, min: number): number | undefined {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s.trim()) || Number(s) < min) throw new InputError(flag, '', `expected an integer >= ${min}, got "${s}"`);
  return Number(s);
}

interface PlanFlags {
  format?: string;
  ranks?: string;
  nodes?: string;
  groups?: string;
  redundant?: string;
  memoryBudget?: string;
  expertBytes?: string;
  cluster?: string;
  solver: string;
  current?: string;
  allowColocatedReplicas?: boolean;
  variableSlots?: boolean;
  balanceTolerance?: string;
  seed?: string;
  out?: string;
  json?: boolean;
  gate?: boolean;
  model?: string;
  batchTokens?: string;
  trainFraction?: string;
  horizonSteps?: string;
  hbmHeadroom?: string;
  moeTp?: boolean;
  for?: string;
  phase?: string;
  prefillTokens?: string;
  decodeTokens?: string;
  decodePerPrefill?: string;
  anyPhase?: boolean;
}

/** --phase and its step-size flags (plan-phase.ts); undefined without --phase (InputError if its flags are given alone). */
export function phaseFlagsFrom(f: PlanFlags): PhaseFlags | undefined {
  const prefillTokens = intFlag(f.prefillTokens, '--prefill-tokens', 1);
  const decodeTokens = intFlag(f.decodeTokens, '--decode-tokens', 1);
  let decodePerPrefill: number | undefined;
  if (f.decodePerPrefill !== undefined) {
    decodePerPrefill = Number(f.decodePerPrefill);
    if (!(decodePerPrefill >= 0) || !Number.isFinite(decodePerPrefill)) throw new InputError('--decode-per-prefill', '', `expected a non-negative number, got "${f.decodePerPrefill}"`);
  }
  if (f.phase === undefined) {
    const stray = [['--prefill-tokens', prefillTokens], ['--decode-tokens', decodeTokens], ['--decode-per-prefill', decodePerPrefill], ['--any-phase', f.anyPhase]].find(([, v]) => v !== undefined);
    if (stray) throw new InputError(String(stray[0]), '', 'needs --phase prefill|decode|mix');
    return undefined;
  }
  return { phase: f.phase, prefillTokens, decodeTokens, decodePerPrefill, anyPhase: f.anyPhase };
}

/** Turn the command's string flags into PlanOptions (InputError on malformed numbers). */
export function planOptionsFromFlags(trace: string, f: PlanFlags): PlanOptions {
  let tol: number | undefined;
  if (f.balanceTolerance !== undefined) {
    tol = Number(f.balanceTolerance);
    if (!(tol >= 0 && tol < 1)) throw new InputError('--balance-tolerance', '', `expected a fraction in [0, 1), got "${f.balanceTolerance}"`);
  }
  const expertBytes = f.expertBytes !== undefined ? parseBytes(f.expertBytes, '--expert-bytes') : undefined;
  if (expertBytes === 0) throw new InputError('--expert-bytes', '', 'expected a positive byte count');
  if (f.for !== undefined && f.for !== 'reorder') throw new InputError('--for', '', `expected "reorder", got "${f.for}"`);
  return {
    for: f.for as 'reorder' | undefined,
    trace,
    format: f.format,
    ranks: intFlag(f.ranks, '--ranks', 1),
    nodes: intFlag(f.nodes, '--nodes', 1),
    groups: intFlag(f.groups, '--groups', 1),
    redundant: intFlag(f.redundant, '--redundant', 0),
    memoryBudget: f.memoryBudget !== undefined ? parseBytes(f.memoryBudget, '--memory-budget') : undefined,
    expertBytes,
    cluster: f.cluster,
    solver: f.solver,
    current: f.current,
    allowColocatedReplicas: f.allowColocatedReplicas,
    variableSlots: f.variableSlots,
    balanceTolerance: tol,
    seed: intFlag(f.seed, '--seed', 0),
    out: f.out,
    gate: f.gate,
    model: f.model,
    batchTokens: intFlag(f.batchTokens, '--batch-tokens', 1),
    trainFraction: fractionFlag(f.trainFraction, '--train-fraction'),
    horizonSteps: intFlag(f.horizonSteps, '--horizon-steps', 1),
    hbmHeadroom: f.hbmHeadroom !== undefined ? parseBytes(f.hbmHeadroom, '--hbm-headroom') : undefined,
    moeTp: f.moeTp,
  };
}

export function register(program: Command): void {
  program
    .command('plan')
    .description('Plan an expert-to-GPU placement from a routing trace.')
    .argument('<trace>', 'routing trace (any format `ballast` reads)')
    .option('--format <name>', 'trace format (default: detected from the content)')
    .option('--ranks <G>', 'EP size: number of GPUs (default: the cluster\'s GPU count)')
    .option('--nodes <N>', 'nodes (must divide G; default: the cluster\'s, else 1)')
    .option('--groups <K>', 'expert groups for hierarchical solvers (must divide E; default 1)')
    .option('--redundant <R>', 'redundant slots per layer: P = E + R must divide by G (default 0)')
    .option('--memory-budget <bytes>', 'HBM per GPU for the expert weights of all MoE layers (one copy of each expert plus replicas), e.g. 40GB')
    .option('--expert-bytes <bytes>', 'bytes of one expert in one layer, e.g. 44MB')
    .option('--variable-slots', 'let the solver choose slots per layer under --memory-budget (exports: ballast JSON or deepseek only)')
    .option('--cluster <spec>', `cluster: a preset (${PRESET_NAMES.join(', ')}), a JSON file, or "discover"`)
    .option('--solver <name>', `placement solver (${SOLVERS.map((s) => s.name).join(', ')})`, DEFAULT_SOLVER)
    .option('--current <plan>', 'placement in force now (any plan form), to count and limit moves')
    .option('--allow-colocated-replicas', 'allow two replicas of one expert on one GPU')
    .option('--balance-tolerance <f>', 'balance the solver may give up for locality (fraction; default 0 = only locality that costs no balance; e.g. 0.02)')
    .option('--seed <n>', 'seed for randomised solver steps')
    .option('--out <file>', 'write the plan as ballast plan JSON')
    .option('--model <preset|config.json>', 'model for the gate\'s cost model (default: guessed from the trace shape)')
    .option('--batch-tokens <N>', 'tokens per engine step: what ballast plans per-step balance for and the gate replays (default 512)')
    .option('--train-fraction <f>', 'gate: plan on this share of the trace, score the rest (default 0.5)')
    .option('--horizon-steps <N>', 'gate: steps a placement stays in force, to amortise moving replicas (default 3000)')
    .option('--hbm-headroom <bytes>', 'gate: HBM per GPU free for replicas (default: the cluster\'s)')
    .option('--moe-tp', 'gate: the MoE layers are served with tensor parallelism (nothing to rebalance; a capture that saw this records it)')
    .option('--phase <p>', 'plan for a serving phase by predicted step time: prefill, decode, mix, or a list (prefill,decode: one plan file per instance role for disaggregated serving)')
    .option('--prefill-tokens <N>', `--phase: tokens per prefill step (default ${DEFAULT_PREFILL_TOKENS})`)
    .option('--decode-tokens <N>', `--phase: tokens per decode step (default ${DEFAULT_DECODE_TOKENS})`)
    .option('--decode-per-prefill <m>', '--phase mix: decode steps per prefill step (default: measured from the recorded phases)')
    .option('--any-phase', '--phase prefill|decode on a trace that does not record phase: plan all of it as that phase\'s traffic')
    .option('--no-gate', 'skip the gate (apply / keep current)')
    .option('--for <target>', 'reorder: a plan `ballast reorder` can carry out, under the routing constraints of --model\'s config.json (group-limited routing, hash layers); reports what the constraint costs')
    .option('--json', 'print {plan, stats, gate, timing} as JSON')
    .action(async (trace: string, flags: PlanFlags) => {
      const opts = planOptionsFromFlags(trace, flags);
      const pf = phaseFlagsFrom(flags);
      if (pf && opts.for !== undefined) throw new InputError('--for', '', '--for reorder makes one plan for the checkpoint; it does not combine with --phase');
      if (pf) {
        const pr = await runPhasePlan(opts, pf);
        if (flags.json) process.stdout.write(`${JSON.stringify(phasePlanToReport(pr), null, 2)}\n`);
        else process.stdout.write(`${wrapText(renderPhasePlanRun(pr))}\n`);
        return;
      }
      const run = await runPlan(opts);
      if (flags.json) process.stdout.write(`${JSON.stringify(planToReport(run, opts.out), null, 2)}\n`);
      else process.stdout.write(`${wrapText(renderPlanRun(run, { color: useColor(process.stdout), out: opts.out }))}\n`);
    });
}
