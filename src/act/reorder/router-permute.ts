/**
 * Permute a router tensor along its expert axis, in memory (routers are small: E x H values).
 * new_to_old[s] = old expert now at slot s; output column/row s = input column/row new_to_old[s].
 *
 * Layouts (E experts, H hidden):
 *   float weight      [E, H] rows, or [H, E] columns (refused when E == H: the axis cannot be told)
 *   bias, correction  [E], [1, E] or [k, E]: last axis
 *   GPTQ  qweight [H*b/32, E] I32 (packed along the input): columns; scales [groups, E]: columns;
 *         qzeros [groups, E*b/32] I32: b-bit fields packed along the expert axis, field j of word w
 *         = expert w*32/b + j (auto-gptq qlinear pack: `qzeros[:, col] |= zeros[:, i] << (bits * j)`)
 *   AWQ   qweight [H, E*b/32] I32 and qzeros [groups, E*b/32]: 4-bit fields in AWQ order
 *         [0, 2, 4, 6, 1, 3, 5, 7] (AutoAWQ gemm pack: field i of word c = column 8c + order[i]);
 *         scales [groups, E]: columns
 *   g_idx [H]: input axis, unchanged
 * Anything else: `throw` a message (the caller turns it into a one-line refusal).
 */
import { DTYPE_BYTES } from '../safetensors/safetensors.ts';
import type { RouterRole } from './expert-tensors.ts';

export const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7];

/** Gather along the last axis: out[..., s] = in[..., perm[s]]. Shape [rows, E] of `elem`-byte values. */
export function permuteLastAxis(src: Uint8Array, rows: number, E: number, elem: number, perm: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let r = 0; r < rows; r++) {
    const base = r * E * elem;
    for (let s = 0; s < E; s++) out.set(src.subarray(base + perm[s] * elem, base + (perm[s] + 1) * elem), base + s * elem);
  }
  return out;
}

/** Gather rows: out row s = in row perm[s]. */
export function permuteRows(src: Uint8Array, E: number, perm: ArrayLike<number>): Uint8Array {
  const row = src.length / E;
  const out = new Uint8Array(src.length);
  for (let s = 0; s < E; s++) out.set(src.subarray(perm[s] * row, (perm[s] + 1) * row), s * row);
  return out;
}

/**
 * Permute logical columns packed `32/bits` to a little-endian I32 word along the last axis.
 * `order[i]` = logical column (within the word) of field i; identity for GPTQ.
 */
export function permutePacked(src: Uint8Array, rows: number, words: number, bits: number, perm: ArrayLike<number>, order?: number[]): Uint8Array {
  const per = 32 / bits;
  const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  const ord = order ?? Array.from({ length: per }, (_, i) => i);
  const dvIn = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const out = new Uint8Array(src.length);
  const dvOut = new DataView(out.buffer);
  const cols = words * per;
  const logical = new Uint32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let w = 0; w < words; w++) {
      const v = dvIn.getUint32((r * words + w) * 4, true);
      for (let i = 0; i < per; i++) logical[w * per + ord[i]] = (v >>> (bits * i)) & mask;
    }
    for (let w = 0; w < words; w++) {
      let v = 0;
      for (let i = 0; i < per; i++) v |= logical[perm[w * per + ord[i]]] << (bits * i);
      dvOut.setUint32((r * words + w) * 4, v >>> 0, true);
    }
  }
  return out;
}

export interface RouterTensor {
  name: string;
  dtype: string;
  shape: number[];
}

const FLOATS = new Set(['F32', 'F16', 'BF16', 'F64']);

/**
 * How to permute one router tensor; `quant` from config.json. Returns a function of the source bytes,
 * or 'copy' (nothing indexed by expert), or throws a reason to refuse.
 */
export function routerPermuter(
  t: RouterTensor,
  role: RouterRole,
  E: number,
  H: number,
  quant: { method: string; bits?: number } | undefined,
): 'copy' | ((src: Uint8Array, perm: ArrayLike<number>) => Uint8Array) {
  const sh = t.shape;
  const elem = DTYPE_BYTES[t.dtype];
  const numel = sh.reduce((a, b) => a * b, 1);
  const bad = (why: string): never => {
    throw new Error(`${t.name} (${t.dtype} [${sh}]): ${why}`);
  };
  switch (role) {
    case 'g_idx':
      return 'copy';
    case 'weight': {
      if (!FLOATS.has(t.dtype)) bad('a quantized router weight in a form reorder does not know (expected F32/F16/BF16)');
      if (sh.length !== 2) bad(`expected a 2-d router [${E}, ${H}] or [${H}, ${E}]`);
      if (sh[0] === E && sh[1] === E) bad(`E = H = ${E}: cannot tell which axis is the expert axis`);
      if (sh[0] === E) return (src, perm) => permuteRows(src, E, perm);
      if (sh[1] === E) return (src, perm) => permuteLastAxis(src, sh[0], E, elem, perm);
      return bad(`no axis of length ${E} (experts)`);
    }
    case 'bias':
    case 'correction': {
      if (sh.length === 0 || sh[sh.length - 1] !== E) bad(`expected the last axis to be the ${E} experts`);
      return (src, perm) => permuteLastAxis(src, numel / E, E, elem, perm);
    }
    case 'scales': {
      if (sh.length !== 2 || sh[1] !== E) bad(`expected [groups, ${E}]`);
      return (src, perm) => permuteLastAxis(src, sh[0], E, elem, perm);
    }
    case 'qweight':
    case 'qzeros': {
      const method = quant?.method;
      const bits = quant?.bits;
      if (method !== 'gptq' && method !== 'awq') bad(`a packed router needs quantization_config.quant_method gptq or awq in config.json, got ${JSON.stringify(method)}`);
      if (bits === undefined || ![2, 4, 8].includes(bits)) bad(`expected quantization_config.bits 2, 4 or 8, got ${JSON.stringify(bits)}`);
      if (t.dtype !== 'I32' || sh.length !== 2) bad('expected a 2-d I32 packed tensor');
      const per = 32 / bits!;
      if (method === 'gptq' && role === 'qweight') {
        if (sh[1] !== E || sh[0] * per !== H) bad(`GPTQ qweight should be [${H / per}, ${E}]`);
        return (src, perm) => permuteLastAxis(src, sh[0], E, 4, perm);
      }
      if (sh[1] * per !== E) bad(`expected ${E / per} packed words per row (${E} experts, ${bits} bits)`);
      if (method === 'awq' && bits !== 4) bad('AWQ packing order is known for 4 bits only');
      if (method === 'awq' && role === 'qweight' && sh[0] !== H) bad(`AWQ qweight should be [${H}, ${E / per}]`);
      const order = method === 'awq' ? AWQ_ORDER : undefined;
      return (src, perm) => permutePacked(src, sh[0], sh[1], bits!, perm, order);
    }
  }
}
