/**
 * Collects the routed experts the proxy saw and writes them as a ballast trace: token routes (one
 * sequence per request, phases when known) and one load window per request.
 *
 * With the expert count known (--num-experts or --model-config) each request is appended to the
 * trace as it is recorded (one ROUTES chunk and one LOAD window), so memory stays flat and a crash
 * loses at most the request being written. Without it, requests are kept in memory and the whole
 * trace is rewritten at each flush (temporary file, then rename) with E = largest id + 1.
 *
 * Layers that are zero for every token of the first request are dense layers (vLLM and SGLang give
 * them a row too): with k > 1 a MoE layer cannot pick expert 0 k times, so this is exact; they are
 * left out (layerIds keep the model-level indices). At most `maxTokens` tokens are recorded; later
 * requests are counted and said once.
 */
import { renameSync } from 'node:fs';
import type { TraceMeta } from '../../core/load-trace.ts';
import { allocExpertIds, makeTokenRoutes, type TokenRoutes } from '../../core/token-routes.ts';
import { TraceWriter, writeTraceFile } from '../../ingest/ballast/writer.ts';
import { loadFromRoutes } from '../../ingest/routes-to-load.ts';
import type { RoutedSeq } from './extract.ts';

export interface RecorderOptions {
  out: string;
  /** Logical expert count; without it the trace is rewritten whole at each flush. */
  numExperts?: number;
  maxTokens?: number;
  /** Copied into the trace's meta.extra (never credentials). */
  extra: Record<string, unknown>;
  model?: string;
  log: (line: string) => void;
}

interface Chunk {
  ids: Uint16Array;
  T: number;
  phase?: Uint8Array;
}

export class RoutesRecorder {
  private chunks: Chunk[] = [];
  private L = -1;
  private K = -1;
  private keep: number[] = [];
  private maxId = -1;
  private said = new Set<string>();
  private writer?: TraceWriter;
  private dirty = false;
  private phaseKnown = true;
  tokens = 0;
  requests = 0;
  skipped = 0;
  version?: string;

  constructor(readonly o: RecorderOptions) {}

  private once(key: string, line: string): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.o.log(line);
  }

  private meta(E: number): TraceMeta {
    return {
      model: this.o.model,
      layerIds: this.keep,
      topK: this.K,
      sources: [{ path: String(this.o.extra.upstream ?? 'proxy'), format: 'ballast-proxy' }],
      extra: { ...this.o.extra, engineVersion: this.version ?? null, droppedDenseLayers: this.L - this.keep.length, numExpertsFrom: this.o.numExperts !== undefined ? 'given' : 'largest id + 1' },
    };
  }

  /** Layers of [T][L][K] ids that are not zero for every token (all when k = 1 or none is). */
  private liveLayers(ids: Uint16Array, T: number, L: number, K: number): number[] {
    const live = new Uint8Array(L);
    if (K > 1) {
      for (let t = 0; t < T; t++) for (let l = 0; l < L; l++) {
        const b = (t * L + l) * K;
        for (let j = 0; j < K; j++) if (ids[b + j] !== 0) live[l] = 1;
      }
    }
    if (K <= 1 || !live.some((x) => x)) live.fill(1);
    return [...live.keys()].filter((l) => live[l]);
  }

  /** [T][keep][K] ids of one chunk. */
  private select(ids: Uint16Array, T: number, out: Uint8Array | Uint16Array, off: number): void {
    const { L, K, keep } = this;
    const Lk = keep.length;
    if (Lk === L) {
      out.set(ids, off);
      return;
    }
    for (let t = 0; t < T; t++) {
      for (let li = 0; li < Lk; li++) {
        const src = (t * L + keep[li]) * K;
        const dst = off + (t * Lk + li) * K;
        for (let j = 0; j < K; j++) out[dst + j] = ids[src + j];
      }
    }
  }

  /** Add one request's sequences. Returns false (and says why, once) when they were not recorded. */
  add(seqs: RoutedSeq[]): boolean {
    const live = seqs.filter((q) => q.arr.T > 0);
    if (live.length === 0) return false;
    const max = this.o.maxTokens ?? 2_000_000;
    const T = live.reduce((s, q) => s + q.arr.T, 0);
    if (this.tokens + T > max) {
      this.skipped++;
      this.once('max', `recorded ${this.tokens} tokens, the --max-tokens limit; later requests are passed through but not recorded`);
      return false;
    }
    if (this.L < 0) {
      const q = live[0].arr;
      this.L = q.L;
      this.K = q.K;
      this.keep = this.liveLayers(q.ids, q.T, q.L, q.K);
    }
    for (const q of live) {
      if (q.arr.L !== this.L || q.arr.K !== this.K) {
        this.skipped++;
        this.once('shape', `a response has ${q.arr.L} layers x top-${q.arr.K}, earlier ones ${this.L} x top-${this.K}; it is not recorded (two models behind one URL?)`);
        return false;
      }
    }
    let reqMax = -1;
    for (const q of live) {
      const ids = q.arr.ids;
      for (let i = 0; i < ids.length; i++) if (ids[i] > reqMax) reqMax = ids[i];
    }
    const E = this.o.numExperts;
    if (E !== undefined && reqMax >= E) {
      this.skipped++;
      this.once('E', `a response routes to expert ${reqMax} but the model has ${E} experts (--num-experts / --model-config); it is not recorded`);
      return false;
    }
    this.maxId = Math.max(this.maxId, reqMax);
    this.requests++;
    this.tokens += T;
    if (E === undefined) {
      for (const q of live) {
        this.chunks.push({ ids: q.arr.ids, T: q.arr.T, phase: q.phase });
        if (!q.phase) this.phaseKnown = false;
      }
      this.dirty = true;
      return true;
    }
    // Append mode: one sequence per request.
    const Lk = this.keep.length;
    const K = this.K;
    const experts = allocExpertIds(E, T * Lk * K);
    const phase = live.every((q) => q.phase) ? new Uint8Array(T) : undefined;
    let t0 = 0;
    for (const q of live) {
      this.select(q.arr.ids, q.arr.T, experts, t0 * Lk * K);
      if (phase) phase.set(q.phase!, t0);
      t0 += q.arr.T;
    }
    if (!this.writer) this.writer = new TraceWriter(this.o.out, this.meta(E), E);
    const routes = makeTokenRoutes({ meta: this.meta(E), numLayers: Lk, numExperts: E, topK: K, experts, seqStarts: Uint32Array.of(0, T), phase });
    const counts = new Float64Array(Lk * E);
    for (let t = 0, i = 0; t < T; t++) {
      for (let l = 0; l < Lk; l++) {
        const o = l * E;
        for (let j = 0; j < K; j++, i++) counts[o + experts[i]] += 1;
      }
    }
    this.writer.appendRoutes(routes);
    this.writer.appendLoad(counts, { step: this.requests - 1, tokens: T });
    return true;
  }

  /** Token routes of everything kept in memory (no expert count given), or undefined. */
  routes(): TokenRoutes | undefined {
    if (this.chunks.length === 0) return undefined;
    let E = this.maxId + 1;
    this.once('E', `the expert count is not known; using the largest id seen + 1 = ${E} (give --num-experts or --model-config if the highest experts were never chosen)`);
    const Lk = this.keep.length;
    const K = this.K;
    const experts = allocExpertIds(E, this.tokens * Lk * K);
    const starts = [0];
    const phase = this.phaseKnown ? new Uint8Array(this.tokens) : undefined;
    let t0 = 0;
    for (const c of this.chunks) {
      this.select(c.ids, c.T, experts, t0 * Lk * K);
      if (phase) phase.set(c.phase!, t0);
      t0 += c.T;
      starts.push(t0);
    }
    return makeTokenRoutes({ meta: this.meta(E), numLayers: Lk, numExperts: E, topK: K, experts, seqStarts: Uint32Array.from(starts), phase });
  }

  /** In-memory mode: rewrite the trace when something changed. Returns whether it wrote. */
  flush(): boolean {
    if (!this.dirty) return false;
    const routes = this.routes();
    if (!routes) return false;
    const tmp = `${this.o.out}.tmp-${process.pid}`;
    writeTraceFile(tmp, { load: { ...loadFromRoutes(routes), meta: routes.meta }, routes });
    renameSync(tmp, this.o.out);
    this.dirty = false;
    return true;
  }

  /** Finish the trace (END record, or a last rewrite). */
  close(): void {
    if (this.writer) this.writer.close();
    else this.flush();
  }
}
