/**
 * Execution: the batch loop. Per batch: settle each policy's plan (the oracle solves on the batch's
 * own counts; a synchronous re-plan made after the previous step is charged now), score the batch for
 * all policies (one pass over its ids when the bitmask kernel applies), then step each engine policy
 * as the engine steps after a forward pass: record the load, apply an async layer, re-plan when due.
 * Policies decide (policy/eplb.ts) and keep state (policy/state.ts); this file runs them.
 */
import type { Plan } from '../../core/plan.ts';
import { type CostModel, moveTimeUs } from '../cost-model.ts';
import { compilePlan, movedReplicas, type PlanTables } from '../plan-tables.ts';
import { scoreRoutesBatchMulti } from './kernels/multi.ts';
import { replanDue } from './policy/eplb.ts';
import type { PolicyResult, PolicySpec, ReplayOptions } from './policy/spec.ts';
import { EplbRunState } from './policy/state.ts';
import { scoreBatch } from './score.ts';
import { ReplayScratch, type ScoreItem, SharedScratch } from './scratch.ts';
import { type BatchSeries, newSeries } from './series.ts';
import { batchCounts, numBatches, type ReplaySource } from './source.ts';

/** Per-policy state while replaying batch by batch. */
export interface PolicyRun {
  spec: PolicySpec;
  series: BatchSeries;
  sc: ReplayScratch;
  plan?: Plan;
  tables?: PlanTables;
  eplb?: EplbRunState;
  replans: number;
  moved: number;
  pendingMoveUs: number;
  pendingMoved: number;
  warmupReplans: number;
}

/** Per-layer copy time of going from `from` to `to`: the slowest GPU's loads in each layer, us. */
function layerMoveUs(cm: CostModel, from: Plan, to: Plan): { layerUs: number[]; moved: number } {
  const mv = movedReplicas(from, to);
  const G = cm.numRanks;
  const layerUs: number[] = [];
  for (let l = 0; l < to.numLayers; l++) layerUs.push(moveTimeUs(cm, mv.perRank.subarray(l * G, (l + 1) * G)));
  return { layerUs, moved: mv.total };
}

/** `plan` with layers [0, upTo] taken from `target`. */
function withLayers(plan: Plan, target: Plan, upTo: number): Plan {
  return { ...plan, phy2log: plan.phy2log.map((row, l) => (l <= upTo ? target.phy2log[l] : row)) };
}

/**
 * One engine step of an eplb policy after a forward pass that took `stepUs` (Infinity in warmup:
 * the background copy of a layer is taken to finish within a step). Mutates the run.
 */
async function eplbStep(r: PolicyRun, counts: Float64Array, stepUs: number, cm: CostModel, replanAllowed: boolean, warm: boolean): Promise<void> {
  const spec = r.spec as Extract<PolicySpec, { kind: 'eplb' }>;
  const st = r.eplb!;
  const cfg = spec.config;
  st.record(counts);
  st.stepsSinceReplan++;
  // Async: the layer copied in the background during this step is applied at its end (one per step).
  const p = st.pending;
  if (p) {
    p.progressUs += stepUs;
    if (p.progressUs >= p.layerUs[p.layer]) {
      p.progressUs -= p.layerUs[p.layer];
      r.plan = withLayers(r.plan!, p.target, p.layer);
      r.tables = undefined;
      p.layer++;
      if (p.layer >= p.target.numLayers) {
        r.plan = p.target;
        st.pending = undefined;
      }
    }
  }
  if (!replanAllowed || !replanDue(cfg, st.stepsSinceReplan, st.pending !== undefined)) return;
  st.stepsSinceReplan = 0;
  const L = spec.initial.numLayers;
  const next = await spec.solver.solve({ ...spec.solveBase, load: st.windowLoad(L * spec.initial.numExperts), current: r.plan });
  const mv = layerMoveUs(cm, r.plan!, next);
  r.replans++;
  if (warm) r.warmupReplans++;
  r.moved += mv.moved;
  if (cfg.async) {
    st.pending = { target: next, layer: 0, layerUs: mv.layerUs, progressUs: 0 };
  } else {
    // Blocking: every layer moves before the next step; that step pays the copy (sum over layers).
    r.pendingMoveUs = warm ? 0 : mv.layerUs.reduce((a, b) => a + b, 0);
    r.pendingMoved = warm ? 0 : mv.moved;
    r.plan = next;
    r.tables = undefined;
  }
}

/**
 * Replay every policy over the same batches of `src`, batch by batch (see the file comment).
 * Shapes: src yields B batches; each result's series has length B.
 */
export async function replayPolicies(src: ReplaySource, policies: PolicySpec[], cm: CostModel, opts: ReplayOptions = {}): Promise<PolicyResult[]> {
  const routing = opts.routing ?? 'token-mod';
  const B = numBatches(src);
  const runs: PolicyRun[] = policies.map((spec) => {
    const plan = spec.kind === 'static' ? spec.plan : spec.kind === 'eplb' ? spec.initial : undefined;
    return {
      spec,
      series: newSeries(B),
      sc: new ReplayScratch(cm),
      plan,
      tables: plan ? compilePlan(plan) : undefined,
      eplb: spec.kind === 'eplb' ? new EplbRunState(spec.config.windowSteps, spec.config.intervalSteps, spec.config.firstAfterSteps) : undefined,
      replans: 0,
      moved: 0,
      pendingMoveUs: 0,
      pendingMoved: 0,
      warmupReplans: 0,
    };
  });
  // Warmup: the steps the engine served before the scored part advance its state, unscored.
  for (const r of runs) {
    if (r.spec.kind !== 'eplb' || !r.spec.warmup) continue;
    for (const c of r.spec.warmup) await eplbStep(r, c, Number.POSITIVE_INFINITY, cm, true, true);
  }
  const multi = src.kind === 'routes' && routing === 'token-mod' && cm.numRanks <= 32;
  const shared = new SharedScratch();
  const needCounts = runs.some((r) => r.spec.kind !== 'static');
  for (let b = 0; b < B; b++) {
    const counts = needCounts ? batchCounts(src, b) : undefined;
    for (const r of runs) {
      if (r.spec.kind === 'oracle') {
        r.plan = await r.spec.solver.solve({ ...r.spec.solveBase, load: counts! });
        r.tables = undefined;
        r.replans++;
      }
      if (!r.tables) r.tables = compilePlan(r.plan!);
      r.series.moveUs[b] = r.pendingMoveUs;
      r.series.expertsMoved[b] = r.pendingMoved;
      r.pendingMoveUs = 0;
      r.pendingMoved = 0;
    }
    if (multi && src.kind === 'routes') {
      const t0 = src.startToken + b * src.batchTokens;
      const items: ScoreItem[] = runs.map((r) => ({ tables: r.tables!, sc: r.sc, out: r.series }));
      scoreRoutesBatchMulti(src.routes, items, t0, t0 + src.batchTokens, src.startToken, b, shared);
    } else {
      for (const r of runs) scoreBatch(src, r.tables!, b, r.sc, routing, r.series);
    }
    for (const r of runs) {
      if (r.spec.kind === 'eplb') await eplbStep(r, counts!, r.series.timeUs[b], cm, b + 1 < B, false);
    }
  }
  return runs.map((r) => ({
    name: r.spec.name,
    kind: r.spec.kind,
    series: r.series,
    finalPlan: r.plan,
    replans: r.replans,
    expertsMoved: r.moved,
    ...(r.eplb ? { warmupSteps: r.spec.kind === 'eplb' ? (r.spec.warmup?.length ?? 0) : 0, warmupReplans: r.warmupReplans } : {}),
  }));
}

/** Replay one policy. */
export async function replayPolicy(src: ReplaySource, policy: PolicySpec, cm: CostModel, opts: ReplayOptions = {}): Promise<PolicyResult> {
  return (await replayPolicies(src, [policy], cm, opts))[0];
}
