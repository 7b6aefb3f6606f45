/**
 * `ballast capture --sglang URL`: record expert load from a running SGLang server without restarting it.
 *
 * Drives SGLang's expert-distribution recorder: POST /start_expert_distribution_record, wait,
 * POST /stop_expert_distribution_record, POST /dump_expert_distribution_record. SGLang writes the dump
 * (torch.save) on the server host under $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR (default /tmp) as
 * expert_distribution_recorder_<time>.pt; the newest dump that appeared after the start is read with
 * the native sglang-dump reader and written as a ballast trace.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../core/errors.ts';
import type { LoadTrace } from '../core/load-trace.ts';
import { writeTraceFile } from '../ingest/ballast/writer.ts';
import { readInput } from '../ingest/readers.ts';

export const DUMP_FILE = /^expert_distribution_recorder_.*\.pt$/;

/** "60s", "2m", "1h", "500ms" or a plain number of seconds -> milliseconds. */
export function parseDuration(s: string, flag = '--duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(s);
  if (!m) throw new InputError(flag, '', `expected a duration like 60s, 2m or 500ms, got "${s}"`);
  const v = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(v * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

export interface SglangCaptureOptions {
  /** Server base URL, e.g. http://127.0.0.1:30000. */
  url: string;
  durationMs: number;
  /** Where SGLang writes dumps (default $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR or /tmp). */
  dumpDir?: string;
  /** Trace to write; none when undefined. */
  out?: string;
  /** Bearer token for the server (SGLang --api-key). */
  token?: string;
  /** How long to wait for the dump file to appear. Default 30 s. */
  dumpWaitMs?: number;
  /** Resolves early (e.g. on Ctrl-C) to stop recording before the duration is over. */
  stopSignal?: Promise<void>;
  log?: (line: string) => void;
}

export interface SglangCaptureResult {
  dump: string;
  load: LoadTrace;
  recordedMs: number;
}

async function post(base: string, path: string, token: string | undefined): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(120_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new InputError('--sglang', '', `cannot reach ${base}${path}: ${cause}`);
  }
  const body = await res.text().catch(() => '');
  if (!res.ok) {
    throw new InputError('--sglang', path, `HTTP ${res.status} ${body.slice(0, 200).trim()}${res.status === 404 ? ' (is this an SGLang server with the expert distribution recorder?)' : ''}`);
  }
}

/** Dump files in `dir` as name -> mtimeMs. */
function listDumps(dir: string): Map<string, { mtimeMs: number; size: number }> {
  const out = new Map<string, { mtimeMs: number; size: number }>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new InputError('--dump-dir', '', `cannot read ${dir}; SGLang writes dumps on the server host under $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR (default /tmp)`);
  }
  for (const n of names) {
    if (!DUMP_FILE.test(n)) continue;
    try {
      const st = statSync(join(dir, n));
      if (st.isFile()) out.set(n, { mtimeMs: st.mtimeMs, size: st.size });
    } catch {
      /* vanished */
    }
  }
  return out;
}

/** Newest dump in `dir` that is new or changed since `before`, once its size has settled. */
async function waitForDump(dir: string, before: Map<string, { mtimeMs: number; size: number }>, waitMs: number): Promise<string> {
  const end = Date.now() + waitMs;
  let lastName = '';
  let lastSize = -1;
  for (;;) {
    const now = listDumps(dir);
    let best: string | undefined;
    let bestT = -Infinity;
    for (const [n, s] of now) {
      const old = before.get(n);
      if (old && old.mtimeMs === s.mtimeMs && old.size === s.size) continue;
      if (s.mtimeMs > bestT) {
        best = n;
        bestT = s.mtimeMs;
      }
    }
    if (best) {
      const size = now.get(best)!.size;
      if (best === lastName && size === lastSize && size > 0) return join(dir, best);
      lastName = best;
      lastSize = size;
    }
    if (Date.now() > end) {
      throw new InputError('--dump-dir', '', `no new expert_distribution_recorder_*.pt appeared in ${dir} within ${Math.round(waitMs / 1000)} s after the dump request; is --dump-dir the server's $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR on this host?`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Record for `durationMs`, dump, read the dump natively. Stops the recorder even when interrupted. */
export async function captureSglang(opts: SglangCaptureOptions): Promise<SglangCaptureResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`[ballast] ${l}\n`));
  const base = opts.url.replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(base)) throw new InputError('--sglang', '', `expected a server URL like http://127.0.0.1:30000, got "${opts.url}"`);
  const dumpDir = opts.dumpDir ?? process.env.SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR ?? '/tmp';
  const before = listDumps(dumpDir);
  await post(base, '/start_expert_distribution_record', opts.token);
  const t0 = Date.now();
  log(`recording expert distribution on ${base} for ${(opts.durationMs / 1000).toFixed(1)} s`);
  try {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, opts.durationMs);
      opts.stopSignal?.then(() => {
        clearTimeout(t);
        resolve();
      });
    });
  } finally {
    await post(base, '/stop_expert_distribution_record', opts.token);
  }
  const recordedMs = Date.now() - t0;
  await post(base, '/dump_expert_distribution_record', opts.token);
  const dump = await waitForDump(dumpDir, before, opts.dumpWaitMs ?? 30_000);
  const data = await readInput(dump, { format: 'sglang-dump', warn: (l) => log(l) });
  const load = data.load;
  load.meta.extra = { ...(load.meta.extra ?? {}), sglangUrl: base, recordedMs };
  if (opts.out) writeTraceFile(opts.out, { load, routes: data.routes });
  return { dump, load, recordedMs };
}
