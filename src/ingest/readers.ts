/**
 * Every trace reader, and `readInput`, which picks one by content (or by --format) and always
 * returns a load trace (derived from token routes when the file holds only routes).
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { InputError } from '../core/errors.ts';
import type { LoadTrace } from '../core/load-trace.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import { isBallastTrace, readBallastTrace } from './ballast/reader.ts';
import type { Probe, ReadOptions, TraceReader } from './reader.ts';
import { loadFromRoutes } from './routes-to-load.ts';
import { reader as sglang_dumpReader } from './readers/sglang-dump/index.ts';
import { reader as npyReader } from './readers/npy/index.ts';
import { reader as vllm_jsonlReader } from './readers/vllm-jsonl/index.ts';
import { reader as jsonReader } from './readers/json/index.ts';
import { reader as csvReader } from './readers/csv/index.ts';
import { reader as esftReader } from './readers/esft/index.ts';
import { reader as vllm_logReader } from './readers/vllm-log/index.ts';
import { reader as vllm_routedReader } from './readers/vllm-routed/index.ts';
import { reader as sglang_logReader } from './readers/sglang-log/index.ts';
import { reader as prom_scrapeReader } from './readers/prom-scrape/index.ts';
import { reader as countTablesReader } from './readers/count-tables/index.ts';

export const ballastReader: TraceReader = {
  name: 'ballast',
  description: "ballast's own trace format (.ballast): load windows and/or token routes",
  detect: (p) => (!p.isDirectory && isBallastTrace(p.head) ? 1 : 0),
  read: (path, opts) => readBallastTrace(path, { warn: opts.warn, maxBytes: opts.maxBytes }),
};

/**
 * All readers. Each lives in src/ingest/readers/<name>/index.ts and exports `reader`; detection picks
 * the highest detect() score, ties going to the earlier entry.
 */
export const READERS: TraceReader[] = [
  ballastReader,
  sglang_dumpReader,
  npyReader,
  vllm_jsonlReader,
  jsonReader,
  countTablesReader,
  csvReader,
  esftReader,
  vllm_logReader,
  vllm_routedReader,
  sglang_logReader,
  prom_scrapeReader,
];

export interface InputData {
  path: string;
  format: string;
  load: LoadTrace;
  routes?: TokenRoutes;
  warnings: string[];
}

const PROBE_BYTES = 65536;

/** The first bytes of `path` (FILE#NAME: of FILE) for detect(). */
export function probePath(input: string): Probe {
  const path = splitTableSelector(input).file;
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new InputError(path, '', 'no such file or directory');
  }
  if (st.isDirectory()) return { path, isDirectory: true, head: new Uint8Array(0), entries: readdirSync(path) };
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(Math.min(PROBE_BYTES, st.size));
    let got = 0;
    while (got < head.length) {
      const n = readSync(fd, head, got, head.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return { path, isDirectory: false, head: head.subarray(0, got), entries: [] };
  } finally {
    closeSync(fd);
  }
}

export function findReader(name: string): TraceReader {
  const r = READERS.find((x) => x.name === name);
  if (!r) throw new InputError('--format', '', `unknown format "${name}"; expected one of ${READERS.map((x) => x.name).join(', ')}`);
  return r;
}

/**
 * `FILE#NAME` selects a table inside FILE (count-tables); a path that exists as given is never split.
 * Returns the file to open and the table name, if any.
 */
export function splitTableSelector(path: string): { file: string; table?: string } {
  const i = path.lastIndexOf('#');
  if (i <= 0 || i === path.length - 1 || existsSync(path)) return { file: path };
  const file = path.slice(0, i);
  return existsSync(file) ? { file, table: path.slice(i + 1) } : { file: path };
}

/** Reader names by file extension, for the closest reader when none detects the content. */
const BY_EXTENSION: [RegExp, string][] = [
  [/\.ballast$/i, 'ballast'],
  [/\.npy$/i, 'npy'],
  [/\.jsonl$/i, 'vllm-jsonl'],
  [/\.json$/i, 'json'],
  [/\.(csv|tsv)$/i, 'csv'],
  [/\.(pt|pth)$/i, 'sglang-dump'],
  [/\.(tgz|tar\.gz|tar)$/i, 'esft'],
  [/\.(prom|metrics)$/i, 'prom-scrape'],
];

/**
 * The reader whose own error is most useful when no reader detects `probe`: by the first bytes
 * (NumPy magic, zip = torch.save, gzip = tar.gz, '{' / '[' = JSON, comma-separated text = CSV),
 * then by extension. Undefined when neither says anything.
 */
export function closestReader(probe: Probe): TraceReader | undefined {
  const h = probe.head;
  const ascii = (s: string) => s.split('').every((c, i) => h[i] === c.charCodeAt(0));
  let name: string | undefined;
  if (probe.isDirectory) name = 'esft';
  else if (h.length >= 6 && h[0] === 0x93 && ascii('\x93NUMPY')) name = 'npy';
  else if (h.length >= 2 && h[0] === 0x50 && h[1] === 0x4b) name = 'sglang-dump';
  else if (h.length >= 2 && h[0] === 0x1f && h[1] === 0x8b) name = 'esft';
  else {
    const text = Buffer.from(h.subarray(0, 4096)).toString('utf8').trimStart();
    const ext = BY_EXTENSION.find(([re]) => re.test(probe.path))?.[1];
    if (text.startsWith('{') || text.startsWith('[')) {
      // One JSON object per line is vLLM's offline-EPLB JSONL; a tables file is count-tables.
      if (ext === 'vllm-jsonl' || /^\{[^\n]*\}\s*\n\s*\{/.test(text)) name = 'vllm-jsonl';
      else if (/"(tasks|models|domains)"\s*:/.test(text)) name = 'count-tables';
      else name = 'json';
    } else if (ext) name = ext;
    else if (/^[^\n]*,[^\n]*,/.test(text)) name = 'csv';
  }
  return name ? READERS.find((r) => r.name === name) : undefined;
}

/** Pick the reader with the highest detect() score for `path`; else the closest reader (see closestReader). */
export function detectReader(path: string): TraceReader {
  const probe = probePath(path);
  if (!probe.isDirectory && probe.head.length === 0) throw new InputError(path, '', 'empty file');
  let best: TraceReader | undefined;
  let bestScore = 0;
  for (const r of READERS) {
    const s = r.detect(probe);
    if (s > bestScore) {
      best = r;
      bestScore = s;
    }
  }
  // No reader claims it: the closest one reads it anyway, so the error is its own line-numbered one.
  best ??= closestReader(probe);
  if (!best) {
    throw new InputError(path, '', `unrecognised format; expected one of ${READERS.map((x) => x.name).join(', ')} (or pass --format)`);
  }
  return best;
}

/** Read one input, auto-detecting its format unless `format` is given. `FILE#NAME` picks a table. */
export async function readInput(path: string, opts: ReadOptions & { format?: string } = {}): Promise<InputData> {
  const { file, table } = splitTableSelector(path);
  const reader = opts.format ? findReader(opts.format) : detectReader(file);
  if (table !== undefined && reader.name !== 'count-tables') {
    throw new InputError(path, '', `#${table} picks a table, but ${file} is read as ${reader.name}, which holds one; drop the #${table}`);
  }
  const raw = await reader.read(file, table !== undefined ? { ...opts, table } : opts);
  const load = raw.load ?? (raw.routes ? loadFromRoutes(raw.routes) : undefined);
  if (!load) throw new InputError(path, '', `the ${reader.name} reader found no routing data`);
  return { path, format: reader.name, load, routes: raw.routes, warnings: raw.warnings ?? [] };
}
