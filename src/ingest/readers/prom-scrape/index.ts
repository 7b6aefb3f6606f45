/**
 * prom-scrape reader: Prometheus text scrapes of SGLang's `sglang:eplb_gpu_physical_count`
 * (python/sglang/srt/metrics/collector.py ExpertDispatchCollector; filled in expert_distribution.py
 * when SGLANG_EPLB_HEATMAP_COLLECTION_INTERVAL > 0). It is a histogram with one label, `layer`, whose
 * buckets are GPU ranks (buckets = range(ep_size)): SGLang adds the tokens routed to GPU r straight into
 * bucket r, so the exposition's cumulative `_bucket{layer,le="r.0"}` minus `le="(r-1).0"` is GPU r's
 * count. The values are counters since server start.
 *
 * Output: a load trace whose "expert" axis is the GPU rank (E = ep_size; meta.extra.axis = 'gpu'): the
 * metric holds no per-expert counts, so rank-level metrics (balancedness, max/mean over ranks with
 * --ranks E) are exact while expert placement plans from it are not meaningful. Windows: one per
 * scrape; window 0 is the cumulative count at the first scrape, window i the increase since scrape
 * i-1 (a decrease means the server restarted: that window takes the new cumulative value, with a
 * warning), so windows sum to the last scrape's totals. Scrapes: one per file (a directory of files in
 * name order), several in one file when samples carry timestamps or when a series repeats.
 * Layers zero in every scrape (dense layers) are dropped; layerIds keep the `layer` label values.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../../core/errors.ts';
import { makeLoadTrace, type WindowInfo } from '../../../core/load-trace.ts';
import type { Probe, RawRead, ReadOptions, TraceReader } from '../../reader.ts';

const METRIC = /^(?:sglang:)?eplb_gpu_physical_count_bucket$/;

interface Snapshot {
  timeMs?: number;
  /** layer -> le -> cumulative value */
  buckets: Map<number, Map<number, number>>;
  file: string;
}

function parseLabels(s: string, file: string, where: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;
  let i = 0;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) throw new InputError(file, where, `bad label list {${s}}`);
    out.set(m[1], m[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1'));
    i = re.lastIndex;
  }
  return out;
}

function parseFile(file: string, text: string, snaps: Snapshot[], groups: Set<string>): void {
  let cur: Snapshot | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `line ${i + 1}`;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(line);
    if (!m) throw new InputError(file, where, 'not a Prometheus text-format sample ("name{labels} value [timestamp]")');
    if (!METRIC.test(m[1])) return;
    const labels = parseLabels(m[2] ?? '', file, where);
    const layerS = labels.get('layer');
    const leS = labels.get('le');
    if (layerS === undefined || leS === undefined) throw new InputError(file, where, 'expected labels layer and le');
    const layer = Number(layerS);
    const le = leS === '+Inf' ? Number.POSITIVE_INFINITY : Number(leS);
    if (!Number.isInteger(layer) || layer < 0) throw new InputError(file, where, `layer label "${layerS}" is not a layer index`);
    if (Number.isNaN(le)) throw new InputError(file, where, `le label "${leS}" is not a number`);
    const value = Number(m[3]);
    if (!Number.isFinite(value) || value < 0) throw new InputError(file, where, `expected a non-negative count, got ${m[3]}`);
    const other = [...labels].filter(([k]) => k !== 'layer' && k !== 'le').sort().map(([k, v]) => `${k}="${v}"`).join(',');
    groups.add(other);
    if (groups.size > 1) {
      throw new InputError(file, where, `series from more than one source (${[...groups].map((g) => `{${g}}`).join(' and ')}); give one instance's scrape`);
    }
    const ts = m[4] !== undefined ? Number(m[4]) : undefined;
    const repeats = cur?.buckets.get(layer)?.has(le) ?? false;
    if (!cur || (ts !== undefined && ts !== cur.timeMs) || (ts === undefined && repeats)) {
      cur = { timeMs: ts, buckets: new Map(), file };
      snaps.push(cur);
    }
    let row = cur.buckets.get(layer);
    if (!row) cur.buckets.set(layer, (row = new Map()));
    row.set(le, value);
  });
}

export function readPromScrape(path: string, opts: ReadOptions = {}): RawRead {
  const warn = opts.warn ?? ((s: string) => process.stderr.write(`warning: ${s}\n`));
  const warnings: string[] = [];
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((n) => !n.startsWith('.'))
        .sort()
        .map((n) => join(path, n))
    : [path];
  const snaps: Snapshot[] = [];
  const groups = new Set<string>();
  for (const f of files) {
    const before = snaps.length;
    parseFile(f, readFileSync(f, 'utf8'), snaps, groups);
    if (snaps.length === before && files.length > 1) throw new InputError(f, '', 'no sglang:eplb_gpu_physical_count samples in this scrape');
  }
  if (snaps.length === 0) {
    throw new InputError(path, '', 'no sglang:eplb_gpu_physical_count_bucket samples (is SGLANG_EPLB_HEATMAP_COLLECTION_INTERVAL > 0 on the server?)');
  }
  // Shape: layers and finite bucket bounds 0..G-1.
  const layers = [...new Set(snaps.flatMap((s) => [...s.buckets.keys()]))].sort((a, b) => a - b);
  const bounds = [...new Set(snaps.flatMap((s) => [...s.buckets.values()].flatMap((r) => [...r.keys()])))].filter(Number.isFinite).sort((a, b) => a - b);
  const G = bounds.length;
  if (G === 0 || bounds.some((b, i) => b !== i)) {
    throw new InputError(snaps[0].file, '', `bucket bounds ${bounds.join(',')} are not the GPU ranks 0..G-1 that SGLang uses`);
  }
  const L = layers.length;
  const cum = snaps.map((s, si) => {
    const out = new Float64Array(L * G);
    layers.forEach((layer, li) => {
      const row = s.buckets.get(layer);
      if (!row) throw new InputError(s.file, '', `scrape ${si + 1} has no buckets for layer ${layer}`);
      let prev = 0;
      for (let r = 0; r < G; r++) {
        const v = row.get(r);
        if (v === undefined) throw new InputError(s.file, '', `scrape ${si + 1}, layer ${layer}: bucket le="${r}.0" missing`);
        if (v < prev) throw new InputError(s.file, '', `scrape ${si + 1}, layer ${layer}: bucket le="${r}.0" (${v}) is below the previous bucket (${prev}); buckets must be cumulative`);
        out[li * G + r] = v - prev;
        prev = v;
      }
      const inf = row.get(Number.POSITIVE_INFINITY);
      if (inf !== undefined && inf !== prev) throw new InputError(s.file, '', `scrape ${si + 1}, layer ${layer}: +Inf bucket ${inf} != last GPU bucket ${prev}`);
    });
    return out;
  });
  const W = snaps.length;
  const counts = new Float64Array(W * L * G);
  const windows: WindowInfo[] = [];
  for (let w = 0; w < W; w++) {
    const c = cum[w];
    let reset = false;
    if (w > 0) for (let i = 0; i < c.length; i++) if (c[i] < cum[w - 1][i]) reset = true;
    for (let i = 0; i < c.length; i++) counts[w * L * G + i] = w === 0 || reset ? c[i] : c[i] - cum[w - 1][i];
    if (reset) {
      const m = `scrape ${w + 1}: counts went down (server restart); that window holds the counts since the restart`;
      warnings.push(m);
      warn(m);
    }
    windows.push(snaps[w].timeMs !== undefined ? { step: w, timeMs: snaps[w].timeMs } : { step: w });
  }
  // Drop dense layers (zero in every scrape).
  const live = layers.map((_, li) => cum.some((c) => c.subarray(li * G, (li + 1) * G).some((v) => v !== 0)));
  const keepIdx = live.some(Boolean) ? [...live.keys()].filter((i) => live[i]) : [...live.keys()];
  const Lk = keepIdx.length;
  const kept = new Float64Array(W * Lk * G);
  for (let w = 0; w < W; w++) keepIdx.forEach((li, k) => kept.set(counts.subarray((w * L + li) * G, (w * L + li + 1) * G), (w * Lk + k) * G));
  const m = `sglang:eplb_gpu_physical_count holds per-GPU counts, not per-expert counts: the ${G} "experts" of this trace are the ${G} GPU ranks (analyze it with --ranks ${G}; plans from it are not expert placements)`;
  warnings.push(m);
  warn(m);
  const load = makeLoadTrace(
    { layerIds: keepIdx.map((i) => layers[i]), sources: files.map((f) => ({ path: f, format: 'prom-scrape' })), extra: { axis: 'gpu', epSize: G, droppedDenseLayers: L - Lk } },
    Lk,
    G,
    kept,
    windows,
  );
  return { load, warnings };
}

export function detectPromScrape(p: Probe): number {
  if (p.isDirectory) {
    // A directory of scrape files named *.prom (content is checked on read).
    const files = p.entries.filter((n) => !n.startsWith('.'));
    return files.length > 0 && files.every((n) => n.endsWith('.prom')) ? 0.6 : 0;
  }
  const s = Buffer.from(p.head.buffer, p.head.byteOffset, p.head.byteLength).toString('latin1');
  return /^(?:sglang:)?eplb_gpu_physical_count_bucket\{/m.test(s) ? 0.95 : 0;
}

export const reader: TraceReader = {
  name: 'prom-scrape',
  description: 'Prometheus text scrapes of SGLang sglang:eplb_gpu_physical_count (per layer, per GPU rank), one window per scrape',
  detect: detectPromScrape,
  read: (path, opts) => readPromScrape(path, opts),
};
