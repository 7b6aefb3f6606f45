/**
 * Where the dashboard's data comes from. Each source calls `onData(input)` with a fresh InputData
 * (a LoadTrace [W][L][E], plus token routes when the source has them) whenever the data changes.
 *
 *   TraceFileSource   a trace file in any format; re-read when its size or mtime changes (a live
 *                     `ballast capture` trace grows as windows are appended).
 *   CollectorSource   a running collector (src/capture/collector.ts): GET /api/snapshot for the totals
 *                     so far, then SSE GET /api/events (`window` events with [L][E] counts); falls back
 *                     to polling /api/snapshot while the stream is down.
 */
import { statSync } from 'node:fs';
import { makeLoadTrace, type LoadTrace, type WindowInfo } from '../../core/load-trace.ts';
import { readInput, type InputData } from '../../ingest/readers.ts';

export interface DataSource {
  /** Short description for the page header. */
  readonly description: string;
  start(onData: (input: InputData) => void, onStatus: (status: string) => void): Promise<void>;
  stop(): Promise<void>;
}

export class TraceFileSource implements DataSource {
  readonly description: string;
  private timer: NodeJS.Timeout | undefined;
  private last = '';
  private busy = false;

  constructor(
    private readonly path: string,
    private readonly opts: { format?: string; pollMs?: number } = {},
  ) {
    this.description = `trace ${path}`;
  }

  private stamp(): string {
    try {
      const st = statSync(this.path);
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  async start(onData: (input: InputData) => void, onStatus: (status: string) => void): Promise<void> {
    this.last = this.stamp();
    onData(await readInput(this.path, { format: this.opts.format, warn: () => {} }));
    this.timer = setInterval(async () => {
      if (this.busy) return;
      const s = this.stamp();
      if (s === this.last || s === 'missing') return;
      this.busy = true;
      this.last = s;
      try {
        onData(await readInput(this.path, { format: this.opts.format, warn: () => {} }));
      } catch (e) {
        onStatus(`cannot re-read ${this.path}: ${(e as Error).message}`);
      } finally {
        this.busy = false;
      }
    }, this.opts.pollMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }
}

interface Snapshot {
  model: string | null;
  layerIds: number[];
  layers: number;
  experts: number;
  topK: number | null;
  windowsMerged: number;
  tokens: number;
  totals: number[][];
  session?: string;
}

interface WindowEvent {
  index: number;
  step: number | null;
  phase: string | null;
  timeMs: number;
  tokens: number;
  counts: number[][];
}

/** Parse a stream of SSE bytes into (event, data) pairs. */
export class SseParser {
  private buf = '';
  constructor(private readonly onEvent: (event: string, data: string) => void) {}
  push(text: string): void {
    this.buf += text.replace(/\r\n?/g, '\n');
    let i: number;
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length) this.onEvent(event, data.join('\n'));
    }
  }
}

/** Normalise `host:port` or a URL to a base URL without a trailing slash. */
export function collectorBaseUrl(addr: string): string {
  const withScheme = /^https?:\/\//.test(addr) ? addr : `http://${addr}`;
  return withScheme.replace(/\/+$/, '');
}

export class CollectorSource implements DataSource {
  readonly description: string;
  private readonly base: string;
  private abort = new AbortController();
  private stopped = false;
  private shape: { layerIds: number[]; experts: number; model?: string; topK?: number } | undefined;
  /** Oldest first; [L][E] each. */
  private windows: { counts: Float64Array; info: WindowInfo }[] = [];
  private lastMerged = -1;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(
    addr: string,
    private readonly opts: { token?: string; keepWindows?: number; pollMs?: number } = {},
  ) {
    this.base = collectorBaseUrl(addr);
    this.description = `collector ${this.base}`;
  }

  private headers(): Record<string, string> {
    return this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {};
  }

  private async fetchSnapshot(): Promise<Snapshot> {
    const r = await fetch(`${this.base}/api/snapshot`, { headers: this.headers(), signal: this.abort.signal });
    if (!r.ok) throw new Error(`GET /api/snapshot: HTTP ${r.status}`);
    return (await r.json()) as Snapshot;
  }

  /** Current data as InputData (undefined before the collector has seen a window). */
  current(): InputData | undefined {
    const s = this.shape;
    if (!s || this.windows.length === 0) return undefined;
    const per = s.layerIds.length * s.experts;
    const counts = new Float64Array(this.windows.length * per);
    this.windows.forEach((w, i) => counts.set(w.counts, i * per));
    const load: LoadTrace = makeLoadTrace(
      { model: s.model, layerIds: s.layerIds, topK: s.topK, sources: [{ path: this.base, format: 'collector' }] },
      s.layerIds.length,
      s.experts,
      counts,
      this.windows.map((w) => w.info),
    );
    return { path: this.base, format: 'collector', load, warnings: [] };
  }

  /** Keep at most keepWindows windows by merging the two oldest (totals stay exact). */
  private push(counts: Float64Array, info: WindowInfo): void {
    this.windows.push({ counts, info });
    const keep = Math.max(2, this.opts.keepWindows ?? 512);
    while (this.windows.length > keep) {
      const [a, b] = this.windows.splice(0, 2);
      for (let i = 0; i < a.counts.length; i++) a.counts[i] += b.counts[i];
      this.windows.unshift({ counts: a.counts, info: { step: b.info.step, timeMs: b.info.timeMs, tokens: (a.info.tokens ?? 0) + (b.info.tokens ?? 0) } });
    }
  }

  private adoptSnapshot(s: Snapshot): boolean {
    if (!s.layers || !s.experts) return false;
    this.shape = { layerIds: s.layerIds, experts: s.experts, model: s.model ?? undefined, topK: s.topK ?? undefined };
    const flat = Float64Array.from(s.totals.flat());
    this.windows = [];
    this.lastMerged = s.windowsMerged;
    if (flat.some((v) => v > 0)) this.push(flat, { tokens: s.tokens });
    return true;
  }

  async start(onData: (input: InputData) => void, onStatus: (status: string) => void): Promise<void> {
    try {
      if (this.adoptSnapshot(await this.fetchSnapshot())) {
        const cur = this.current();
        if (cur) onData(cur);
      }
      onStatus(`connected to ${this.base}`);
    } catch (e) {
      onStatus(`cannot reach ${this.base}: ${(e as Error).message}; retrying`);
    }
    void this.streamLoop(onData, onStatus);
  }

  private async streamLoop(onData: (input: InputData) => void, onStatus: (status: string) => void): Promise<void> {
    let delay = 500;
    while (!this.stopped) {
      try {
        const r = await fetch(`${this.base}/api/events`, { headers: { ...this.headers(), accept: 'text/event-stream' }, signal: this.abort.signal });
        if (!r.ok || !r.body) throw new Error(`GET /api/events: HTTP ${r.status}`);
        this.stopPolling();
        // Catch up on anything merged while the stream was down.
        const snap = await this.fetchSnapshot();
        if (snap.windowsMerged !== this.lastMerged && this.adoptSnapshot(snap)) {
          const cur = this.current();
          if (cur) onData(cur);
        }
        onStatus(`live from ${this.base}`);
        delay = 500;
        const parser = new SseParser((event, data) => {
          if (event !== 'window') return;
          const ev = JSON.parse(data) as WindowEvent;
          if (!this.shape) return;
          const flat = Float64Array.from(ev.counts.flat());
          if (flat.length !== this.shape.layerIds.length * this.shape.experts) return;
          // Windows with index < windowsMerged of the adopted snapshot are already in its totals.
          if (ev.index < this.lastMerged) return;
          this.lastMerged = ev.index + 1;
          this.push(flat, { step: ev.step ?? ev.index, timeMs: ev.timeMs, tokens: ev.tokens, phase: (ev.phase ?? undefined) as WindowInfo['phase'] });
          const cur = this.current();
          if (cur) onData(cur);
        });
        const dec = new TextDecoder();
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
          parser.push(dec.decode(chunk, { stream: true }));
          if (this.stopped) break;
          // The first window fixes the shape: re-read the snapshot once it exists.
          if (!this.shape) {
            const s = await this.fetchSnapshot();
            if (this.adoptSnapshot(s)) {
              const cur = this.current();
              if (cur) onData(cur);
            }
          }
        }
      } catch (e) {
        if (this.stopped) return;
        onStatus(`stream from ${this.base} interrupted (${(e as Error).message}); polling`);
        this.startPolling(onData);
      }
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, delay).unref());
      delay = Math.min(10_000, delay * 2);
    }
  }

  private startPolling(onData: (input: InputData) => void): void {
    if (this.pollTimer) return;
    this.pollTimer = setInterval(async () => {
      try {
        const s = await this.fetchSnapshot();
        if (s.windowsMerged !== this.lastMerged && this.adoptSnapshot(s)) {
          const cur = this.current();
          if (cur) onData(cur);
        }
      } catch {
        /* still down */
      }
    }, this.opts.pollMs ?? 2000);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopPolling();
    this.abort.abort();
  }
}
