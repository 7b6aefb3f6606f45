/**
 * The proxy's side of recording: a bounded queue of cut-out routed experts handed to the worker
 * thread (record-worker.ts) after each client response has ended.
 *
 * Memory is capped: `reserve` counts the bytes every response in flight holds aside plus those
 * queued for the worker; over `maxBytes` a response's routing is dropped (counted in `dropped`, said
 * once), the client is never held up. Everything the worker says comes back through `log`.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../../runtime/start-worker.ts';
import type { RecordJob, RecordStats, RecordWorkerData } from './record-worker.ts';
import type { RoutedSplicer } from './splice.ts';

const SLICE = 256 * 1024;
const tick = () => new Promise<void>((r) => setImmediate(r));

/**
 * Parts (views of upstream chunks) -> one buffer of its own (transferable; not zero-filled, every
 * byte is written). Copies at most SLICE bytes per event-loop turn, so a large value never holds up
 * the bytes of other responses for longer than one short memcpy.
 */
async function pack(parts: Uint8Array[]): Promise<Uint8Array> {
  const out = Buffer.allocUnsafeSlow(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  let since = 0;
  for (const p of parts) {
    for (let o = 0; o < p.length; ) {
      const len = Math.min(p.length - o, SLICE - since);
      out.set(p.subarray(o, o + len), at);
      at += len;
      o += len;
      since += len;
      if (since >= SLICE) {
        since = 0;
        await tick();
      }
    }
  }
  return out;
}

export class RecordQueue {
  private worker: Worker;
  private held = 0;
  private pending = 0;
  private waiters: (() => void)[] = [];
  private closed?: Promise<RecordStats>;
  private dead = false;
  /** close() has asked the thread to finish: its exit is expected. */
  private closing = false;
  private saidCap = false;
  /** Counts from the worker (updated as jobs finish). */
  stats: RecordStats = { requests: 0, tokens: 0, skipped: 0 };
  /** Responses whose routing was dropped: over the memory cap. */
  dropped = 0;
  /** Responses whose routing was cut out after the recording thread failed (not recorded). */
  lost = 0;
  /** The recording thread failed: the trace holds only what it wrote before. */
  get failed(): boolean {
    return this.dead;
  }

  constructor(
    data: RecordWorkerData,
    private readonly maxBytes: number,
    private readonly log: (line: string) => void,
  ) {
    this.worker = startWorker(new URL('./record-worker.ts', import.meta.url), data as unknown as Record<string, unknown>);
    this.worker.on('message', (m: { t: 'log'; line: string } | { t: 'done'; bytes: number; stats: RecordStats } | { t: 'closed'; stats: RecordStats }) => {
      if (m.t === 'log') this.log(m.line);
      else {
        this.stats = m.stats;
        if (m.t === 'done') {
          this.release(m.bytes);
          this.settle();
        }
      }
    });
    this.worker.on('error', (e) => this.died(e.message));
    // An exit nobody asked for (no 'error' first: process.exit in the thread, a terminate from
    // outside) would otherwise leave idle() and close() waiting for jobs that will never be done.
    this.worker.on('exit', (code) => {
      if (!this.closing) this.died(`it exited with code ${code}`);
    });
  }

  /** The thread is gone: say so once, stop holding bytes for it, release everyone waiting. */
  private died(why: string): void {
    if (this.dead) return;
    this.log(`the recording thread failed (${why}); responses are still proxied, no longer recorded`);
    this.dead = true;
    this.pending = 0;
    this.held = 0;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Bytes held now (in flight and queued). */
  get heldBytes(): number {
    return this.held;
  }

  /** Account `n` more bytes held aside; false when that would pass the cap. */
  reserve = (n: number): boolean => {
    if (this.dead || this.held + n > this.maxBytes) return false;
    this.held += n;
    return true;
  };

  release(n: number): void {
    this.held = Math.max(0, this.held - n);
  }

  /** A response has ended; its submit() follows (idle() waits for it). */
  expect(): void {
    this.pending++;
  }

  private settle(): void {
    this.pending = Math.max(0, this.pending - 1);
    if (this.pending === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** After a client's response ended (and expect()): queue what `sp` cut out, or drop it. */
  submit(sp: RoutedSplicer, path: string): void {
    if (sp.over) {
      this.settle();
      this.dropped++;
      this.release(sp.heldBytes);
      if (!this.saidCap) {
        this.saidCap = true;
        this.log(`recording fell behind: over ${Math.round(this.maxBytes / 2 ** 20)} MiB of routed experts held; responses are still answered at once, their routing dropped (counted at exit)`);
      }
      return;
    }
    if (this.dead || sp.values.length === 0) {
      if (this.dead && sp.values.length > 0) this.lost++;
      this.release(sp.heldBytes);
      this.settle();
      return;
    }
    void this.post(sp, path);
  }

  /** The one copy of what was cut out, after the response, into buffers the worker takes over. */
  private async post(sp: RoutedSplicer, path: string): Promise<void> {
    const bytes = sp.heldBytes;
    const markedParts = sp.marked;
    const valueParts = sp.values;
    sp.release();
    const marked = await pack(markedParts);
    const values: Uint8Array[] = [];
    for (const v of valueParts) values.push(await pack(v));
    if (this.dead) {
      this.lost++;
      this.release(bytes);
      this.settle();
      return;
    }
    const job: RecordJob = { t: 'job', path, marked, values, bytes };
    this.worker.postMessage(job, [marked, ...values].map((u) => u.buffer as ArrayBuffer));
  }

  /** Resolves when every queued job has been recorded. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /** Record what is queued, finish the trace, stop the thread. */
  close(): Promise<RecordStats> {
    this.closed ??= (async () => {
      await this.idle();
      this.closing = true;
      if (this.dead) {
        await this.worker.terminate();
        return this.stats;
      }
      const stats = await new Promise<RecordStats>((resolve) => {
        this.worker.on('message', (m: { t: string; stats: RecordStats }) => {
          if (m.t === 'closed') resolve(m.stats);
        });
        this.worker.once('exit', () => resolve(this.stats));
        this.worker.postMessage({ t: 'close' });
      });
      this.stats = stats;
      await this.worker.terminate();
      return stats;
    })();
    return this.closed;
  }
}
