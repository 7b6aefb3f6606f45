/**
 * Decode one "routed experts" value from an engine's HTTP response into int ids [T][L][K].
 *
 * Encodings seen in the engines' upstream source (each cited where it is decoded):
 *  - nested JSON list [T][L][K] (vLLM's first --enable-return-routed-experts responses, ~v0.21:
 *    `prompt_routed_experts` on the response, `choices[i].routed_experts` on each choice);
 *  - {"encoding": "base64", "dtype": "int16", "shape": [T, L, K], "data": "<base64>"} (a later
 *    vLLM form of the same fields);
 *  - a base64 string of `.npy` bytes (vLLM main, vllm-project/vllm@006c49d485f9ca479bf4989cbb694d0ac02f44b5
 *    vllm/entrypoints/openai/chat_completion/serving.py: `numpy2base64(output.routed_experts)`;
 *    protocol.py: shape (num_tokens - 1, num_layers, num_experts_per_tok), uint8/uint16/int32);
 *  - a base64 string of raw little-endian int32 bytes, shape (tokens - 1, layers * top_k), when the
 *    caller knows L and K (SGLang `meta_info["routed_experts"]` with `return_routed_experts`,
 *    sgl-project/sglang python/sglang/srt/managers/tokenizer_manager.py).
 * Returns the ids or a reason string (never throws).
 */
import { hasNpyMagic, npyDtype, parseNpyHeader } from '../../ingest/readers/npy/npy-format.ts';

export interface RoutedArray {
  T: number;
  L: number;
  K: number;
  /** [T][L][K] row-major. */
  ids: Uint16Array;
}


function fromNested(v: unknown[]): RoutedArray | string {
  const T = v.length;
  if (T === 0) return { T: 0, L: 0, K: 0, ids: new Uint16Array(0) };
  const first = v[0];
  if (!Array.isArray(first) || first.length === 0 || !Array.isArray(first[0])) return 'expected a [tokens][layers][k] list';
  const L = first.length;
  const K = (first[0] as unknown[]).length;
  const ids = new Uint16Array(T * L * K);
  for (let t = 0; t < T; t++) {
    const tok = v[t];
    if (!Array.isArray(tok) || tok.length !== L) return `token ${t}: expected ${L} layers`;
    for (let l = 0; l < L; l++) {
      const row = tok[l];
      if (!Array.isArray(row) || row.length !== K) return `token ${t} layer ${l}: expected ${K} ids`;
      for (let j = 0; j < K; j++) {
        const x = row[j];
        if (!Number.isInteger(x) || x < 0 || x > 65535) return `token ${t} layer ${l}: ${JSON.stringify(x)} is not an expert id`;
        ids[(t * L + l) * K + j] = x;
      }
    }
  }
  return { T, L, K, ids };
}

/** Strict enough without a regex over megabytes: Node skips characters outside the alphabet, so a
 * decoded length short of 3/4 of the text means it was not base64. */
function decodeB64(s: string): Buffer | string {
  const buf = Buffer.from(s, 'base64');
  let pad = 0;
  if (s.endsWith('==')) pad = 2;
  else if (s.endsWith('=')) pad = 1;
  if (s.length % 4 !== 0 || buf.length !== (s.length / 4) * 3 - pad) return 'not base64';
  return buf;
}

function typed(buf: Buffer, dtype: string, n: number): Uint16Array | string {
  if (dtype === 'uint16' && buf.length === n * 2) {
    // Little-endian uint16 is every id as is: one copy into an aligned array.
    const out = new Uint16Array(n);
    new Uint8Array(out.buffer).set(buf);
    return out;
  }
  const out = new Uint16Array(n);
  const size = dtype === 'int16' || dtype === 'uint16' ? 2 : dtype === 'uint8' || dtype === 'int8' ? 1 : dtype === 'int32' || dtype === 'uint32' ? 4 : 0;
  if (size === 0) return `unsupported dtype ${dtype}`;
  if (buf.length !== n * size) return `${buf.length} bytes for ${n} ${dtype} ids`;
  for (let i = 0; i < n; i++) {
    const o = i * size;
    const x =
      dtype === 'int16' ? buf.readInt16LE(o) : dtype === 'uint16' ? buf.readUInt16LE(o) : dtype === 'uint8' ? buf[o] : dtype === 'int8' ? buf.readInt8(o) : dtype === 'int32' ? buf.readInt32LE(o) : buf.readUInt32LE(o);
    if (x < 0 || x > 65535) return `id ${x} at ${i} is not an expert id`;
    out[i] = x;
  }
  return out;
}

function fromNpy(buf: Buffer): RoutedArray | string {
  let h;
  let dt;
  try {
    h = parseNpyHeader(buf, '');
    dt = npyDtype(h.descr, '');
  } catch (e) {
    return (e as Error).message;
  }
  if (h.shape.length !== 3) return `expected a 3-D .npy array, got shape (${h.shape})`;
  if (h.fortranOrder) return 'Fortran-order .npy arrays are not expected here';
  const [T, L, K] = h.shape;
  const n = T * L * K;
  const body = buf.subarray(h.dataOffset);
  if (body.length !== n * dt.dtype.size) return `.npy data is ${body.length} bytes, expected ${n * dt.dtype.size}`;
  const d = /^[<|]([iu])(\d)$/.exec(h.descr);
  if (d) {
    const ids = typed(body, `${d[1] === 'u' ? 'uint' : 'int'}${Number(d[2]) * 8}`, n);
    return typeof ids === 'string' ? ids : { T, L, K, ids };
  }
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const ids = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const x = dt.dtype.get(dv, i * dt.dtype.size, dt.little);
    if (!Number.isInteger(x) || x < 0 || x > 65535) return `id ${x} at ${i} is not an expert id`;
    ids[i] = x;
  }
  return { T, L, K, ids };
}

/**
 * `shape` (L, K) is needed only for raw int32 base64 (SGLang). Returns the ids, null for a JSON
 * null (feature off / aborted request), or a reason why the value could not be read.
 */
export function decodeRouted(v: unknown, shape?: { layers: number; topK: number }): RoutedArray | null | string {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return fromNested(v);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (o.encoding !== 'base64' || typeof o.data !== 'string' || !Array.isArray(o.shape) || o.shape.length !== 3) {
      return 'expected {"encoding": "base64", "dtype", "shape": [T, L, K], "data"}';
    }
    const [T, L, K] = o.shape as number[];
    if (![T, L, K].every((d) => Number.isInteger(d) && d >= 0)) return `bad shape ${JSON.stringify(o.shape)}`;
    const buf = decodeB64(o.data);
    if (typeof buf === 'string') return buf;
    const ids = typed(buf, typeof o.dtype === 'string' ? o.dtype : 'int16', T * L * K);
    return typeof ids === 'string' ? ids : { T, L, K, ids };
  }
  if (typeof v === 'string') {
    const buf = decodeB64(v);
    if (typeof buf === 'string') return buf;
    if (hasNpyMagic(buf)) return fromNpy(buf);
    if (!shape) return 'raw base64 ids without a .npy header need the layer count and top-k (--layers, --top-k or --model-config)';
    const per = shape.layers * shape.topK;
    if (per <= 0 || buf.length % (4 * per) !== 0) return `${buf.length} bytes is not a whole number of tokens of ${shape.layers} layers x top-${shape.topK} int32 ids`;
    const T = buf.length / (4 * per);
    const ids = typed(buf, 'int32', T * per);
    return typeof ids === 'string' ? ids : { T, L: shape.layers, K: shape.topK, ids };
  }
  return `unexpected ${typeof v}`;
}
