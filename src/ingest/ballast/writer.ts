/**
 * Append-only writer for the ballast trace format (docs/trace-format.md).
 *
 * Each append writes one complete record with a single write call; `sync: true` also fsyncs, so a
 * crash loses at most the record being written.
 */
import { closeSync, fsyncSync, openSync, truncateSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { LoadTrace, TraceMeta, WindowInfo } from '../../core/load-trace.ts';
import type { TokenRoutes } from '../../core/token-routes.ts';
import { type LoadHeader, MAGIC, type MetaHeader, type RoutesHeader, Tag, type TagName, FORMAT_VERSION } from './format.ts';

/** Serialise one record: prefix, header JSON, payload, CRC. */
export function encodeRecord(tag: TagName, header: object, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const buf = Buffer.allocUnsafe(16 + h.length + payload.length + 4);
  buf.write(tag, 0, 4, 'latin1');
  buf.writeUInt32LE(h.length, 4);
  buf.writeUInt32LE(payload.length % 0x100000000, 8);
  buf.writeUInt32LE(Math.floor(payload.length / 0x100000000), 12);
  h.copy(buf, 16);
  buf.set(payload, 16 + h.length);
  let c = crc32(h);
  c = crc32(payload, c);
  buf.writeUInt32LE(c >>> 0, 16 + h.length + payload.length);
  return buf;
}

export function metaHeader(meta: TraceMeta, numExperts: number): MetaHeader {
  return {
    format: 'ballast-trace',
    version: FORMAT_VERSION,
    model: meta.model,
    layerIds: meta.layerIds,
    numExperts,
    topK: meta.topK,
    phase: meta.phase,
    moeParallel: meta.moeParallel,
    attribution: meta.attribution,
    sources: meta.sources,
    extra: meta.extra,
    createdMs: Date.now(),
  };
}

/** Encode [L][E] counts as u32 when every value is an integer in [0, 2^32), else f64. */
export function encodeCounts(counts: Float64Array): { dtype: 'u32' | 'f64'; bytes: Uint8Array } {
  let ints = true;
  for (let i = 0; i < counts.length; i++) {
    const v = counts[i];
    if (!(Number.isInteger(v) && v >= 0 && v < 4294967296)) {
      ints = false;
      break;
    }
  }
  if (ints) {
    const u = Uint32Array.from(counts);
    return { dtype: 'u32', bytes: new Uint8Array(u.buffer, u.byteOffset, u.byteLength) };
  }
  const f = Float64Array.from(counts);
  return { dtype: 'f64', bytes: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
}

export class TraceWriter {
  readonly path: string;
  private fd: number;
  private readonly sync: boolean;
  private closed = false;
  readonly numLayers: number;
  readonly numExperts: number;

  /**
   * Create (truncate) `path` and write the magic and META record.
   * @param sync fsync after every record (for live captures).
   * @param appendAt reopen an existing trace instead: cut it to this byte offset (the end of its last
   *   good record, END excluded; src/capture/durable.ts finds it) and append after it, keeping its META.
   */
  constructor(path: string, meta: TraceMeta, numExperts: number, opts: { sync?: boolean; appendAt?: number } = {}) {
    this.path = path;
    this.sync = opts.sync ?? false;
    this.numLayers = meta.layerIds.length;
    this.numExperts = numExperts;
    if (opts.appendAt !== undefined) {
      truncateSync(path, opts.appendAt);
      this.fd = openSync(path, 'a');
      if (this.sync) fsyncSync(this.fd);
      return;
    }
    this.fd = openSync(path, 'w');
    this.write(Buffer.concat([MAGIC, encodeRecord(Tag.META, metaHeader(meta, numExperts))]));
  }

  private writeRaw(buf: Uint8Array): void {
    if (this.closed) throw new Error(`trace writer for ${this.path} is closed`);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
  }

  /** Write one whole record (given as consecutive parts), then fsync when asked to. */
  private write(...parts: Uint8Array[]): void {
    for (const p of parts) this.writeRaw(p);
    if (this.sync) fsyncSync(this.fd);
  }

  /** Append one window of [L][E] counts. */
  appendLoad(counts: Float64Array, info: WindowInfo = {}): void {
    if (counts.length !== this.numLayers * this.numExperts) {
      throw new RangeError(`window has ${counts.length} counts, expected L*E = ${this.numLayers * this.numExperts}`);
    }
    const { dtype, bytes } = encodeCounts(counts);
    const h: LoadHeader = { dtype, layers: this.numLayers, experts: this.numExperts, ...info };
    this.write(encodeRecord(Tag.LOAD, h, bytes));
  }

  /**
   * Append tokens [t0, t1) of `routes` as one chunk. `startsSequence` says whether t0 begins a new
   * sequence (true for the first chunk of a file); other boundaries come from routes.seqStarts.
   */
  appendRoutes(routes: TokenRoutes, t0 = 0, t1 = routes.numTokens): void {
    const per = routes.numLayers * routes.topK;
    const idType = routes.experts instanceof Uint8Array ? 'u8' : 'u16';
    const seqStarts: number[] = [];
    for (const s of routes.seqStarts) if (s >= t0 && s < t1) seqStarts.push(s - t0);
    const h: RoutesHeader = {
      tokens: t1 - t0,
      layers: routes.numLayers,
      topK: routes.topK,
      idType,
      hasWeights: routes.weights !== undefined,
      hasPhase: routes.phase !== undefined,
      seqStarts,
    };
    const ids = routes.experts.subarray(t0 * per, t1 * per);
    const parts: Uint8Array[] = [new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength)];
    if (routes.weights) {
      const w = routes.weights.subarray(t0 * per, t1 * per);
      parts.push(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
    }
    if (routes.phase) parts.push(routes.phase.subarray(t0, t1));
    // Write big chunks without concatenating the payload: prefix+header, parts, crc.
    const payloadLen = parts.reduce((a, p) => a + p.length, 0);
    const hb = Buffer.from(JSON.stringify(h), 'utf8');
    const prefix = Buffer.allocUnsafe(16 + hb.length);
    prefix.write(Tag.ROUTES, 0, 4, 'latin1');
    prefix.writeUInt32LE(hb.length, 4);
    prefix.writeUInt32LE(payloadLen % 0x100000000, 8);
    prefix.writeUInt32LE(Math.floor(payloadLen / 0x100000000), 12);
    hb.copy(prefix, 16);
    let c = crc32(hb);
    for (const p of parts) c = crc32(p, c);
    const tail = Buffer.allocUnsafe(4);
    tail.writeUInt32LE(c >>> 0, 0);
    // One record = several writes (no payload copy); a crash mid-record leaves a truncated last
    // record, which readers detect by its length and CRC and report.
    this.write(prefix, ...parts, tail);
  }

  close(): void {
    if (this.closed) return;
    this.write(encodeRecord(Tag.END, {}));
    this.closed = true;
    closeSync(this.fd);
  }

  /** Close without the END record (used when aborting). */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** Tokens per ROUTES chunk when writing whole traces. */
export const ROUTES_CHUNK_TOKENS = 65536;

/** Write a whole trace: load windows and/or token routes. */
export function writeTraceFile(
  path: string,
  data: { load?: LoadTrace; routes?: TokenRoutes },
  opts: { chunkTokens?: number } = {},
): void {
  const meta = data.load?.meta ?? data.routes?.meta;
  const E = data.load?.numExperts ?? data.routes?.numExperts;
  if (!meta || E === undefined) throw new Error('writeTraceFile needs a load trace or token routes');
  const w = new TraceWriter(path, meta, E);
  try {
    if (data.load) {
      const per = data.load.numLayers * data.load.numExperts;
      for (let i = 0; i < data.load.numWindows; i++) {
        w.appendLoad(data.load.counts.subarray(i * per, (i + 1) * per), data.load.windows[i]);
      }
    }
    if (data.routes) {
      const step = opts.chunkTokens ?? ROUTES_CHUNK_TOKENS;
      for (let t = 0; t < data.routes.numTokens; t += step) {
        w.appendRoutes(data.routes, t, Math.min(data.routes.numTokens, t + step));
      }
    }
    w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
}
