/**
 * Builders of the report model (model.ts) from ballast's inputs.
 *
 *   classifyInputs(paths)          -> { traces, plans, simulations, reports }: each path read as a
 *                                     ballast report JSON, a plan (any form readPlanFile accepts), a
 *                                     simulation JSON, or else a trace through readInput.
 *   buildTraceView(input, opts)    -> TraceView: heatmap [L][E] of load / layer mean, expert max/mean
 *                                     per layer, current vs recommended placement, per-batch series.
 *   buildReportModel(inputs, opts) -> ReportModel, solving for a recommended plan with the default
 *                                     solver when a trace has none and this build has solvers.
 */
import { captureInfo, captureLabel } from '../../core/capture-info.ts';
import { phaseColumns } from './phases.ts';
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { InputError } from '../../core/errors.ts';
import { defaultPlan } from '../../core/default-placements.ts';
import { type LoadTrace, totalCounts } from '../../core/load-trace.ts';
import { checkPlanMatchesTrace, type Plan } from '../../core/plan.ts';
import type { TokenRoutes } from '../../core/token-routes.ts';
import { readInput, type InputData } from '../../ingest/readers.ts';
import { readPlanFile } from '../../plan/plan-file.ts';
import type { PlacementSolver, SolveInput } from '../../plan/solver.ts';
import { maxOverMean } from '../../analyze/max-over-mean.ts';
import { batchRankLoad } from '../../analyze/batch-rank-load.ts';
import {
  type GateView,
  type HeatmapView,
  type PlanSummary,
  REPORT_FORMAT,
  type ReportModel,
  type SeriesView,
  type SimulationView,
  type TraceMetaView,
  type TraceView,
} from './model.ts';
import { expertsMoved, perWindowMaxOverMean, placementView } from './placement-load.ts';
import { getSolver, SOLVERS } from '../../plan/solvers/index.ts';
import { checkSolveInput } from '../../plan/solvers/check-input.ts';
import { solveInputForTrace } from '../../plan/solve-input.ts';
import { loadCluster } from '../../plan/cluster/load.ts';
import type { Cluster } from '../../core/cluster.ts';
import { type Prediction, tryPredict } from './predict.ts';

export interface ReportInputs {
  traces: InputData[];
  plans: { path: string; plan: Plan }[];
  simulations: { path: string; json: Record<string, unknown> }[];
  reports: { path: string; model: ReportModel }[];
}

export interface BuildOptions {
  title?: string;
  /** EP size for the current placement when no plan gives one (default 8, or the largest divisor of E below it). */
  ranks?: number;
  /** Current placement (default: linear over `ranks`). */
  current?: Plan;
  /** Solver for the recommended plan when none is given (default 'ballast'); 'none' to skip. */
  solver?: string;
  /** Redundant slots per layer for the solver (default 0). */
  redundantSlots?: number;
  /** Tokens per batch for the per-batch replay of token routes. */
  batchTokens?: number;
  /** Model preset or config.json for predicted time and the gate (default: guessed from the trace). */
  model?: string;
  /** Cluster preset or JSON for the cost model (default: H100 nodes). */
  cluster?: string;
  /** Skip predicted time and the gate. */
  noPredict?: boolean;
  /** Clock for createdMs (tests). */
  now?: number;
}

/** Tokens per batch for the replayed series and the gate when not given. */
export const REPORT_BATCH_TOKENS = 512;

function readJsonIfSmall(path: string): unknown {
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size > 256 * 1024 * 1024) return undefined;
    const head = readFileSync(path, { encoding: 'utf8', flag: 'r' }).trimStart();
    if (!head.startsWith('{')) return undefined;
    return JSON.parse(head);
  } catch {
    return undefined;
  }
}

/** True for the JSON `ballast simulate --json` writes (format tag, or the fields it is known by). */
export function isSimulationJson(json: unknown): boolean {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return false;
  const o = json as Record<string, unknown>;
  return o.format === 'ballast-simulation' || (typeof o.format === 'string' && o.format.includes('simulat')) || 'policies' in o;
}

/** Read every path and sort it into traces, plans, simulations and saved report models. */
export async function classifyInputs(paths: string[], opts: { warn?: (s: string) => void } = {}): Promise<ReportInputs> {
  const out: ReportInputs = { traces: [], plans: [], simulations: [], reports: [] };
  for (const path of paths) {
    const json = readJsonIfSmall(path) as Record<string, unknown> | undefined;
    if (json && json.format === REPORT_FORMAT) {
      out.reports.push({ path, model: json as unknown as ReportModel });
      continue;
    }
    if (json && isSimulationJson(json)) {
      out.simulations.push({ path, json });
      continue;
    }
    if (json && json.format === 'ballast-plan') {
      out.plans.push({ path, plan: readPlanFile(path) });
      continue;
    }
    if (json) {
      // Engine plan forms (physical_to_logical_map, expert_to_ep_rank, phy2log...) before traces.
      try {
        out.plans.push({ path, plan: readPlanFile(path) });
        continue;
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
      }
    }
    out.traces.push(await readInput(path, { warn: opts.warn }));
  }
  return out;
}

const sig = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(4)) : 0);

export function heatmapView(load: LoadTrace, total = totalCounts(load)): HeatmapView {
  const { numLayers: L, numExperts: E } = load;
  const values: number[] = new Array(L * E);
  const rowTotals: number[] = [];
  for (let l = 0; l < L; l++) {
    let s = 0;
    for (let e = 0; e < E; e++) s += total[l * E + e];
    rowTotals.push(s);
    const m = s / E;
    for (let e = 0; e < E; e++) values[l * E + e] = m > 0 ? sig(total[l * E + e] / m) : 0;
  }
  return { rows: L, cols: E, rowLabels: [...load.meta.layerIds], values, rowTotals };
}

export function traceMetaView(input: InputData, total: Float64Array): TraceMetaView {
  const load = input.load;
  let sum = 0;
  for (const v of total) sum += v;
  const tokensKnown = load.windows.length > 0 && load.windows.every((w) => typeof w.tokens === 'number');
  const capture = captureInfo(load.meta);
  return {
    label: basename(input.path),
    path: input.path,
    format: input.format,
    model: load.meta.model,
    numLayers: load.numLayers,
    numExperts: load.numExperts,
    numWindows: load.numWindows,
    layerIds: [...load.meta.layerIds],
    topK: load.meta.topK ?? input.routes?.topK,
    phase: load.meta.phase,
    attribution: load.meta.attribution,
    sources: load.meta.sources.map((s) => ({ path: s.path, format: s.format })),
    ...(capture ? { capture: captureLabel(capture) } : {}),
    totalAssignments: sum,
    tokens: input.routes ? input.routes.numTokens : tokensKnown ? load.windows.reduce((s, w) => s + (w.tokens ?? 0), 0) : undefined,
    hasRoutes: Boolean(input.routes),
    warnings: [...input.warnings],
  };
}

/** Default EP size for a trace: `wanted` (default 8) if it divides E, else the largest divisor of E below it. */
export function defaultRanks(numExperts: number, wanted = 8): number {
  for (let g = Math.min(wanted, numExperts); g >= 1; g--) if (numExperts % g === 0) return g;
  return 1;
}

export interface TraceViewOptions {
  current: Plan;
  recommended?: Plan;
  recommendedLabel?: string;
  gate?: GateView;
  batchTokens?: number;
}

/** Largest W * L * P the per-window series computes window by window before grouping windows. */
const PER_WINDOW_BUDGET = 40_000_000;

function timeSeries(input: InputData, plans: { label: string; plan: Plan }[], batchTokens: number): SeriesView[] {
  const out: SeriesView[] = [];
  const routes: TokenRoutes | undefined = input.routes;
  if (routes && routes.numTokens >= batchTokens) {
    const series = plans.map((p) => ({ label: p.label, values: Array.from(batchRankLoad(routes, p.plan, batchTokens).perBatch, sig) }));
    const B = series[0]?.values.length ?? 0;
    out.push({
      title: `Per-batch straggler factor (replay of ${routes.numTokens} tokens in batches of ${batchTokens})`,
      xName: 'batch',
      xLabel: `batch (${batchTokens} tokens each)`,
      yLabel: 'max / mean rank load',
      unit: '×',
      x: Array.from({ length: B }, (_, i) => i),
      series,
    });
  }
  const load = input.load;
  if (load.numWindows > 1) {
    const P = Math.max(...plans.map((p) => p.plan.phy2log[0]?.length ?? load.numExperts));
    const cost = load.numWindows * load.numLayers * P * plans.length;
    const group = Math.max(1, Math.ceil(cost / PER_WINDOW_BUDGET));
    const grouped = group > 1 ? groupWindows(load, group) : load;
    const series = plans.map((p) => ({ label: p.label, values: perWindowMaxOverMean(grouped, p.plan).map(sig) }));
    const steps = grouped.windows.map((w, i) => (typeof w.step === 'number' ? w.step : i));
    const monotone = steps.every((s, i) => i === 0 || s > steps[i - 1]);
    out.push({
      title: 'Per-window straggler factor',
      xName: monotone ? 'step' : 'window',
      xLabel: monotone ? 'window (step)' : 'window',
      yLabel: 'max / mean rank load',
      unit: '×',
      x: monotone ? steps : steps.map((_, i) => i),
      series,
      note: group > 1 ? `windows grouped ${group} at a time to keep the report fast` : undefined,
    });
  }
  return out;
}

function groupWindows(load: LoadTrace, group: number): LoadTrace {
  const per = load.numLayers * load.numExperts;
  const W = Math.ceil(load.numWindows / group);
  const counts = new Float64Array(W * per);
  for (let w = 0; w < load.numWindows; w++) {
    const g = Math.floor(w / group);
    const src = load.counts.subarray(w * per, (w + 1) * per);
    for (let i = 0; i < per; i++) counts[g * per + i] += src[i];
  }
  const windows = Array.from({ length: W }, (_, g) => ({ step: load.windows[g * group]?.step ?? g * group }));
  return { ...load, numWindows: W, counts, windows };
}

/** Build the view of one trace under its current (and, when known, recommended) placement. */
export function buildTraceView(input: InputData, opts: TraceViewOptions): TraceView {
  const load = input.load;
  const total = totalCounts(load);
  const E = load.numExperts;
  const expertMom: number[] = [];
  for (let l = 0; l < load.numLayers; l++) expertMom.push(sig(maxOverMean(total.subarray(l * E, (l + 1) * E))));
  checkPlanMatchesTrace(opts.current, load.numLayers, E, 'current placement');
  const current = placementView(`current (${opts.current.solver ?? 'plan'})`, opts.current, total, { routes: input.routes });
  const plans = [{ label: current.label, plan: opts.current }];
  let recommended;
  let stragglerReduction;
  if (opts.recommended) {
    checkPlanMatchesTrace(opts.recommended, load.numLayers, E, 'recommended plan');
    recommended = placementView(opts.recommendedLabel ?? `recommended (${opts.recommended.solver ?? 'plan'})`, opts.recommended, total, { current: opts.current, routes: input.routes });
    recommended.expertsMoved = expertsMoved(opts.current, opts.recommended);
    plans.push({ label: recommended.label, plan: opts.recommended });
    const excess = current.meanMaxOverMean - 1;
    stragglerReduction = excess > 0 ? (current.meanMaxOverMean - recommended.meanMaxOverMean) / current.meanMaxOverMean : 0;
  }
  return {
    meta: traceMetaView(input, total),
    heatmap: heatmapView(load, total),
    expertMaxOverMean: expertMom,
    placements: { current, recommended, stragglerReduction, gate: opts.gate },
    timeSeries: timeSeries(input, plans, opts.batchTokens ?? REPORT_BATCH_TOKENS),
  };
}

/** Names of the placement solvers in this build. */
export function solverNames(): string[] {
  return SOLVERS.map((s) => s.name);
}

/**
 * Solve for a recommended plan of `input` over `numRanks` ranks, with the SolveInput `ballast plan`
 * builds for the same flags (solveInputForTrace), so that both make the same plan.
 * Returns { plan, solver, solveInput }. Throws InputError for an unknown solver name.
 */
export async function recommendPlan(
  input: InputData,
  numRanks: number,
  opts: { solver?: string; redundantSlots?: number; current?: Plan; ranksPerNode?: number; cluster?: Cluster; batchTokens?: number },
): Promise<{ plan: Plan; solver: PlacementSolver; solveInput: SolveInput }> {
  const name = opts.solver ?? 'ballast';
  const solver: PlacementSolver = getSolver(name);
  const G = numRanks;
  const ranksPerNode = opts.ranksPerNode ?? G;
  const solveInput = solveInputForTrace(input.load, input.routes, {
    numRanks: G,
    numNodes: Math.max(1, G / ranksPerNode),
    redundantSlots: opts.redundantSlots ?? 0,
    cluster: opts.cluster,
    current: opts.current,
    batchTokens: opts.batchTokens,
  });
  checkSolveInput(solveInput);
  const plan = await solver.solve(solveInput);
  plan.solver ??= name;
  if (input.load.meta.model && !plan.model) plan.model = input.load.meta.model;
  return { plan, solver, solveInput };
}

/** The report's cluster: --cluster resolved, checked against the EP size when both are known. */
export function reportCluster(spec: string | undefined): Cluster | undefined {
  return spec === undefined ? undefined : loadCluster(spec);
}

function planSummary(path: string, plan: Plan): PlanSummary {
  return {
    label: basename(path),
    path,
    solver: plan.solver,
    model: plan.model,
    numLayers: plan.numLayers,
    numExperts: plan.numExperts,
    numRanks: plan.numRanks,
    ranksPerNode: plan.ranksPerNode,
    slotsPerLayer: plan.phy2log.map((r) => r.length),
    stats: plan.stats ? { ...plan.stats } : undefined,
    params: plan.params,
  };
}

/**
 * Flatten a simulation JSON: scalars with dotted keys; numeric arrays (length > 1) as series; the
 * policies as one row each; other top-level lists of records as tables; lists of strings as notes.
 */
export function simulationView(path: string, json: Record<string, unknown>): SimulationView {
  const scalars: SimulationView['scalars'] = [];
  const series: SeriesView[] = [];
  const walk = (o: unknown, prefix: string, depth: number) => {
    if (o === null || o === undefined) return;
    if (typeof o === 'number' || typeof o === 'string' || typeof o === 'boolean') {
      if (prefix) scalars.push([prefix, o]);
      return;
    }
    if (Array.isArray(o)) {
      if (o.length > 1 && o.every((v) => typeof v === 'number')) {
        series.push({
          title: prefix,
          xName: 'index',
          xLabel: 'index',
          yLabel: prefix.split('.').pop() ?? prefix,
          unit: '',
          x: o.map((_, i) => i),
          series: [{ label: prefix, values: o as number[] }],
        });
      } else if (depth < 4 && o.length <= 64) {
        o.forEach((v, i) => walk(v, `${prefix}[${i}]`, depth + 1));
      }
      return;
    }
    if (typeof o === 'object' && depth < 4) {
      for (const [k, v] of Object.entries(o as Record<string, unknown>)) walk(v, prefix ? `${prefix}.${k}` : k, depth + 1);
    }
  };
  let policies: SimulationView['policies'];
  if (Array.isArray(json.policies) && json.policies.every((p) => p && typeof p === 'object' && typeof (p as { name?: unknown }).name === 'string')) {
    policies = (json.policies as Record<string, unknown>[]).map((p) => {
      const values: Record<string, number> = {};
      const flat = (o: unknown, prefix: string) => {
        if (typeof o === 'number' && Number.isFinite(o)) values[prefix] = o;
        else if (o && typeof o === 'object' && !Array.isArray(o)) for (const [k, v] of Object.entries(o)) flat(v, prefix ? `${prefix}.${k}` : k);
      };
      flat(p, '');
      return { name: String(p.name), values };
    });
  }
  // Top-level lists of records (e.g. oracleGap) become tables; lists of strings become notes.
  const tables: NonNullable<SimulationView['tables']> = [];
  const notes: string[] = [];
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    if (k === 'policies' && policies) continue;
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) notes.push(...(v as string[]));
    else if (Array.isArray(v) && v.length > 0 && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      const rows = v as Record<string, unknown>[];
      const columns = [...new Set(rows.flatMap((r) => Object.keys(r).filter((c) => ['number', 'string', 'boolean'].includes(typeof r[c]))))];
      tables.push({ key: k, columns, rows: rows.slice(0, 200).map((r) => columns.map((c) => (['number', 'string', 'boolean'].includes(typeof r[c]) ? (r[c] as number | string | boolean) : null))) });
    } else rest[k] = v;
  }
  walk(rest, '', 0);
  return {
    label: basename(path),
    path,
    scalars: scalars.slice(0, 400),
    series: series.slice(0, 12),
    policies,
    tables: tables.length ? tables : undefined,
    notes: notes.length ? notes : undefined,
  };
}

/** A plan and a trace that both name their model must name the same one (InputError otherwise). */
function checkSameModel(planPath: string, planModel: string | undefined, input: InputData): void {
  const traceModel = input.load.meta.model;
  if (!planModel || !traceModel) return;
  const norm = (m: string) => m.toLowerCase().split('/').pop()!;
  if (norm(planModel) !== norm(traceModel)) {
    throw new InputError(planPath, '', `the plan is for ${planModel} but ${basename(input.path)} was recorded from ${traceModel}; expected a plan for the trace given`);
  }
}

/** Build the whole report model. */
export async function buildReportModel(inputs: ReportInputs, opts: BuildOptions = {}): Promise<ReportModel> {
  const model: ReportModel = {
    format: REPORT_FORMAT,
    version: 1,
    title: opts.title ?? 'ballast report',
    createdMs: opts.now ?? Date.now(),
    traces: [],
    plans: [],
    simulations: inputs.simulations.map((s) => simulationView(s.path, s.json)),
    notes: [],
  };
  const usedPlans = new Set<number>();
  const cluster = reportCluster(opts.cluster);
  for (const input of inputs.traces) {
    const { numLayers: L, numExperts: E } = input.load;
    const matching = inputs.plans.findIndex((p, i) => !usedPlans.has(i) && p.plan.numLayers === L && p.plan.numExperts === E);
    const given = matching >= 0 ? inputs.plans[matching] : undefined;
    if (matching >= 0) usedPlans.add(matching);
    if (given) checkSameModel(given.path, given.plan.model, input);
    const G = opts.current?.numRanks ?? given?.plan.numRanks ?? opts.ranks ?? cluster?.gpus.length ?? defaultRanks(E);
    if (opts.ranks !== undefined && E % opts.ranks !== 0 && !opts.current && !given) {
      throw new InputError('--ranks', '', `${E} experts do not divide evenly over ${opts.ranks} ranks`);
    }
    if (cluster && cluster.gpus.length !== G) {
      throw new InputError('--cluster', '', `the cluster ${cluster.name} has ${cluster.gpus.length} GPUs (${cluster.numNodes} nodes x ${cluster.gpusPerNode}) but the placement is over ${G} ranks; they must match`);
    }
    // The node layout is the cluster's (as `ballast plan` lays it out), else the given plan's, else one node.
    const ranksPerNode = cluster?.gpusPerNode ?? given?.plan.ranksPerNode ?? G;
    const numNodes = G / ranksPerNode;
    const current = opts.current ?? defaultPlan('linear', L, E, G, [...input.load.meta.layerIds], ranksPerNode);
    if (!opts.current) current.solver = 'linear';
    const batchTokens = opts.batchTokens ?? REPORT_BATCH_TOKENS;
    let recommended = given?.plan;
    let recommendedLabel = given ? `recommended (${basename(given.path)})` : undefined;
    let solved: { solver: PlacementSolver; solveInput: SolveInput } | undefined;
    if (!recommended && opts.solver !== 'none') {
      const r = await recommendPlan(input, G, { solver: opts.solver, redundantSlots: opts.redundantSlots, current: opts.current, ranksPerNode, cluster, batchTokens: opts.batchTokens });
      recommended = r.plan;
      solved = { solver: r.solver, solveInput: r.solveInput };
      recommendedLabel = `recommended (${recommended.solver ?? opts.solver ?? 'ballast'})`;
    }
    let prediction: Prediction | undefined;
    if (recommended && !opts.noPredict) {
      prediction = await tryPredict(input, recommended, { model: opts.model, cluster, numNodes, current: opts.current, solved, batchTokens });
      if (prediction.note) model.notes.push(`${basename(input.path)}: ${prediction.note}`);
    }
    const view = buildTraceView(input, { current, recommended, recommendedLabel, batchTokens, gate: prediction?.gate });
    if (prediction?.series && view.placements) {
      prediction.series.series[0].label = view.placements.current.label;
      if (view.placements.recommended) prediction.series.series[1].label = view.placements.recommended.label;
      view.timeSeries.unshift(prediction.series);
    }
    model.traces.push(view);
    for (const w of input.warnings) model.notes.push(`${basename(input.path)}: ${w}`);
  }
  if (inputs.traces.length) {
    // A plan given beside traces is for one of them: one that fits none is a mistake, not a footnote.
    inputs.plans.forEach((p, i) => {
      if (usedPlans.has(i)) return;
      const shapes = inputs.traces.map((t) => `${basename(t.path)} is ${t.load.numLayers} x ${t.load.numExperts}${t.load.meta.model ? ` (${t.load.meta.model})` : ''}`).join(', ');
      throw new InputError(p.path, '', `the plan is for ${p.plan.numLayers} layers x ${p.plan.numExperts} experts${p.plan.model ? ` (${p.plan.model})` : ''} but ${shapes}; expected a plan for the trace given`);
    });
  }
  inputs.plans.forEach((p, i) => {
    if (!usedPlans.has(i)) model.plans.push(planSummary(p.path, p.plan));
  });
  const phases = phaseColumns(inputs.plans);
  if (phases.length) model.phases = phases;
  for (const r of inputs.reports) {
    model.traces.push(...r.model.traces);
    model.plans.push(...r.model.plans);
    model.simulations.push(...r.model.simulations);
    model.notes.push(...r.model.notes);
  }
  return model;
}
