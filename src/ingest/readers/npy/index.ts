/**
 * NumPy .npy load reader: a 2-D [layers][experts] array, the DeepSeek EPLB `weight` input.
 *
 * Accepts format versions 1/2/3, float32/float64/int32/int64 (and the other integer widths), little-
 * and big-endian, C and Fortran order. Integer arrays hold token counts; a float array may hold
 * non-integer load weights (DeepSeek EPLB's `weight`, float32 [layers, experts]): they are read as
 * given, with a warning (loadWeightsNote) and meta.extra.loadWeights. Negative, NaN and infinite
 * values are refused. Result: one window [1][L][E], layer ids 0..L-1.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InputError } from '../../../core/errors.ts';
import { defaultLayerIds, makeLoadTrace } from '../../../core/load-trace.ts';
import type { Probe, RawRead, ReadOptions, TraceReader } from '../../reader.ts';
import { defaultMaxBytes } from '../csv/text-lines.ts';
import { hasNpyMagic, npyDtype, parseNpyHeader } from './npy-format.ts';

function readAt(fd: number, buf: Uint8Array, pos: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** What ballast assumes when loads are weights, not whole token counts (one line for every output). */
export function loadWeightsNote(fractional: number, total: number): string {
  return (
    `${fractional} of ${total} loads are not whole numbers: read as load weights (as DeepSeek EPLB's \`weight\`), ` +
    'not token counts; balance ratios do not depend on the unit, and statistics per token (tokens per batch, GPUs ' +
    'per token, sampled batches) take one unit of weight as one token-expert assignment'
  );
}

function read(path: string, opts: ReadOptions): RawRead {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) throw new InputError(path, '', 'empty file; expected a .npy array');
    const pre = new Uint8Array(Math.min(size, 12));
    readAt(fd, pre, 0);
    if (!hasNpyMagic(pre)) throw new InputError(path, 'byte 0', 'expected the .npy magic "\\x93NUMPY"');
    const hlen = pre.length >= 12 && pre[6] !== 1 ? new DataView(pre.buffer).getUint32(8, true) : pre.length >= 10 ? new DataView(pre.buffer).getUint16(8, true) : 0;
    const headBuf = new Uint8Array(Math.min(size, 12 + hlen));
    readAt(fd, headBuf, 0);
    const h = parseNpyHeader(headBuf, path);
    const { dtype, little } = npyDtype(h.descr, path);
    if (h.shape.length !== 2) {
      throw new InputError(path, 'key shape', `expected a 2-D [layers][experts] array, got shape (${h.shape.join(', ')})`);
    }
    const [L, E] = h.shape;
    if (L === 0 || E === 0) throw new InputError(path, 'key shape', `expected at least one layer and one expert, got shape (${L}, ${E})`);
    const dataBytes = L * E * dtype.size;
    const have = size - h.dataOffset;
    if (have < dataBytes) {
      throw new InputError(path, `byte ${h.dataOffset}`, `expected ${dataBytes} bytes of data for shape (${L}, ${E}) ${dtype.name}, file has ${have}`);
    }
    if (have > dataBytes) {
      throw new InputError(path, `byte ${h.dataOffset + dataBytes}`, `${have - dataBytes} bytes after the ${dataBytes} bytes of data; expected the file to end`);
    }
    const maxBytes = opts.maxBytes ?? defaultMaxBytes();
    if (dataBytes + L * E * 8 > maxBytes) {
      throw new InputError(path, '', `shape (${L}, ${E}) needs ${dataBytes + L * E * 8} bytes in memory, more than the ${maxBytes} allowed`);
    }
    const data = new Uint8Array(dataBytes);
    readAt(fd, data, h.dataOffset);
    const dv = new DataView(data.buffer);
    const counts = new Float64Array(L * E);
    const isFloat = dtype.name.startsWith('float');
    let fractional = 0;
    for (let l = 0; l < L; l++) {
      for (let e = 0; e < E; e++) {
        const idx = h.fortranOrder ? e * L + l : l * E + e;
        const off = idx * dtype.size;
        const v = dtype.get(dv, off, little);
        if (isFloat && Number.isFinite(v) && v >= 0) {
          // A float array may hold load weights (DeepSeek EPLB's `weight`): fractions are fine.
          if (!Number.isInteger(v)) fractional++;
        } else if (!Number.isFinite(v) || v < 0 || !Number.isSafeInteger(v)) {
          const what = Number.isNaN(v) ? 'NaN' : !Number.isFinite(v) ? String(v) : v < 0 ? `negative ${v}` : Number.isInteger(v) ? `${v} (beyond 2^53)` : `non-integer ${v}`;
          throw new InputError(path, `byte ${h.dataOffset + off}`, `expected a non-negative integer count at [${l}][${e}], got ${what}`);
        }
        counts[l * E + e] = v;
      }
    }
    const weights = fractional > 0;
    const load = makeLoadTrace(
      { layerIds: defaultLayerIds(L), sources: [{ path, format: 'npy' }], extra: weights ? { loadWeights: true } : undefined },
      L,
      E,
      counts,
      [{}],
    );
    return { load, warnings: weights ? [loadWeightsNote(fractional, L * E)] : undefined };
  } finally {
    closeSync(fd);
  }
}

export const reader: TraceReader = {
  name: 'npy',
  description: 'NumPy .npy 2-D [layers][experts] counts (DeepSeek EPLB weight)',
  detect: (p: Probe) => (!p.isDirectory && hasNpyMagic(p.head) ? 1 : 0),
  read,
};
