/**
 * The live collector: receives agent windows over HTTP, merges ranks, writes the trace file as
 * windows arrive, and serves Prometheus metrics, a JSON snapshot and a Server-Sent Events stream.
 *
 * Endpoints (docs/capture.md):
 *   POST /api/v1/windows   one agent window (JSON, see protocol.ts)
 *   GET  /metrics          Prometheus text (src/show/prometheus.ts); ?scope=recent&windows=N for the last N windows
 *   GET  /api/snapshot     JSON CollectorSnapshot
 *   GET  /api/events       SSE: `event: window` per merged window (JSON MergedWindowEvent)
 *   GET  /healthz          "ok"
 * With a token, every endpoint wants `Authorization: Bearer <token>` (or `?token=` for EventSource).
 */
import { statSync } from 'node:fs';
import type { Server } from 'node:http';
import { listenOn } from './listen.ts';
import { createAdaptorServer } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { InputError } from '../core/errors.ts';
import { redactCommand } from '../core/redact.ts';
import { makeLoadTrace, type LoadTrace, type TraceMeta } from '../core/load-trace.ts';
import { allocExpertIds, makeTokenRoutes } from '../core/token-routes.ts';
import { TraceWriter } from '../ingest/ballast/writer.ts';
import { checkBind, httpGuard, isLoopbackBind, portOf } from '../show/http-guard.ts';
import { renderTracePrometheus } from '../show/prometheus.ts';
import { COLLECTOR_MARK, Journal, journalPath, missingParts, readJournal, recoverTrace, type Recovery } from './durable.ts';
import { StageGate } from './layout.ts';
import { isReplica, type MergedWindow, senderKey, WindowMerger } from './merge.ts';
import { type AgentWindow, type CaptureSource, parseAgentWindow } from './protocol.ts';

export interface CollectorOptions {
  host?: string;
  /** 0 = ephemeral. */
  port?: number;
  /** Trace file to write (ballast format, fsync per record). */
  out?: string;
  token?: string;
  perExpertMetrics?: boolean;
  /** EP size for ballast_ep_rank_load (optional). */
  epRanks?: number;
  session?: string;
  /** Command being captured (kept in the trace META). */
  command?: string[];
  /** Merged windows kept in memory for /metrics?scope=recent and late SSE subscribers. Default 256. */
  keepWindows?: number;
  /** Where one-line notices go (default: stderr with a `[ballast] ` prefix). */
  log?: (line: string) => void;
  /** Pipeline parallel: how long to wait for every stage's first window before fixing the layout (default 5000 ms). */
  stageWaitMs?: number;
}

export interface RankInfo {
  rank: number;
  tpRank: number | null;
  pid: number;
  host: string;
  windows: number;
  assignments: number;
  dropped: number;
  lastSeenMs: number;
}

/** GET /api/snapshot. */
export interface CollectorSnapshot {
  session: string;
  model: string | null;
  layerIds: number[];
  layers: number;
  experts: number;
  topK: number | null;
  /** Agent windows accepted (all ranks). */
  windowsReceived: number;
  /** Merged windows written. */
  windowsMerged: number;
  /** Windows the agents report they dropped (sum over agent processes). */
  droppedWindows: number;
  tokens: number;
  /** [L][E] cumulative counts. */
  totals: number[][];
  ranks: RankInfo[];
  /** Per-layer max/mean of the latest merged window (empty before the first). */
  lastWindow: { index: number; step: number | null; phase: string | null; timeMs: number; layerImbalance: number[] } | null;
  lastUpdateMs: number | null;
  startedMs: number;
  out: string | null;
  writeError: string | null;
  /** Windows refused (bad body 400, shape 409, too large 413), and the last reason. */
  rejectedWindows: number;
  lastRejection: string | null;
}

/** SSE `window` event data. */
export interface MergedWindowEvent {
  index: number;
  step: number | null;
  phase: string | null;
  timeMs: number;
  tokens: number;
  ranks: number[];
  /** [L][E]. */
  counts: number[][];
  /** [L] max/mean (0 for a layer with no load). */
  layerImbalance: number[];
}

/** One layer's expert loads [E] -> max/mean, 0 for a layer with no traffic (shown as "no data"). */
export function rowImbalance(row: ArrayLike<number>): number {
  let s = 0;
  let m = 0;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    s += v;
    if (v > m) m = v;
  }
  return s > 0 ? m / (s / row.length) : 0;
}

function nested(flat: Float64Array, L: number, E: number): number[][] {
  return Array.from({ length: L }, (_, l) => Array.from(flat.subarray(l * E, (l + 1) * E)));
}

/** Loopback bind address (exact; see src/show/http-guard.ts). */
export const isLoopback = isLoopbackBind;

export class Collector {
  readonly app: Hono;
  private readonly opts: CollectorOptions;
  private readonly log: (line: string) => void;
  private server: Server | undefined;
  private writer: TraceWriter | undefined;
  private writeError: string | null = null;
  private shape: { layerIds: number[]; experts: number; topK?: number; model: string; moeParallel?: 'ep' | 'tp'; capture?: CaptureSource; numHiddenLayers?: number } | undefined;
  private readonly stages: StageGate;
  private refusals = new Set<string>();
  private merger: WindowMerger | undefined;
  private totals: Float64Array | undefined;
  private recent: MergedWindow[] = [];
  private ranks = new Map<string, RankInfo>();
  private windowsReceived = 0;
  private windowsMerged = 0;
  private tokens = 0;
  private lastUpdateMs: number | null = null;
  private readonly startedMs = Date.now();
  private subscribers = new Set<(data: string) => void>();
  private timer: NodeJS.Timeout | undefined;
  private routesTopK: number | undefined;
  private rejected = 0;
  /** Write-ahead journal of the open merged window (with --out): see durable.ts. */
  private journal: Journal | undefined;
  /** LOAD records in the trace file (recovered + written). */
  private loadRecords = 0;
  url = '';

  constructor(opts: CollectorOptions = {}) {
    this.opts = opts;
    this.log = opts.log ?? ((l) => process.stderr.write(`[ballast] ${l}\n`));
    const host = opts.host ?? '127.0.0.1';
    checkBind(host, opts.token, '--host', '--token');
    this.app = this.buildApp();
    this.stages = new StageGate(opts.stageWaitMs ?? 5000, (ws) => ws.forEach((w) => this.acceptShaped(w)), this.log);
    if (opts.out) {
      const rec = recoverTrace(opts.out);
      if (rec) this.resume(opts.out, rec);
    }
  }

  /** Set the session's shape (first window, or a reopened trace) and start merging. */
  private initShape(shape: NonNullable<Collector['shape']>): void {
    this.shape = shape;
    const L = shape.layerIds.length;
    this.totals = new Float64Array(L * shape.experts);
    this.merger = new WindowMerger(L * shape.experts, (m) => this.onMerged(m));
    this.timer = setInterval(() => this.merger?.tick(), 100);
    this.timer.unref();
  }

  /** Reopen a trace this collector (or an earlier run of it) wrote, replay the journaled open window, and say what was recovered. */
  private resume(out: string, rec: Recovery): void {
    const m = rec.meta;
    const nhl = m.extra?.num_hidden_layers;
    this.initShape({
      layerIds: m.layerIds, experts: m.numExperts, topK: m.topK, model: m.model ?? '', moeParallel: m.moeParallel,
      ...(typeof nhl === 'number' && Number.isSafeInteger(nhl) && nhl > 0 ? { numHiddenLayers: nhl } : {}),
    });
    this.totals!.set(rec.totals);
    this.windowsMerged = rec.windows;
    this.tokens = rec.tokens;
    this.routesTopK = rec.routesTopK;
    this.loadRecords = rec.windows;
    const meta: TraceMeta = { model: m.model, layerIds: m.layerIds, topK: m.topK, sources: [] };
    this.writer = new TraceWriter(out, meta, m.numExperts, { sync: true, appendAt: rec.appendAt });
    const open = readJournal(journalPath(out), m.layerIds.length * m.numExperts);
    let replayed = '';
    if (open) {
      const parts = missingParts(open, rec.phases);
      let tok = 0;
      for (const p of parts) {
        this.writer.appendLoad(p.counts, { ...(open.step !== undefined ? { step: open.step } : {}), timeMs: open.timeMs, ...(p.phase ? { phase: p.phase } : {}), tokens: p.tokens });
        for (let i = 0; i < p.counts.length; i++) this.totals![i] += p.counts[i];
        this.windowsMerged++;
        this.loadRecords++;
        this.tokens += p.tokens;
        tok += p.tokens;
      }
      if (parts.length > 0) replayed = `, plus the open window from ranks ${open.ranks.join(',')} (${tok} tokens) that was acknowledged but not yet written, from ${journalPath(out)}`;
    }
    this.journal = new Journal(journalPath(out), () => this.openState(), (e) => this.failWrite(e));
    this.log(
      `appending to ${out} (session ${String(m.extra?.session ?? '?')}): recovered ${rec.windows} windows, ${rec.tokens} tokens` +
        replayed +
        (rec.cutBytes > 0 ? `; dropped a cut-short last record (${rec.cutBytes} bytes)` : '') +
        (rec.ended ? '' : rec.cutBytes > 0 ? '' : '; the earlier collector stopped without closing it'),
    );
  }

  private openState() {
    const o = this.merger?.openWindow();
    return o ? { base: this.loadRecords, ...o } : undefined;
  }

  private buildApp(): Hono {
    const app = new Hono();
    // Host allow-list, token, Origin and JSON content type (src/show/http-guard.ts).
    app.use('*', httpGuard({ bindHost: this.opts.host ?? '127.0.0.1', port: () => portOf(this.url), token: this.opts.token }));
    app.post(
      '/api/v1/windows',
      // Body size bounded by the session's shape (bodyBound): a huge body is refused before it is read.
      async (c, next) => {
        const max = this.bodyBound();
        const tooLarge = () => this.reject(c, 413, `window body larger than ${max} bytes, the most a window of this session's shape needs`);
        if (Number(c.req.header('content-length') ?? 0) > max) return tooLarge();
        return bodyLimit({ maxSize: max, onError: tooLarge })(c, next);
      },
      async (c) => {
        let body: unknown;
        try {
          body = await c.req.json();
        } catch {
          return this.reject(c, 400, 'expected a JSON body');
        }
        try {
          const w = parseAgentWindow(body);
          const problem = this.accept(w);
          if (problem) return this.reject(c, 409, problem);
        } catch (e) {
          if (e instanceof InputError) return this.reject(c, 400, `${e.where ? `${e.where}: ` : ''}${e.message}`);
          throw e;
        }
        // Answer only once the window is on disk (trace or journal): an acknowledged window survives kill -9.
        if (this.journal) await this.journal.commit();
        return c.json({ ok: true });
      },
    );
    app.get('/healthz', (c) => c.text('ok\n'));
    app.get('/metrics', (c) => {
      const scope = c.req.query('scope') === 'recent' ? 'recent' : 'total';
      const n = Number(c.req.query('windows') ?? '1');
      return c.text(this.metrics(scope, Number.isFinite(n) && n >= 1 ? Math.floor(n) : 1), 200, {
        'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
      });
    });
    app.get('/api/snapshot', (c) => c.json(this.snapshot()));
    app.get('/api/events', (c) =>
      streamSSE(c, async (stream) => {
        const queue: string[] = [];
        let wake: (() => void) | undefined;
        const sub = (data: string) => {
          if (queue.length < 1024) queue.push(data);
          wake?.();
        };
        this.subscribers.add(sub);
        let open = true;
        stream.onAbort(() => {
          open = false;
          wake?.();
        });
        try {
          await stream.writeSSE({ event: 'hello', data: JSON.stringify({ session: this.opts.session ?? '' }) });
          while (open) {
            while (queue.length > 0 && open) await stream.writeSSE({ event: 'window', data: queue.shift()! });
            if (!open) break;
            await new Promise<void>((r) => {
              wake = r;
              setTimeout(r, 15000).unref();
            });
            wake = undefined;
            if (queue.length === 0 && open) await stream.writeSSE({ event: 'ping', data: '{}' });
          }
        } finally {
          this.subscribers.delete(sub);
        }
      }),
    );
    return app;
  }

  /**
   * Largest window body this session accepts (bytes). Before the first window: 64 MiB. After: the
   * counts of up to 4 phase parts as JSON numbers (at most 20 bytes per count of L x E; base64 int32
   * needs 5.4) plus 16 MiB for sampled routes and 64 KiB for the rest.
   */
  bodyBound(): number {
    const s = this.shape;
    if (!s) return 64 * 1024 * 1024;
    return 64 * 1024 + 4 * s.layerIds.length * s.experts * 20 + 16 * 1024 * 1024;
  }

  private lastRejection: string | null = null;

  /** Count and answer a refused window (shown in /api/snapshot, /metrics and the stop line). */
  private reject(c: Context, status: 400 | 409 | 413, why: string): Response {
    this.rejected++;
    this.lastRejection = `${status} ${why}`.slice(0, 300);
    return c.text(`${why}\n`, status);
  }

  /** Take one agent window. Returns a reason string when it is refused. */
  accept(w: AgentWindow): string | undefined {
    // Pipeline-parallel stages are merged by layer id (layout.ts); other windows pass straight through.
    const admitted = this.stages.admit(w);
    if ('refuse' in admitted) {
      if (!this.refusals.has(admitted.refuse)) {
        this.refusals.add(admitted.refuse);
        this.log(admitted.refuse);
      }
      return admitted.refuse;
    }
    for (const x of admitted.windows) {
      const problem = this.acceptShaped(x);
      if (problem) return problem;
    }
    return undefined;
  }

  private acceptShaped(w: AgentWindow): string | undefined {
    if (!this.shape) {
      // num_hidden_layers counts decoder layers, so it must exceed every layer id (after a pipeline-parallel
      // union too); a value that does not is dropped with one line rather than written into the trace.
      let nhl = w.numHiddenLayers;
      if (nhl !== undefined && nhl <= Math.max(...w.layerIds)) {
        this.log(`num_hidden_layers ${nhl} is not above the largest MoE layer id ${Math.max(...w.layerIds)}; the trace does not record it`);
        nhl = undefined;
      }
      this.initShape({
        layerIds: w.layerIds, experts: w.experts, topK: w.topK, model: w.model, moeParallel: w.moeParallel, capture: w.capture,
        ...(nhl !== undefined ? { numHiddenLayers: nhl } : {}),
      });
      this.openWriter();
    } else {
      const s = this.shape;
      if (s.experts !== w.experts || s.layerIds.length !== w.layerIds.length || s.layerIds.some((x, i) => x !== w.layerIds[i])) {
        return `window shape ${w.layerIds.length}x${w.experts} does not match the session's ${s.layerIds.length}x${s.experts}`;
      }
      if (s.numHiddenLayers !== undefined && w.numHiddenLayers !== undefined && w.numHiddenLayers !== s.numHiddenLayers) {
        return `num_hidden_layers ${w.numHiddenLayers} does not match the session's ${s.numHiddenLayers}`;
      }
    }
    this.windowsReceived++;
    const key = senderKey(w);
    let r = this.ranks.get(key);
    if (!r) {
      r = { rank: w.rank, tpRank: w.tpRank, pid: w.pid, host: w.host, windows: 0, assignments: 0, dropped: 0, lastSeenMs: 0 };
      this.ranks.set(key, r);
    }
    r.windows++;
    r.dropped = Math.max(r.dropped, w.dropped);
    r.lastSeenMs = Date.now();
    r.tpRank = w.tpRank;
    for (const p of w.parts) for (let i = 0; i < p.counts.length; i++) r.assignments += p.counts[i];
    if (w.routes && !isReplica(w)) this.writeRoutes(w);
    this.merger!.add(w);
    return undefined;
  }

  private openWriter(): void {
    const out = this.opts.out;
    if (!out || !this.shape) return;
    const meta: TraceMeta = {
      model: this.shape.model || undefined,
      layerIds: this.shape.layerIds,
      topK: this.shape.topK,
      moeParallel: this.shape.moeParallel,
      // The command as run, secrets redacted (--api-key S, HF_TOKEN=S, ...: src/core/redact.ts).
      sources: [{ path: this.opts.command ? redactCommand(this.opts.command).join(' ') : 'ballast-agent', format: 'ballast-agent' }],
      extra: {
        session: this.opts.session ?? '',
        capture: COLLECTOR_MARK,
        ...(this.shape.capture
          ? { capturePath: this.shape.capture.path, engine: this.shape.capture.engine, engineVersion: this.shape.capture.engineVersion }
          : {}),
        // Decoder layers of the model (dense ones included): SGLang's expert-location rows (act/export/decoder-layers.ts).
        ...(this.shape.numHiddenLayers !== undefined ? { num_hidden_layers: this.shape.numHiddenLayers } : {}),
      },
    };
    try {
      this.writer = new TraceWriter(out, meta, this.shape.experts, { sync: true });
      // A device or pipe as --out (/dev/null) gets no journal beside it.
      if (statSync(out).isFile()) this.journal = new Journal(journalPath(out), () => this.openState(), (e) => this.failWrite(e));
    } catch (e) {
      this.failWrite(e);
    }
  }

  private failWrite(e: unknown): void {
    const msg = (e as Error)?.message ?? String(e);
    this.writeError = msg;
    this.log(`cannot write the trace ${this.opts.out}: ${msg}; capture goes on without the file (metrics and snapshot still work)`);
    try {
      this.writer?.abandon();
    } catch {
      /* already broken */
    }
    this.writer = undefined;
    this.journal?.close();
    this.journal = undefined;
  }

  private writeRoutes(w: AgentWindow): void {
    if (!this.writer || !w.routes || !this.shape || w.routes.tokens === 0) return;
    const r = w.routes;
    if (this.routesTopK === undefined) this.routesTopK = r.topK;
    if (r.topK !== this.routesTopK) return;
    const L = this.shape.layerIds.length;
    const ids = allocExpertIds(this.shape.experts, r.tokens * L * r.topK);
    ids.set(r.ids);
    try {
      const routes = makeTokenRoutes({
        meta: { layerIds: this.shape.layerIds, sources: [], topK: r.topK },
        numLayers: L,
        numExperts: this.shape.experts,
        topK: r.topK,
        experts: ids,
      });
      this.writer.appendRoutes(routes);
    } catch (e) {
      this.failWrite(e);
    }
  }

  private onMerged(m: MergedWindow): void {
    const s = this.shape!;
    const L = s.layerIds.length;
    const E = s.experts;
    for (let i = 0; i < m.counts.length; i++) this.totals![i] += m.counts[i];
    this.windowsMerged++;
    this.tokens += m.tokens;
    this.lastUpdateMs = m.timeMs;
    this.recent.push(m);
    const keep = this.opts.keepWindows ?? 256;
    if (this.recent.length > keep) this.recent.splice(0, this.recent.length - keep);
    if (this.writer) {
      try {
        this.writer.appendLoad(m.counts, {
          ...(m.step !== undefined ? { step: m.step } : {}),
          timeMs: m.timeMs,
          ...(m.phase ? { phase: m.phase } : {}),
          tokens: m.tokens,
        });
        this.loadRecords++;
        this.journal?.reset();
      } catch (e) {
        this.failWrite(e);
      }
    }
    if (this.subscribers.size > 0) {
      const ev: MergedWindowEvent = {
        index: m.index,
        step: m.step ?? null,
        phase: m.phase ?? null,
        timeMs: m.timeMs,
        tokens: m.tokens,
        ranks: m.ranks,
        counts: nested(m.counts, L, E),
        layerImbalance: Array.from({ length: L }, (_, l) => rowImbalance(m.counts.subarray(l * E, (l + 1) * E))),
      };
      const data = JSON.stringify(ev);
      for (const sub of this.subscribers) sub(data);
    }
  }

  /** The recent merged windows as a LoadTrace (undefined before the first window). */
  recentTrace(): LoadTrace | undefined {
    const s = this.shape;
    if (!s) return undefined;
    const L = s.layerIds.length;
    const E = s.experts;
    const wins = this.recent.length > 0 ? this.recent : [];
    const counts = new Float64Array(Math.max(1, wins.length) * L * E);
    wins.forEach((m, i) => counts.set(m.counts, i * L * E));
    const windows = wins.length > 0 ? wins.map((m) => ({ step: m.step, timeMs: m.timeMs, phase: m.phase, tokens: m.tokens })) : [{}];
    return makeLoadTrace(
      { model: s.model || undefined, layerIds: s.layerIds, topK: s.topK, sources: [{ path: 'live', format: 'ballast-agent' }] },
      L,
      E,
      counts,
      windows,
    );
  }

  metrics(scope: 'total' | 'recent' = 'total', windows = 1): string {
    return (
      this.traceMetrics(scope, windows) +
      `# HELP ballast_rejected_windows_total Agent windows the collector refused (bad body, shape, size).\n# TYPE ballast_rejected_windows_total counter\nballast_rejected_windows_total ${this.rejected}\n`
    );
  }

  private traceMetrics(scope: 'total' | 'recent', windows: number): string {
    const t = this.recentTrace();
    let dropped = 0;
    for (const r of this.ranks.values()) dropped += r.dropped;
    if (!t) {
      return (
        '# HELP ballast_windows_total Load windows received.\n# TYPE ballast_windows_total counter\nballast_windows_total 0\n' +
        `# HELP ballast_agent_dropped_windows_total Windows the capture agents dropped.\n# TYPE ballast_agent_dropped_windows_total counter\nballast_agent_dropped_windows_total ${dropped}\n`
      );
    }
    const rankTotals = new Map<number, number>();
    for (const r of this.ranks.values()) rankTotals.set(r.rank, (rankTotals.get(r.rank) ?? 0) + r.assignments);
    return renderTracePrometheus(t, {
      scope,
      recentWindows: windows,
      totals: scope === 'total' ? this.totals : undefined,
      windowsTotal: this.windowsMerged,
      tokensTotal: this.tokens,
      rankTotals,
      perExpert: this.opts.perExpertMetrics,
      epRanks: this.opts.epRanks,
      session: this.opts.session,
      lastUpdateSeconds: this.lastUpdateMs !== null ? this.lastUpdateMs / 1000 : undefined,
      droppedWindows: dropped,
    });
  }

  snapshot(): CollectorSnapshot {
    const s = this.shape;
    const L = s?.layerIds.length ?? 0;
    const E = s?.experts ?? 0;
    let dropped = 0;
    for (const r of this.ranks.values()) dropped += r.dropped;
    const last = this.recent[this.recent.length - 1];
    return {
      session: this.opts.session ?? '',
      model: s?.model || null,
      layerIds: s?.layerIds ?? [],
      layers: L,
      experts: E,
      topK: s?.topK ?? null,
      windowsReceived: this.windowsReceived,
      windowsMerged: this.windowsMerged,
      droppedWindows: dropped,
      tokens: this.tokens,
      totals: this.totals ? nested(this.totals, L, E) : [],
      ranks: [...this.ranks.values()].sort((a, b) => a.rank - b.rank || a.pid - b.pid),
      lastWindow: last
        ? {
            index: last.index,
            step: last.step ?? null,
            phase: last.phase ?? null,
            timeMs: last.timeMs,
            layerImbalance: Array.from({ length: L }, (_, l) => rowImbalance(last.counts.subarray(l * E, (l + 1) * E))),
          }
        : null,
      lastUpdateMs: this.lastUpdateMs,
      startedMs: this.startedMs,
      out: this.opts.out ?? null,
      writeError: this.writeError,
      rejectedWindows: this.rejected,
      lastRejection: this.lastRejection,
    };
  }

  /** Listen; resolves with the base URL (http://host:port). */
  async start(): Promise<string> {
    const host = this.opts.host ?? '127.0.0.1';
    const server = createAdaptorServer({ fetch: this.app.fetch }) as Server;
    // Agents keep one connection open and post once per flush interval: keep idle connections longer.
    server.keepAliveTimeout = 65_000;
    this.server = server;
    this.url = await listenOn(server, host, this.opts.port ?? 0);
    return this.url;
  }

  /** Emit the open merged window, close the trace (END record) and stop listening. */
  async stop(): Promise<void> {
    for (const w of this.stages.drain()) this.acceptShaped(w);
    if (this.timer) clearInterval(this.timer);
    this.merger?.flush();
    if (this.writer) {
      try {
        this.writer.close();
      } catch (e) {
        this.failWrite(e);
      }
      this.writer = undefined;
    }
    this.journal?.close();
    this.journal = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    }
  }

  /** True once any window has arrived. */
  get hasData(): boolean {
    return this.shape !== undefined;
  }

  get rejectedWindows(): number {
    return this.rejected;
  }
}
