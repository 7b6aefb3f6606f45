/**
 * `ballast plan <trace> --phase prefill|decode|mix` (also a comma list, e.g. `prefill,decode` for
 * disaggregated serving): plans made by ballast's time objective (solvers/ballast/time-objective.ts)
 * for the step size of each phase, one plan file per phase, each judged by the gate at its own step
 * size, with the export and launch flags of the instance role that serves it.
 *
 * Phases come from the trace (plan/phase/split.ts): a trace that records prefill and decode is split
 * and each phase planned on its own tokens; a phase the trace does not record is refused (exit 2)
 * unless --any-phase says to plan the whole trace as that phase's traffic. A mix weighs one prefill
 * step against --decode-per-prefill decode steps (else the mix measured from the recorded phases).
 */
import { basename, dirname, extname, join } from 'node:path';
import type { Cluster } from '../../core/cluster.ts';
import { defaultPlan } from '../../core/default-placements.ts';
import { InputError } from '../../core/errors.ts';
import { type Plan, validatePlan } from '../../core/plan.ts';
import { routesToCounts, type TokenRoutes } from '../../core/token-routes.ts';
import { type InputData, readInput } from '../../ingest/readers.ts';
import { loadFromRoutes } from '../../ingest/routes-to-load.ts';
import { loadCluster } from '../../plan/cluster/load.ts';
import { measuredDecodePerPrefill, type PhaseSplit, routesForPhase, splitByPhase } from '../../plan/phase/split.ts';
import { readPlanFile, writePlanFile } from '../../plan/plan-file.ts';
import type { PlacementSolver, SolveInput } from '../../plan/solver.ts';
import { solveBallastTime, type StepSpec } from '../../plan/solvers/ballast/time-objective.ts';
import { checkSolveInput } from '../../plan/solvers/check-input.ts';
import { totalCounts } from '../../core/load-trace.ts';
import { defaultCluster } from '../../predict/cluster-spec.ts';
import { buildCostModel, type CostModel } from '../../predict/cost-model.ts';
import { loadModelConfig, type ModelConfig } from '../../predict/model-config.ts';
import { gatePlan, type PlanGateResult } from '../../predict/plan-gate.ts';
import { guessModel } from '../../predict/simulate.ts';
import type { PlanOptions } from './plan.ts';

export type PlanPhase = 'prefill' | 'decode' | 'mix';
export const DEFAULT_PREFILL_TOKENS = 4096;
export const DEFAULT_DECODE_TOKENS = 64;

export interface PhaseFlags {
  phase: string;
  prefillTokens?: number;
  decodeTokens?: number;
  decodePerPrefill?: number;
  anyPhase?: boolean;
}

export interface PhasePlanResult {
  phase: PlanPhase;
  plan: Plan;
  steps: { name: string; tokens: number; weight: number }[];
  /** The gate at each step size of the phase (one for prefill/decode, two for mix). */
  gates: { step: string; tokens: number; gate: PlanGateResult }[];
  out?: string;
  /** Export commands and launch flags for the instance role serving this phase. */
  launch: string[];
  notes: string[];
}

export interface PhasePlanRun {
  trace: string;
  phaseNote: string;
  model: string;
  cluster: string;
  phases: PhasePlanResult[];
  notes: string[];
}

/** Parse --phase: one of prefill, decode, mix, or a comma list of them (no repeats). */
export function parsePhases(s: string): PlanPhase[] {
  const parts = s.split(',').map((x) => x.trim());
  for (const p of parts) {
    if (p !== 'prefill' && p !== 'decode' && p !== 'mix') throw new InputError('--phase', '', `expected prefill, decode, mix or a comma list of them, got "${s}"`);
  }
  if (new Set(parts).size !== parts.length) throw new InputError('--phase', '', `phase listed twice in "${s}"`);
  return parts as PlanPhase[];
}

/** plan.json -> plan.decode.json when several phases are written. */
export function phaseOutPath(out: string, phase: PlanPhase, several: boolean): string {
  if (!several) return out;
  const ext = extname(out);
  return join(dirname(out), `${basename(out, ext)}.${phase}${ext || '.json'}`);
}

/** Export commands and launch flags for the instance role serving `phase` with `plan` at `out`. */
export function launchFlags(phase: PlanPhase, plan: Plan, out: string | undefined): string[] {
  const P = plan.phy2log[0].length;
  const uniform = plan.phy2log.every((r) => r.length === P);
  const file = out ?? 'plan.json';
  const stem = file.replace(/\.json$/, '');
  const R = P - plan.numExperts;
  const lines: string[] = [];
  if (!uniform) {
    lines.push('slot counts differ per layer: vLLM and SGLang need one; export with --to deepseek or re-plan without --variable-slots');
    return lines;
  }
  const role = phase === 'mix' ? undefined : phase;
  lines.push(`ballast export ${file} --to sglang --out ${stem}.sglang.json`);
  lines.push(
    `sglang: ${role ? `--disaggregation-mode ${role} ` : ''}--ep-num-redundant-experts ${R} --init-expert-location ${stem}.sglang.json (no --enable-eplb: it would re-plan this placement away)`,
  );
  lines.push(`ballast export ${file} --to vllm-jsonl --out ${stem}.eplb_initial_mapping.jsonl`);
  lines.push(
    `vllm: ${role ? `--kv-transfer-config '{"kv_role":"${role === 'prefill' ? 'kv_producer' : 'kv_consumer'}",...}' ` : ''}--enable-expert-parallel --enable-eplb --eplb-config '{"num_redundant_experts": ${R}}' plus the offline-EPLB initial mapping (vLLM PR 41141, not merged upstream)`,
  );
  return lines;
}

/** Tokens in the trace: routed tokens, or for counts the first layer's assignments over top-k. */
function traceTokens(data: InputData, topK: number): number {
  if (data.routes) return data.routes.numTokens;
  const L0 = totalCounts(data.load).subarray(0, data.load.numExperts);
  let s = 0;
  for (const v of L0) s += v;
  return Math.floor(s / Math.max(1, topK));
}

/** Plan each requested phase (see the file comment). Throws InputError on bad input. */
export async function runPhasePlan(opts: PlanOptions, pf: PhaseFlags): Promise<PhasePlanRun> {
  const phases = parsePhases(pf.phase);
  const cluster0 = opts.cluster !== undefined ? loadCluster(opts.cluster) : undefined;
  const data = await readInput(opts.trace, { format: opts.format });
  const { load, routes } = data;
  const { numLayers: L, numExperts: E } = load;
  const G = opts.ranks ?? cluster0?.gpus.length;
  if (G === undefined) throw new InputError('--ranks', '', 'expected the EP size: --ranks G (or a --cluster to take it from)');
  if (cluster0 && cluster0.gpus.length !== G) throw new InputError('--ranks', '', `--ranks ${G} but the cluster ${cluster0.name} has ${cluster0.gpus.length} GPUs`);
  const cluster: Cluster = cluster0 ?? defaultCluster(G);
  const numNodes = cluster.numNodes;
  const notes: string[] = [];
  let model: ModelConfig;
  if (opts.model !== undefined) model = loadModelConfig(opts.model);
  else {
    const g = guessModel(E, routes?.topK ?? load.meta.topK, load.meta.model);
    if (!g) throw new InputError('--model', '', `cannot tell the model of a ${E}-expert trace; the time objective needs its cost model: pass --model`);
    model = g.model;
    notes.push(g.note);
  }
  const cm: CostModel = buildCostModel({ model, cluster });
  const prefillTokens = pf.prefillTokens ?? DEFAULT_PREFILL_TOKENS;
  const decodeTokens = pf.decodeTokens ?? DEFAULT_DECODE_TOKENS;

  let extraBudget: number | undefined;
  if (opts.memoryBudget !== undefined) {
    const eb = opts.expertBytes ?? cm.expertBytes;
    const oneCopy = (E / G) * L * eb;
    if (opts.memoryBudget < oneCopy) {
      throw new InputError('--memory-budget', '', `${opts.memoryBudget} bytes per GPU is below one copy of each expert: ${oneCopy} bytes`);
    }
    extraBudget = opts.memoryBudget - (E / G) * L * eb;
  }
  const base: SolveInput = {
    load: totalCounts(load),
    numLayers: L,
    numExperts: E,
    layerIds: load.meta.layerIds.slice(),
    numRanks: G,
    numNodes,
    numGroups: opts.groups ?? 1,
    redundantSlots: opts.redundant ?? 0,
    memoryBudgetBytes: extraBudget,
    expertBytes: extraBudget !== undefined ? (opts.expertBytes ?? cm.expertBytes) : opts.expertBytes,
    allowVariableSlots: opts.variableSlots ?? false,
    cluster,
    routes,
    seed: opts.seed,
  };
  checkSolveInput({ ...base, memoryBudgetBytes: undefined, redundantSlots: Math.ceil(E / G) * G - E });

  const split: PhaseSplit = splitByPhase(load, routes);
  const kOf = routes?.topK ?? load.meta.topK ?? model.topK;
  if (opts.memoryBudget === undefined && !(opts.redundant && opts.redundant > 0)) notes.push('no --memory-budget or --redundant: plans without replicas (give a budget to let each phase choose)');
  const phaseRoutes = (p: 'prefill' | 'decode'): TokenRoutes | undefined => {
    if (split[p]) return split[p];
    if (pf.anyPhase) {
      notes.push(`--any-phase: the trace records no ${p} tokens (${split.note}); all of it planned as ${p} traffic`);
      return routes;
    }
    if (!split.recorded) {
      throw new InputError(opts.trace, '', `--phase ${p}: the trace does not record prefill/decode phase (pass --any-phase to plan all of it as ${p} traffic)`);
    }
    try {
      return routesForPhase(split, p, opts.trace);
    } catch (e) {
      if (e instanceof InputError) throw new InputError(e.file, e.where, `${e.message}; pass --any-phase to plan all of it as ${p} traffic`);
      throw e;
    }
  };
  const stepTooBig = (name: string, tokens: number, have: number) => {
    if (tokens > have) throw new InputError(opts.trace, '', `--${name}-tokens ${tokens} is larger than the trace's ${have} ${name === 'prefill' || name === 'decode' ? `${split.recorded ? `${name} ` : ''}` : ''}tokens`);
  };
  if (!split.recorded) notes.push(`${split.note}${phases.includes('mix') ? ': the mix weighs both step sizes over all of it' : ''}`);

  const results: PhasePlanResult[] = [];
  for (const phase of phases) {
    const pNotes: string[] = [];
    let steps: StepSpec[];
    let planRoutes: TokenRoutes | undefined;
    if (phase === 'mix') {
      let m = pf.decodePerPrefill;
      if (m === undefined) {
        m = measuredDecodePerPrefill(split, prefillTokens, decodeTokens);
        if (m === undefined) throw new InputError('--decode-per-prefill', '', 'the trace does not record both phases, so the mix cannot be measured; give --decode-per-prefill N');
        pNotes.push(`mix measured from the recorded phases: ${m.toFixed(2)} decode steps per prefill step`);
      }
      const both = !!(split.prefill && split.decode);
      if (split.recorded && !both && !pf.anyPhase) {
        throw new InputError(opts.trace, '', `--phase mix: the trace records only one phase (${split.note}); pass --any-phase to weigh both step sizes over all of it`);
      }
      const pr = both ? split.prefill : routes;
      const dr = both ? split.decode : routes;
      stepTooBig('prefill', prefillTokens, pr ? pr.numTokens : traceTokens(data, kOf));
      stepTooBig('decode', decodeTokens, dr ? dr.numTokens : traceTokens(data, kOf));
      steps = [
        { name: 'prefill', tokens: prefillTokens, weight: 1, routes: both ? pr : undefined },
        { name: 'decode', tokens: decodeTokens, weight: m, routes: both ? dr : undefined },
      ];
      planRoutes = routes;
    } else {
      planRoutes = phaseRoutes(phase);
      const tokens = phase === 'prefill' ? prefillTokens : decodeTokens;
      stepTooBig(phase, tokens, planRoutes ? planRoutes.numTokens : traceTokens(data, kOf));
      steps = [{ name: phase, tokens, weight: 1 }];
    }
    const stepsFor = (r: TokenRoutes | undefined): StepSpec[] => {
      if (phase !== 'mix' || !r?.phase) return steps.map((s) => ({ ...s, routes: phase === 'mix' ? undefined : s.routes }));
      const sp = splitByPhase(loadFromRoutes(r), r);
      return steps.map((s) => ({ ...s, routes: s.name === 'prefill' ? (sp.prefill ?? r) : (sp.decode ?? r) }));
    };
    const topK = planRoutes?.topK ?? load.meta.topK ?? model.topK;
    const timeOpts = { cm, topK, seed: opts.seed };
    const input: SolveInput = { ...base, load: planRoutes ? routesToCounts(planRoutes) : base.load, routes: planRoutes };
    const plan = solveBallastTime(input, { ...timeOpts, steps: stepsFor(planRoutes) });
    validatePlan(plan, 'solver ballast (time objective)');
    const routesNote = (plan.params?.timeObjective as { routes?: string } | undefined)?.routes;
    if (!planRoutes && routesNote) pNotes.push(routesNote);
    const sel = selectionOf(plan);
    if (sel) {
      pNotes.push(`selection ${sel.rule}`);
      for (const n of sel.notes) pNotes.push(n);
      const chosen = (plan.params?.timeObjective as { candidatesChosen?: Record<string, number> } | undefined)?.candidatesChosen ?? {};
      pNotes.push(`rows chosen (layers): ${Object.entries(chosen).map(([k, v]) => `${k} x${v}`).join(', ')}`);
    }
    if (load.meta.model) plan.model = load.meta.model;
    const out = opts.out !== undefined ? phaseOutPath(opts.out, phase, phases.length > 1) : undefined;
    if (out) writePlanFile(out, plan);

    const gates: PhasePlanResult['gates'] = [];
    if (opts.gate !== false) {
      const solver: PlacementSolver = {
        name: 'ballast',
        description: 'ballast time objective',
        supportsReplicas: true,
        solve: (inp) => solveBallastTime(inp, { ...timeOpts, steps: stepsFor(inp.routes) }),
      };
      let current: Plan;
      let currentName: string;
      if (opts.current !== undefined) {
        current = readPlanFile(opts.current, { numRanks: G, numExperts: E, numLayers: L, layerIds: load.meta.layerIds, ranksPerNode: G / numNodes });
        currentName = 'current';
      } else if (E % G === 0) {
        current = defaultPlan('linear', L, E, G, load.meta.layerIds, G / numNodes);
        currentName = "linear (the engines' default)";
      } else {
        pNotes.push(`no gate: ${E} experts do not divide over ${G} GPUs; pass --current`);
        current = undefined as unknown as Plan;
        currentName = '';
      }
      if (current) {
        for (const s of steps) {
          const gr = phase === 'mix' ? routes : planRoutes;
          const gate = await gatePlan({
            load: gr ? loadFromRoutes(gr) : load,
            routes: gr,
            solveInput: input,
            solver,
            plan,
            current,
            currentName,
            model,
            cluster,
            batchTokens: s.tokens,
            trainFraction: opts.trainFraction,
            horizonSteps: opts.horizonSteps,
            hbmHeadroomBytes: opts.hbmHeadroom,
            moeParallel: opts.moeTp ? 'tp' : (load.meta.moeParallel ?? 'ep'),
          });
          gates.push({ step: s.name, tokens: s.tokens, gate });
        }
        if (phase === 'mix') pNotes.push('mix: the gate replays the whole trace at each step size');
      }
    }
    results.push({ phase, plan, steps: steps.map((s) => ({ name: s.name, tokens: s.tokens, weight: s.weight })), gates, out, launch: launchFlags(phase, plan, out), notes: pNotes });
  }
  return { trace: data.path, phaseNote: split.note, model: model.name, cluster: cluster.name, phases: results, notes };
}

interface StepInfo {
  name: string;
  predictedStepUs: number;
  busiestGpuActivatedExperts: number;
  busiestGpuTokenExpertPairs: number;
}

interface SelectionInfo {
  rule: string;
  notes: string[];
  heldOutPredictedUs?: number;
}

function selectionOf(plan: Plan): SelectionInfo | undefined {
  return (plan.params?.timeObjective as { selection?: SelectionInfo } | undefined)?.selection;
}

function stepInfo(plan: Plan): StepInfo[] {
  return ((plan.params?.timeObjective as { steps?: StepInfo[] } | undefined)?.steps ?? []) as StepInfo[];
}

/** Terminal rendering: one column per phase, then each phase's gate, files and launch flags. */
export function renderPhasePlanRun(run: PhasePlanRun): string {
  const lines: string[] = [];
  lines.push(`plan  ballast time objective  ${run.trace}  model ${run.model} on ${run.cluster}`);
  lines.push(`  phases     ${run.phaseNote}`);
  const cols = run.phases.map((p) => p.phase);
  const row = (label: string, vals: string[]) => `  ${label.padEnd(28)}${vals.map((v) => ` ${v}`.padStart(24)).join('')}`;
  lines.push(row('', cols));
  lines.push(row('step tokens', run.phases.map((p) => p.steps.map((s) => `${s.tokens}${s.weight !== 1 ? `x${fmtN(s.weight)}` : ''}`).join('+'))));
  lines.push(row('redundant slots', run.phases.map((p) => {
    const R = p.plan.params?.redundantSlots;
    return Array.isArray(R) ? `${Math.min(...R)}-${Math.max(...R)}` : String(R);
  })));
  lines.push(row('predicted MoE us / step', run.phases.map((p) => stepInfo(p.plan).map((s) => fmtN(s.predictedStepUs)).join(' / '))));
  lines.push(row('selection', run.phases.map((p) => selectionOf(p.plan)?.rule.split(':')[0] ?? '')));
  lines.push(row('held-out MoE us / step', run.phases.map((p) => {
    const h = selectionOf(p.plan)?.heldOutPredictedUs;
    return h === undefined ? '-' : fmtN(h);
  })));
  lines.push(row('busiest GPU activated', run.phases.map((p) => stepInfo(p.plan).map((s) => fmtN(s.busiestGpuActivatedExperts)).join(' / '))));
  lines.push(row('busiest GPU token-experts', run.phases.map((p) => stepInfo(p.plan).map((s) => fmtN(s.busiestGpuTokenExpertPairs)).join(' / '))));
  lines.push(row('gate', run.phases.map((p) => p.gates.map((g) => `${g.gate.verdict === 'apply' ? 'APPLY' : 'KEEP'} ${g.gate.predictedGainPct >= 0 ? '+' : ''}${g.gate.predictedGainPct.toFixed(1)}%`).join(' / ') || 'none')));
  for (const p of run.phases) {
    lines.push(`  ${p.phase}:`);
    for (const g of p.gates) lines.push(`    gate at ${g.tokens}-token ${g.step} steps vs ${g.gate.against}: ${g.gate.verdict === 'apply' ? 'APPLY' : 'KEEP CURRENT'}, predicted gain ${g.gate.predictedGainPct.toFixed(2)}% (${g.gate.heldOut ? `planned on ${g.gate.plannedOn}` : 'in-sample'})`);
    if (p.out) lines.push(`    wrote ${p.out}`);
    for (const l of p.launch) lines.push(`    ${l}`);
    for (const n of p.notes) lines.push(`    note: ${n}`);
  }
  for (const n of run.notes) lines.push(`  note       ${n}`);
  if (!run.phases.some((p) => p.out)) lines.push('  (pass --out plan.json to save the plans)');
  return lines.join('\n');
}

function fmtN(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2);
}

/** The --json object. */
export function phasePlanToReport(run: PhasePlanRun): object {
  return {
    trace: run.trace,
    phaseNote: run.phaseNote,
    model: run.model,
    cluster: run.cluster,
    notes: run.notes,
    phases: Object.fromEntries(
      run.phases.map((p) => [
        p.phase,
        {
          steps: p.steps,
          out: p.out,
          params: p.plan.params,
          gates: p.gates.map((g) => ({ step: g.step, tokens: g.tokens, verdict: g.gate.verdict, predictedGainPct: g.gate.predictedGainPct, heldOut: g.gate.heldOut, plannedOn: g.gate.plannedOn, against: g.gate.against })),
          launch: p.launch,
          notes: p.notes,
          phy2log: p.plan.phy2log.map((r) => Array.from(r)),
        },
      ]),
    ),
  };
}
