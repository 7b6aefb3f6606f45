/**
 * Execution: the batch loop that settles each policy's plan, scores the batch for all policies and
 * charges re-plans' moves (policies decide, this file runs them).
 */
import type { Plan } from '../../core/plan.ts';
import { type CostModel, moveTimeUs } from '../cost-model.ts';
import { compilePlan, movedReplicas, type PlanTables } from '../plan-tables.ts';
import { scoreRoutesBatchMulti } from './kernels/multi.ts';
import type { PolicyResult, PolicySpec, ReplayOptions } from './policy/spec.ts';
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
  history: Float64Array[];
  replans: number;
  moved: number;
  pendingMoveUs: number;
  pendingMoved: number;
}

/**
 * Replay every policy over the same batches of `src`, batch by batch: each batch's plans are settled
 * first (the oracle solves on the batch's own counts; periodic re-plans happen after a batch), then the
 * batch is scored for all policies in one pass over its ids when the bitmask path applies.
 */
export async function replayPolicies(src: ReplaySource, policies: PolicySpec[], cm: CostModel, opts: ReplayOptions = {}): Promise<PolicyResult[]> {
  const routing = opts.routing ?? 'token-mod';
  const B = numBatches(src);
  const runs: PolicyRun[] = policies.map((spec) => {
    const plan = spec.kind === 'static' ? spec.plan : spec.kind === 'periodic' ? spec.initial : undefined;
    return {
      spec,
      series: newSeries(B),
      sc: new ReplayScratch(cm),
      plan,
      tables: plan ? compilePlan(plan) : undefined,
      history: [],
      replans: 0,
      moved: 0,
      pendingMoveUs: 0,
      pendingMoved: 0,
    };
  });
  const multi = src.kind === 'routes' && routing === 'token-mod' && cm.numRanks <= 32;
  const shared = new SharedScratch();
  const needCounts = runs.some((r) => r.spec.kind !== 'static');
  for (let b = 0; b < B; b++) {
    const counts = needCounts ? batchCounts(src, b) : undefined;
    for (const r of runs) {
      if (r.spec.kind === 'oracle') {
        r.plan = await r.spec.solver.solve({ ...r.spec.solveBase, load: counts! });
        r.tables = compilePlan(r.plan);
        r.replans++;
      }
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
      const spec = r.spec;
      if (spec.kind !== 'periodic') continue;
      r.history.push(counts!);
      if (r.history.length > Math.max(1, spec.window)) r.history.shift();
      if ((b + 1) % Math.max(1, spec.interval) === 0 && b + 1 < B) {
        const L = spec.initial.numLayers;
        const E = spec.initial.numExperts;
        const load = new Float64Array(L * E);
        for (const h of r.history) for (let i = 0; i < load.length; i++) load[i] += h[i];
        const next = await spec.solver.solve({ ...spec.solveBase, load, current: r.plan });
        const mv = movedReplicas(r.plan!, next);
        // Each layer's weights move in turn; a re-plan costs the sum over layers of the slowest rank.
        const G = cm.numRanks;
        let us = 0;
        for (let l = 0; l < L; l++) us += moveTimeUs(cm, mv.perRank.subarray(l * G, (l + 1) * G));
        r.pendingMoveUs = us;
        r.pendingMoved = mv.total;
        r.moved += mv.total;
        r.replans++;
        r.plan = next;
        r.tables = compilePlan(next);
      }
    }
  }
  return runs.map((r) => ({ name: r.spec.name, kind: r.spec.kind, series: r.series, finalPlan: r.plan, replans: r.replans, expertsMoved: r.moved }));
}

/** Replay one policy. */
export async function replayPolicy(src: ReplaySource, policy: PolicySpec, cm: CostModel, opts: ReplayOptions = {}): Promise<PolicyResult> {
  return (await replayPolicies(src, [policy], cm, opts))[0];
}
