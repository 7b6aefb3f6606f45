/**
 * Read a `torch.save` file (the zip format of torch >= 1.6) natively: the archive holds
 * `<prefix>/data.pkl` (a pickle whose tensors refer to storages by persistent id) and
 * `<prefix>/data/<key>` raw little-endian storage blobs. Tensors rebuilt with
 * `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` become `TorchTensor`s whose
 * `data` is a contiguous row-major typed array (strided views are gathered; bfloat16/float16 widen to
 * float32, int64 to float64 when every value fits in 2^53).
 *
 * The legacy (non-zip) format is refused with a clear message.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { InputError } from '../../core/errors.ts';
import { PyGlobal, PyObject, PyTuple, unpickle } from './pickle.ts';
import { isZipHead, ZipFile } from './zip.ts';

export type TorchDType = 'int8' | 'uint8' | 'bool' | 'int16' | 'int32' | 'int64' | 'float16' | 'bfloat16' | 'float32' | 'float64';
export type NumericArray = Int8Array | Uint8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export class TorchTensor {
  constructor(
    readonly dtype: TorchDType,
    readonly shape: number[],
    /** Contiguous row-major values, length = product of shape. */
    readonly data: NumericArray,
  ) {}
  get numel(): number {
    return this.data.length;
  }
}

const STORAGE_DTYPES: Record<string, TorchDType> = {
  ByteStorage: 'uint8',
  CharStorage: 'int8',
  BoolStorage: 'bool',
  ShortStorage: 'int16',
  IntStorage: 'int32',
  LongStorage: 'int64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
};

const TORCH_DTYPES: Record<string, TorchDType> = {
  uint8: 'uint8',
  int8: 'int8',
  bool: 'bool',
  int16: 'int16',
  short: 'int16',
  int32: 'int32',
  int: 'int32',
  int64: 'int64',
  long: 'int64',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
};

const ITEM_SIZE: Record<TorchDType, number> = {
  int8: 1,
  uint8: 1,
  bool: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  bfloat16: 2,
  float32: 4,
  float64: 8,
};

interface StorageRef {
  dtype: TorchDType | undefined;
  key: string;
  numel: number;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

const scratchU32 = new Uint32Array(1);
const scratchF32 = new Float32Array(scratchU32.buffer);

function allocFor(dtype: TorchDType, n: number): NumericArray {
  switch (dtype) {
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'float16':
    case 'bfloat16':
    case 'float32':
      return new Float32Array(n);
    default:
      return new Float64Array(n);
  }
}

/** True when `head` starts like a legacy (pre-1.6 / non-zip) torch.save file. */
export function isLegacyTorchHead(head: Uint8Array): boolean {
  // pickle PROTO 2, LONG1 of 10 bytes: torch's magic number 0x1950a86a20f9469cfc6c.
  const magic = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  if (head.length < magic.length) return false;
  return magic.every((b, i) => head[i] === b);
}

export interface TorchLoadOptions {
  /** Refuse when the tensors need more than this many bytes. */
  maxBytes?: number;
}

/**
 * Load a torch.save zip archive. Returns the unpickled value: Map for dicts, arrays for lists,
 * PyTuple for tuples, TorchTensor for tensors, numbers/bigint/strings/null/booleans.
 */
export function loadTorchFile(path: string, opts: TorchLoadOptions = {}): unknown {
  const head = new Uint8Array(16);
  const fd = openSync(path, 'r');
  let got: number;
  try {
    got = readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  const h = head.subarray(0, got);
  if (isLegacyTorchHead(h)) {
    throw new InputError(
      path,
      'byte 0',
      'legacy (non-zip) torch.save format is not supported; load it in Python and save again with torch.save(obj, path) (torch >= 1.6, default zip format)',
    );
  }
  if (!isZipHead(h)) throw new InputError(path, 'byte 0', 'not a torch.save zip archive (expected the bytes "PK\\x03\\x04")');
  const zip = new ZipFile(path);
  try {
    const pkl = zip.names().find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
    if (!pkl) throw new InputError(path, '', 'zip archive without data.pkl; not a torch.save file');
    const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
    const bo = zip.entries.has(`${prefix}byteorder`) ? new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim() : 'little';
    if (bo !== 'little') throw new InputError(path, `member ${prefix}byteorder`, `storages are ${bo}-endian; only little-endian files are supported`);
    const blobs = new Map<string, Uint8Array>();
    let bytesUsed = 0;
    const blob = (key: string): Uint8Array => {
      let b = blobs.get(key);
      if (!b) {
        const name = `${prefix}data/${key}`;
        const entry = zip.entries.get(name);
        if (!entry) throw new InputError(path, `member ${name}`, 'storage blob missing from the archive');
        bytesUsed += entry.size;
        if (opts.maxBytes !== undefined && bytesUsed > opts.maxBytes) {
          throw new InputError(path, `member ${name}`, `tensors need more than ${opts.maxBytes} bytes in memory`);
        }
        b = zip.read(name);
        blobs.set(key, b);
      }
      return b;
    };
    const where = `member ${pkl}`;
    const rebuild = (args: unknown[], dtypeOverride?: TorchDType): TorchTensor => {
      const [storage, offset, size, stride] = args;
      if (!storage || typeof storage !== 'object' || !('key' in storage)) {
        throw new InputError(path, where, 'tensor without a storage');
      }
      const s = storage as StorageRef;
      const dtype = dtypeOverride ?? s.dtype;
      if (!dtype) throw new InputError(path, where, `storage ${s.key} has no known dtype`);
      const shape = Array.from(size as number[], Number);
      const strides = Array.from(stride as number[], Number);
      const off = Number(offset);
      return gather(path, `member ${prefix}data/${s.key}`, blob(s.key), dtype, off, shape, strides);
    };
    return unpickle(zip.read(pkl), path, where, {
      persistentLoad(pid) {
        const t = pid as unknown[];
        if (!Array.isArray(t) || t[0] !== 'storage') throw new InputError(path, where, `unsupported persistent id ${JSON.stringify(String(t?.[0]))}`);
        const type = t[1];
        let dtype: TorchDType | undefined;
        if (type instanceof PyGlobal) dtype = STORAGE_DTYPES[type.name];
        const ref: StorageRef = { dtype, key: String(t[2]), numel: Number(t[4]) };
        return ref;
      },
      callGlobal(g, args) {
        if (g.module === 'torch._utils' && (g.name === '_rebuild_tensor_v2' || g.name === '_rebuild_tensor')) return rebuild(args);
        if (g.module === 'torch._utils' && g.name === '_rebuild_tensor_v3') {
          const dt = args[6];
          const d = dt instanceof PyGlobal ? TORCH_DTYPES[dt.name] : undefined;
          return rebuild(args, d);
        }
        if (g.module === 'torch._utils' && g.name === '_rebuild_parameter') return args[0];
        if (g.module === 'torch' && TORCH_DTYPES[g.name] && args.length === 0) return undefined;
        return undefined;
      },
    });
  } finally {
    zip.close();
  }
}

/** Gather a (possibly strided) view of a storage blob into a contiguous typed array. */
function gather(file: string, where: string, raw: Uint8Array, dtype: TorchDType, offset: number, shape: number[], strides: number[]): TorchTensor {
  const isz = ITEM_SIZE[dtype];
  const n = shape.reduce((a, b) => a * b, 1);
  if (n === 0) return new TorchTensor(dtype, shape, allocFor(dtype, 0));
  // Highest element index touched must lie inside the storage.
  let maxIdx = offset;
  for (let d = 0; d < shape.length; d++) maxIdx += (shape[d] - 1) * strides[d];
  if ((maxIdx + 1) * isz > raw.length || offset < 0) {
    throw new InputError(file, where, `tensor view (offset ${offset}, shape [${shape}], stride [${strides}]) reaches past the storage's ${raw.length / isz} elements`);
  }
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read = (i: number): number => {
    const b = i * isz;
    switch (dtype) {
      case 'int8':
        return dv.getInt8(b);
      case 'uint8':
      case 'bool':
        return dv.getUint8(b);
      case 'int16':
        return dv.getInt16(b, true);
      case 'int32':
        return dv.getInt32(b, true);
      case 'int64': {
        const v = dv.getBigInt64(b, true);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new InputError(file, where, `int64 value ${v} at element ${i} does not fit in 2^53`);
        }
        return Number(v);
      }
      case 'float16':
        return halfToFloat(dv.getUint16(b, true));
      case 'bfloat16': {
        scratchU32[0] = dv.getUint16(b, true) << 16;
        return scratchF32[0];
      }
      case 'float32':
        return dv.getFloat32(b, true);
      default:
        return dv.getFloat64(b, true);
    }
  };
  // Contiguous fast path for aligned 32-bit and 8-bit types.
  let contiguous = true;
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  if (contiguous && (dtype === 'int32' || dtype === 'float32') && (raw.byteOffset + offset * 4) % 4 === 0) {
    // Zero-copy view on the storage blob (which nothing else writes).
    const view = dtype === 'int32' ? new Int32Array(raw.buffer, raw.byteOffset + offset * 4, n) : new Float32Array(raw.buffer, raw.byteOffset + offset * 4, n);
    return new TorchTensor(dtype, shape, view);
  }
  const out = allocFor(dtype, n);
  const D = shape.length;
  const idx = new Array<number>(D).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    out[i] = read(src);
    for (let d = D - 1; d >= 0; d--) {
      idx[d]++;
      src += strides[d];
      if (idx[d] < shape[d]) break;
      src -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
  return new TorchTensor(dtype, shape, out);
}

/** Look up `key` in an unpickled dict (Map) or a PyObject's dict state. */
export function pyGet(obj: unknown, key: string): unknown {
  if (obj instanceof Map) return obj.get(key);
  if (obj instanceof PyObject && obj.state instanceof Map) return obj.state.get(key);
  return undefined;
}

export { PyGlobal, PyObject, PyTuple };
