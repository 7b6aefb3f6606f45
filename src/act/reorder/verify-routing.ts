/**
 * `reorder --verify`, the function check: for a layer, route the same random inputs through the router
 * before and after the rewrite and check that the experts chosen after are the images (old_to_new) of
 * those chosen before. Routing as the model routes (model-routing.ts): logits = W x + b; scores by
 * softmax / sigmoid / sqrt(softplus); choice = scores + correction bias; group-limited layers pick
 * topk_group groups by group score (max, or sum of the top two), then top-k inside them.
 *
 * Shapes: weight Float64Array [E*H] row-major [E][H]; bias, correction Float64Array [E] or undefined.
 */
import type { LayerRouting, ScoreFn } from './model-routing.ts';

export interface FloatRouter {
  weight: Float64Array;
  bias?: Float64Array;
  correction?: Float64Array;
}

/** Decode little-endian floats (F32, F16, BF16, F64) to Float64Array; undefined for other dtypes. */
export function decodeFloats(bytes: Uint8Array, dtype: string): Float64Array | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  switch (dtype) {
    case 'F64':
      return Float64Array.from({ length: bytes.length / 8 }, (_, i) => dv.getFloat64(i * 8, true));
    case 'F32':
      return Float64Array.from({ length: bytes.length / 4 }, (_, i) => dv.getFloat32(i * 4, true));
    case 'BF16':
      return Float64Array.from({ length: bytes.length / 2 }, (_, i) => {
        u32[0] = dv.getUint16(i * 2, true) << 16;
        return f32[0];
      });
    case 'F16':
      return Float64Array.from({ length: bytes.length / 2 }, (_, i) => {
        const h = dv.getUint16(i * 2, true);
        const s = h & 0x8000 ? -1 : 1;
        const e = (h >> 10) & 0x1f;
        const m = h & 0x3ff;
        if (e === 0) return s * m * 2 ** -24;
        if (e === 31) return m ? NaN : s * Infinity;
        return s * (1 + m / 1024) * 2 ** (e - 15);
      });
    default:
      return undefined;
  }
}

/** Transpose [rows][cols] -> [cols][rows]. */
export function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/** Top k indices; undefined when the k-th and (k+1)-th values tie (the choice then depends on ids). */
function topIndices(v: Float64Array, k: number, allowed?: (e: number) => boolean): number[] | undefined {
  const idx: number[] = [];
  for (let e = 0; e < v.length; e++) if (!allowed || allowed(e)) idx.push(e);
  idx.sort((a, b) => v[b] - v[a] || a - b);
  if (k < idx.length && v[idx[k - 1]] === v[idx[k]]) return undefined;
  return idx.slice(0, k);
}

/** Experts chosen for input x (length H); undefined on a tie at a selection boundary. */
export function route(r: FloatRouter, E: number, H: number, x: Float64Array, scoring: ScoreFn, lr: LayerRouting): number[] | undefined {
  const logits = new Float64Array(E);
  for (let e = 0; e < E; e++) {
    let s = r.bias ? r.bias[e] : 0;
    const row = e * H;
    for (let h = 0; h < H; h++) s += r.weight[row + h] * x[h];
    logits[e] = s;
  }
  const scores = new Float64Array(E);
  if (scoring === 'softmax') {
    let m = -Infinity;
    for (const v of logits) m = Math.max(m, v);
    let z = 0;
    for (let e = 0; e < E; e++) z += scores[e] = Math.exp(logits[e] - m);
    for (let e = 0; e < E; e++) scores[e] /= z;
  } else if (scoring === 'sigmoid') {
    for (let e = 0; e < E; e++) scores[e] = 1 / (1 + Math.exp(-logits[e]));
  } else {
    for (let e = 0; e < E; e++) scores[e] = Math.sqrt(Math.log1p(Math.exp(logits[e])));
  }
  const choice = new Float64Array(E);
  for (let e = 0; e < E; e++) choice[e] = scores[e] + (r.correction ? r.correction[e] : 0);
  if (lr.kind !== 'group-limited') return topIndices(choice, lr.topK);
  const g = lr.numGroups!;
  const size = E / g;
  const gs = new Float64Array(g);
  for (let i = 0; i < g; i++) {
    const vals = Array.from(choice.subarray(i * size, (i + 1) * size)).sort((a, b) => b - a);
    gs[i] = lr.groupScore === 'max' ? vals[0] : vals[0] + (vals[1] ?? 0);
  }
  const top = topIndices(gs, lr.topkGroup!);
  if (!top) return undefined;
  const groups = new Set(top);
  return topIndices(choice, lr.topK, (e) => groups.has(Math.floor(e / size)));
}

/** A small deterministic PRNG (mulberry32) and standard normals from it. */
export function normals(seed: number, n: number): Float64Array {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(rnd() + 1e-300)) * Math.cos(2 * Math.PI * rnd());
  return out;
}

/**
 * Route `samples` random inputs before and after; `problem` is the first mismatch, undefined when
 * every choice after is the image of the choice before. `checked` counts inputs without ties (an input
 * whose choice is decided by a tie is skipped: ids break ties, so a permutation may change it).
 */
export function checkRouting(before: FloatRouter, after: FloatRouter, oldToNew: ArrayLike<number>, E: number, H: number, scoring: ScoreFn, lr: LayerRouting, samples = 64, seed = 1): { problem?: string; checked: number } {
  let checked = 0;
  for (let i = 0; i < samples; i++) {
    const x = normals(seed + i * 7919, H);
    const ra = route(before, E, H, x, scoring, lr);
    const rb = route(after, E, H, x, scoring, lr);
    if (!ra || !rb) continue;
    const a = ra.map((e) => oldToNew[e]).sort((p, q) => p - q);
    const b = rb.sort((p, q) => p - q);
    if (a.join(',') !== b.join(',')) return { problem: `input ${i}: before the rewrite the router chose experts now at slots [${a}], after it chose [${b}]`, checked };
    checked++;
  }
  return { checked };
}

/**
 * Dequantise a packed router to Float64Array [E*H] ([E][H]) for the function check.
 *   GPTQ (auto-gptq qlinear, checkpoint format v1): qweight [H*b/32, E] fields along the input,
 *        qzeros [groups, E*b/32] fields along the output, w[h][e] = scales[g][e] * (q - (z + 1)),
 *        g = g_idx[h] (or h / (H / groups) without g_idx)
 *   AWQ (AutoAWQ gemm, 4 bits): qweight [H, E/8], qzeros [groups, E/8], fields in order
 *        0,2,4,6,1,3,5,7; w[h][e] = scales[g][e] * (q - z), g = h / (H / groups)
 * Inputs are raw little-endian bytes; scales decoded by `decodeFloats`. Returns undefined when a
 * shape does not fit.
 */
export function dequantRouter(
  method: 'gptq' | 'awq',
  bits: number,
  E: number,
  qweight: { bytes: Uint8Array; shape: number[] },
  qzeros: { bytes: Uint8Array; shape: number[] },
  scales: { bytes: Uint8Array; shape: number[]; dtype: string },
  gIdx?: { bytes: Uint8Array },
): Float64Array | undefined {
  const per = 32 / bits;
  const mask = (1 << bits) - 1;
  const order = method === 'awq' ? [0, 2, 4, 6, 1, 3, 5, 7] : Array.from({ length: per }, (_, i) => i);
  const s = decodeFloats(scales.bytes, scales.dtype);
  if (!s || scales.shape.length !== 2 || scales.shape[1] !== E) return undefined;
  const groups = scales.shape[0];
  const u32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const qw = u32(qweight.bytes);
  const qz = u32(qzeros.bytes);
  const H = method === 'gptq' ? qweight.shape[0] * per : qweight.shape[0];
  const field = (dv: DataView, row: number, words: number, col: number): number => {
    const w = Math.floor(col / per);
    const i = order.indexOf(col % per);
    return (dv.getUint32((row * words + w) * 4, true) >>> (bits * i)) & mask;
  };
  const zWords = qzeros.shape[1];
  const gi = gIdx ? new DataView(gIdx.bytes.buffer, gIdx.bytes.byteOffset, gIdx.bytes.byteLength) : undefined;
  const out = new Float64Array(E * H);
  for (let h = 0; h < H; h++) {
    const g = gi ? gi.getInt32(h * 4, true) : Math.floor(h / (H / groups));
    for (let e = 0; e < E; e++) {
      const q = method === 'gptq' ? (qw.getUint32((Math.floor(h / per) * E + e) * 4, true) >>> (bits * (h % per))) & mask : field(qw, h, qweight.shape[1], e);
      const z = field(qz, g, zWords, e) + (method === 'gptq' ? 1 : 0);
      out[e * H + h] = s[g * E + e] * (q - z);
    }
  }
  return out;
}
