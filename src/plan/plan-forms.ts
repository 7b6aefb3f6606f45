/**
 * The engines' plan forms as input. Each reader turns one form into a ballast Plan; plan-file.ts puts
 * them in `PLAN_FORM_READERS` (after ballast's own form), so every `readPlanFile` accepts them.
 *
 *   sglang       {"physical_to_logical_map": [L][P]}                needs numRanks from the context
 *   vllm-jsonl   JSONL holding one {"record_type":"eplb_initial_mapping","version":1,
 *                "num_redundant_experts":R,"num_slots":P,"initial_global_assignments":{"<layer>":[P]}}
 *                line, possibly among eplb_load_meta / eplb_load_stats lines; numRanks from the
 *                eplb_load_meta line (num_ranks) or the context
 *   expert-map   {"expert_to_ep_rank": [E] | [L][E]}  (no replicas; [E] applies to every layer:
 *                the context's numLayers, else one layer); slots within a rank in ascending expert id
 *   deepseek     {"phy2log": [L][P_l], "log2phy"?: [L][E][X], "logcnt"?: [L][E], "num_gpus"?: G,
 *                "num_nodes"?: N}; log2phy and logcnt, when present, must agree with phy2log
 *
 * Readers return undefined when the JSON is not their form and throw InputError when it is their form
 * but malformed. Shapes of the returned Plan: phy2log[L] Int32Array[P_l].
 */
import { InputError } from '../core/errors.ts';
import type { Plan } from '../core/plan.ts';
import type { PlanFormReader, PlanReadContext } from './plan-file.ts';

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Check `x` is an array of arrays of non-negative integers; returns it as number[][]. */
function intMatrix(x: unknown, file: string, key: string): number[][] {
  if (!Array.isArray(x) || x.length === 0) throw new InputError(file, `key ${key}`, 'expected a non-empty array of integer arrays [L][P]');
  x.forEach((row, l) => {
    if (!Array.isArray(row)) throw new InputError(file, `key ${key}[${l}]`, 'expected an array of integers');
    row.forEach((v, p) => {
      if (!Number.isInteger(v)) throw new InputError(file, `key ${key}[${l}][${p}]`, `expected an integer expert id, got ${JSON.stringify(v)}`);
    });
  });
  return x as number[][];
}

function maxPlusOne(rows: number[][]): number {
  let m = -1;
  for (const r of rows) for (const v of r) if (v > m) m = v;
  return m + 1;
}

function layerIdsFor(L: number, ctx: PlanReadContext): number[] {
  return ctx.layerIds && ctx.layerIds.length === L ? ctx.layerIds.slice() : Array.from({ length: L }, (_, i) => i);
}

function positiveInt(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) > 0;
}

function needRanks(file: string, form: string, fromFile: unknown, ctx: PlanReadContext): number {
  if (fromFile !== undefined) {
    if (!positiveInt(fromFile)) throw new InputError(file, '', `${form}: expected a positive rank count, got ${JSON.stringify(fromFile)}`);
    if (ctx.numRanks !== undefined && ctx.numRanks !== fromFile) {
      throw new InputError(file, '', `${form}: the file is for ${fromFile} ranks but ${ctx.numRanks} were asked for (--ranks)`);
    }
    return fromFile;
  }
  if (ctx.numRanks === undefined) {
    if (ctx.permutationOnly) return 1;
    throw new InputError(file, '', `${form} does not say how many ranks (EP size) it is for; pass --ranks G`);
  }
  return ctx.numRanks;
}

function ranksPerNodeFor(G: number, numNodes: unknown, ctx: PlanReadContext, file: string): number {
  if (positiveInt(numNodes)) {
    if (G % numNodes !== 0) throw new InputError(file, 'num_nodes', `${numNodes} nodes do not divide ${G} ranks`);
    return G / numNodes;
  }
  return ctx.ranksPerNode ?? G;
}

/** SGLang --init-expert-location {"physical_to_logical_map": [L][P]}. */
export const sglangPlanForm: PlanFormReader = {
  name: 'sglang',
  parse(json, _text, file, ctx) {
    if (!isObj(json)) return undefined;
    if (!('physical_to_logical_map' in json)) {
      if ('logical_count' in json && !('phy2log' in json)) {
        throw new InputError(file, 'key logical_count', 'this is an SGLang load (logical_count), not a placement; pass it as a trace, not a plan');
      }
      return undefined;
    }
    const rows = intMatrix(json.physical_to_logical_map, file, 'physical_to_logical_map');
    const G = needRanks(file, 'SGLang physical_to_logical_map', undefined, ctx);
    const L = rows.length;
    return {
      version: 1,
      numLayers: L,
      numExperts: ctx.numExperts ?? maxPlusOne(rows),
      numRanks: G,
      ranksPerNode: ctx.ranksPerNode ?? G,
      layerIds: layerIdsFor(L, ctx),
      phy2log: rows.map((r) => Int32Array.from(r)),
      solver: 'sglang-map',
    };
  },
};

/** vLLM offline-EPLB eplb_initial_mapping line (JSONL, possibly among load records). */
export const vllmJsonlPlanForm: PlanFormReader = {
  name: 'vllm-jsonl',
  parse(json, text, file, ctx) {
    if (json !== undefined && !(isObj(json) && json.record_type === 'eplb_initial_mapping')) return undefined;
    if (json === undefined && !text.includes('eplb_initial_mapping')) return undefined;
    const lines = text.split('\n');
    let mapping: Obj | undefined;
    let mappingLine = 0;
    let meta: Obj | undefined;
    for (let i = 0; i < lines.length; i++) {
      const s = lines[i].trim();
      if (s === '') continue;
      let rec: unknown;
      try {
        rec = JSON.parse(s);
      } catch {
        throw new InputError(file, `line ${i + 1}`, 'expected one JSON object per line (offline-EPLB JSONL)');
      }
      if (!isObj(rec)) throw new InputError(file, `line ${i + 1}`, 'expected a JSON object');
      if (rec.record_type === 'eplb_initial_mapping') {
        if (mapping) {
          throw new InputError(file, `line ${i + 1}`, `second eplb_initial_mapping record (first on line ${mappingLine}); expected exactly one`);
        }
        mapping = rec;
        mappingLine = i + 1;
      } else if (rec.record_type === 'eplb_load_meta') {
        meta = rec;
      }
    }
    if (!mapping) return undefined;
    const where = `line ${mappingLine}`;
    if (mapping.version !== 1) throw new InputError(file, where, `expected eplb_initial_mapping version 1, got ${JSON.stringify(mapping.version)}`);
    const P = mapping.num_slots;
    const R = mapping.num_redundant_experts;
    if (!positiveInt(P)) throw new InputError(file, `${where}: key num_slots`, `expected a positive integer, got ${JSON.stringify(P)}`);
    if (!Number.isInteger(R) || (R as number) < 0 || (R as number) >= P) {
      throw new InputError(file, `${where}: key num_redundant_experts`, `expected an integer in [0, ${P}), got ${JSON.stringify(R)}`);
    }
    const assign = mapping.initial_global_assignments;
    if (!isObj(assign) || Object.keys(assign).length === 0) {
      throw new InputError(file, `${where}: key initial_global_assignments`, 'expected an object {"<layer>": [slot ids]}');
    }
    const keys = Object.keys(assign);
    for (const k of keys) {
      if (!/^\d+$/.test(k)) throw new InputError(file, `${where}: key initial_global_assignments.${k}`, 'expected a layer index');
    }
    keys.sort((a, b) => Number(a) - Number(b));
    const rows = intMatrix(keys.map((k) => assign[k]), file, 'initial_global_assignments');
    rows.forEach((r, i) => {
      if (r.length !== P) {
        throw new InputError(file, `${where}: key initial_global_assignments.${keys[i]}`, `expected ${P} slot entries (num_slots), got ${r.length}`);
      }
    });
    const L = rows.length;
    if (meta && Number.isInteger(meta.num_layers) && meta.num_layers !== L) {
      throw new InputError(file, where, `eplb_load_meta says ${meta.num_layers} layers but the mapping has ${L}`);
    }
    const G = needRanks(file, 'vLLM eplb_initial_mapping', meta?.num_ranks, ctx);
    const E = (P as number) - (R as number);
    if (ctx.numExperts !== undefined && ctx.numExperts !== E) {
      throw new InputError(file, where, `num_slots ${P} - num_redundant_experts ${R} = ${E} experts, but ${ctx.numExperts} were expected`);
    }
    const numeric = keys.map(Number);
    const contiguous = numeric.every((v, i) => v === i);
    return {
      version: 1,
      numLayers: L,
      numExperts: E,
      numRanks: G,
      ranksPerNode: ranksPerNodeFor(G, meta?.num_nodes, ctx, file),
      layerIds: contiguous ? layerIdsFor(L, ctx) : numeric,
      phy2log: rows.map((r) => Int32Array.from(r)),
      model: typeof meta?.model === 'string' ? meta.model : undefined,
      solver: 'vllm-offline-eplb',
    };
  },
};

/** {"expert_to_ep_rank": [E] or [L][E]} (vLLM PR 34811): one replica per expert. */
export const expertMapPlanForm: PlanFormReader = {
  name: 'expert-map',
  parse(json, _text, file, ctx) {
    if (!isObj(json) || !('expert_to_ep_rank' in json)) return undefined;
    const raw = json.expert_to_ep_rank;
    if (!Array.isArray(raw) || raw.length === 0) throw new InputError(file, 'key expert_to_ep_rank', 'expected a non-empty array [E] or [L][E] of rank ids');
    const perLayer = Array.isArray(raw[0]);
    const rows: number[][] = perLayer ? intMatrix(raw, file, 'expert_to_ep_rank') : intMatrix([raw], file, 'expert_to_ep_rank');
    const E = rows[0].length;
    rows.forEach((r, l) => {
      if (r.length !== E) throw new InputError(file, `key expert_to_ep_rank[${l}]`, `expected ${E} entries (one per expert), got ${r.length}`);
    });
    if (ctx.numExperts !== undefined && ctx.numExperts !== E) {
      throw new InputError(file, 'key expert_to_ep_rank', `maps ${E} experts but ${ctx.numExperts} were expected`);
    }
    const G = ctx.numRanks ?? maxPlusOne(rows);
    if (E % G !== 0) throw new InputError(file, 'key expert_to_ep_rank', `${E} experts do not divide evenly over ${G} ranks`);
    const per = E / G;
    const phy = rows.map((r, l) => {
      const byRank: number[][] = Array.from({ length: G }, () => []);
      r.forEach((rank, e) => {
        const at = perLayer ? `key expert_to_ep_rank[${l}][${e}]` : `key expert_to_ep_rank[${e}]`;
        if (rank < 0 || rank >= G) throw new InputError(file, at, `expected a rank in [0, ${G}), got ${rank}`);
        byRank[rank].push(e);
      });
      byRank.forEach((list, rank) => {
        if (list.length !== per) {
          throw new InputError(
            file,
            perLayer ? `key expert_to_ep_rank[${l}]` : 'key expert_to_ep_rank',
            `rank ${rank} gets ${list.length} experts; every rank must get ${E}/${G} = ${per}`,
          );
        }
      });
      return Int32Array.from(byRank.flat());
    });
    const L = perLayer ? phy.length : (ctx.numLayers ?? 1);
    const phy2log = perLayer ? phy : Array.from({ length: L }, () => phy[0].slice());
    return {
      version: 1,
      numLayers: L,
      numExperts: E,
      numRanks: G,
      ranksPerNode: ctx.ranksPerNode ?? G,
      layerIds: layerIdsFor(L, ctx),
      phy2log,
      solver: 'expert-map',
    };
  },
};

/** DeepSeek EPLB outputs {"phy2log", "log2phy"?, "logcnt"?} (plus num_gpus / num_nodes when ballast wrote it). */
export const deepseekPlanForm: PlanFormReader = {
  name: 'deepseek',
  parse(json, _text, file, ctx) {
    if (!isObj(json) || !('phy2log' in json) || json.format === 'ballast-plan') return undefined;
    const rows = intMatrix(json.phy2log, file, 'phy2log');
    const L = rows.length;
    const G = needRanks(file, 'DeepSeek phy2log', json.num_gpus, ctx);
    let E = ctx.numExperts ?? maxPlusOne(rows);
    const counts = rows.map((r) => {
      const c = new Map<number, number>();
      for (const v of r) c.set(v, (c.get(v) ?? 0) + 1);
      return c;
    });
    if (json.logcnt !== undefined) {
      const lc = intMatrix(json.logcnt, file, 'logcnt');
      if (lc.length !== L) throw new InputError(file, 'key logcnt', `expected ${L} layers (as phy2log), got ${lc.length}`);
      if (ctx.numExperts === undefined) E = lc[0].length;
      lc.forEach((row, l) => {
        if (row.length !== E) throw new InputError(file, `key logcnt[${l}]`, `expected ${E} experts, got ${row.length}`);
        row.forEach((c, e) => {
          const have = counts[l].get(e) ?? 0;
          if (c !== have) throw new InputError(file, `key logcnt[${l}][${e}]`, `says ${c} replicas but phy2log[${l}] holds expert ${e} ${have} times`);
        });
      });
    }
    if (json.log2phy !== undefined) {
      const lp = json.log2phy;
      if (!Array.isArray(lp) || lp.length !== L) throw new InputError(file, 'key log2phy', `expected ${L} layers [L][E][X], as phy2log`);
      lp.forEach((layer, l) => {
        if (!Array.isArray(layer) || layer.length !== E) throw new InputError(file, `key log2phy[${l}]`, `expected ${E} experts`);
        const slotsOf: number[][] = Array.from({ length: E }, () => []);
        rows[l].forEach((v, p) => {
          if (v >= 0 && v < E) slotsOf[v].push(p);
        });
        layer.forEach((slots: unknown, e: number) => {
          const at = `key log2phy[${l}][${e}]`;
          if (!Array.isArray(slots) || !slots.every((v) => Number.isInteger(v))) throw new InputError(file, at, 'expected an array of slot ids, -1 padded');
          const listed = (slots as number[]).filter((v) => v !== -1);
          const expected = slotsOf[e];
          const a = listed.slice().sort((x, y) => x - y);
          const ok = a.length === expected.length && a.every((v, i) => v === expected[i]);
          const padOk = (slots as number[]).slice(listed.length).every((v) => v === -1);
          if (!ok || !padOk) {
            throw new InputError(file, at, `lists slots [${listed.join(', ')}] but phy2log[${l}] puts expert ${e} in slots [${expected.join(', ')}]`);
          }
        });
      });
    }
    return {
      version: 1,
      numLayers: L,
      numExperts: E,
      numRanks: G,
      ranksPerNode: ranksPerNodeFor(G, json.num_nodes, ctx, file),
      layerIds: layerIdsFor(L, ctx),
      phy2log: rows.map((r) => Int32Array.from(r)),
      solver: 'deepseek-eplb',
    };
  },
};

/** The engine forms in the order readPlanFile tries them (after ballast's own). */
export const ENGINE_PLAN_FORMS: PlanFormReader[] = [sglangPlanForm, vllmJsonlPlanForm, expertMapPlanForm, deepseekPlanForm];
