/**
 * `ballast simulate`: plan with each policy on a training part, replay the scored part batch by batch,
 * predict time, compare side by side (and against the oracle).
 *
 * Splits:
 *   trainFraction f (routes): plan on the sequences that end before f of the tokens (cut at the first
 *     sequence boundary at or after f*T); score [cut, T) in consecutive batches of batchTokens from the
 *     cut, dropping the last partial batch.
 *   trainFraction f (load windows only): plan on the windows that end before f of the tokens, score
 *     each later window (scaled to batchTokens tokens unless windowsAreSteps).
 *   train/test inputs: plan on all of `train`, score all of `test` (routes when it has them, else its
 *     windows).
 *   inSample: plan and score on everything.
 */
import type { Cluster } from '../core/cluster.ts';
import { defaultPlan } from '../core/default-placements.ts';
import { InputError } from '../core/errors.ts';
import { type LoadTrace, totalCounts } from '../core/load-trace.ts';
import { routesToCounts, type TokenRoutes } from '../core/token-routes.ts';
import { getSolver, SOLVERS } from '../plan/solvers/index.ts';
import type { SolveInput } from '../plan/solver.ts';
import { buildCostModel, type ConstantName, type CostModel, explainCostModel, type ExplainRow } from './cost-model.ts';
import { findModelPreset, loadModelConfig, type ModelConfig } from './model-config.ts';
import { sampleRoutesFromCounts } from './sample-counts.ts';
import { batchCounts, describeEplb, type EplbConfig, numBatches, type PolicyResult, type PolicySpec, type PolicySummary, type ReplaySource, type ReplicaRouting, sglangEplbConfig, type SolveBase, summarize, vllmEplbConfig } from './replay.ts';
import { replayPoliciesParallel } from './replay-parallel.ts';
import { resolveTopK } from './top-k.ts';

export interface SimInput {
  path: string;
  load: LoadTrace;
  routes?: TokenRoutes;
}

export interface SimulateOptions {
  /** Trace to split (trainFraction / inSample), or train + test. */
  trace?: SimInput;
  train?: SimInput;
  test?: SimInput;
  model: ModelConfig;
  cluster: Cluster;
  redundant: number;
  policies: string[];
  batchTokens: number;
  trainFraction?: number;
  inSample?: boolean;
  windowsAreSteps?: boolean;
  routing?: ReplicaRouting;
  /** Threads for the replay of static plans, this one included (default: available parallelism, at most 8; 1 = no workers). */
  threads?: number;
  /**
   * vllm-eplb / sglang-eplb: override the engine's window and interval (steps); undefined keeps the
   * engine's defaults (vLLM 1000 / 3000, SGLang 1000 / 1000). Outputs say when they are overridden.
   */
  eplbWindow?: number;
  eplbInterval?: number;
  oracleSolver: string;
  overrides?: Partial<Record<ConstantName, number>>;
  calibrated?: Partial<Record<ConstantName, number>>;
  calibrationSource?: string;
  /** Model came from a guess (not --model): say so. */
  modelNote?: string;
  /** Give solvers the planning part's token routes (co-activation-aware solvers use them). Default true. */
  planWithRoutes?: boolean;
  /** Load windows without routes: score this many batches sampled from the scored histogram. */
  sampleBatches?: number;
  seed?: number;
}

export interface PolicyJson extends PolicySummary {
  solver: string;
  redundant: number;
}

export interface SimulationResult {
  trace: string;
  model: string;
  modelNote?: string;
  cluster: string;
  ranks: number;
  redundant: number;
  batchTokens: number;
  /** topKSource: where top-k came from (top-k.ts). */
  shape: { layers: number; experts: number; topK: number; topKSource: string };
  split: { kind: string; planned: string; scored: string; batches: number };
  policies: PolicyJson[];
  oracleGap?: { policy: string; maxOverMeanGap: number; timeGapPct: number }[];
  constants: ExplainRow[];
  notes: string[];
}

/** Guess a preset from the trace's shape (E experts, top-k) when --model is not given. */
export function guessModel(E: number, k: number | undefined, metaModel?: string): { model: ModelConfig; note: string } | undefined {
  if (metaModel) {
    const p = findModelPreset(metaModel);
    if (p) return { model: loadModelConfig(p.name), note: `model ${p.name} from the trace's model name "${metaModel}"` };
  }
  const table: [number, number, string][] = [
    [64, 6, 'DeepSeek-V2-Lite'],
    [256, 8, 'DeepSeek-V3'],
    [128, 8, 'Qwen3-30B-A3B'],
    [8, 2, 'Mixtral-8x7B'],
    [64, 8, 'OLMoE-1B-7B'],
    [128, 1, 'Llama-4-Maverick'],
  ];
  const hit = table.find(([e, kk]) => e === E && kk === k);
  if (!hit) return undefined;
  return { model: loadModelConfig(hit[2]), note: `model ${hit[2]} guessed from the trace shape (${E} experts, top-${k}); pass --model to choose` };
}

/** First sequence start at or after f of the tokens (T when there is none): where a train-fraction split cuts. */
export function sequenceCut(routes: TokenRoutes, f: number): number {
  const target = f * routes.numTokens;
  for (let s = 0; s < routes.seqStarts.length; s++) if (routes.seqStarts[s] >= target) return routes.seqStarts[s];
  return routes.numTokens;
}

function windowCut(load: LoadTrace, f: number, k: number): number {
  let total = 0;
  const toks = load.windows.map((w, i) => {
    if (w.tokens && w.tokens > 0) return w.tokens;
    const per = load.numLayers * load.numExperts;
    let s = 0;
    for (let e = 0; e < load.numExperts; e++) s += load.counts[i * per + e];
    return s / k;
  });
  for (const t of toks) total += t;
  let acc = 0;
  for (let w = 0; w < toks.length; w++) {
    if (acc >= f * total) return w;
    acc += toks[w];
  }
  return toks.length;
}


/** Run the simulation. */
export async function simulate(o: SimulateOptions): Promise<SimulationResult> {
  const cm: CostModel = buildCostModel({ model: o.model, cluster: o.cluster, overrides: o.overrides, calibrated: o.calibrated, calibrationSource: o.calibrationSource });
  const G = o.cluster.gpus.length;
  const notes: string[] = [];
  let planLoad: Float64Array;
  let planRoutes: TokenRoutes | undefined;
  let src: ReplaySource;
  let split: SimulationResult['split'];
  let shapeFrom: SimInput;
  /** The part the plans were made on, as the steps an engine served before the scored part (eplb warmup). */
  let warmSrc: ReplaySource | undefined;
  const stepTokens = o.windowsAreSteps ? undefined : o.batchTokens;
  const scored = o.test ?? o.trace;
  if (!scored) throw new InputError('', '', 'expected a trace, or --train FILE --test FILE');
  const kc = resolveTopK({ routes: scored.routes, load: scored.load, model: o.model, path: scored.path });
  const topK = kc.topK;

  if (o.train && o.test) {
    shapeFrom = o.test;
    const tr = o.train;
    const te = o.test;
    if (tr.load.numLayers !== te.load.numLayers || tr.load.numExperts !== te.load.numExperts) {
      throw new InputError(te.path, '', `test trace is ${te.load.numLayers} layers x ${te.load.numExperts} experts but train is ${tr.load.numLayers} x ${tr.load.numExperts}`);
    }
    planLoad = tr.routes ? routesToCounts(tr.routes) : totalCounts(tr.load);
    planRoutes = tr.routes;
    src = te.routes
      ? { kind: 'routes', routes: te.routes, startToken: 0, endToken: te.routes.numTokens, batchTokens: o.batchTokens }
      : { kind: 'counts', load: te.load, startWindow: 0, endWindow: te.load.numWindows, stepTokens, topK };
    warmSrc = tr.routes
      ? { kind: 'routes', routes: tr.routes, startToken: 0, endToken: tr.routes.numTokens, batchTokens: o.batchTokens }
      : { kind: 'counts', load: tr.load, startWindow: 0, endWindow: tr.load.numWindows, stepTokens, topK: tr.load.meta.topK ?? topK };
    split = { kind: 'train/test', planned: `all of ${tr.path}`, scored: `all of ${te.path}`, batches: 0 };
  } else if (o.trace) {
    shapeFrom = o.trace;
    const t = o.trace;
    if (o.inSample) {
      planLoad = t.routes ? routesToCounts(t.routes) : totalCounts(t.load);
      planRoutes = t.routes;
      src = t.routes
        ? { kind: 'routes', routes: t.routes, startToken: 0, endToken: t.routes.numTokens, batchTokens: o.batchTokens }
        : { kind: 'counts', load: t.load, startWindow: 0, endWindow: t.load.numWindows, stepTokens, topK };
      split = { kind: 'in-sample', planned: 'the whole trace', scored: 'the whole trace (in-sample: optimistic)', batches: 0 };
      notes.push('in-sample: plans are scored on the data they were made from; use --train-fraction for a held-out estimate');
    } else {
      const f = o.trainFraction ?? 0.5;
      if (!(f > 0 && f < 1)) throw new InputError('--train-fraction', '', `expected a fraction in (0, 1), got ${f}`);
      if (t.routes) {
        const cut = sequenceCut(t.routes, f);
        if (cut >= t.routes.numTokens) throw new InputError(t.path, '', `no sequence boundary at or after ${f} of ${t.routes.numTokens} tokens leaves anything to score; lower --train-fraction`);
        planLoad = routesToCounts(t.routes, 0, cut);
        planRoutes = sliceRoutesHead(t.routes, cut);
        src = { kind: 'routes', routes: t.routes, startToken: cut, endToken: t.routes.numTokens, batchTokens: o.batchTokens };
        warmSrc = { kind: 'routes', routes: t.routes, startToken: 0, endToken: cut, batchTokens: o.batchTokens };
        split = { kind: 'train-fraction', planned: `tokens [0, ${cut}) (${t.routes.numTokens} total; cut at the first sequence boundary at or after ${f})`, scored: `tokens [${cut}, ${t.routes.numTokens})`, batches: 0 };
      } else {
        const cut = windowCut(t.load, f, topK);
        if (cut === 0 || cut >= t.load.numWindows) {
          throw new InputError(t.path, '', `${t.load.numWindows} load window(s) cannot be split at ${f}; use --train FILE --test FILE or --in-sample`);
        }
        planLoad = totalCounts(t.load, 0, cut);
        src = { kind: 'counts', load: t.load, startWindow: cut, endWindow: t.load.numWindows, stepTokens, topK };
        warmSrc = { kind: 'counts', load: t.load, startWindow: 0, endWindow: cut, stepTokens, topK };
        split = { kind: 'train-fraction', planned: `windows [0, ${cut})`, scored: `windows [${cut}, ${t.load.numWindows})`, batches: 0 };
      }
    }
  } else {
    throw new InputError('', '', 'expected a trace, or --train FILE --test FILE');
  }
  if (o.sampleBatches && o.sampleBatches > 0 && src.kind === 'counts') {
    const lt = src.load;
    const sum = totalCounts(lt, src.startWindow, src.endWindow);
    const routes = sampleRoutesFromCounts(sum, lt.numLayers, lt.numExperts, topK, o.sampleBatches * o.batchTokens, o.seed ?? 1, lt.meta.layerIds);
    src = { kind: 'routes', routes, startToken: 0, endToken: routes.numTokens, batchTokens: o.batchTokens };
    split.scored += `, as ${o.sampleBatches} batches of tokens sampled from its histogram (seed ${o.seed ?? 1})`;
  }
  const L = shapeFrom.load.numLayers;
  const E = shapeFrom.load.numExperts;
  const k = topK;
  const layerIds = shapeFrom.load.meta.layerIds;
  if (E !== o.model.numExperts) notes.push(`the trace has ${E} experts, the model config ${o.model.numExperts}: only H, F and weight bytes are taken from the config`);
  if (E % G !== 0) throw new InputError('--ranks', '', `${E} experts do not divide over ${G} ranks (linear placement needs E divisible by G)`);
  if ((E + o.redundant) % G !== 0) {
    throw new InputError('--redundant', '', `${E} + ${o.redundant} slots do not divide over ${G} ranks; use a multiple of ${G}`);
  }

  const solveBase = (R: number): SolveBase => ({
    numLayers: L,
    numExperts: E,
    layerIds,
    numRanks: G,
    numNodes: o.cluster.numNodes,
    numGroups: 1,
    redundantSlots: R,
    cluster: o.cluster,
    expertBytes: cm.expertBytes,
    batchTokens: o.batchTokens,
  });
  const linear = defaultPlan('linear', L, E, G, layerIds, o.cluster.gpusPerNode);
  const specs: PolicySpec[] = [];
  const meta: Record<string, { solver: string; redundant: number }> = {};
  const eplbConfigs: Record<string, EplbConfig> = {};
  let warmup: Float64Array[] | undefined;
  for (const name of o.policies) {
    if (name === 'linear' || name === 'round-robin') {
      specs.push({ kind: 'static', name, plan: name === 'linear' ? linear : defaultPlan('round-robin', L, E, G, layerIds, o.cluster.gpusPerNode) });
      meta[name] = { solver: name, redundant: 0 };
    } else if (name === 'oracle') {
      specs.push({ kind: 'oracle', name, solver: getSolver(o.oracleSolver), solveBase: solveBase(o.redundant) });
      meta[name] = { solver: o.oracleSolver, redundant: o.redundant };
    } else if (name === 'vllm-eplb' || name === 'sglang-eplb') {
      const over = { windowSteps: o.eplbWindow, intervalSteps: o.eplbInterval };
      const config = name === 'vllm-eplb' ? vllmEplbConfig(over) : sglangEplbConfig(over);
      warmup ??= warmSrc ? Array.from({ length: numBatches(warmSrc) }, (_, b) => batchCounts(warmSrc!, b)) : [];
      specs.push({ kind: 'eplb', name, initial: linear, solver: getSolver('deepseek'), solveBase: solveBase(o.redundant), config, warmup });
      eplbConfigs[name] = config;
      meta[name] = { solver: 'deepseek', redundant: o.redundant };
    } else {
      const solver = getSolver(name);
      const R = solver.supportsReplicas ? o.redundant : 0;
      const input: SolveInput = { ...solveBase(R), load: planLoad, routes: o.planWithRoutes === false ? undefined : planRoutes };
      specs.push({ kind: 'static', name, plan: await solver.solve(input) });
      meta[name] = { solver: name, redundant: R };
      if (!solver.supportsReplicas && o.redundant > 0) notes.push(`${name} places no replicas: run with 0 redundant slots`);
    }
  }
  const results: PolicyResult[] = await replayPoliciesParallel(src, specs, cm, { routing: o.routing, threads: o.threads });
  const sums = summarize(results, L);
  split.batches = sums[0]?.batches ?? 0;
  if (split.batches === 0) notes.push('no full batch in the scored part: lower --batch-tokens or --train-fraction');
  if (!o.policies.includes('linear')) notes.push('throughputVsLinear is NaN: add linear to --policies');
  const policies: PolicyJson[] = sums.map((s) => ({ ...s, ...meta[s.name] }));
  const oracle = policies.find((p) => p.name === 'oracle');
  const oracleGap = oracle
    ? policies
        .filter((p) => p.name !== 'oracle')
        .map((p) => ({
          policy: p.name,
          maxOverMeanGap: p.perBatchMaxOverMean.mean - oracle.perBatchMaxOverMean.mean,
          timeGapPct: 100 * (p.predictedMoeTimeUs / oracle.predictedMoeTimeUs - 1),
        }))
    : undefined;
  if (oracle) notes.push(`oracle: re-planned by ${o.oracleSolver} on every scored batch's own load (no move cost): the ceiling a placement can reach`);
  for (const [name, cfg] of Object.entries(eplbConfigs)) {
    const r = results.find((x) => x.name === name)!;
    const warm = r.warmupSteps ?? 0;
    const total = warm + split.batches;
    const overridden = o.eplbWindow !== undefined || o.eplbInterval !== undefined ? ' (window/interval overridden by --eplb-window/--eplb-interval, not the engine default)' : '';
    notes.push(`${name}: ${describeEplb(cfg)}${overridden}`);
    if (total < cfg.firstAfterSteps + 1) {
      notes.push(
        `${name}: this trace gives ${total} steps of ${o.batchTokens} tokens (${warm} before the scored part, ${split.batches} scored); ${cfg.engine === 'vllm' ? 'vLLM' : 'SGLang'} first re-plans after ${cfg.firstAfterSteps} steps, so over this trace it keeps the linear placement. ` +
          `After that it serves DeepSeek's EPLB placement of its last ${cfg.windowSteps} steps: the deepseek row (planned on the same data) is that placement without the move cost; ` +
          `to replay re-planning on this short trace, scale both down with --eplb-window and --eplb-interval (and read it as a scaled model, not the engine's defaults)`,
      );
    } else {
      notes.push(`${name}: ${r.replans} re-plan(s) over ${total} steps (${r.warmupReplans ?? 0} before the scored part), ${r.expertsMoved} expert copies moved`);
    }
  }
  return {
    trace: o.trace?.path ?? `${o.train?.path} -> ${o.test?.path}`,
    model: o.model.name,
    modelNote: o.modelNote,
    cluster: o.cluster.name,
    ranks: G,
    redundant: o.redundant,
    batchTokens: o.batchTokens,
    shape: { layers: L, experts: E, topK: k, topKSource: kc.source },
    split,
    policies,
    oracleGap,
    constants: explainCostModel(cm),
    notes,
  };
}

/** Tokens [0, cut) as routes (for co-activation-aware solvers); a view when possible. */
function sliceRoutesHead(r: TokenRoutes, cut: number): TokenRoutes {
  const per = r.numLayers * r.topK;
  const starts: number[] = [];
  for (const s of r.seqStarts) if (s < cut) starts.push(s);
  starts.push(cut);
  return {
    ...r,
    numTokens: cut,
    experts: r.experts.subarray(0, cut * per) as TokenRoutes['experts'],
    weights: r.weights?.subarray(0, cut * per),
    seqStarts: Uint32Array.from(starts),
    phase: r.phase?.subarray(0, cut),
  };
}

/** Every solver name usable as a policy, plus the replay-only policies. */
export function policyNames(): string[] {
  return [...SOLVERS.map((s) => s.name), 'oracle', 'vllm-eplb', 'sglang-eplb'];
}
