/**
 * Reader for the ballast trace format (docs/trace-format.md).
 *
 * Two passes: the first reads only record prefixes and JSON headers (seeking over payloads) to learn
 * the shapes and total size; the second allocates once and reads payloads straight into typed arrays.
 * A truncated or corrupt LAST record (a capture still running, or one that crashed) is reported on
 * stderr and skipped; corruption anywhere else is an error, because data after it would be lost.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { crc32 } from 'node:zlib';
import { InputError } from '../../core/errors.ts';
import { nestsDeeperThan } from '../../core/json-depth.ts';
import { type LoadTrace, makeLoadTrace, type TraceMeta, type WindowInfo } from '../../core/load-trace.ts';
import { allocExpertIds, makeTokenRoutes, type TokenRoutes } from '../../core/token-routes.ts';
import { type LoadHeader, MAGIC, type MetaHeader, type RoutesHeader, Tag } from './format.ts';

interface RecordInfo {
  tag: string;
  offset: number;
  header: unknown;
  payloadOffset: number;
  payloadLen: number;
  headerBytes: Buffer;
}

export interface BallastReadResult {
  load?: LoadTrace;
  routes?: TokenRoutes;
  /** Warnings already printed (e.g. a truncated last record). */
  warnings: string[];
  /** True when the file ends with an END record (the writer closed it). */
  complete: boolean;
}

export interface BallastReadOptions {
  /** Skip CRC checks (faster on huge files). Default false. */
  skipCrc?: boolean;
  /** Refuse to allocate more than this many bytes. Default: 80% of total memory. */
  maxBytes?: number;
  /** Where warnings go. Default: process.stderr. */
  warn?: (line: string) => void;
}

function readExact(fd: number, buf: Uint8Array, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** True when the first bytes are the ballast magic. */
export function isBallastTrace(head: Uint8Array): boolean {
  if (head.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (head[i] !== MAGIC[i]) return false;
  return true;
}

export function readBallastTrace(path: string, opts: BallastReadOptions = {}): BallastReadResult {
  const warn = opts.warn ?? ((l: string) => process.stderr.write(`warning: ${l}\n`));
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) throw new InputError(path, '', 'empty file; expected a ballast trace');
    const head = new Uint8Array(MAGIC.length);
    if (readExact(fd, head, 0) < MAGIC.length || !isBallastTrace(head)) {
      throw new InputError(path, 'byte 0', 'expected the ballast trace magic "BALLAST\\x01"');
    }
    // Pass 1: record headers.
    const records: RecordInfo[] = [];
    const warnings: string[] = [];
    let pos = MAGIC.length;
    let complete = false;
    const prefix = Buffer.alloc(16);
    while (pos < size) {
      const got = readExact(fd, prefix, pos);
      const tag = prefix.toString('latin1', 0, 4);
      const hLen = got >= 8 ? prefix.readUInt32LE(4) : 0;
      const pLen = got >= 16 ? prefix.readUInt32LE(8) + prefix.readUInt32LE(12) * 0x100000000 : 0;
      const end = pos + 16 + hLen + pLen + 4;
      if (got < 16 || end > size) {
        const msg = `${path}: byte ${pos}: last record (${tag.replace(/[^\x20-\x7e]/g, '?')}) is truncated (${size - pos} of ${got < 16 ? '?' : end - pos} bytes); it was skipped and everything before it was read`;
        warnings.push(msg);
        warn(msg);
        break;
      }
      if (!/^[A-Z ]{4}$/.test(tag)) {
        throw new InputError(path, `byte ${pos}`, `expected a record tag (4 capital letters), got bytes ${[...prefix.subarray(0, 4)].join(',')}`);
      }
      const hb = Buffer.alloc(hLen);
      readExact(fd, hb, pos + 16);
      let header: unknown;
      try {
        header = JSON.parse(hb.toString('utf8'));
      } catch {
        const isLast = end + 0 >= size;
        const msg = `byte ${pos + 16}`;
        if (isLast) {
          const line = `${path}: ${msg}: last record has an unreadable header; it was skipped`;
          warnings.push(line);
          warn(line);
          break;
        }
        throw new InputError(path, msg, `expected a JSON record header for ${tag}`);
      }
      // Headers are shallow (META's extra/sources nest a few levels): refuse hostile nesting before anything recursive sees it.
      if (nestsDeeperThan(header, 32)) throw new InputError(path, `byte ${pos + 16}`, `${tag.trim()} record header nests deeper than 32 levels`);
      if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new InputError(path, `byte ${pos + 16}`, `expected a JSON object as the ${tag.trim()} record header`);
      records.push({ tag, offset: pos, header, payloadOffset: pos + 16 + hLen, payloadLen: pLen, headerBytes: hb });
      pos = end;
      if (tag === Tag.END) {
        complete = true;
        break;
      }
    }
    if (records.length === 0 || records[0].tag !== Tag.META) {
      throw new InputError(path, `byte ${MAGIC.length}`, 'expected a META record first');
    }
    const mh = records[0].header as MetaHeader;
    if (mh.format !== 'ballast-trace' || !Array.isArray(mh.layerIds) || !(mh.numExperts > 0)) {
      throw new InputError(path, `byte ${MAGIC.length}`, 'META record lacks format/layerIds/numExperts');
    }
    if (!Number.isSafeInteger(mh.numExperts) || mh.numExperts > 1 << 20) throw new InputError(path, 'META.numExperts', `expected an integer in 1..${1 << 20}, got ${String(mh.numExperts).slice(0, 40)}`);
    if (mh.layerIds.length === 0 || mh.layerIds.length > 1 << 16 || !mh.layerIds.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      throw new InputError(path, 'META.layerIds', 'expected 1..65536 non-negative integer layer ids');
    }
    for (const k of ['model', 'attribution'] as const) {
      if (mh[k] !== undefined && typeof mh[k] !== 'string') throw new InputError(path, `META.${k}`, 'expected a string');
    }
    if (mh.topK !== undefined && !(Number.isSafeInteger(mh.topK) && mh.topK > 0)) throw new InputError(path, 'META.topK', 'expected a positive integer');
    if (mh.moeParallel !== undefined && mh.moeParallel !== 'ep' && mh.moeParallel !== 'tp') {
      throw new InputError(path, 'META.moeParallel', `expected "ep" or "tp", got ${JSON.stringify(mh.moeParallel)}`);
    }
    if (mh.version > 1) {
      throw new InputError(path, 'META.version', `trace format version ${mh.version} is newer than this ballast reads (1)`);
    }
    const L = mh.layerIds.length;
    const E = mh.numExperts;
    const loads = records.filter((r) => r.tag === Tag.LOAD);
    const routeRecs = records.filter((r) => r.tag === Tag.ROUTES);
    // Shapes and memory.
    let tokens = 0;
    let topK = 0;
    let idType: 'u8' | 'u16' = E <= 256 ? 'u8' : 'u16';
    let hasWeights = false;
    let hasPhase = false;
    for (const r of routeRecs) {
      const h = r.header as RoutesHeader;
      if (h.layers !== L) throw new InputError(path, `byte ${r.offset}`, `routes chunk has ${h.layers} layers, META says ${L}`);
      if (topK === 0) {
        topK = h.topK;
        idType = h.idType;
        hasWeights = h.hasWeights;
        hasPhase = h.hasPhase;
      } else if (h.topK !== topK || h.idType !== idType || h.hasWeights !== hasWeights || h.hasPhase !== hasPhase) {
        throw new InputError(path, `byte ${r.offset}`, 'routes chunk differs in topK/idType/weights/phase from the first chunk');
      }
      const idBytes = idType === 'u8' ? 1 : 2;
      const expect = h.tokens * L * h.topK * (idBytes + (h.hasWeights ? 4 : 0)) + (h.hasPhase ? h.tokens : 0);
      if (expect !== r.payloadLen) {
        throw new InputError(path, `byte ${r.offset}`, `routes chunk payload is ${r.payloadLen} bytes, expected ${expect} for ${h.tokens} tokens`);
      }
      tokens += h.tokens;
    }
    const idBytes = idType === 'u8' ? 1 : 2;
    const needBytes = loads.length * L * E * 8 + tokens * L * topK * (idBytes + (hasWeights ? 4 : 0)) + (hasPhase ? tokens : 0);
    const maxBytes = opts.maxBytes ?? Math.floor(Math.max(totalmem() * 0.8, freemem()));
    if (needBytes > maxBytes) {
      throw new InputError(
        path,
        '',
        `needs ${(needBytes / 1e9).toFixed(2)} GB in memory, more than the ${(maxBytes / 1e9).toFixed(2)} GB allowed; split the capture or export it to Parquet`,
      );
    }
    const check = (r: RecordInfo, payload: Uint8Array | Uint8Array[]): void => {
      if (opts.skipCrc) return;
      let c = crc32(r.headerBytes);
      for (const p of Array.isArray(payload) ? payload : [payload]) c = crc32(p, c);
      const stored = Buffer.alloc(4);
      readExact(fd, stored, r.payloadOffset + r.payloadLen);
      if ((c >>> 0) !== stored.readUInt32LE(0)) {
        throw new InputError(path, `byte ${r.offset}`, `${r.tag.trim()} record fails its CRC check (corrupt data)`);
      }
    };
    // Pass 2: payloads.
    // A file without END was cut short (capture killed, disk full) or is still being written: say so
    // here, and every command shows it (analyze/plan/simulate output and --json, report warnings).
    const incomplete = complete ? undefined : 'incomplete: no END record (the capture was cut short or is still running); windows after the last complete record are missing';
    if (incomplete && warnings.length === 0) {
      // (A cut-short last record was already reported in one line, which says as much.)
      warnings.push(`${path}: ${incomplete}`);
      warn(`${path}: ${incomplete}`);
    }
    const meta: TraceMeta = {
      model: mh.model,
      layerIds: mh.layerIds,
      topK: mh.topK,
      sources: [{ path, format: 'ballast', ...(incomplete ? { incomplete } : {}) }],
      phase: mh.phase,
      moeParallel: mh.moeParallel === 'ep' || mh.moeParallel === 'tp' ? mh.moeParallel : undefined,
      attribution: mh.attribution,
      extra: { ...(mh.extra ?? {}), ...(mh.sources ? { originalSources: mh.sources } : {}) },
    };
    let load: LoadTrace | undefined;
    if (loads.length > 0) {
      const counts = new Float64Array(loads.length * L * E);
      const windows: WindowInfo[] = [];
      loads.forEach((r, w) => {
        const h = r.header as LoadHeader;
        if (h.layers !== L || h.experts !== E) {
          throw new InputError(path, `byte ${r.offset}`, `LOAD window is ${h.layers}x${h.experts}, META says ${L}x${E}`);
        }
        const elem = h.dtype === 'u32' ? 4 : h.dtype === 'f64' ? 8 : 0;
        if (elem === 0) throw new InputError(path, `byte ${r.offset}`, `unsupported LOAD dtype ${String(h.dtype)}; expected u32 or f64`);
        if (r.payloadLen !== L * E * elem) {
          throw new InputError(path, `byte ${r.offset}`, `LOAD payload is ${r.payloadLen} bytes, expected ${L * E * elem}`);
        }
        const buf = new Uint8Array(r.payloadLen);
        readExact(fd, buf, r.payloadOffset);
        check(r, buf);
        const dv = new DataView(buf.buffer);
        const o = w * L * E;
        if (elem === 4) for (let i = 0; i < L * E; i++) counts[o + i] = dv.getUint32(i * 4, true);
        else {
          for (let i = 0; i < L * E; i++) {
            const v = dv.getFloat64(i * 8, true);
            // docs/formats.md: every format refuses NaN, infinite and negative loads.
            if (!(v >= 0 && v < Infinity)) {
              throw new InputError(path, `byte ${r.payloadOffset + i * 8}`, `LOAD window ${w} layer ${Math.floor(i / E)} expert ${i % E} is ${v}; expected a finite non-negative load`);
            }
            counts[o + i] = v;
          }
        }
        for (const k of ['step', 'timeMs', 'tokens', 'rank'] as const) {
          const v = (h as unknown as Record<string, unknown>)[k];
          if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new InputError(path, `byte ${r.offset}`, `LOAD header ${k} is ${String(v).slice(0, 40)}; expected a non-negative number`);
        }
        const { dtype: _d, layers: _l, experts: _e, ...info } = h;
        windows.push(info);
      });
      load = makeLoadTrace(meta, L, E, counts, windows);
    }
    let routes: TokenRoutes | undefined;
    if (routeRecs.length > 0) {
      const per = L * topK;
      const experts = idType === 'u8' ? new Uint8Array(tokens * per) : new Uint16Array(tokens * per);
      const weights = hasWeights ? new Float32Array(tokens * per) : undefined;
      const phase = hasPhase ? new Uint8Array(tokens) : undefined;
      const starts: number[] = [];
      let t = 0;
      for (const r of routeRecs) {
        const h = r.header as RoutesHeader;
        const n = h.tokens;
        const idView = new Uint8Array(experts.buffer, t * per * idBytes, n * per * idBytes);
        let off = r.payloadOffset;
        readExact(fd, idView, off);
        off += idView.length;
        const parts: Uint8Array[] = [idView];
        if (weights) {
          const wv = new Uint8Array(weights.buffer, t * per * 4, n * per * 4);
          readExact(fd, wv, off);
          off += wv.length;
          parts.push(wv);
        }
        if (phase) {
          const pv = phase.subarray(t, t + n);
          readExact(fd, pv, off);
          parts.push(pv);
        }
        check(r, parts);
        for (const s of h.seqStarts) starts.push(t + s);
        if (t === 0 && !h.seqStarts.includes(0)) starts.push(0);
        t += n;
      }
      for (let i = 0; i < experts.length; i++) {
        if (experts[i] >= E) {
          const tok = Math.floor(i / per);
          throw new InputError(path, `token ${tok}`, `expert id ${experts[i]} out of range [0, ${E})`);
        }
      }
      const uniq = [...new Set(starts)].sort((a, b) => a - b);
      if (uniq[uniq.length - 1] !== tokens) uniq.push(tokens);
      routes = makeTokenRoutes({
        meta: { ...meta, topK },
        numLayers: L,
        numExperts: E,
        topK,
        experts: experts as ReturnType<typeof allocExpertIds>,
        weights,
        seqStarts: Uint32Array.from(uniq),
        phase,
      });
    }
    if (!load && !routes) {
      throw new InputError(path, '', 'trace holds no LOAD windows and no ROUTES chunks');
    }
    return { load, routes, warnings, complete };
  } finally {
    closeSync(fd);
  }
}
