/**
 * The report's phases section: plans made by `ballast plan --phase ...` (ballast's time objective)
 * side by side, one column per plan, with the step size(s) each was made for, its replicas, and the
 * predicted MoE step time and busiest-GPU activated experts / token-expert pairs per step size it
 * recorded (params.timeObjective, solvers/ballast/time-objective.ts).
 *
 * Shapes: plans [{ path, plan }] -> PhaseColumn[] (one per plan with a time objective, input order).
 */
import { basename } from 'node:path';
import type { Plan } from '../../core/plan.ts';
import { esc } from '../charts/svg.ts';

export interface PhaseStepView {
  name: string;
  tokens: number;
  weight: number;
  predictedStepUs: number;
  busiestGpuActivatedExperts: number;
  busiestGpuTokenExpertPairs: number;
}

export interface PhaseColumn {
  label: string;
  /** 'prefill', 'decode' or 'mix' (from the step names). */
  phase: string;
  redundantSlots: number | number[];
  steps: PhaseStepView[];
  routes: string;
}

/** One column per plan that records a time objective; others are skipped. */
export function phaseColumns(plans: { path: string; plan: Plan }[]): PhaseColumn[] {
  const out: PhaseColumn[] = [];
  for (const { path, plan } of plans) {
    const to = plan.params?.timeObjective as { steps?: PhaseStepView[]; routes?: string } | undefined;
    if (!to?.steps?.length) continue;
    const names = to.steps.map((s) => s.name);
    out.push({
      label: basename(path),
      phase: names.length > 1 ? 'mix' : names[0],
      redundantSlots: (plan.params?.redundantSlots as number | number[] | undefined) ?? plan.phy2log[0].length - plan.numExperts,
      steps: to.steps,
      routes: to.routes ?? '',
    });
  }
  return out;
}

const n = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));

/** HTML table, phases side by side ('' when there is none). */
export function renderPhasesSection(cols: PhaseColumn[]): string {
  if (!cols.length) return '';
  const head = cols.map((c) => `<th>${esc(c.phase)}<br><span class="muted">${esc(c.label)}</span></th>`).join('');
  const row = (label: string, f: (c: PhaseColumn) => string) => `<tr><th>${esc(label)}</th>${cols.map((c) => `<td>${esc(f(c))}</td>`).join('')}</tr>`;
  const per = (f: (s: PhaseStepView) => string) => (c: PhaseColumn) => c.steps.map(f).join(' / ');
  return (
    '<section class="phases"><h2>Plans per serving phase</h2>' +
    '<p class="muted">Each plan minimises predicted MoE step time at its phase\'s step size (mix: weighted over both); values are the plan\'s own estimates on resampled planning batches.</p>' +
    `<table><thead><tr><th></th>${head}</tr></thead><tbody>` +
    row('step tokens (x weight)', per((s) => `${s.tokens}${s.weight !== 1 ? ` x${n(s.weight)}` : ''}`)) +
    row('redundant slots', (c) => (Array.isArray(c.redundantSlots) ? `${Math.min(...c.redundantSlots)}-${Math.max(...c.redundantSlots)}` : String(c.redundantSlots))) +
    row('predicted MoE us / step', per((s) => n(s.predictedStepUs))) +
    row('busiest GPU activated experts', per((s) => n(s.busiestGpuActivatedExperts))) +
    row('busiest GPU token-expert pairs', per((s) => n(s.busiestGpuTokenExpertPairs))) +
    row('planned on', (c) => c.routes) +
    '</tbody></table></section>'
  );
}
