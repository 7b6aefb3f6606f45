/**
 * Plan exports: a ballast Plan written in the forms the engines (or their open proposals) read.
 *
 *   sglang      {"physical_to_logical_map": [N][P]}  SGLang --init-expert-location, loaded by released
 *               SGLang. Row l is decoder layer l over all N = num_hidden_layers layers, as SGLang indexes
 *               it (see decoder-layers.ts for the source lines); dense layers get the trivial row
 *               p -> p % E, the row SGLang's own `init_trivial` builds.
 *   vllm-jsonl  offline-EPLB JSONL (vLLM PR #41141, open; no vLLM release reads it): an eplb_load_meta
 *               line, then {"record_type":"eplb_initial_mapping","version":1,"num_redundant_experts":R,
 *                "num_slots":P,"initial_global_assignments":{"<layer>":[P ids]}}
 *               (layer keys are MoE-layer indices 0..L-1, as in vLLM's [L][P] EPLB tensors)
 *   expert-map  {"expert_to_ep_rank": [E]} (vLLM PR #34811 `--expert-placement-file`, open; no vLLM
 *               release reads it): one map for every layer, no replicas. A plan whose layers differ is
 *               refused unless one layer is chosen (`layer`).
 *   deepseek    {"phy2log": [L][P_l], "log2phy": [L][E][X], "logcnt": [L][E], "num_gpus": G,
 *                "num_nodes": N}  (DeepSeek EPLB's rebalance_experts outputs; X = max replicas over
 *                the plan, -1 padded; P_l may differ per layer)
 *
 * sglang and vllm-jsonl carry one slot count P for every layer; expert-map carries no replicas.
 * Plans that do not fit are refused with an InputError that says which forms can carry them.
 * Every form reads back with `readPlanFile` (src/plan/plan-file.ts) to the same phy2log (sglang: one
 * row per decoder layer, row index = layer id; expert-map: the same expert -> rank assignment, slots
 * within a rank in ascending expert order).
 */
import { writeFileSync } from 'node:fs';
import { InputError } from '../../core/errors.ts';
import { log2phy, type Plan, rankOfSlot, replicaCounts, uniformSlots } from '../../core/plan.ts';
import type { DecoderLayers } from './decoder-layers.ts';

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

/**
 * SGLang's init-expert-location form over every decoder layer: row l is the plan's layer with
 * layerIds[i] = l, or the trivial row [p % E for p in 0..P) for a dense layer.
 * Takes the plan ([L][P], uniform P) and N = layers.numHiddenLayers > max layer id.
 * Returns {physical_to_logical_map: number[N][P]}.
 */
export function planToSglang(plan: Plan, layers: DecoderLayers): { physical_to_logical_map: number[][] } {
  const P = requireUniformSlots(plan, 'sglang');
  const N = layers.numHiddenLayers;
  const byId = new Map<number, number>();
  plan.layerIds.forEach((id, i) => byId.set(id, i));
  const trivial = Array.from({ length: P }, (_, p) => p % plan.numExperts);
  const rows: number[][] = [];
  for (let l = 0; l < N; l++) {
    const i = byId.get(l);
    rows.push(i === undefined ? trivial.slice() : Array.from(plan.phy2log[i]));
  }
  if (byId.size !== plan.numLayers || [...byId.keys()].some((id) => id >= N || id < 0)) {
    throw new InputError('--to sglang', '', `the plan's layer ids (${plan.layerIds.join(', ')}) do not fit ${N} decoder layers (from ${layers.source})`);
  }
  return { physical_to_logical_map: rows };
}

/**
 * The SGLang launch flags a physical_to_logical_map file needs (sgl-project/sglang @
 * 469c63e54e7d94591617ef9590c6aa26d54dc1bb, python/sglang/srt/server_args.py: --ep-size /
 * --expert-parallel-size, --ep-num-redundant-experts, --init-expert-location, --ep-dispatch-algorithm).
 * SGLang builds P = num_logical_experts + ep_num_redundant_experts slots and asserts P % ep_size == 0
 * (expert_location.py `_init_common`), so R and G must be exactly the plan's. Without a dispatch
 * algorithm SGLang does not translate logical to physical ids; `static` is what it picks itself when
 * --init-expert-location is given, and is spelt out here so an older build does not differ.
 * `--enable-eplb` is left out on purpose: it would re-balance online and replace this placement.
 */
export function sglangLaunchFlags(plan: Plan, file: string): string[] {
  const P = plan.phy2log[0]?.length ?? plan.numExperts;
  const flags = [`--tp-size ${plan.numRanks}`, `--ep-size ${plan.numRanks}`, `--ep-num-redundant-experts ${P - plan.numExperts}`, `--init-expert-location ${file}`, '--ep-dispatch-algorithm static'];
  const nodes = plan.numRanks / plan.ranksPerNode;
  if (nodes > 1) flags.push(`--nnodes ${nodes}`);
  return flags;
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
 * expert_to_ep_rank as vLLM PR #34811 reads it (`--expert-placement-file`): {expert_to_ep_rank: number[E]},
 * the rank of each logical expert, applied to every MoE layer. Refuses plans with replicas, and plans
 * whose layers place experts differently unless `layer` (a model-level layer id) picks the one to write.
 */
export function planToExpertMap(plan: Plan, layer?: number): { expert_to_ep_rank: number[] } {
  const E = plan.numExperts;
  for (let l = 0; l < plan.numLayers; l++) {
    if (plan.phy2log[l].length !== E) {
      throw new InputError(
        '--to expert-map',
        '',
        `layer ${plan.layerIds[l]} has ${plan.phy2log[l].length} slots for ${E} experts (${plan.phy2log[l].length - E} redundant replicas); ` +
          'expert_to_ep_rank gives each expert exactly one rank and cannot carry replicas. ' +
          'Export with --to sglang, vllm-jsonl or deepseek, or re-plan with --redundant 0',
      );
    }
  }
  const G = plan.numRanks;
  const ranksOf = (row: Int32Array) => {
    const out = new Array<number>(E).fill(-1);
    for (let p = 0; p < row.length; p++) out[row[p]] = rankOfSlot(p, row.length, G);
    return out;
  };
  if (layer !== undefined) {
    const i = plan.layerIds.indexOf(layer);
    if (i < 0) throw new InputError('--layer', '', `the plan has no layer ${layer}; its layers are ${plan.layerIds.join(', ')}`);
    return { expert_to_ep_rank: ranksOf(plan.phy2log[i]) };
  }
  const perLayer = plan.phy2log.map(ranksOf);
  const differs = perLayer.findIndex((r) => r.some((v, e) => v !== perLayer[0][e]));
  if (differs >= 0) {
    throw new InputError(
      '--to expert-map',
      '',
      `layers ${plan.layerIds[0]} and ${plan.layerIds[differs]} place experts on different ranks, but expert_to_ep_rank (vLLM PR #34811) is one [E] map for every layer; ` +
        'pick the layer to write with --layer N, or re-plan for one shared placement',
    );
  }
  return { expert_to_ep_rank: perLayer[0] };
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

export interface PlanExportOptions {
  /** Decoder layers for the sglang form (required there). */
  layers?: DecoderLayers;
  /** expert-map: the model-level layer id to write when layers differ. */
  layer?: number;
}

/** Write `plan` to `outPath` in form `to` (refuses plans the form cannot carry; see above). */
export function writePlanExport(plan: Plan, to: PlanExportForm, outPath: string, opts: PlanExportOptions = {}): void {
  let text: string;
  switch (to) {
    case 'sglang': {
      if (!opts.layers) throw new InputError('--to sglang', '', 'the decoder layer count (num_hidden_layers) is needed; pass --model <config.json>');
      text = `${JSON.stringify(planToSglang(plan, opts.layers))}\n`;
      break;
    }
    case 'vllm-jsonl':
      text = planToVllmJsonl(plan);
      break;
    case 'expert-map':
      text = `${JSON.stringify(planToExpertMap(plan, opts.layer))}\n`;
      break;
    case 'deepseek':
      text = `${JSON.stringify(planToDeepseek(plan))}\n`;
      break;
    default:
      throw new InputError('--to', '', `unknown plan export form "${String(to)}"; expected one of ${PLAN_EXPORT_FORMS.join(', ')}`);
  }
  writeFileSync(outPath, text);
}
