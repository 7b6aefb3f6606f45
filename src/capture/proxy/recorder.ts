/**
 * Collects the routed experts the proxy saw and writes them as a ballast trace (token routes plus
 * per-request load windows). The file is rewritten whole at each flush (to a temporary file, then
 * renamed), so a reader never sees a half-written trace and a crash loses at most one flush interval.
 *
 * Kept in memory: every recorded token's ids (Uint16, T x L x K) up to `maxTokens`; beyond that,
 * requests are counted but not recorded, said once. Layers that are zero for every token (dense
 * layers, which vLLM and SGLang still give a row) are left out when k > 1.
 */
import { renameSync } from 'node:fs';
import type { TraceMeta } from '../../core/load-trace.ts';
import { allocExpertIds, makeTokenRoutes, type TokenRoutes } from '../../core/token-routes.ts';
import { writeTraceFile } from '../../ingest/ballast/writer.ts';
import { loadFromRoutes } from '../../ingest/routes-to-load.ts';
import type { RoutedSeq } from './extract.ts';

export interface RecorderOptions {
  out: string;
  /** Logical expert count; default the largest id seen + 1 (said once). */
  numExperts?: number;
  maxTokens?: number;
  /** Copied into the trace's meta.extra (never credentials). */
  extra: Record<string, unknown>;
  model?: string;
  log: (line: string) => void;
}

export class RoutesRecorder {
  private chunks: { ids: Uint16Array; T: number; phase?: Uint8Array }[] = [];
  private L = -1;
  private K = -1;
  private maxId = -1;
  private said = new Set<string>();
  tokens = 0;
  requests = 0;
  skipped = 0;
  private dirty = false;
  version?: string;

  constructor(readonly o: RecorderOptions) {}

  private once(key: string, line: string): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.o.log(line);
  }

  /** Add one request's sequences. Returns false (and says why, once) when they were not recorded. */
  add(seqs: RoutedSeq[]): boolean {
    if (seqs.length === 0) return false;
    const max = this.o.maxTokens ?? 2_000_000;
    const T = seqs.reduce((s, q) => s + q.arr.T, 0);
    if (this.tokens + T > max) {
      this.skipped++;
      this.once('max', `recorded ${this.tokens} tokens, the --max-tokens limit; later requests are passed through but not recorded`);
      return false;
    }
    for (const q of seqs) {
      if (q.arr.T === 0) continue;
      if (this.L < 0) {
        this.L = q.arr.L;
        this.K = q.arr.K;
      }
      if (q.arr.L !== this.L || q.arr.K !== this.K) {
        this.skipped++;
        this.once('shape', `a response has ${q.arr.L} layers x top-${q.arr.K}, earlier ones ${this.L} x top-${this.K}; it is not recorded (two models behind one URL?)`);
        return false;
      }
    }
    for (const q of seqs) {
      if (q.arr.T === 0) continue;
      const ids = new Uint16Array(q.arr.ids.length);
      for (let i = 0; i < ids.length; i++) {
        const v = q.arr.ids[i];
        ids[i] = v;
        if (v > this.maxId) this.maxId = v;
      }
      this.chunks.push({ ids, T: q.arr.T, phase: q.phase });
      this.tokens += q.arr.T;
    }
    this.requests++;
    this.dirty = true;
    return true;
  }

  /** Token routes of everything recorded, or undefined when nothing was. */
  routes(): TokenRoutes | undefined {
    if (this.tokens === 0) return undefined;
    const { L, K } = this;
    let E = this.maxId + 1;
    if (this.o.numExperts !== undefined) {
      if (this.o.numExperts < E) this.once('E', `--num-experts ${this.o.numExperts} but ids reach ${this.maxId}; using ${E}`);
      E = Math.max(E, this.o.numExperts);
    } else this.once('E', `the expert count is not known; using the largest id seen + 1 = ${E} (give --num-experts or --model-config if the highest experts were never chosen)`);
    const live = new Uint8Array(L);
    if (K > 1) {
      for (const c of this.chunks) for (let t = 0; t < c.T; t++) for (let l = 0; l < L; l++) {
        const b = (t * L + l) * K;
        for (let j = 0; j < K; j++) if (c.ids[b + j] !== 0) live[l] = 1;
      }
    }
    if (K <= 1 || !live.some((x) => x)) live.fill(1);
    const keep = [...live.keys()].filter((l) => live[l]);
    const Lk = keep.length;
    const experts = allocExpertIds(E, this.tokens * Lk * K);
    const starts = [0];
    const phase = new Uint8Array(this.tokens);
    let phaseKnown = true;
    let t0 = 0;
    for (const c of this.chunks) {
      for (let t = 0; t < c.T; t++) keep.forEach((l, li) => {
        for (let j = 0; j < K; j++) experts[((t0 + t) * Lk + li) * K + j] = c.ids[(t * L + l) * K + j];
      });
      if (c.phase) phase.set(c.phase, t0);
      else phaseKnown = false;
      t0 += c.T;
      starts.push(t0);
    }
    const meta: TraceMeta = {
      model: this.o.model,
      layerIds: keep,
      topK: K,
      sources: [{ path: String(this.o.extra.upstream ?? 'proxy'), format: 'ballast-proxy' }],
      extra: { ...this.o.extra, engineVersion: this.version ?? null, requests: this.requests, notRecorded: this.skipped, droppedDenseLayers: L - Lk },
    };
    return makeTokenRoutes({ meta, numLayers: Lk, numExperts: E, topK: K, experts, seqStarts: Uint32Array.from(starts), phase: phaseKnown ? phase : undefined });
  }

  /** Write the trace when something changed since the last flush. Returns whether it wrote. */
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
}
