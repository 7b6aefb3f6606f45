/**
 * `ballast dashboard`: a local web server (hono) showing the report's views for a trace file or a
 * running collector, updated live.
 *
 * Routes:
 *   GET  /             the page (views + plan playground)
 *   GET  /api/body     the views as an HTML fragment (header x-ballast-version)
 *   GET  /api/model    the report model (JSON, model.ts)
 *   GET  /api/stream   SSE: `update` {version, status} whenever the views change, `status` {status}
 *   POST /api/plan     {solver, ranks, redundantSlots} -> {summary, html}: solve on the current data,
 *                      run the gate `ballast plan` runs (held out, predicted time, verdict) against
 *                      the current placement (content-type must be application/json)
 *   GET  /api/solvers  ["ballast", ...]
 *   GET  /metrics      Prometheus text (ballast_*) for the data shown (src/show/prometheus.ts)
 *   GET  /healthz      ok
 * Binds 127.0.0.1 unless told otherwise; off loopback it needs --auth-token. Host allow-list, token,
 * Origin and content-type checks: src/show/http-guard.ts.
 */
import type { Server } from 'node:http';
import { listenOn } from '../../capture/listen.ts';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { InputError } from '../../core/errors.ts';
import { defaultPlan } from '../../core/default-placements.ts';
import type { InputData } from '../../ingest/readers.ts';
import { checkBind, httpGuard, portOf } from '../http-guard.ts';
import { renderTracePrometheus } from '../prometheus.ts';
import { type BuildOptions, buildReportModel, buildTraceView, defaultRanks, recommendPlan, REPORT_BATCH_TOKENS, reportCluster, solverNames } from '../report/build.ts';
import { formatStepTime, verdictWord } from '../report/gate-view.ts';
import { tryPredict } from '../report/predict.ts';
import type { Cluster } from '../../core/cluster.ts';
import { renderPlacementCharts, renderPlanTables, renderReportBody } from '../report/html.ts';
import { REPORT_FORMAT, type ReportModel } from '../report/model.ts';
import { esc } from '../charts/svg.ts';
import type { DataSource } from './sources.ts';
import { renderDashboardPage } from './page.ts';

/** The report builder's options (placement, solver, prediction), plus where to serve and from what. */
export interface DashboardOptions extends Omit<BuildOptions, 'title' | 'now'> {
  source: DataSource;
  host?: string;
  /** 0 = ephemeral. Default 0. */
  port?: number;
  /** Least time between two rebuilds of the views (ms). Default 500. */
  rebuildMs?: number;
  title?: string;
  log?: (line: string) => void;
  /** Token every request must carry (bearer, ?token= or the cookie a ?token= sets); required off loopback. */
  authToken?: string;
}


export class Dashboard {
  readonly app: Hono;
  url = '';
  version = 0;
  status = 'waiting for data';
  private model: ReportModel;
  private input: InputData | undefined;
  private pending: InputData | undefined;
  private rebuilding = false;
  private lastBuild = 0;
  private timer: NodeJS.Timeout | undefined;
  private server: Server | undefined;
  private subscribers = new Set<(event: string, data: string) => void>();
  private readonly opts: DashboardOptions;
  private readonly cluster: Cluster | undefined;

  constructor(opts: DashboardOptions) {
    checkBind(opts.host ?? '127.0.0.1', opts.authToken, '--host', '--auth-token');
    this.opts = opts;
    this.cluster = reportCluster(opts.cluster);
    this.model = this.emptyModel();
    this.app = this.buildApp();
  }

  private emptyModel(): ReportModel {
    return { format: REPORT_FORMAT, version: 1, title: this.opts.title ?? 'ballast dashboard', createdMs: Date.now(), traces: [], plans: [], simulations: [], notes: [] };
  }

  /** EP size shown: the current plan's, --ranks, the cluster's GPUs, or a default that divides E. */
  ranksFor(E: number): number {
    return this.opts.current?.numRanks ?? this.opts.ranks ?? this.cluster?.gpus.length ?? defaultRanks(E);
  }

  currentModel(): ReportModel {
    return this.model;
  }

  /** Take new data; the views are rebuilt at most every rebuildMs. */
  accept(input: InputData): void {
    this.pending = input;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.rebuilding) return;
    const wait = Math.max(0, this.lastBuild + (this.opts.rebuildMs ?? 500) - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.rebuild();
    }, wait);
    this.timer.unref();
  }

  private async rebuild(): Promise<void> {
    const input = this.pending;
    if (!input) return;
    this.pending = undefined;
    this.rebuilding = true;
    try {
      const E = input.load.numExperts;
      const model = await buildReportModel(
        { traces: [input], plans: [], simulations: [], reports: [] },
        {
          title: this.opts.title ?? 'ballast dashboard',
          ranks: this.ranksFor(E),
          current: this.opts.current,
          solver: this.opts.solver,
          redundantSlots: this.opts.redundantSlots,
          batchTokens: this.opts.batchTokens,
          model: this.opts.model,
          cluster: this.opts.cluster,
          noPredict: this.opts.noPredict,
        },
      );
      this.model = model;
      this.input = input;
      this.version++;
      this.status = `${this.opts.source.description} · ${input.load.numWindows} window${input.load.numWindows === 1 ? '' : 's'}`;
    } catch (e) {
      this.status = `cannot build the views: ${(e as Error).message}`;
      this.version++;
    } finally {
      this.rebuilding = false;
      this.lastBuild = Date.now();
    }
    this.broadcast('update', JSON.stringify({ version: this.version, status: this.status }));
    if (this.pending) this.schedule();
  }

  private setStatus(status: string): void {
    this.status = status;
    this.broadcast('status', JSON.stringify({ status }));
  }

  private broadcast(event: string, data: string): void {
    for (const s of this.subscribers) s(event, data);
  }

  /** Solve with the playground's choices on the current data; returns the summary and an HTML fragment. */
  async playground(req: { solver?: unknown; ranks?: unknown; redundantSlots?: unknown }): Promise<{ summary: Record<string, unknown>; html: string }> {
    const input = this.input;
    if (!input) throw new InputError('playground', '', 'no data yet');
    const names = solverNames();
    const solver = typeof req.solver === 'string' ? req.solver : this.opts.solver ?? 'ballast';
    if (!names.includes(solver)) throw new InputError('playground', 'solver', `unknown solver "${solver}"; expected one of ${names.join(', ')}`);
    const { numLayers: L, numExperts: E } = input.load;
    const G = req.ranks === undefined ? this.ranksFor(E) : Number(req.ranks);
    if (!Number.isInteger(G) || G < 1 || E % G !== 0) throw new InputError('playground', 'ranks', `${String(req.ranks)} ranks do not divide ${E} experts`);
    const R = req.redundantSlots === undefined ? 0 : Number(req.redundantSlots);
    if (!Number.isInteger(R) || R < 0 || R > 4 * E || (E + R) % G !== 0) {
      throw new InputError('playground', 'redundantSlots', `${String(req.redundantSlots)} redundant slots: expected an integer in [0, ${4 * E}] with ${E} + R divisible by ${G}`);
    }
    // The node layout and cost model are --cluster's when it has G GPUs, else H100-SXM nodes of 8 (as `ballast plan`).
    const cluster = this.cluster && this.cluster.gpus.length === G ? this.cluster : undefined;
    const ranksPerNode = cluster?.gpusPerNode ?? G;
    const given = this.opts.current && this.opts.current.numRanks === G ? this.opts.current : undefined;
    const current = given ?? defaultPlan('linear', L, E, G, [...input.load.meta.layerIds], ranksPerNode);
    if (!given) current.solver = 'linear';
    const batchTokens = this.opts.batchTokens ?? REPORT_BATCH_TOKENS;
    const t0 = performance.now();
    const rec = await recommendPlan(input, G, { solver, redundantSlots: R, current: given, ranksPerNode, cluster, batchTokens: this.opts.batchTokens });
    const solveMs = performance.now() - t0;
    const plan = rec.plan;
    // The same gate as `ballast plan` and the report (held out when the data is long enough).
    const prediction = this.opts.noPredict
      ? undefined
      : await tryPredict(input, plan, { model: this.opts.model, cluster, numNodes: G / ranksPerNode, current: given, solved: { solver: rec.solver, solveInput: rec.solveInput }, batchTokens });
    const view = buildTraceView(input, { current, recommended: plan, recommendedLabel: `${solver} (R=${R})`, batchTokens, gate: prediction?.gate });
    const pl = view.placements!;
    const recView = pl.recommended!;
    const gate = prediction?.gate;
    const summary = {
      solver,
      ranks: G,
      redundantSlots: R,
      solveMs: Math.round(solveMs),
      currentMaxOverMean: pl.current.meanMaxOverMean,
      recommendedMaxOverMean: recView.meanMaxOverMean,
      stragglerReduction: pl.stragglerReduction,
      balancednessVllm: recView.balancednessVllm,
      expertsMoved: recView.expertsMoved,
      verdict: gate?.verdict,
      heldOut: gate?.heldOut,
      predictedStepUs: gate?.time ? { current: gate.time.currentUs, proposed: gate.time.proposedUs } : undefined,
      predictedGainPct: gate?.time?.gainPct,
      gateNote: prediction?.note,
    };
    const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3));
    const moved = R > 0 ? 'Expert replicas moved' : 'Experts moved';
    let html = `<div class="cards">`;
    if (gate?.time) {
      const cls = gate.verdict === 'apply' ? 'verdict-replan' : 'verdict-keep';
      html += `<div class="card ${cls}"><div class="k">Gate verdict</div><div class="v" id="pg-verdict">${esc(verdictWord(gate.verdict))}</div><div class="s" id="pg-judged">${esc(gate.heldOut ? 'held out: planned on the first part, scored on the rest' : 'in-sample: too little data to hold a part out (optimistic)')}</div></div>`;
      html += `<div class="card wide"><div class="k">Predicted MoE time per step</div><div class="v" id="pg-time" data-current-us="${gate.time.currentUs}" data-proposed-us="${gate.time.proposedUs}">${esc(formatStepTime(gate.time.currentUs))} → ${esc(formatStepTime(gate.time.proposedUs))}</div><div class="s">current → ${esc(solver)}: ${esc(gate.time.gainPct >= 0 ? 'saves' : 'costs')} ${Math.abs(gate.time.gainPct).toFixed(1)}%</div></div>`;
    }
    html += `<div class="card wide"><div class="k">Max/mean rank load</div><div class="v" id="pg-gain">${fmt(pl.current.meanMaxOverMean)} → ${fmt(recView.meanMaxOverMean)}</div><div class="s">token balance, current → ${esc(solver)}, mean over layers (whole data)</div></div>`;
    html += `<div class="card"><div class="k">${moved}</div><div class="v">${recView.expertsMoved ?? '–'}</div><div class="s">solved in ${Math.round(solveMs)} ms</div></div></div>`;
    if (gate?.headline) html += `<p class="gate-headline" id="pg-headline">${esc(gate.headline)}</p>`;
    else if (prediction?.note) html += `<p class="muted" id="pg-headline">${esc(prediction.note)}</p>`;
    html += renderPlacementCharts(view, 'pg');
    for (const [i, ts] of view.timeSeries.entries()) {
      if (i > 0) break;
      html += `<p class="muted">${esc(ts.title)}: mean ${fmt(mean(ts.series[0].values))} → ${fmt(mean(ts.series[1]?.values ?? []))}</p>`;
    }
    html += renderPlanTables(view);
    return { summary, html };
  }

  metrics(): string {
    const input = this.input;
    if (!input) return '# ballast dashboard: no data yet\n';
    const E = input.load.numExperts;
    const G = this.ranksFor(E);
    return renderTracePrometheus(input.load, { epRanks: E % G === 0 ? G : undefined });
  }

  private buildApp(): Hono {
    const app = new Hono();
    // Host allow-list (DNS rebinding), token off loopback, Origin and JSON content type: src/show/http-guard.ts.
    app.use('*', httpGuard({ bindHost: this.opts.host ?? '127.0.0.1', port: () => portOf(this.url), token: this.opts.authToken, cookie: true }));
    app.get('/', (c) =>
      c.html(
        renderDashboardPage({
          title: this.model.title,
          body: this.input ? renderReportBody(this.model) : `<p class="muted empty">Waiting for data from ${esc(this.opts.source.description)}…</p>`,
          version: this.version,
          status: this.status,
          solvers: solverNames(),
          defaultSolver: this.opts.solver ?? 'ballast',
          ranks: this.input ? this.ranksFor(this.input.load.numExperts) : (this.opts.ranks ?? 8),
          redundantSlots: this.opts.redundantSlots ?? 0,
        }),
      ),
    );
    app.get('/api/body', (c) => {
      c.header('x-ballast-version', String(this.version));
      c.header('cache-control', 'no-store');
      return c.html(this.input ? renderReportBody(this.model) : `<p class="muted empty">${esc(this.status)}</p>`);
    });
    app.get('/api/model', (c) => c.json(this.model));
    app.get('/api/solvers', (c) => c.json(solverNames()));
    app.get('/healthz', (c) => c.text('ok\n'));
    app.get('/metrics', (c) => c.text(this.metrics(), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }));
    app.post('/api/plan', async (c) => {
      if (!(c.req.header('content-type') ?? '').startsWith('application/json')) return c.json({ error: 'expected application/json' }, 415);
      let body: Record<string, unknown>;
      try {
        body = (await c.req.json()) as Record<string, unknown>;
      } catch {
        return c.json({ error: 'expected a JSON body' }, 400);
      }
      try {
        return c.json(await this.playground(body));
      } catch (e) {
        if (e instanceof InputError) return c.json({ error: `${e.where ? `${e.where}: ` : ''}${e.message}` }, 400);
        throw e;
      }
    });
    app.get('/api/stream', (c) =>
      streamSSE(c, async (stream) => {
        const queue: [string, string][] = [];
        let wake: (() => void) | undefined;
        const sub = (event: string, data: string) => {
          if (queue.length < 256) queue.push([event, data]);
          wake?.();
        };
        this.subscribers.add(sub);
        let open = true;
        stream.onAbort(() => {
          open = false;
          wake?.();
        });
        try {
          await stream.writeSSE({ event: 'update', data: JSON.stringify({ version: this.version, status: this.status }) });
          while (open) {
            while (queue.length && open) {
              const [event, data] = queue.shift()!;
              await stream.writeSSE({ event, data });
            }
            if (!open) break;
            await new Promise<void>((r) => {
              wake = r;
              setTimeout(r, 15000).unref();
            });
            wake = undefined;
            if (!queue.length && open) await stream.writeSSE({ event: 'ping', data: '{}' });
          }
        } finally {
          this.subscribers.delete(sub);
        }
      }),
    );
    return app;
  }

  /** Start the data source and listen; resolves with the base URL. */
  async start(): Promise<string> {
    const host = this.opts.host ?? '127.0.0.1';
    const server = createAdaptorServer({ fetch: this.app.fetch }) as Server;
    this.server = server;
    this.url = await listenOn(server, host, this.opts.port ?? 0);
    try {
      await this.opts.source.start(
        (input) => this.accept(input),
        (status) => this.setStatus(status),
      );
    } catch (e) {
      await this.stop();
      throw e;
    }
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.opts.source.stop();
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    }
  }

  /** Wait until the views reflect data (tests and the CLI's first message). */
  async waitForVersion(v: number, timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    while (this.version < v) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`dashboard did not reach version ${v} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

function mean(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length ? s / xs.length : Number.NaN;
}
