/**
 * `ballast plan --for reorder --model <checkpoint dir | config.json>`: turn the solver's plan (no
 * replicas) into one `ballast reorder` can carry out on this model, and say what the constraint costs.
 * Per layer, from config.json's routing (model-routing.ts):
 *   topk           the solver's permutation as it is
 *   group-limited  solveGroupedLayer (src/plan/reorder-groups.ts): whole groups between group blocks,
 *                  experts inside their group's block
 *   hash           the identity (the token-id table fixes the expert ids)
 * Shapes: load Float64Array [L*E] (layer-major, the trace's totals); plan.phy2log[L] Int32Array[E].
 */
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import { maxOverMean, solveGroupedLayer } from '../../plan/reorder-groups.ts';
import { permutationProblem } from './constraints.ts';
import { type ModelRouting, readModelRouting } from './model-routing.ts';

export interface ReorderPlanLayer {
  layerId: number;
  routing: 'topk' | 'group-limited' | 'hash';
  /** max/mean rank load of the plan reorder can carry out, and of the solver's unconstrained plan. */
  maxOverMean: number;
  unconstrainedMaxOverMean: number;
}

export interface ReorderPlanReport {
  model: string;
  routing: string;
  layers: ReorderPlanLayer[];
  /** Means over layers. */
  maxOverMean: number;
  unconstrainedMaxOverMean: number;
  identityMaxOverMean: number;
}

/** config.json routing for `--model` given as a checkpoint dir or its config.json. */
export function routingForModel(spec: string | undefined): ModelRouting {
  if (spec === undefined) throw new InputError('--for', '', 'reorder plans need the checkpoint\'s config.json: pass --model <checkpoint dir or config.json>');
  let dir = spec;
  try {
    if (!statSync(spec).isDirectory()) dir = dirname(spec);
  } catch {
    throw new InputError('--model', '', `${spec}: --for reorder needs a checkpoint directory or its config.json (a preset name does not say how the model routes)`);
  }
  return readModelRouting(dir);
}

export function planForReorder(plan: Plan, load: Float64Array, routing: ModelRouting): { plan: Plan; report: ReorderPlanReport } {
  const E = plan.numExperts;
  const G = plan.numRanks;
  if (E !== routing.numExperts) throw new InputError(routing.file, '', `the trace has ${E} experts per layer but config.json says ${routing.numExperts}; is the trace from another model?`);
  const layers: ReorderPlanLayer[] = [];
  const phy2log = plan.phy2log.map((row, l) => {
    if (row.length !== E) throw new Error(`plan --for reorder: layer ${l} has ${row.length} slots, expected ${E} (no replicas)`);
    const id = plan.layerIds[l];
    const lr = routing.layer(id);
    const ld = load.subarray(l * E, (l + 1) * E);
    let out: Int32Array;
    if (lr.kind === 'hash') out = Int32Array.from({ length: E }, (_, i) => i);
    else if (lr.kind === 'group-limited') out = solveGroupedLayer(ld, E, G, lr.numGroups!);
    else out = row;
    const problem = permutationProblem(id, out, lr);
    if (problem) throw new Error(`plan --for reorder produced a plan reorder would refuse: ${problem}`);
    layers.push({ layerId: id, routing: lr.kind, maxOverMean: maxOverMean(ld, out, G), unconstrainedMaxOverMean: maxOverMean(ld, row, G) });
    return out;
  });
  const mean = (f: (x: ReorderPlanLayer) => number) => layers.reduce((s, x) => s + f(x), 0) / Math.max(1, layers.length);
  const ident = Int32Array.from({ length: E }, (_, i) => i);
  const identityMaxOverMean = plan.phy2log.reduce((s, _, l) => s + maxOverMean(load.subarray(l * E, (l + 1) * E), ident, G), 0) / Math.max(1, plan.numLayers);
  return {
    plan: { ...plan, phy2log, params: { ...(plan.params ?? {}), for: 'reorder', routing: routing.describe() } },
    report: {
      model: routing.file,
      routing: routing.describe(),
      layers,
      maxOverMean: mean((x) => x.maxOverMean),
      unconstrainedMaxOverMean: mean((x) => x.unconstrainedMaxOverMean),
      identityMaxOverMean,
    },
  };
}

/** Terminal lines for `ballast plan` (indented like its other lines). */
export function renderReorderPlan(r: ReorderPlanReport): string[] {
  const grouped = r.layers.filter((l) => l.routing === 'group-limited').length;
  const hashed = r.layers.filter((l) => l.routing === 'hash').length;
  const cost = r.unconstrainedMaxOverMean > 0 ? (r.maxOverMean / r.unconstrainedMaxOverMean - 1) * 100 : 0;
  const lines = [`  for reorder  ${r.routing}`];
  lines.push(`               max/mean ${r.maxOverMean.toFixed(3)} as reorder can apply it vs ${r.unconstrainedMaxOverMean.toFixed(3)} unconstrained (constraint costs ${cost.toFixed(1)}%), ${r.identityMaxOverMean.toFixed(3)} as the checkpoint is`);
  if (grouped || hashed) lines.push(`               ${grouped} layers kept group-preserving${hashed ? `, ${hashed} hash-routed layers left in place` : ''}`);
  return lines;
}
