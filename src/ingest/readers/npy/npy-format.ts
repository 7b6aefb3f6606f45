/**
 * NumPy .npy parsing and writing (format versions 1.0, 2.0, 3.0), written from the format's definition
 * (numpy/lib/format.py docstring):
 *   magic "\x93NUMPY", major(u8), minor(u8), header_len (u16 LE for v1, u32 LE for v2/v3),
 *   header = Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (L, E), }
 *   padded with spaces and a '\n' so the data starts at a multiple of 16 (64 in newer numpy).
 */
import { InputError } from '../../../core/errors.ts';

export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface NpyHeader {
  major: number;
  /** dtype descr string, e.g. '<f4'. */
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset where the array data starts. */
  dataOffset: number;
}

export function hasNpyMagic(head: Uint8Array): boolean {
  if (head.length < 6) return false;
  for (let i = 0; i < 6; i++) if (head[i] !== NPY_MAGIC[i]) return false;
  return true;
}

/** Parse the header from the first bytes of a .npy file (needs the whole header in `buf`). */
export function parseNpyHeader(buf: Uint8Array, file: string): NpyHeader {
  if (!hasNpyMagic(buf)) throw new InputError(file, 'byte 0', 'expected the .npy magic "\\x93NUMPY"');
  if (buf.length < 10) throw new InputError(file, 'byte 8', 'file ends inside the .npy header');
  const major = buf[6];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new InputError(file, 'byte 8', 'file ends inside the .npy header');
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new InputError(file, 'byte 6', `unsupported .npy format version ${major}.${buf[7]}; expected 1.0, 2.0 or 3.0`);
  }
  if (start + headerLen > buf.length) {
    throw new InputError(file, `byte ${start}`, `expected a ${headerLen}-byte header, file has ${buf.length - start}`);
  }
  const text = Buffer.from(buf.buffer, buf.byteOffset + start, headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr) throw new InputError(file, `byte ${start}`, `expected a 'descr' key in the .npy header, got ${JSON.stringify(text.trim())}`);
  if (!fortran) throw new InputError(file, `byte ${start}`, `expected a 'fortran_order' key in the .npy header`);
  if (!shape) throw new InputError(file, `byte ${start}`, `expected a 'shape' tuple in the .npy header`);
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map((s) => {
      if (!/^\d+$/.test(s)) throw new InputError(file, `byte ${start}`, `expected integer dimensions in 'shape', got "${s}"`);
      return Number(s);
    });
  return { major, descr: descr[1], fortranOrder: fortran[1] === 'True', shape: dims, dataOffset: start + headerLen };
}

interface Dtype {
  size: number;
  name: string;
  get(dv: DataView, off: number, little: boolean): number;
}

const DTYPES: Record<string, Dtype> = {
  f4: { size: 4, name: 'float32', get: (dv, o, le) => dv.getFloat32(o, le) },
  f8: { size: 8, name: 'float64', get: (dv, o, le) => dv.getFloat64(o, le) },
  i1: { size: 1, name: 'int8', get: (dv, o) => dv.getInt8(o) },
  u1: { size: 1, name: 'uint8', get: (dv, o) => dv.getUint8(o) },
  i2: { size: 2, name: 'int16', get: (dv, o, le) => dv.getInt16(o, le) },
  u2: { size: 2, name: 'uint16', get: (dv, o, le) => dv.getUint16(o, le) },
  i4: { size: 4, name: 'int32', get: (dv, o, le) => dv.getInt32(o, le) },
  u4: { size: 4, name: 'uint32', get: (dv, o, le) => dv.getUint32(o, le) },
  // 64-bit ints: exact below 2^53; larger magnitudes become unsafe and are rejected by the caller.
  i8: { size: 8, name: 'int64', get: (dv, o, le) => Number(dv.getBigInt64(o, le)) },
  u8: { size: 8, name: 'uint64', get: (dv, o, le) => Number(dv.getBigUint64(o, le)) },
};

const KIND_NAMES: Record<string, string> = {
  c: 'complex',
  b: 'bool',
  U: 'unicode string',
  S: 'byte string',
  O: 'Python object',
  V: 'structured/void',
  M: 'datetime',
  m: 'timedelta',
  f: 'float',
};

/**
 * Decode a numeric .npy dtype. Returns the element reader and its little-endianness, or throws an
 * InputError naming the unsupported dtype.
 */
export function npyDtype(descr: string, file: string): { dtype: Dtype; little: boolean } {
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  const key = m ? `${m[2]}${m[3]}` : '';
  const dtype = DTYPES[key];
  if (!m || !dtype) {
    const kind = m ? (KIND_NAMES[m[2]] ?? m[2]) : 'unparsed';
    const bits = m ? `${Number(m[3]) * (m[2] === 'U' ? 32 : 8)}-bit ` : '';
    throw new InputError(file, 'key descr', `unsupported dtype "${descr}" (${bits}${kind}); expected float32, float64, int32 or int64 (or another integer type)`);
  }
  // '|' (not applicable) and '=' (native, little on every platform Node supports) read as little-endian.
  return { dtype, little: m[1] !== '>' };
}

/** Encode a 2-D .npy v1.0 file: int64 ('<i8') or float64 ('<f8'), C order. `data` is [rows][cols]. */
export function encodeNpy2d(data: Float64Array, rows: number, cols: number, kind: 'int64' | 'float64'): Buffer {
  const descr = kind === 'int64' ? '<i8' : '<f8';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const pre = 10;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = header.padEnd(total - pre - 1, ' ') + '\n';
  const out = Buffer.alloc(total + data.length * 8);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, pre, 'latin1');
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < data.length; i++) {
    if (kind === 'int64') dv.setBigInt64(total + i * 8, BigInt(data[i]), true);
    else dv.setFloat64(total + i * 8, data[i], true);
  }
  return out;
}
