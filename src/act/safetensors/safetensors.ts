/**
 * Streaming safetensors reader/writer. A file is: 8-byte little-endian header length N, N bytes of JSON
 * header `{"__metadata__": {str: str}?, "<name>": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}}`
 * (offsets relative to the data section, which starts at byte 8 + N), then the raw tensor bytes.
 * Only the header is ever held in memory; tensor bytes move in bounded chunks with positioned reads
 * and writes.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { InputError } from '../../core/errors.ts';

export const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  start: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  headerLength: number;
  dataStart: number;
  fileSize: number;
  metadata?: Record<string, string>;
  /** In file order (by offset). */
  tensors: TensorInfo[];
  byName: Map<string, TensorInfo>;
}

const MAX_HEADER = 100 * 1024 * 1024;

function readExactly(fd: number, buf: Uint8Array, pos: number, file: string): void {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, pos + got);
    if (n === 0) throw new InputError(file, `byte ${pos + got}`, `file ends early; expected ${buf.length} bytes at byte ${pos}`);
    got += n;
  }
}

/** Read and validate a safetensors header. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    if (fileSize < 8) throw new InputError(path, 'byte 0', 'too short for a safetensors file (no 8-byte header length)');
    const lenBuf = Buffer.alloc(8);
    readExactly(fd, lenBuf, 0, path);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(Math.min(MAX_HEADER, fileSize - 8))) {
      throw new InputError(path, 'byte 0', `header length ${n} exceeds the file (${fileSize} bytes) or the ${MAX_HEADER}-byte limit`);
    }
    const headerLength = Number(n);
    const hb = Buffer.alloc(headerLength);
    readExactly(fd, hb, 8, path);
    let json: unknown;
    try {
      json = JSON.parse(hb.toString('utf8'));
    } catch {
      throw new InputError(path, 'byte 8', 'header is not valid JSON');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new InputError(path, 'byte 8', 'header must be a JSON object');
    const dataStart = 8 + headerLength;
    const tensors: TensorInfo[] = [];
    let metadata: Record<string, string> | undefined;
    for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = v as Record<string, string>;
        continue;
      }
      const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const where = `key ${name}`;
      if (typeof t?.dtype !== 'string' || !(t.dtype in DTYPE_BYTES)) throw new InputError(path, where, `unknown dtype ${JSON.stringify(t?.dtype)}`);
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new InputError(path, where, 'shape must be a list of non-negative integers');
      const off = t.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1] < off[0]) {
        throw new InputError(path, where, 'data_offsets must be [begin, end] with begin <= end');
      }
      const numel = (t.shape as number[]).reduce((a, b) => a * b, 1);
      if (off[1] - off[0] !== numel * DTYPE_BYTES[t.dtype]) {
        throw new InputError(path, where, `data_offsets span ${off[1] - off[0]} bytes but ${t.dtype} [${t.shape}] needs ${numel * DTYPE_BYTES[t.dtype]}`);
      }
      tensors.push({ name, dtype: t.dtype, shape: t.shape as number[], start: dataStart + off[0], end: dataStart + off[1] });
    }
    tensors.sort((a, b) => a.start - b.start || a.end - b.end);
    let pos = dataStart;
    for (const t of tensors) {
      if (t.start !== pos) throw new InputError(path, `key ${t.name}`, t.start < pos ? 'tensor data overlaps the previous tensor' : `gap of ${t.start - pos} bytes before this tensor`);
      pos = t.end;
    }
    if (pos !== fileSize) {
      throw new InputError(path, `byte ${pos}`, pos > fileSize ? `tensor data runs past the end of the file (${fileSize} bytes); the file is truncated` : `${fileSize - pos} stray bytes after the last tensor`);
    }
    return { path, headerLength, dataStart, fileSize, metadata, tensors, byName: new Map(tensors.map((t) => [t.name, t])) };
  } finally {
    closeSync(fd);
  }
}

/** A byte range of a source file. */
export interface ByteRange {
  file: string;
  start: number;
  length: number;
}

/** Bytes computed in memory (small tensors only: a router rewritten along its expert axis). */
export interface DataPiece {
  data: Uint8Array;
}

/** One piece of an output tensor: a range of a source file, or bytes in memory. */
export type Piece = ByteRange | DataPiece;

export function pieceLength(p: Piece): number {
  return 'data' in p ? p.data.byteLength : p.length;
}

export interface OutputTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** Bytes of the tensor, in order, as ranges of source files (or computed bytes). */
  pieces: Piece[];
}

/** Encode a header for `tensors` (in the given order) and metadata; returns its bytes padded to 8. */
export function encodeHeader(tensors: { name: string; dtype: string; shape: number[]; byteLength: number }[], metadata?: Record<string, string>): Buffer {
  const h: Record<string, unknown> = {};
  if (metadata) h.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    h[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.byteLength] };
    off += t.byteLength;
  }
  let json = Buffer.from(JSON.stringify(h), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json]);
}

/** Open-file cache for sources, closed by `closeAll`. */
export class FdCache {
  private fds = new Map<string, number>();
  get(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      fd = openSync(file, 'r');
      this.fds.set(file, fd);
    }
    return fd;
  }
  closeAll(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

export const CHUNK_BYTES = 8 * 1024 * 1024;

/** Visit the bytes of `pieces` in chunks of at most CHUNK_BYTES (the same buffer is reused). */
export function forEachChunk(pieces: Piece[], fds: FdCache, visit: (chunk: Uint8Array) => void, buf: Buffer = Buffer.allocUnsafe(CHUNK_BYTES)): void {
  for (const p of pieces) {
    if ('data' in p) {
      for (let o = 0; o < p.data.byteLength; o += CHUNK_BYTES) visit(p.data.subarray(o, Math.min(p.data.byteLength, o + CHUNK_BYTES)));
      continue;
    }
    const fd = fds.get(p.file);
    let done = 0;
    while (done < p.length) {
      const n = Math.min(buf.length, p.length - done);
      const view = buf.subarray(0, n);
      readExactly(fd, view, p.start + done, p.file);
      visit(view);
      done += n;
    }
  }
}

/**
 * Write a safetensors file whose tensors come from byte ranges of other files (streamed), yielding
 * to the event loop after every chunk (so SIGINT / SIGTERM handlers run while a large shard is
 * written) and fsyncing the file before it returns.
 */
export async function writeSafetensorsAsync(outPath: string, tensors: OutputTensor[], metadata: Record<string, string> | undefined, fds: FdCache): Promise<void> {
  const header = encodeHeader(
    tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.pieces.reduce((s, p) => s + pieceLength(p), 0) })),
    metadata,
  );
  const out = openSync(outPath, 'w');
  try {
    let pos = 0;
    const write = (b: Uint8Array) => {
      let w = 0;
      while (w < b.length) w += writeSync(out, b, w, b.length - w, pos + w);
      pos += b.length;
    };
    write(header);
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    for (const t of tensors) {
      for (const p of t.pieces) {
        if ('data' in p) {
          write(p.data);
          continue;
        }
        const fd = fds.get(p.file);
        for (let done = 0; done < p.length; ) {
          const view = buf.subarray(0, Math.min(buf.length, p.length - done));
          readExactly(fd, view, p.start + done, p.file);
          write(view);
          done += view.length;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    }
    fsyncSync(out);
  } finally {
    closeSync(out);
  }
}

/** SHA-256 of the concatenated byte ranges. */
export function hashRanges(pieces: Piece[], fds: FdCache, buf?: Buffer): string {
  const h = createHash('sha256');
  forEachChunk(pieces, fds, (c) => h.update(c), buf);
  return h.digest('hex');
}

/** Build a whole safetensors file in memory (tests, small fixtures). */
export function encodeSafetensors(tensors: { name: string; dtype: string; shape: number[]; data: Uint8Array }[], metadata?: Record<string, string>): Buffer {
  const header = encodeHeader(
    tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.data.byteLength })),
    metadata,
  );
  return Buffer.concat([header, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}


/** Read `length` bytes at `start` of `file` into memory (small tensors only). */
export function readBytes(file: string, start: number, length: number, fds: FdCache): Uint8Array {
  const b = new Uint8Array(length);
  if (length > 0) readExactly(fds.get(file), b, start, file);
  return b;
}
