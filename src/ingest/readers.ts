/**
 * Every trace reader, and `readInput`, which picks one by content (or by --format) and always
 * returns a load trace (derived from token routes when the file holds only routes).
 */
import { readdirSync, statSync, openSync, readSync, closeSync } from 'node:fs';
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

export function probePath(path: string): Probe {
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

/** Pick the reader with the highest detect() score for `path`. */
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
  if (!best) {
    throw new InputError(path, '', `unrecognised format; expected one of ${READERS.map((x) => x.name).join(', ')} (or pass --format)`);
  }
  return best;
}

/** Read one input, auto-detecting its format unless `format` is given. */
export async function readInput(path: string, opts: ReadOptions & { format?: string } = {}): Promise<InputData> {
  const reader = opts.format ? findReader(opts.format) : detectReader(path);
  const raw = await reader.read(path, opts);
  const load = raw.load ?? (raw.routes ? loadFromRoutes(raw.routes) : undefined);
  if (!load) throw new InputError(path, '', `the ${reader.name} reader found no routing data`);
  return { path, format: reader.name, load, routes: raw.routes, warnings: raw.warnings ?? [] };
}
