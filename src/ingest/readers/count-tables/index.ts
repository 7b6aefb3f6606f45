/**
 * Count-tables reader: one JSON file holding several named [layers][experts] count tables with
 * their metadata, as the two data files ballast ships:
 *   data/esft-dsv2lite/load_counts.json
 *     {model, num_experts, top_k, moe_layers, tasks: {<task>: {num_tokens, counts: [26][64]}}}
 *     tables: intent, law, summary
 *   data/olmoe-routing-analysis/olmoe_mixtral_expert_counts.json
 *     {source, note, models: {<model>: {hf_model, num_experts, top_k, layers,
 *       domains: {<domain>: {expert_counts: [3][E], expert_counts_top1: [3][E], ...}}}}}
 *     tables: olmoe/arxiv, olmoe/arxiv/top1, mistral/c4, ... (the *_crosslayer pair counts are not
 *     load tables and are skipped)
 *
 * Pick a table with FILE#NAME (`load_counts.json#law`, `olmoe_mixtral_expert_counts.json#olmoe/arxiv`);
 * a name may also be any unique ending of the full one (`#arxiv` is ambiguous there: five models
 * have it). Without #NAME the error lists the tables.
 *
 * A table is a 2-D array under a key named `counts` or `expert_counts*`. Its name is the path of
 * keys from the root, leaving out the grouping keys (tasks, models, domains) and a final `counts` /
 * `expert_counts`; `expert_counts_top1` becomes `top1`. Metadata comes from the nearest enclosing
 * object: layer ids (`moe_layers` | `layers`), top-k (`top_k`; 1 for a `*_top1` table, which
 * counts first choices only), model (`hf_model` | `model`), tokens (`num_tokens`), and the
 * top-level `source` / `note` as attribution.
 *
 * Result: one window, [1][L][E]; counts must be non-negative integers.
 */
import { readFileSync, statSync } from 'node:fs';
import { InputError } from '../../../core/errors.ts';
import { defaultLayerIds, makeLoadTrace } from '../../../core/load-trace.ts';
import type { Probe, RawRead, ReadOptions, TraceReader } from '../../reader.ts';
import { defaultMaxBytes, headText } from '../csv/text-lines.ts';

const GROUP_KEYS = new Set(['tasks', 'models', 'domains', 'tables']);
const TABLE_KEY = /^(counts|expert_counts(_[a-z0-9_]+)?)$/;

export interface CountTable {
  name: string;
  /** Key path from the root, for errors. */
  keyPath: string;
  rows: unknown;
  layerIds?: number[];
  topK?: number;
  model?: string;
  tokens?: number;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function intArray(v: unknown): number[] | undefined {
  return Array.isArray(v) && v.length > 0 && v.every((x) => Number.isSafeInteger(x) && x >= 0) ? (v as number[]) : undefined;
}

/** Every count table in `json`, in document order. */
export function listCountTables(json: unknown): CountTable[] {
  const out: CountTable[] = [];
  const walk = (o: Record<string, unknown>, names: string[], keys: string[], inherited: Omit<CountTable, 'name' | 'keyPath' | 'rows'>) => {
    const here = { ...inherited };
    const layers = intArray(o.moe_layers) ?? intArray(o.layers);
    if (layers) here.layerIds = layers;
    if (Number.isSafeInteger(o.top_k) && (o.top_k as number) >= 1) here.topK = o.top_k as number;
    const model = typeof o.hf_model === 'string' ? o.hf_model : typeof o.model === 'string' ? o.model : undefined;
    if (model) here.model = model;
    const tok = typeof o.num_tokens === 'string' ? Number(o.num_tokens) : o.num_tokens;
    if (Number.isSafeInteger(tok) && (tok as number) > 0) here.tokens = tok as number;
    for (const [k, v] of Object.entries(o)) {
      if (TABLE_KEY.test(k) && Array.isArray(v) && v.length > 0 && Array.isArray(v[0])) {
        const suffix = k === 'counts' || k === 'expert_counts' ? [] : [k.replace(/^expert_counts_|^counts_/, '')];
        const top1 = /(^|_)top1$/.test(k);
        out.push({ ...here, topK: top1 ? 1 : here.topK, name: [...names, ...suffix].join('/'), keyPath: [...keys, k].join('.'), rows: v });
      } else if (isObj(v)) {
        walk(v, GROUP_KEYS.has(k) ? names : [...names, k], [...keys, k], here);
      }
    }
  };
  if (isObj(json)) walk(json, [], [], {});
  return out;
}

/** Tables whose name is `want` or ends with `/want`. */
export function matchTables(tables: CountTable[], want: string): CountTable[] {
  const exact = tables.filter((t) => t.name === want || t.keyPath === want);
  if (exact.length) return exact;
  return tables.filter((t) => t.name.endsWith(`/${want}`));
}

function detect(p: Probe): number {
  if (p.isDirectory) return 0;
  const text = headText(p.head);
  if (text === undefined) return 0;
  const t = text.trimStart();
  if (!t.startsWith('{')) return 0;
  if (/"logical_count"\s*:/.test(t)) return 0;
  // A grouping key holding objects that hold count tables.
  if (/"(tasks|models|domains)"\s*:\s*\{/.test(t) && /"(counts|expert_counts)"\s*:\s*\[\s*\[/.test(t)) return 0.9;
  return 0;
}

function listText(tables: CountTable[]): string {
  const names = tables.map((t) => t.name);
  return names.length > 12 ? `${names.slice(0, 12).join(', ')}, ... (${names.length} in all)` : names.join(', ');
}

function read(path: string, opts: ReadOptions): RawRead {
  const size = statSync(path).size;
  const maxBytes = opts.maxBytes ?? defaultMaxBytes();
  if (size * 4 > maxBytes) throw new InputError(path, '', `${size} bytes of JSON is too large to parse in memory`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InputError(path, '', `not valid JSON (${(e as Error).message})`);
  }
  const tables = listCountTables(json);
  if (tables.length === 0) throw new InputError(path, '', 'expected named count tables ({"tasks": {NAME: {"counts": [layers][experts]}}})');
  const want = opts.table;
  if (want === undefined) {
    if (tables.length > 1) {
      throw new InputError(path, '', `holds ${tables.length} count tables; pick one as ${path}#NAME, NAME one of: ${listText(tables)}`);
    }
  }
  const hits = want === undefined ? tables : matchTables(tables, want);
  if (hits.length !== 1) {
    throw new InputError(
      `${path}#${want}`,
      '',
      hits.length === 0 ? `no count table "${want}"; expected one of: ${listText(tables)}` : `"${want}" names ${hits.length} tables (${listText(hits)}); give the full name`,
    );
  }
  const t = hits[0];
  // Errors inside the table name the input as given (FILE#NAME).
  const file = want === undefined ? path : `${path}#${want}`;
  const rows = t.rows as unknown[];
  const L = rows.length;
  const E = Array.isArray(rows[0]) ? (rows[0] as unknown[]).length : 0;
  if (E === 0) throw new InputError(file, `key ${t.keyPath}[0]`, 'expected an array of expert counts');
  const counts = new Float64Array(L * E);
  for (let l = 0; l < L; l++) {
    const row = rows[l];
    if (!Array.isArray(row) || row.length !== E) throw new InputError(file, `key ${t.keyPath}[${l}]`, `expected ${E} expert counts, got ${Array.isArray(row) ? row.length : typeof row}`);
    for (let e = 0; e < E; e++) {
      const v = row[e];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
        throw new InputError(file, `key ${t.keyPath}[${l}][${e}]`, `expected a non-negative integer count, got ${JSON.stringify(v)}`);
      }
      counts[l * E + e] = v;
    }
  }
  const layerIds = t.layerIds && t.layerIds.length === L ? t.layerIds : defaultLayerIds(L);
  const root = json as Record<string, unknown>;
  const attribution = [root.source, root.note].filter((x) => typeof x === 'string').join(' ') || undefined;
  const load = makeLoadTrace(
    { model: t.model, layerIds, topK: t.topK, sources: [{ path: `${path}#${t.name}`, format: 'count-tables' }], attribution },
    L,
    E,
    counts,
    [t.tokens !== undefined ? { tokens: t.tokens } : {}],
  );
  return { load };
}

export const reader: TraceReader = {
  name: 'count-tables',
  description: 'JSON with several named [layers][experts] count tables (FILE#NAME picks one), e.g. the shipped ESFT and OLMoE count files',
  detect,
  read,
};
