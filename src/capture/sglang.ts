/**
 * `ballast capture --sglang URL`: record expert load from a running SGLang server without restarting it.
 *
 * Drives SGLang's expert-distribution recorder (sgl-project/sglang@02295fe5ac5ccff3e8829800d50450351c56fb53,
 * python/sglang/srt/eplb/expert_distribution.py and python/sglang/srt/entrypoints/http_server.py):
 * GET /get_server_info (recorder mode, ring-buffer size, tp/dp/pp/ep, MoE all-to-all backend), then
 * POST /start_expert_distribution_record, wait, POST /stop_expert_distribution_record,
 * POST /dump_expert_distribution_record. SGLang writes the dumps (torch.save) on the server host under
 * $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR (default /tmp): one expert_distribution_recorder_<time>.pt
 * (stat, written by rank 0 after an all-reduce) or one ..._<time>_<rank>.pt per rank (per_pass,
 * per_token). Every new dump of the request is read (all ranks), natively.
 *
 * stat mode keeps only the last --expert-distribution-recorder-buffer-size passes (default 1000). So
 * the recording is cut into segments short enough to fill at most half the buffer, from the pass rate
 * of a first probe segment; a segment that still fills every slot is reported as overrun (its earlier
 * passes are lost). Passes during the short stop/dump/start gaps between segments are not recorded;
 * their time is reported. Stat counts are divided by tp_size when every TP rank routed the same
 * tokens (see sglang-layout.ts); per-rank per_pass/per_token records are counted once when identical.
 */
import { concatWindows } from '../core/concat-windows.ts';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../core/errors.ts';
import { type LoadTrace, makeLoadTrace } from '../core/load-trace.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import { writeTraceFile } from '../ingest/ballast/writer.ts';
import { loadFromRoutes } from '../ingest/routes-to-load.ts';
import { readSglangDumpFiles } from '../ingest/readers/sglang-dump/read.ts';
import { expectedDumpFiles, nextSegmentMs, parseSglangServerInfo, type SglangServerInfo, statReplication } from './sglang-layout.ts';

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
  /** How long to wait for the dump files to appear. Default 30 s. */
  dumpWaitMs?: number;
  /** stat mode: length of the first segment, which measures the pass rate. Default 2 s. */
  probeMs?: number;
  /** stat mode: shortest segment. Default 200 ms. */
  minSegmentMs?: number;
  /** Resolves early (e.g. on Ctrl-C) to stop recording before the duration is over. */
  stopSignal?: Promise<void>;
  log?: (line: string) => void;
}

export interface SglangSegment {
  ms: number;
  /** Forward passes recorded (stat: ring-buffer slots written; per_pass/per_token: distinct pass ids). */
  passes: number;
  /** stat: every slot of the ring buffer was written, so earlier passes may have been overwritten. */
  full: boolean;
  dumps: string[];
}

export interface SglangCaptureResult {
  /** Every dump file read, in order. */
  dumps: string[];
  load: LoadTrace;
  routes?: TokenRoutes;
  recordedMs: number;
  segments: SglangSegment[];
  /** Time the recorder was off between segments. */
  gapMs: number;
  /** No segment overran and no per-rank dump was missing. */
  complete: boolean;
  info?: SglangServerInfo;
  /** Each stat count was divided by this (TP replicas summed by the all-reduce); 1 = not divided. */
  dividedBy: number;
}

function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function post(base: string, path: string, token: string | undefined): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { method: 'POST', headers: authHeaders(token), signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new InputError('--sglang', '', `cannot reach ${base}${path}: ${cause}`);
  }
  const body = await res.text().catch(() => '');
  if (!res.ok) {
    throw new InputError('--sglang', path, `HTTP ${res.status} ${body.slice(0, 200).trim()}${res.status === 404 ? ' (is this an SGLang server with the expert distribution recorder?)' : ''}`);
  }
}

/** GET /get_server_info; undefined (with the reason) when the server does not answer it usefully. */
async function serverInfo(base: string, token: string | undefined): Promise<{ info?: SglangServerInfo; why?: string }> {
  let res: Response;
  try {
    res = await fetch(`${base}/get_server_info`, { headers: authHeaders(token), signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new InputError('--sglang', '', `cannot reach ${base}/get_server_info: ${cause}`);
  }
  if (!res.ok) return { why: `GET /get_server_info answered HTTP ${res.status}` };
  try {
    const info = parseSglangServerInfo(await res.json());
    return info ? { info } : { why: 'GET /get_server_info did not return SGLang server arguments' };
  } catch {
    return { why: 'GET /get_server_info did not return JSON' };
  }
}

type DumpStats = Map<string, { mtimeMs: number; size: number }>;

/** Dump files in `dir` as name -> mtime and size. */
function listDumps(dir: string): DumpStats {
  const out: DumpStats = new Map();
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

/**
 * Every dump in `dir` that is new or changed since `before`, once `expected` of them (or, when the
 * count is unknown, at least one) are there and no size changed for `settleMs`. Returns what is there
 * when `waitMs` runs out with at least one file; throws with none.
 */
async function waitForDumps(dir: string, before: DumpStats, expected: number | undefined, waitMs: number, settleMs = 300): Promise<string[]> {
  const end = Date.now() + waitMs;
  let last = '';
  let stableSince = Date.now();
  for (;;) {
    const now = listDumps(dir);
    const fresh = [...now].filter(([n, s]) => {
      const old = before.get(n);
      return !old || old.mtimeMs !== s.mtimeMs || old.size !== s.size;
    });
    const sig = fresh.map(([n, s]) => `${n}:${s.size}`).sort().join('|');
    if (sig !== last) {
      last = sig;
      stableSince = Date.now();
    }
    const enough = expected === undefined ? fresh.length > 0 : fresh.length >= expected;
    const settled = Date.now() - stableSince >= settleMs && fresh.every(([, s]) => s.size > 0);
    if ((enough && settled) || (Date.now() > end && fresh.length > 0 && settled)) {
      return fresh.map(([n]) => join(dir, n)).sort();
    }
    if (Date.now() > end) {
      throw new InputError('--dump-dir', '', `no new expert_distribution_recorder_*.pt appeared in ${dir} within ${Math.round(waitMs / 1000)} s after the dump request; is --dump-dir the server's $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR on this host?`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function sleepOrStop(ms: number, stop: { stopped: boolean; signal?: Promise<void> }): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    stop.signal?.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Windows of several segment loads one after another, layers aligned by model-level id (union). */
function concatLoads(loads: LoadTrace[]): LoadTrace {
  if (loads.length === 1) return loads[0];
  const c = concatWindows(loads, (ld, w, _f, step) => ({ ...ld.windows[w], step }));
  const meta = { ...loads[0].meta, layerIds: c.layerIds, sources: loads.flatMap((l) => l.meta.sources) };
  return makeLoadTrace(meta, c.layerIds.length, c.numExperts, c.counts, c.windows);
}

/** Divide every count by `f` when all are multiples of it; false (untouched) when not. */
function divideCounts(load: LoadTrace, f: number): boolean {
  for (const v of load.counts) if (v % f !== 0) return false;
  for (let i = 0; i < load.counts.length; i++) load.counts[i] /= f;
  return true;
}

/** Record for `durationMs` (in segments in stat mode), dump, read every dump natively. Stops the recorder even when interrupted. */
export async function captureSglang(opts: SglangCaptureOptions): Promise<SglangCaptureResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`[ballast] ${l}\n`));
  const base = opts.url.replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(base)) throw new InputError('--sglang', '', `expected a server URL like http://127.0.0.1:30000, got "${opts.url}"`);
  const dumpDir = opts.dumpDir ?? process.env.SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR ?? '/tmp';
  listDumps(dumpDir); // unreadable dir: fail before touching the server
  const { info, why } = await serverInfo(base, opts.token);
  if (!info) log(`${why}; recorder mode, buffer size and TP layout unknown: ring-buffer overrun cannot be avoided and stat counts are not corrected for tensor parallelism`);
  if (info && info.mode === null) {
    throw new InputError('--sglang', '', 'the server runs without the expert distribution recorder; relaunch it with --expert-distribution-recorder-mode stat (or per_pass / per_token) and --expert-distribution-recorder-buffer-size -1');
  }
  const stat = info ? info.mode === 'stat' || info.mode === 'stat_approx' : undefined;
  const bufferSize = stat ? info?.bufferSize : undefined;
  const expected = info ? expectedDumpFiles(info) : undefined;
  const stop = { stopped: false, signal: opts.stopSignal?.then(() => void (stop.stopped = true)) };
  const segments: SglangSegment[] = [];
  const parts: { load: LoadTrace; routes?: TokenRoutes }[] = [];
  let gapMs = 0;
  let recordedMs = 0;
  let missingDumps = false;
  log(
    `recording expert distribution on ${base} for ${(opts.durationMs / 1000).toFixed(1)} s` +
      (info ? ` (SGLang ${info.version ?? '?'}, mode ${info.mode}, tp ${info.tp}, dp ${info.dp}, pp ${info.pp}${stat ? `, ring buffer ${bufferSize !== undefined && bufferSize < 0 ? 'unbounded' : `${bufferSize} passes`}` : ''})` : ''),
  );
  let gapStart: number | undefined;
  while (recordedMs < opts.durationMs && !stop.stopped) {
    const last = segments.length ? segments[segments.length - 1] : undefined;
    const segMs = nextSegmentMs({
      remainingMs: opts.durationMs - recordedMs,
      bufferSize,
      probeMs: opts.probeMs ?? 2000,
      minMs: opts.minSegmentMs ?? 200,
      last: last && { passes: last.passes, ms: last.ms, full: last.full },
    });
    const before = listDumps(dumpDir);
    await post(base, '/start_expert_distribution_record', opts.token);
    const t0 = Date.now();
    if (gapStart !== undefined) gapMs += t0 - gapStart;
    try {
      await sleepOrStop(segMs, stop);
    } finally {
      await post(base, '/stop_expert_distribution_record', opts.token);
    }
    const ms = Date.now() - t0;
    gapStart = Date.now();
    recordedMs += ms;
    await post(base, '/dump_expert_distribution_record', opts.token);
    const dumps = await waitForDumps(dumpDir, before, expected, opts.dumpWaitMs ?? 30_000);
    if (expected !== undefined && dumps.length < expected) {
      missingDumps = true;
      log(`only ${dumps.length} of the ${expected} per-rank dumps expected from tp ${info!.tp} x pp ${info!.pp}${info!.dpAttention ? '' : ` x dp ${info!.dp}`} appeared; the counts miss the other ranks`);
    }
    const raw = readSglangDumpFiles(dumps.length === 1 ? dumps[0] : dumpDir, dumps, { concatStat: true, warn: (l) => log(l) });
    const load = raw.load ?? (raw.routes ? loadFromRoutes(raw.routes) : undefined);
    if (!load) throw new InputError(dumps[0], '', 'the dump holds no routing');
    const mode = load.meta.extra?.sglangMode;
    const isStat = mode === 'stat' || mode === 'logical_count';
    const ring = Number(load.meta.extra?.ringSize ?? 0);
    const passes = isStat ? load.numWindows : new Set(load.windows.map((w) => w.step)).size;
    const full = isStat && ring > 0 && (bufferSize === undefined || bufferSize >= 0) && load.numWindows >= ring;
    segments.push({ ms, passes, full, dumps });
    parts.push({ load, routes: raw.routes });
    if (full) {
      log(
        `segment ${segments.length} (${(ms / 1000).toFixed(2)} s) wrote all ${ring} ring-buffer slots: passes before its last ${ring} were overwritten and are missing from the counts; relaunch the server with --expert-distribution-recorder-buffer-size -1 (unbounded)`,
      );
    }
  }
  let load = concatLoads(parts.map((p) => p.load));
  const routes = parts.length === 1 ? parts[0].routes : undefined;
  if (parts.length > 1 && parts.some((p) => p.routes)) log('per-token routes of several segments are not joined; only the load windows are kept');
  // TP replication of stat counts.
  let dividedBy = 1;
  const mode = load.meta.extra?.sglangMode;
  if (info && (mode === 'stat' || mode === 'logical_count')) {
    const rep = statReplication(info);
    if (rep.factor > 1) {
      if (divideCounts(load, rep.factor)) {
        dividedBy = rep.factor;
        log(`stat counts divided by ${rep.factor}: ${rep.why}`);
      } else {
        log(`not every stat count is a multiple of tp_size ${rep.factor}, so the layout is not the plain TP one ballast expects (${rep.why}); counts left as dumped and may be up to ${rep.factor}x the tokens routed`);
      }
    }
  }
  const passes = segments.reduce((s, g) => s + g.passes, 0);
  const overran = segments.filter((g) => g.full).length;
  const complete = overran === 0 && !missingDumps && info !== undefined;
  const rate = passes / Math.max(0.001, recordedMs / 1000);
  log(
    `recorded ${passes} forward passes in ${(recordedMs / 1000).toFixed(2)} s (${rate.toFixed(1)} passes/s) over ${segments.length} segment${segments.length === 1 ? '' : 's'}` +
      (segments.length > 1 ? `; the recorder was off for ${gapMs} ms between segments (about ${Math.round((rate * gapMs) / 1000)} passes not counted)` : '') +
      (overran ? `; ${overran} segment${overran === 1 ? '' : 's'} overran the ring buffer (counts incomplete)` : stat ? '; ring buffer never full' : ''),
  );
  load = {
    ...load,
    meta: {
      ...load.meta,
      moeParallel: info ? (info.ep > 1 || info.a2a !== 'none' ? 'ep' : 'tp') : load.meta.moeParallel,
      extra: {
        ...(load.meta.extra ?? {}),
        sglangUrl: base,
        sglangVersion: info?.version ?? null,
        capturePath: 'sglang-recorder',
        recordedMs,
        segments: segments.map((g) => ({ ms: g.ms, passes: g.passes, full: g.full })),
        gapMs,
        dividedBy,
        complete,
      },
    },
  };
  if (opts.out) writeTraceFile(opts.out, { load, routes });
  return { dumps: segments.flatMap((g) => g.dumps), load, routes, recordedMs, segments, gapMs, complete, info, dividedBy };
}
