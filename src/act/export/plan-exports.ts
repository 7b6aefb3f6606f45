/**
 * Plan exports: a ballast Plan written in the forms the engines (or their open proposals) read.
 *
 *   sglang      {"physical_to_logical_map": [L][P]}            SGLang --init-expert-location
 *   vllm-jsonl  offline-EPLB JSONL (vLLM PR 41141): an eplb_load_meta line, then
 *               {"record_type":"eplb_initial_mapping","version":1,"num_redundant_experts":R,
 *                "num_slots":P,"initial_global_assignments":{"<layer>":[P ids]}}
 *               (layer keys are MoE-layer indices 0..L-1, as in vLLM's [L][P] EPLB tensors)
 *   expert-map  {"expert_to_ep_rank": [E]} or [L][E] when layers differ (vLLM PR 34811; no replicas)
 *   deepseek    {"phy2log": [L][P_l], "log2phy": [L][E][X], "logcnt": [L][E], "num_gpus": G,
 *                "num_nodes": N}  (DeepSeek EPLB's rebalance_experts outputs; X = max replicas over
 *                the plan, -1 padded; P_l may differ per layer)
 *
 * sglang and vllm-jsonl carry one slot count P for every layer; expert-map carries no replicas.
 * Plans that do not fit are refused with an InputError that says which forms can carry them.
 * Every form reads back with `readPlanFile` (src/plan/plan-file.ts) to the same phy2log (expert-map:
 * the same expert -> rank assignment, slots within a rank in ascending expert order).
 */
import { writeFileSync } from 'node:fs';
import { InputError } from '../../core/errors.ts';
import { log2phy, type Plan, rankOfSlot, replicaCounts, uniformSlots } from '../../core/plan.ts';

export type PlanExportForm = 'sglang' | 'vllm-jsonl' | 'expert-map' | 'deepseek';

export const PLAN_EXPORT_FORMS: readonly PlanExportForm[] = ['sglang', 'vllm-jsonl', 'expert-map', 'deepseek'];

function requireUniformSlots(plan: Plan, form: string): number {
  if (!uniformSlots(plan)) {
    const sizes = [...new Set(plan.phy2log.map((r) => r.length))].sort((a, b) => a - b);
    throw new InputError(
      `--to ${form}`,
      '',
      `this plan has a different slot count per layer (${sizes.join(', ')} slots); ${form} needs one slot count for every layer. ` +
        'Export it as ballast plan JSON or --to deepseek, which carry per-layer slot counts, or re-plan with --redundant R',
    );
  }
  return plan.phy2log[0]?.length ?? 0;
}

/** SGLang's init-expert-location form. Returns {physical_to_logical_map: number[L][P]}. */
export function planToSglang(plan: Plan): { physical_to_logical_map: number[][] } {
  requireUniformSlots(plan, 'sglang');
  return { physical_to_logical_map: plan.phy2log.map((r) => Array.from(r)) };
}

/**
 * vLLM offline-EPLB JSONL: two lines (eplb_load_meta, eplb_initial_mapping), newline-terminated.
 * Returns the file text.
 */
export function planToVllmJsonl(plan: Plan): string {
  const P = requireUniformSlots(plan, 'vllm-jsonl');
  const R = P - plan.numExperts;
  const numGroups = typeof plan.params?.numGroups === 'number' ? plan.params.numGroups : 1;
  const meta = {
    record_type: 'eplb_load_meta',
    version: 1,
    model: plan.model ?? null,
    num_ranks: plan.numRanks,
    num_groups: numGroups,
    num_nodes: plan.numRanks / plan.ranksPerNode,
    num_layers: plan.numLayers,
    num_redundant_experts: R,
  };
  const assignments: Record<string, number[]> = {};
  plan.phy2log.forEach((row, l) => {
    assignments[String(l)] = Array.from(row);
  });
  const mapping = {
    record_type: 'eplb_initial_mapping',
    version: 1,
    num_redundant_experts: R,
    num_slots: P,
    initial_global_assignments: assignments,
  };
  return `${JSON.stringify(meta)}\n${JSON.stringify(mapping)}\n`;
}

/**
 * expert_to_ep_rank: rank of each logical expert. Returns {expert_to_ep_rank: number[E]} when every
 * layer places experts the same way, else number[L][E]. Refuses plans with replicas.
 */
export function planToExpertMap(plan: Plan): { expert_to_ep_rank: number[] | number[][] } {
  const E = plan.numExperts;
  for (let l = 0; l < plan.numLayers; l++) {
    if (plan.phy2log[l].length !== E) {
      throw new InputError(
        '--to expert-map',
        '',
        `layer ${l} has ${plan.phy2log[l].length} slots for ${E} experts (${plan.phy2log[l].length - E} redundant replicas); ` +
          'expert_to_ep_rank gives each expert exactly one rank and cannot carry replicas. ' +
          'Export with --to sglang, vllm-jsonl or deepseek, or re-plan with --redundant 0',
      );
    }
  }
  const G = plan.numRanks;
  const perLayer = plan.phy2log.map((row) => {
    const out = new Array<number>(E).fill(-1);
    for (let p = 0; p < row.length; p++) out[row[p]] = rankOfSlot(p, row.length, G);
    return out;
  });
  const same = perLayer.every((r) => r.every((v, e) => v === perLayer[0][e]));
  return { expert_to_ep_rank: same ? perLayer[0] : perLayer };
}

/**
 * DeepSeek EPLB's three outputs plus the shape (num_gpus, num_nodes). log2phy is [L][E][X] with X the
 * largest replica count over the whole plan, -1 padded; logcnt is [L][E].
 */
export function planToDeepseek(plan: Plan): {
  phy2log: number[][];
  log2phy: number[][][];
  logcnt: number[][];
  num_gpus: number;
  num_nodes: number;
} {
  let X = 1;
  for (let l = 0; l < plan.numLayers; l++) for (const c of replicaCounts(plan, l)) X = Math.max(X, c);
  const l2p: number[][][] = [];
  const cnt: number[][] = [];
  for (let l = 0; l < plan.numLayers; l++) {
    const { log2phy: flat, maxReplicas } = log2phy(plan, l);
    const rows: number[][] = [];
    for (let e = 0; e < plan.numExperts; e++) {
      const r = new Array<number>(X).fill(-1);
      for (let x = 0; x < maxReplicas; x++) r[x] = flat[e * maxReplicas + x];
      rows.push(r);
    }
    l2p.push(rows);
    cnt.push(Array.from(replicaCounts(plan, l)));
  }
  return {
    phy2log: plan.phy2log.map((r) => Array.from(r)),
    log2phy: l2p,
    logcnt: cnt,
    num_gpus: plan.numRanks,
    num_nodes: plan.numRanks / plan.ranksPerNode,
  };
}

/** Write `plan` to `outPath` in form `to` (refuses plans the form cannot carry; see above). */
export function writePlanExport(plan: Plan, to: PlanExportForm, outPath: string): void {
  let text: string;
  switch (to) {
    case 'sglang':
      text = `${JSON.stringify(planToSglang(plan))}\n`;
      break;
    case 'vllm-jsonl':
      text = planToVllmJsonl(plan);
      break;
    case 'expert-map':
      text = `${JSON.stringify(planToExpertMap(plan))}\n`;
      break;
    case 'deepseek':
      text = `${JSON.stringify(planToDeepseek(plan))}\n`;
      break;
    default:
      throw new InputError('--to', '', `unknown plan export form "${String(to)}"; expected one of ${PLAN_EXPORT_FORMS.join(', ')}`);
  }
  writeFileSync(outPath, text);
}
