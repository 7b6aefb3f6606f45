/**
 * vLLM offline-EPLB JSONL load reader (docs/solvers.md#deepseek, vLLM PR 41141):
 *   {"record_type":"eplb_load_meta","version":1,"model","num_ranks","num_groups","num_nodes","num_layers","num_redundant_experts"}
 *   {"record_type":"eplb_load_stats","version":1,"step":n,"expert_load":[L][P],"p2l_map":[L][P]}   (one per step)
 * Physical slot loads are folded to logical experts through p2l_map (replicas' loads summed).
 * Result: [W][L][E], one window per stats line (WindowInfo.step = its step), layer ids 0..L-1.
 * E = P - num_redundant_experts when the meta line gives it, else max p2l id + 1.
 * `eplb_initial_mapping` lines (plans) are skipped. Streams the file line by line.
 */
import { nestsDeeperThan } from '../../../core/json-depth.ts';
import { InputError } from '../../../core/errors.ts';
import { defaultLayerIds, makeLoadTrace, type WindowInfo } from '../../../core/load-trace.ts';
import type { Probe, RawRead, ReadOptions, TraceReader } from '../../reader.ts';
import { defaultMaxBytes, forEachLine, headText } from '../csv/text-lines.ts';

function detect(p: Probe): number {
  if (p.isDirectory) return 0;
  const text = headText(p.head);
  if (text === undefined || !text.trimStart().startsWith('{')) return 0;
  if (/"record_type"\s*:\s*"eplb_load_(meta|stats)"/.test(text)) return 0.95;
  return 0;
}

interface StatsWindow {
  step: number;
  /** [L][E] folded counts. */
  counts: Float64Array;
}

function intMatrix(v: unknown, path: string, where: string, name: string, L: number | undefined): number[][] {
  if (!Array.isArray(v) || v.length === 0) throw new InputError(path, where, `expected "${name}" as a non-empty [layers][slots] array`);
  if (L !== undefined && v.length !== L) throw new InputError(path, where, `expected ${L} layers in "${name}", got ${v.length}`);
  return v as number[][];
}

function read(path: string, opts: ReadOptions): RawRead {
  const maxBytes = opts.maxBytes ?? defaultMaxBytes();
  const warnings: string[] = [];
  let numLayers: number | undefined;
  let numRedundant: number | undefined;
  let model: string | undefined;
  let E: number | undefined;
  let P: number | undefined;
  let skippedPlans = 0;
  const wins: StatsWindow[] = [];
  let held = 0;
  forEachLine(path, (line, lineNo) => {
    const where = `line ${lineNo}`;
    if (line.trim() === '') return;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch (e) {
      throw new InputError(path, where, `not valid JSON (${(e as Error).message})`);
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) throw new InputError(path, where, 'expected a JSON object per line');
    // Records nest 3 deep (expert_load: [[...]]); deeper is hostile and would overflow the stack in String(...) below.
    if (nestsDeeperThan(rec, 8)) throw new InputError(path, where, 'nests deeper than 8 levels; expected eplb_* records of [layers][slots] arrays');
    const type = rec.record_type;
    if (type === 'eplb_initial_mapping') {
      skippedPlans++;
      return;
    }
    if (rec.version !== undefined && rec.version !== 1) {
      throw new InputError(path, where, `unsupported ${String(type)} version ${String(rec.version)}; expected 1`);
    }
    if (type === 'eplb_load_meta') {
      if (rec.num_layers !== undefined) {
        if (!Number.isInteger(rec.num_layers) || (rec.num_layers as number) < 1) throw new InputError(path, where, `expected a positive integer num_layers, got ${String(rec.num_layers)}`);
        numLayers = rec.num_layers as number;
      }
      if (rec.num_redundant_experts !== undefined) {
        if (!Number.isInteger(rec.num_redundant_experts) || (rec.num_redundant_experts as number) < 0) {
          throw new InputError(path, where, `expected a non-negative integer num_redundant_experts, got ${String(rec.num_redundant_experts)}`);
        }
        numRedundant = rec.num_redundant_experts as number;
      }
      if (typeof rec.model === 'string') model = rec.model;
      return;
    }
    if (type !== 'eplb_load_stats') {
      throw new InputError(path, where, `unknown record_type ${JSON.stringify(type)}; expected eplb_load_meta, eplb_load_stats or eplb_initial_mapping`);
    }
    const step = rec.step;
    if (!Number.isInteger(step)) throw new InputError(path, where, `expected an integer "step", got ${String(step)}`);
    const load = intMatrix(rec.expert_load, path, where, 'expert_load', numLayers);
    const p2l = intMatrix(rec.p2l_map, path, where, 'p2l_map', numLayers ?? load.length);
    numLayers ??= load.length;
    const L = numLayers;
    if (load.length !== L) throw new InputError(path, where, `expected ${L} layers in "expert_load", got ${load.length}`);
    // Slot count from the first layer; every layer and step must agree.
    const P0 = Array.isArray(load[0]) ? load[0].length : 0;
    P ??= P0;
    if (E === undefined) {
      if (numRedundant !== undefined) {
        E = P - numRedundant;
        if (E < 1) throw new InputError(path, where, `${P} slots minus ${numRedundant} redundant experts leaves no logical experts`);
      } else {
        let mx = -1;
        for (const row of p2l) if (Array.isArray(row)) for (const v of row) if (typeof v === 'number' && v > mx) mx = v;
        E = mx + 1;
        if (E < 1) throw new InputError(path, where, 'expected logical expert ids in "p2l_map"');
      }
    }
    held += L * E * 8;
    if (held > maxBytes) throw new InputError(path, where, `more than ${maxBytes} bytes of counts; too large to hold in memory`);
    const counts = new Float64Array(L * E);
    for (let l = 0; l < L; l++) {
      const lr = load[l];
      const pr = p2l[l];
      if (!Array.isArray(lr) || lr.length !== P) throw new InputError(path, where, `expected ${P} slots in expert_load[${l}], got ${Array.isArray(lr) ? lr.length : typeof lr}`);
      if (!Array.isArray(pr) || pr.length !== P) throw new InputError(path, where, `expected ${P} slots in p2l_map[${l}], got ${Array.isArray(pr) ? pr.length : typeof pr}`);
      for (let p = 0; p < P; p++) {
        const e = pr[p];
        const v = lr[p];
        if (!Number.isInteger(e) || e < 0 || e >= E) throw new InputError(path, where, `p2l_map[${l}][${p}] = ${String(e)}; expected a logical expert id in [0, ${E})`);
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
          throw new InputError(path, where, `expert_load[${l}][${p}] = ${String(v)}; expected a non-negative integer count`);
        }
        counts[l * E + e] += v;
      }
    }
    wins.push({ step: step as number, counts });
  });
  if (wins.length === 0) throw new InputError(path, '', 'no eplb_load_stats lines; expected at least one step of expert_load');
  if (skippedPlans > 0) warnings.push(`${path}: skipped ${skippedPlans} eplb_initial_mapping line(s) (plans; read them with ballast plan --current)`);
  const L = numLayers!;
  const Ef = E!;
  const all = new Float64Array(wins.length * L * Ef);
  const windows: WindowInfo[] = [];
  wins.forEach((w, i) => {
    all.set(w.counts, i * L * Ef);
    windows.push({ step: w.step });
  });
  const load = makeLoadTrace({ model, layerIds: defaultLayerIds(L), sources: [{ path, format: 'vllm-jsonl' }] }, L, Ef, all, windows);
  const warn = opts.warn ?? ((l: string) => process.stderr.write(`warning: ${l}\n`));
  for (const w of warnings) warn(w);
  return { load, warnings };
}

export const reader: TraceReader = {
  name: 'vllm-jsonl',
  description: 'vLLM offline-EPLB JSONL (eplb_load_meta + eplb_load_stats per step), folded to logical experts',
  detect,
  read,
};
