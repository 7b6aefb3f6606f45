/**
 * Phase-aware plans, held out: for each trace, plan on the first half (cut at the first sequence
 * start at or after 50% of the tokens) and score the second half with the trace replay
 * (src/predict/replay.ts, token-mod replica routing), at a prefill and a decode step size, and for a
 * mix of both (one prefill step per --decode-per-prefill decode steps; per-step mean time
 * (T_prefill + m T_decode) / (1 + m)).
 *
 * Policies (G = --ranks):
 *   linear         the engines' default placement
 *   deepseek-R0    DeepSeek EPLB, no replicas, on the planning half
 *   deepseek-RG    DeepSeek EPLB with G redundant slots (what engines ship with EPLB on; replicas of
 *                  one expert may share a GPU, as in the reference)
 *   vllm-eplb      periodic re-planning as vLLM EPLB: DeepSeek EPLB with G redundant slots, warm-started
 *                  on the planning half, re-planned every --eplb-interval steps (default 3000, vLLM's
 *                  step_interval) on the last --eplb-window steps (default 1000, vLLM's window_size),
 *                  paying each move
 *   ballast        ballast's time objective (solvers/ballast/time-objective.ts) for that phase's step
 *                  size, replicas 0 or G per layer set as the objective picks (budget: one replica per
 *                  GPU per layer, what deepseek-RG uses); in "mix" the single mix plan; the
 *                  configuration chosen by --selection (default validated: one-standard-error rule
 *                  on 2-fold held-out time inside the planning half; validated-min: lowest held-out
 *                  time; in-sample: lowest time on the planning half itself, the rule before)
 *   ballast-pd     (mix only) disaggregated: the prefill plan at prefill steps, the decode plan at decode
 *   oracle-R0      DeepSeek EPLB re-planned on every scored batch's own counts, no replicas, no move
 *                  cost: the ceiling of R = 0 placement (the issue's table)
 *   static-in-sample  (not a policy one can run) ballast's time objective made on the scored tokens
 *                  themselves (in-sample selection): about the best any static plan reaches on them, so oracle minus this is
 *                  the part of the oracle's gain that only per-batch re-planning can take
 *
 * Traces: any file `ballast` reads with token routes (e.g. data/esft-dsv2lite/raw/law.tgz), or
 * olmoe:<plan-domain>:<score-domain> (OLMoE-1B-7B counts from data/olmoe-routing-analysis: count-only,
 * so routes are sampled from the counts with top-8, 8192 tokens per domain, layers independent; plan on
 * one domain, score on the other). --reverse also plans on the second half and scores the first.
 * --dump DIR writes every plan and the split as JSON for the independent check
 * (bench/phase-check.py).
 *
 * Run: node --import tsx bench/phase-aware.ts <trace...> [--ranks G] [--json] [--prefill-tokens N]
 *        [--decode-tokens N] [--decode-per-prefill m] [--reverse] [--dump DIR]
 *        [--selection validated|validated-min|in-sample]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { defaultPlan } from '../src/core/default-placements.ts';
import { formatInputError, InputError } from '../src/core/errors.ts';
import type { Plan } from '../src/core/plan.ts';
import { allocExpertIds, makeTokenRoutes, routesToCounts, sliceRoutes, type TokenRoutes } from '../src/core/token-routes.ts';
import { readInput } from '../src/ingest/readers.ts';
import { routesOfPhase } from '../src/plan/phase/split.ts';
import type { SolveInput } from '../src/plan/solver.ts';
import { type SelectionRule, solveBallastTime, type StepSpec } from '../src/plan/solvers/ballast/time-objective.ts';
import { solveDeepseek } from '../src/plan/solvers/deepseek/index.ts';
import { solver as deepseekSolver } from '../src/plan/solvers/deepseek/index.ts';
import { olmoeCounts } from '../src/plan/solvers/real-data.ts';
import { defaultCluster } from '../src/predict/cluster-spec.ts';
import { buildCostModel, type CostModel } from '../src/predict/cost-model.ts';
import { loadModelConfig, type ModelConfig } from '../src/predict/model-config.ts';
import { type PolicySpec, replayPolicies, summarize, vllmEplbConfig } from '../src/predict/replay.ts';
import { sampleRoutesFromCounts } from '../src/predict/sample-counts.ts';
import { guessModel, sequenceCut } from '../src/predict/simulate.ts';

interface Args {
  traces: string[];
  G: number;
  json: boolean;
  prefill: number;
  decode: number;
  m: number;
  reverse: boolean;
  dump?: string;
  eplbInterval: number;
  eplbWindow: number;
  selection: SelectionRule;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { traces: [], G: 8, json: false, prefill: 4096, decode: 64, m: 10, reverse: false, eplbInterval: 3000, eplbWindow: 1000, selection: 'validated' };
  const num = (flag: string, v: string | undefined, min: number) => {
    const x = Number(v);
    if (v === undefined || !Number.isFinite(x) || x < min) throw new InputError(flag, '', `expected a number >= ${min}, got "${v ?? ''}"`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    if (s === '--ranks') a.G = num(s, argv[++i], 1);
    else if (s === '--json') a.json = true;
    else if (s === '--prefill-tokens') a.prefill = num(s, argv[++i], 1);
    else if (s === '--decode-tokens') a.decode = num(s, argv[++i], 1);
    else if (s === '--decode-per-prefill') a.m = num(s, argv[++i], 0);
    else if (s === '--eplb-interval') a.eplbInterval = num(s, argv[++i], 1);
    else if (s === '--eplb-window') a.eplbWindow = num(s, argv[++i], 1);
    else if (s === '--reverse') a.reverse = true;
    else if (s === '--dump') a.dump = argv[++i];
    else if (s === '--selection') {
      const v = argv[++i];
      if (v !== 'validated' && v !== 'validated-min' && v !== 'in-sample') throw new InputError(s, '', `expected validated, validated-min or in-sample, got "${v ?? ''}"`);
      a.selection = v;
    }
    else if (s.startsWith('--')) throw new InputError(s, '', 'unknown flag; expected --ranks, --json, --prefill-tokens, --decode-tokens, --decode-per-prefill, --eplb-interval, --eplb-window, --reverse, --dump, --selection');
    else a.traces.push(s);
  }
  if (a.traces.length === 0) throw new InputError('phase-aware', '', 'expected at least one trace (a file with token routes, or olmoe:<plan-domain>:<score-domain>)');
  return a;
}

/** Concatenate two route sets with the same shape: [T1 + T2][L][k]. */
function concatRoutes(a: TokenRoutes, b: TokenRoutes, path: string): TokenRoutes {
  const per = a.numLayers * a.topK;
  const experts = allocExpertIds(a.numExperts, (a.numTokens + b.numTokens) * per);
  experts.set(a.experts, 0);
  experts.set(b.experts, a.numTokens * per);
  return makeTokenRoutes({
    meta: { ...a.meta, sources: [{ path, format: 'sampled from counts' }] },
    numLayers: a.numLayers,
    numExperts: a.numExperts,
    topK: a.topK,
    experts,
    seqStarts: Uint32Array.of(0, a.numTokens, a.numTokens + b.numTokens),
  });
}

interface Split {
  label: string;
  routes: TokenRoutes;
  /** Planning tokens [p0, p1), scored tokens [s0, s1). */
  p0: number;
  p1: number;
  s0: number;
  s1: number;
  model: ModelConfig;
  note: string;
  /** Planning counts when the trace is count-only (the planner then samples its own routes). */
  planCounts?: Float64Array;
}

async function splitsOf(spec: string, reverse: boolean): Promise<Split[]> {
  const m = /^olmoe:([a-z0-9]+):([a-z0-9]+)$/.exec(spec);
  if (m) {
    const sets = olmoeCounts().filter((s) => s.name.startsWith('olmoe-'));
    const get = (d: string) => {
      const s = sets.find((x) => x.name === `olmoe-${d}`);
      if (!s) throw new InputError(spec, '', `no OLMoE domain "${d}"; expected one of ${sets.map((x) => x.name.slice(6)).join(', ')}`);
      return s;
    };
    const a = get(m[1]);
    const b = get(m[2]);
    const T = 8192;
    const ids = [0, 7, 15];
    const ra = sampleRoutesFromCounts(a.load, a.numLayers, a.numExperts, 8, T, 1, ids);
    const rb = sampleRoutesFromCounts(b.load, b.numLayers, b.numExperts, 8, T, 2, ids);
    const routes = concatRoutes(ra, rb, spec);
    return [{ label: spec, routes, p0: 0, p1: T, s0: T, s1: 2 * T, model: loadModelConfig('OLMoE-1B-7B'), planCounts: a.load, note: 'count-only: planned on the plan domain\'s counts (ballast samples its own routes with top-8); scored on routes sampled from the score domain\'s counts with top-8 (layers independent)' }];
  }
  const d = await readInput(spec);
  if (!d.routes) throw new InputError(spec, '', 'the trace has no token routes; the bench scores per-step batches and needs them (or use olmoe:<a>:<b>)');
  const g = guessModel(d.routes.numExperts, d.routes.topK, d.load.meta.model);
  if (!g) throw new InputError(spec, '', `cannot tell the model of a ${d.routes.numExperts}-expert top-${d.routes.topK} trace`);
  const cut = sequenceCut(d.routes, 0.5);
  const T = d.routes.numTokens;
  const out: Split[] = [{ label: spec, routes: d.routes, p0: 0, p1: cut, s0: cut, s1: T, model: g.model, note: d.routes.phase ? 'phase recorded: each phase planned and scored on its own tokens' : 'phase not recorded: every token planned and scored at both step sizes' }];
  if (reverse) out.push({ label: `${spec} (reversed)`, routes: d.routes, p0: cut, p1: T, s0: 0, s1: cut, model: g.model, note: out[0].note });
  return out;
}

interface PhaseOut {
  batchTokens: number;
  batches: number;
  timeUs: Record<string, number>;
  activatedMax: Record<string, number>;
  distinctRanks: Record<string, number>;
}

async function scorePhase(scored: TokenRoutes, cm: CostModel, tokens: number, plans: Record<string, Plan>, extra: PolicySpec[]): Promise<PhaseOut> {
  const specs: PolicySpec[] = Object.entries(plans).map(([name, plan]) => ({ kind: 'static', name, plan }));
  specs.push(...extra);
  const src = { kind: 'routes' as const, routes: scored, startToken: 0, endToken: scored.numTokens, batchTokens: tokens };
  const res = await replayPolicies(src, specs, cm);
  const sums = summarize(res, scored.numLayers);
  const out: PhaseOut = { batchTokens: tokens, batches: sums[0].batches, timeUs: {}, activatedMax: {}, distinctRanks: {} };
  for (const s of sums) {
    out.timeUs[s.name] = s.predictedBatchTimeUs;
    out.activatedMax[s.name] = s.activatedExpertsPerRank.max;
    out.distinctRanks[s.name] = s.distinctRanksPerToken;
  }
  return out;
}

async function runSplit(sp: Split, a: Args) {
  const { G } = a;
  const cm = buildCostModel({ model: sp.model, cluster: defaultCluster(G) });
  const planning = sliceRoutes(sp.routes, sp.p0, sp.p1);
  const L = planning.numLayers;
  const E = planning.numExperts;
  const layerIds = planning.meta.layerIds;
  const base: SolveInput = { load: sp.planCounts ?? routesToCounts(planning), numLayers: L, numExperts: E, layerIds, numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: 0, routes: sp.planCounts ? undefined : planning, cluster: cm.cluster };
  const budget = { memoryBudgetBytes: L * cm.expertBytes, expertBytes: cm.expertBytes };
  const linear = defaultPlan('linear', L, E, G, layerIds);
  const ds0 = solveDeepseek(base);
  const dsG = solveDeepseek({ ...base, redundantSlots: G, allowColocatedReplicas: true });
  const scored = sliceRoutes(sp.routes, sp.s0, sp.s1);
  // Traces that record phase: each phase planned and scored on its own tokens (plan/phase/split.ts).
  const phased = !!sp.routes.phase;
  const ofPhase = (r: TokenRoutes, code: number, what: string) => {
    if (!phased) return r;
    const out = routesOfPhase(r, code);
    if (!out) throw new InputError(sp.label, '', `the ${what} part records no ${code === 0 ? 'prefill' : 'decode'} tokens`);
    return out;
  };
  const planBy = { prefill: ofPhase(planning, 0, 'planning'), decode: ofPhase(planning, 1, 'planning') };
  const scoreBy = { prefill: ofPhase(scored, 0, 'scored'), decode: ofPhase(scored, 1, 'scored') };
  for (const [name, n] of [['prefill', a.prefill], ['decode', a.decode]] as const) {
    const pt = planBy[name].numTokens;
    const st = scoreBy[name].numTokens;
    if (n > pt || n > st) throw new InputError(sp.label, '', `--${name}-tokens ${n} is larger than the planning (${pt}) or scored (${st}) ${phased ? `${name} ` : ''}tokens`);
  }
  const timeOpts = { cm, seed: 1, topK: sp.routes.topK, selection: a.selection };
  const t0 = performance.now();
  const step = (name: string, tokens: number, weight: number): StepSpec => ({ name, tokens, weight });
  const onPhase = (r: TokenRoutes): SolveInput => (phased ? { ...base, ...budget, load: routesToCounts(r), routes: r } : { ...base, ...budget });
  const bPre = solveBallastTime(onPhase(planBy.prefill), { ...timeOpts, steps: [step('prefill', a.prefill, 1)] });
  const bDec = solveBallastTime(onPhase(planBy.decode), { ...timeOpts, steps: [step('decode', a.decode, 1)] });
  const mixSteps = [
    { ...step('prefill', a.prefill, 1), routes: phased ? planBy.prefill : undefined },
    { ...step('decode', a.decode, a.m), routes: phased ? planBy.decode : undefined },
  ];
  const bMix = solveBallastTime({ ...base, ...budget }, { ...timeOpts, steps: mixSteps });
  const planMs = performance.now() - t0;
  // The best a static plan does when it is made on the scored tokens themselves (in-sample): what
  // no static plan can beat by much, against the per-batch oracle.
  const inS = (r: TokenRoutes): SolveInput => ({ ...base, ...budget, load: routesToCounts(r), routes: r });
  const ceilPre = solveBallastTime(inS(scoreBy.prefill), { ...timeOpts, selection: 'in-sample', steps: [step('prefill', a.prefill, 1)] });
  const ceilDec = solveBallastTime(inS(scoreBy.decode), { ...timeOpts, selection: 'in-sample', steps: [step('decode', a.decode, 1)] });
  const eplbSolveBase = { numLayers: L, numExperts: E, layerIds, numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: G, allowColocatedReplicas: true };
  const extra = (): PolicySpec[] => [
    { kind: 'eplb', name: 'vllm-eplb', initial: dsG, solver: deepseekSolver, solveBase: eplbSolveBase, config: vllmEplbConfig({ windowSteps: a.eplbWindow, intervalSteps: a.eplbInterval }) },
    { kind: 'oracle', name: 'oracle-R0', solver: deepseekSolver, solveBase: { ...eplbSolveBase, redundantSlots: 0 } },
  ];
  const common = { linear, 'deepseek-R0': ds0, [`deepseek-R${G}`]: dsG };
  const prefill = await scorePhase(scoreBy.prefill, cm, a.prefill, { ...common, ballast: bPre, 'ballast-mix': bMix, 'static-in-sample': ceilPre }, extra());
  const decode = await scorePhase(scoreBy.decode, cm, a.decode, { ...common, ballast: bDec, 'ballast-mix': bMix, 'static-in-sample': ceilDec }, extra());
  const mixT: Record<string, number> = {};
  const w = (p: number, d: number) => (p + a.m * d) / (1 + a.m);
  for (const name of Object.keys(prefill.timeUs)) {
    if (name === 'ballast' || name === 'ballast-mix' || name === 'static-in-sample') continue;
    mixT[name] = w(prefill.timeUs[name], decode.timeUs[name]);
  }
  mixT.ballast = w(prefill.timeUs['ballast-mix'], decode.timeUs['ballast-mix']);
  mixT['ballast-pd'] = w(prefill.timeUs.ballast, decode.timeUs.ballast);
  if (a.dump) {
    mkdirSync(a.dump, { recursive: true });
    const tag = sp.label.replace(/[^A-Za-z0-9]+/g, '_');
    const plans: Record<string, Plan> = { linear, 'deepseek-R0': ds0, [`deepseek-R${G}`]: dsG, 'ballast-prefill': bPre, 'ballast-decode': bDec, 'ballast-mix': bMix };
    writeFileSync(
      `${a.dump}/${tag}.json`,
      JSON.stringify({
        label: sp.label,
        G,
        split: { plan: [sp.p0, sp.p1], score: [sp.s0, sp.s1] },
        phased,
        steps: { prefill: a.prefill, decode: a.decode },
        plans: Object.fromEntries(Object.entries(plans).map(([k, p]) => [k, p.phy2log.map((r) => Array.from(r))])),
        replay: { prefill: prefill.activatedMax, decode: decode.activatedMax },
        routes: sp.label.startsWith('olmoe:') ? { numLayers: L, topK: sp.routes.topK, experts: Array.from(sp.routes.experts) } : undefined,
      }),
    );
  }
  const params = (p: Plan) => p.params?.timeObjective as { perReplicas: unknown; candidatesChosen: unknown; selection: { rule: string; notes: string[]; heldOutPredictedUs?: number } };
  return {
    trace: sp.label,
    note: sp.note,
    planning: [sp.p0, sp.p1],
    scored: [sp.s0, sp.s1],
    phases: { prefill, decode },
    mix: { decodePerPrefill: a.m, timeUs: mixT },
    ballast: { planMs, selection: a.selection, selectionNotes: { prefill: params(bPre).selection.notes, decode: params(bDec).selection.notes, mix: params(bMix).selection.notes }, prefill: params(bPre).candidatesChosen, decode: params(bDec).candidatesChosen, mix: params(bMix).candidatesChosen, redundant: { prefill: bPre.params?.redundantSlots, decode: bDec.params?.redundantSlots, mix: bMix.params?.redundantSlots } },
  };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const traces = [];
  for (const spec of a.traces) for (const sp of await splitsOf(spec, a.reverse)) traces.push(await runSplit(sp, a));
  if (a.json) {
    process.stdout.write(`${JSON.stringify({ ranks: a.G, traces }, null, 1)}\n`);
    return;
  }
  const rel = (t: Record<string, number>, base: string) => Object.entries(t).map(([k, v]) => `${k} ${v.toFixed(1)} (${(t[base] / v).toFixed(3)}x)`).join('  ');
  for (const t of traces) {
    console.log(`${t.trace}  [plan ${t.planning.join('..')}, score ${t.scored.join('..')}]  ${t.note}`);
    for (const ph of ['prefill', 'decode'] as const) {
      const p = t.phases[ph];
      console.log(`  ${ph} ${p.batchTokens} tok x ${p.batches} batches, MoE us/step (linear/x):  ${rel(p.timeUs, 'linear')}`);
      console.log(`    busiest-GPU activated experts: ${Object.entries(p.activatedMax).map(([k, v]) => `${k} ${v.toFixed(3)}`).join('  ')}`);
    }
    console.log(`  mix 1:${t.mix.decodePerPrefill}:  ${rel(t.mix.timeUs, 'linear')}`);
    console.log(`  ballast picks: ${JSON.stringify(t.ballast)}`);
  }
}

main().catch((e) => {
  if (e instanceof InputError) {
    process.stderr.write(`phase-aware: ${formatInputError(e)}\n`);
    process.exit(2);
  }
  throw e;
});
