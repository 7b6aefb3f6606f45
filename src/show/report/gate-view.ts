/**
 * The gate as the report and the dashboard show it, from the same PlanGateResult `ballast plan`
 * prints (src/predict/plan-gate-run.ts): a headline that says whether the verdict was judged on
 * held-out traffic or in-sample, predicted MoE time per step next to token balance, and the
 * figures with human labels and units.
 *
 * planGateView(result, { solver, notes }) -> GateView (model.ts)
 */
import type { PredictAndGateResult } from '../../predict/gate.ts';
import type { PlanGateResult } from '../../predict/plan-gate.ts';
import type { GateView } from './model.ts';

const sig = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(5)) : 0);

/** "1.19 ms" / "114.4 µs": the unit the reader expects for a step of MoE layers. */
export function formatStepTime(us: number): string {
  if (!Number.isFinite(us)) return '–';
  if (Math.abs(us) >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return `${us.toFixed(1)} µs`;
}

/** "APPLY" / "KEEP CURRENT", as `ballast plan` prints it. */
export function verdictWord(verdict: string): string {
  return verdict.toUpperCase();
}

/** Where the verdict was judged, in words, for a headline. */
export function judgedOn(g: Pick<PlanGateResult, 'heldOut' | 'plannedOn' | 'against'>, solver: string | undefined): string {
  return g.heldOut
    ? `held out: a ${solver ?? 'solver'} plan made on ${g.plannedOn}, scored on the rest, against ${g.against}`
    : `in-sample: the trace is too short to hold a part out, so the plan is scored on the traffic it was made on (optimistic), against ${g.against}`;
}

/** The report/dashboard view of a gate result. `heldOut` undefined: a plan from a file, scored on the whole trace. */
export function planGateView(
  g: PredictAndGateResult & Partial<Pick<PlanGateResult, 'heldOut' | 'plannedOn' | 'against'>>,
  opts: { solver?: string; notes?: string[]; against?: string; hasReplicas?: boolean; fromFile?: boolean } = {},
): GateView {
  // A plan read from a file was not made by ballast on part of this trace: it cannot be called held out.
  const heldOut = opts.fromFile ? false : (g.heldOut ?? false);
  const against = g.against ?? opts.against ?? 'current';
  const on = opts.fromFile
    ? `in-sample if the plan file was made from this trace: a plan from a file, scored on ${
        g.heldOut ? `the trace after ${g.plannedOn ?? 'its first part'}` : 'the whole trace'
      }, against ${against}`
    : judgedOn({ heldOut, plannedOn: g.plannedOn ?? '', against }, opts.solver);
  const proposedUs = g.currentStepUs - g.gainPerStepUs;
  const moved = g.expertsMoved;
  return {
    verdict: g.verdict,
    headline: `${verdictWord(g.verdict)} (${on})`,
    heldOut,
    time: { currentUs: sig(g.currentStepUs), proposedUs: sig(proposedUs), gainPct: sig(g.predictedGainPct) },
    balance: { current: sig(g.imbalance.current), proposed: sig(g.imbalance.proposed) },
    reasons: [...g.reasons],
    warnings: [...g.warnings],
    notes: opts.notes ? [...opts.notes] : undefined,
    reason: [...g.reasons, ...g.warnings].join('; ') || undefined,
    figures: {
      'predicted MoE time per step, current (µs)': sig(g.currentStepUs),
      'predicted MoE time per step, proposed (µs)': sig(proposedUs),
      'predicted gain per step (%)': sig(g.predictedGainPct),
      'per-batch max/mean rank load, current (×)': sig(g.imbalance.current),
      'per-batch max/mean rank load, proposed (×)': sig(g.imbalance.proposed),
      'move cost (ms)': sig(g.moveCostMs),
      'pays back after (steps)': Number.isFinite(g.breakEvenSteps) ? Math.ceil(g.breakEvenSteps) : 'never',
      'horizon (steps)': g.horizonSteps,
      // At 0 redundant slots every expert has one copy: what moves are experts, not replicas.
      [opts.hasReplicas ? 'expert replicas moved' : 'experts moved']: moved,
      'extra HBM on the fullest GPU (GB)': sig(g.extraHbmBytes / 1e9),
      'gain / standard error of the per-batch gain': sig(g.uncertainty.gainOverStdErr),
      'batches scored': g.uncertainty.batches,
      model: g.model,
      cluster: g.cluster,
      'top-k (experts per token)': g.topK !== undefined ? `${g.topK} (${g.topKSource ?? 'source not recorded'})` : 'unknown',
    },
  };
}
