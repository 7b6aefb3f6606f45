/**
 * JSON load reader: `{"logical_count": [L][E] | [N][L][E]}` (SGLang `--init-expert-location` input,
 * also a JSON copy of its recorder dump) or a bare nested array `[L][E]` / `[N][L][E]`.
 *
 * Result: [W][L][E] with W = N for 3-D input (one window per pass in the order given) else 1; layer
 * ids 0..L-1, except that under `logical_count` (rows are decoder layers) rows zero in every window
 * (dense layers) are dropped and the others keep their row index as layer id. Counts must be non-negative integers. Errors name the key path, e.g.
 * `key logical_count[3]: expected 64 experts, got 63`.
 */
import { statSync, readFileSync } from 'node:fs';
import { InputError } from '../../../core/errors.ts';
import { defaultLayerIds, makeLoadTrace } from '../../../core/load-trace.ts';
import type { Probe, RawRead, ReadOptions, TraceReader } from '../../reader.ts';
import { defaultMaxBytes, headText } from '../csv/text-lines.ts';

/** Largest JSON text V8 can hold as one string (about 512 MiB). */
const MAX_JSON_BYTES = (1 << 29) - 24;

/** Keys that mark other readers' or plan JSON: this reader never claims them. */
const FOREIGN_KEYS = /"(routed_experts|physical_to_logical_map|record_type|phy2log|log2phy|expert_to_ep_rank|format"\s*:\s*"ballast-plan|initial_global_assignments)"/;

function detect(p: Probe): number {
  if (p.isDirectory) return 0;
  const text = headText(p.head);
  if (text === undefined) return 0;
  const t = text.trimStart();
  if (!(t.startsWith('{') || t.startsWith('['))) return 0;
  if (FOREIGN_KEYS.test(t)) return 0;
  if (/^\{[\s\S]*"logical_count"\s*:/.test(t)) return 0.95;
  if (/^\[\s*\[\s*(\[\s*)?-?[0-9]/.test(t)) return 0.6;
  return 0;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return 'null';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}...` : v)}`;
  return typeof v === 'object' ? 'an object' : String(v);
}

function read(path: string, opts: ReadOptions): RawRead {
  const size = statSync(path).size;
  if (size === 0) throw new InputError(path, '', 'empty file; expected JSON counts');
  const maxBytes = opts.maxBytes ?? defaultMaxBytes();
  if (size > MAX_JSON_BYTES || size * 4 > maxBytes) {
    throw new InputError(path, '', `${size} bytes of JSON is too large to parse in memory; convert the counts to .npy or CSV`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InputError(path, '', `not valid JSON (${(e as Error).message})`);
  }
  let root: unknown;
  let key: string;
  if (Array.isArray(json)) {
    root = json;
    key = '';
  } else if (json !== null && typeof json === 'object' && 'logical_count' in json) {
    root = (json as Record<string, unknown>).logical_count;
    key = 'logical_count';
  } else {
    throw new InputError(path, '', 'expected {"logical_count": [layers][experts]} or a nested array [layers][experts]');
  }
  if (!Array.isArray(root) || root.length === 0) {
    throw new InputError(path, `key ${key || '(root)'}`, `expected a non-empty array, got ${describe(root)}`);
  }
  const threeD = Array.isArray(root[0]) && Array.isArray((root[0] as unknown[])[0]);
  const windows = (threeD ? root : [root]) as unknown[];
  const W = windows.length;
  const first = windows[0] as unknown[];
  const L = first.length;
  if (L === 0) throw new InputError(path, `key ${key}${threeD ? '[0]' : ''}`, 'expected at least one layer, got 0');
  const E = Array.isArray(first[0]) ? (first[0] as unknown[]).length : 0;
  if (E === 0) throw new InputError(path, `key ${key}${threeD ? '[0]' : ''}[0]`, `expected an array of expert counts, got ${describe(first[0])}`);
  if (W * L * E * 8 > maxBytes) throw new InputError(path, '', `${W}x${L}x${E} counts need more memory than the ${maxBytes} bytes allowed`);
  const counts = new Float64Array(W * L * E);
  for (let w = 0; w < W; w++) {
    const wk = `${key}${threeD ? `[${w}]` : ''}`;
    const win = windows[w];
    if (!Array.isArray(win)) throw new InputError(path, `key ${wk}`, `expected an array of ${L} layers, got ${describe(win)}`);
    if (win.length !== L) throw new InputError(path, `key ${wk}`, `expected ${L} layers, got ${win.length}`);
    for (let l = 0; l < L; l++) {
      const row = win[l];
      const lk = `${wk}[${l}]`;
      if (!Array.isArray(row)) throw new InputError(path, `key ${lk}`, `expected an array of ${E} expert counts, got ${describe(row)}`);
      if (row.length !== E) throw new InputError(path, `key ${lk}`, `expected ${E} experts, got ${row.length}`);
      const base = (w * L + l) * E;
      for (let e = 0; e < E; e++) {
        const v = row[e];
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
          throw new InputError(path, `key ${lk}[${e}]`, `expected a non-negative integer count, got ${typeof v === 'number' ? v : describe(v)}`);
        }
        counts[base + e] = v;
      }
    }
  }
  // SGLang's logical_count has one row per decoder layer (row l = layer l, dense layers all zero:
  // sglang python/sglang/srt/eplb/expert_location.py). Rows zero in every window are dense layers and
  // are dropped; the rest keep their row index as model-level layer id.
  let keep = defaultLayerIds(L);
  if (key === 'logical_count') {
    const live = keep.filter((l) => {
      for (let w = 0; w < W; w++) for (let e = 0; e < E; e++) if (counts[(w * L + l) * E + e] !== 0) return true;
      return false;
    });
    if (live.length > 0 && live.length < L) keep = live;
  }
  let kept = counts;
  if (keep.length < L) {
    kept = new Float64Array(W * keep.length * E);
    for (let w = 0; w < W; w++) keep.forEach((l, i) => kept.set(counts.subarray((w * L + l) * E, (w * L + l + 1) * E), (w * keep.length + i) * E));
  }
  const load = makeLoadTrace(
    { layerIds: keep, sources: [{ path, format: 'json' }] },
    keep.length,
    E,
    kept,
    Array.from({ length: W }, () => ({})),
  );
  return { load };
}

export const reader: TraceReader = {
  name: 'json',
  description: 'JSON {"logical_count": [L][E] or [N][L][E]} (SGLang) or a bare nested array',
  detect,
  read,
};
