/**
 * ballast plan JSON (docs/plan-format.md):
 *   {"format":"ballast-plan","version":1,"numLayers":L,"numExperts":E,"numRanks":G,"ranksPerNode":g,
 *    "layerIds":[L],"phy2log":[[P_0],...,[P_{L-1}]],"solver":"...","params":{...},"stats":{...}}
 *
 * `readPlanFile` also accepts the engines' forms (SGLang physical_to_logical_map, vLLM offline-EPLB
 * eplb_initial_mapping JSONL, expert_to_ep_rank, DeepSeek phy2log/log2phy/logcnt) through
 * `PLAN_FORM_READERS` (src/plan/plan-forms.ts registers them).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { InputError } from '../core/errors.ts';
import { type Plan, validatePlan } from '../core/plan.ts';
import { ENGINE_PLAN_FORMS } from './plan-forms.ts';

export interface PlanReadContext {
  /** Rank count, needed by forms that do not carry it (e.g. SGLang's map). */
  numRanks?: number;
  numExperts?: number;
  ranksPerNode?: number;
  /** Layer count, for forms that give one layer for all (expert_to_ep_rank [E]). */
  numLayers?: number;
  /** Model-level layer ids (length numLayers), used when the form carries none. */
  layerIds?: number[];
  /**
   * The caller needs only the permutation (ballast reorder): forms that do not carry a rank count
   * read as one rank instead of asking for --ranks.
   */
  permutationOnly?: boolean;
}

/** A reader for one plan form. `parse` returns undefined when the JSON is not its form. */
export interface PlanFormReader {
  name: string;
  parse(json: unknown, text: string, file: string, ctx: PlanReadContext): Plan | undefined;
}

/** Engine forms, tried in order after ballast's own (plan-forms.ts defines them). */
export const PLAN_FORM_READERS: PlanFormReader[] = [...ENGINE_PLAN_FORMS];

export function planToJson(plan: Plan): object {
  return {
    format: 'ballast-plan',
    version: 1,
    model: plan.model,
    numLayers: plan.numLayers,
    numExperts: plan.numExperts,
    numRanks: plan.numRanks,
    ranksPerNode: plan.ranksPerNode,
    layerIds: plan.layerIds,
    allowColocatedReplicas: plan.allowColocatedReplicas ?? false,
    solver: plan.solver,
    params: plan.params,
    stats: plan.stats,
    phy2log: plan.phy2log.map((r) => Array.from(r)),
  };
}

export function writePlanFile(path: string, plan: Plan): void {
  writeFileSync(path, `${JSON.stringify(planToJson(plan))}\n`);
}

function isIntMatrix(x: unknown): x is number[][] {
  return Array.isArray(x) && x.every((r) => Array.isArray(r) && r.every((v) => Number.isInteger(v)));
}

/** Parse ballast's own plan JSON; undefined when `json` is not a ballast plan. */
export function parseBallastPlan(json: unknown, file: string): Plan | undefined {
  const o = json as Record<string, unknown>;
  if (!o || typeof o !== 'object' || o.format !== 'ballast-plan') return undefined;
  if (o.version !== 1) throw new InputError(file, 'version', `expected plan format version 1, got ${String(o.version)}`);
  for (const k of ['numLayers', 'numExperts', 'numRanks']) {
    if (!Number.isInteger(o[k]) || (o[k] as number) <= 0) throw new InputError(file, k, 'expected a positive integer');
  }
  if (!isIntMatrix(o.phy2log)) throw new InputError(file, 'phy2log', 'expected an array of integer arrays [L][P]');
  const L = o.numLayers as number;
  const plan: Plan = {
    version: 1,
    model: typeof o.model === 'string' ? o.model : undefined,
    numLayers: L,
    numExperts: o.numExperts as number,
    numRanks: o.numRanks as number,
    ranksPerNode: Number.isInteger(o.ranksPerNode) ? (o.ranksPerNode as number) : (o.numRanks as number),
    layerIds: Array.isArray(o.layerIds) ? (o.layerIds as number[]) : Array.from({ length: L }, (_, i) => i),
    allowColocatedReplicas: o.allowColocatedReplicas === true,
    solver: typeof o.solver === 'string' ? o.solver : undefined,
    params: (o.params as Record<string, unknown>) ?? undefined,
    stats: (o.stats as Plan['stats']) ?? undefined,
    phy2log: (o.phy2log as number[][]).map((r) => Int32Array.from(r)),
  };
  return plan;
}

/** Read a plan in any supported form and validate it. */
export function readPlanFile(path: string, ctx: PlanReadContext = {}): Plan {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InputError(path, '', 'cannot read plan file');
  }
  if (text.trim() === '') throw new InputError(path, '', 'empty file; expected a plan');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined; // JSONL forms are parsed by their own readers from `text`.
  }
  let plan = json !== undefined ? parseBallastPlan(json, path) : undefined;
  for (const r of PLAN_FORM_READERS) {
    if (plan) break;
    plan = r.parse(json, text, path, ctx);
  }
  if (!plan) {
    throw new InputError(
      path,
      '',
      'not a plan; expected ballast plan JSON, {"physical_to_logical_map": [L][P]}, a vLLM eplb_initial_mapping line, {"expert_to_ep_rank": [E]} or DeepSeek {"phy2log": ...}',
    );
  }
  validatePlan(plan, path);
  return plan;
}
