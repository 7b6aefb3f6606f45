/**
 * SGLang expert-distribution recorder dumps (`torch.save` files written by
 * `/dump_expert_distribution_record`, python/sglang/srt/eplb/expert_distribution.py), every mode:
 *
 *   stat      {"rank": int, "logical_count": int32 [N][L][E], "average_utilization_rate_over_window": float|None}
 *             N = --expert-distribution-recorder-buffer-size slots of a ring buffer (see ringOrder below);
 *             a 2-D [L][E] logical_count (an --init-expert-location .pt) is one window.
 *   per_pass  {"records": [{"forward_pass_id", "rank", "gatherer_key", "global_physical_count": [L][P]}],
 *              "last_physical_to_logical_map": [L][P]}   one file per rank (..._<rank>.pt)
 *   per_token the per_pass records plus "topk_ids_of_layer": int32 [L][T][8] (physical ids, -1 = unused
 *             column), "input_ids" [T], "extend_seq_lens", "forward_mode".
 *
 * Physical counts/ids are folded to logical experts with last_physical_to_logical_map (the map at dump
 * time; SGLang itself notes it may have changed during recording). A directory of dumps (several ranks)
 * is read as one: per_pass counts of the same forward pass are summed over ranks (what stat mode's
 * all-reduce does); per_token records are concatenated in (forward_pass_id, rank) order.
 *
 * SGLang's recorder indexes every model layer, so dense layers (e.g. DeepSeek's first 3) come out all
 * zero (stat/per_pass) or all -1 (per_token); they are dropped and layerIds keep the model-level ids.
 */
import { concatWindows } from '../../../core/concat-windows.ts';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../../core/errors.ts';
import { type LoadTrace, makeLoadTrace, type Phase, type WindowInfo } from '../../../core/load-trace.ts';
import { allocExpertIds, makeTokenRoutes, type TokenRoutes } from '../../../core/token-routes.ts';
import { loadTorchFile, type NumericArray, pyGet, TorchTensor } from '../../torch/load.ts';
import type { RawRead, ReadOptions } from '../../reader.ts';

export const DUMP_NAME = /^expert_distribution_recorder_.*\.pt$/;

/** How the windows of a stat dump were put in order. */
export type RingOrder = 'time' | 'head-from-dump' | 'inferred-from-unfilled-slots' | 'slot-order-unknown-rotation';

function tensorAt(file: string, obj: unknown, key: string, dims: number[]): TorchTensor {
  const t = pyGet(obj, key);
  if (!(t instanceof TorchTensor)) throw new InputError(file, `key ${key}`, 'expected a tensor');
  if (!dims.includes(t.shape.length)) {
    throw new InputError(file, `key ${key}`, `expected a ${dims.join(' or ')}-D tensor, got shape [${t.shape}]`);
  }
  return t;
}

function asInt(x: unknown): number | undefined {
  if (typeof x === 'number' && Number.isInteger(x)) return x;
  if (typeof x === 'bigint') return Number(x);
  return undefined;
}

/** dst[off..off+len) = src[start..start+len) as float64 (plain loops: TypedArray.set across element types is slow in V8). */
function widen(dst: Float64Array, off: number, src: NumericArray, start: number, len: number): void {
  if (src instanceof Int32Array) widenI32(dst, off, src, start, len);
  else if (src instanceof Float64Array) dst.set(src.subarray(start, start + len), off);
  else for (let i = 0; i < len; i++) dst[off + i] = src[start + i];
}

function widenI32(dst: Float64Array, off: number, src: Int32Array, start: number, len: number): void {
  for (let i = 0; i < len; i++) dst[off + i] = src[start + i];
}

/** Layers (of L) whose counts are not all zero; all layers when every layer is zero. */
function liveLayers(counts: Float64Array, W: number, L: number, E: number): number[] {
  const tot = new Float64Array(L);
  for (let w = 0; w < W; w++) {
    for (let l = 0; l < L; l++) {
      let s = 0;
      for (let i = (w * L + l) * E, end = i + E; i < end; i++) s += counts[i];
      tot[l] += s;
    }
  }
  const live = [...tot.keys()].filter((l) => tot[l] !== 0);
  return live.length === 0 ? [...tot.keys()] : live;
}

function selectLayers(counts: Float64Array, W: number, L: number, E: number, keep: number[]): Float64Array {
  if (keep.length === L) return counts;
  const out = new Float64Array(W * keep.length * E);
  for (let w = 0; w < W; w++) {
    keep.forEach((l, i) => out.set(counts.subarray((w * L + l) * E, (w * L + l + 1) * E), (w * keep.length + i) * E));
  }
  return out;
}

/**
 * Put the N slots of a stat ring buffer in time order.
 * SGLang's _CircularBuffer writes slot `curr_index` then advances it mod N; `reset()` (after every
 * dump) zeroes the slots but leaves `curr_index` where it was, and the dump does not record it.
 *  - all-zero slots are slots never written since the last reset (a pass always routes >= 1 token);
 *    they are dropped.
 *  - when the dump carries `curr_index` (not written by released SGLang), the oldest slot is
 *    `curr_index`: 'head-from-dump'.
 *  - else, when the unfilled slots form one contiguous (circular) run, the oldest written slot is the
 *    one right after that run: 'inferred-from-unfilled-slots' (exact: writing resumed after the run).
 *  - else (buffer full, or several zero runs) the rotation is unknown: slots stay in slot order, the
 *    windows carry no step, and a warning says so: 'slot-order-unknown-rotation'. Totals are exact;
 *    only time-ordered analyses see one unknown seam.
 * Returns the slot indices to keep, in order.
 */
export function ringTimeOrder(isZero: boolean[], head?: number): { order: number[]; how: RingOrder } {
  const N = isZero.length;
  const rotateFrom = (s: number): number[] => Array.from({ length: N }, (_, i) => (s + i) % N).filter((i) => !isZero[i]);
  if (head !== undefined && head >= 0 && head < N) return { order: rotateFrom(head), how: 'head-from-dump' };
  const zeros = isZero.filter(Boolean).length;
  if (zeros === 0) return { order: [...isZero.keys()], how: 'slot-order-unknown-rotation' };
  if (zeros === N) return { order: [], how: 'time' };
  // Count boundaries zero -> nonzero going round the ring.
  const starts: number[] = [];
  for (let i = 0; i < N; i++) if (isZero[(i - 1 + N) % N] && !isZero[i]) starts.push(i);
  if (starts.length === 1) {
    const how: RingOrder = starts[0] === 0 ? 'time' : 'inferred-from-unfilled-slots';
    return { order: rotateFrom(starts[0]), how };
  }
  return { order: [...isZero.keys()].filter((i) => !isZero[i]), how: 'slot-order-unknown-rotation' };
}

function readStat(file: string, obj: unknown, warn: (s: string) => void, warnings: string[]): RawRead {
  const t = tensorAt(file, obj, 'logical_count', [2, 3]);
  const [N, L, E] = t.shape.length === 3 ? t.shape : [1, t.shape[0], t.shape[1]];
  const per = L * E;
  const rank = asInt(pyGet(obj, 'rank'));
  const util = pyGet(obj, 'average_utilization_rate_over_window');
  const data = t.data;
  const isZero: boolean[] = [];
  for (let n = 0; n < N; n++) {
    let z = true;
    let neg = -1;
    for (let i = n * per, end = (n + 1) * per; i < end; i++) {
      const v = data[i];
      if (v !== 0) {
        z = false;
        if (v < 0) neg = i;
      }
    }
    if (neg >= 0) throw new InputError(file, `key logical_count[${n}]`, `negative count ${data[neg]}`);
    isZero.push(z);
  }
  let order: number[];
  let how: RingOrder = 'time';
  if (t.shape.length === 2) order = [0];
  else ({ order, how } = ringTimeOrder(isZero, asInt(pyGet(obj, 'curr_index'))));
  if (order.length === 0) throw new InputError(file, 'key logical_count', 'every slot is zero: the recorder recorded no forward pass');
  const dropped = N - order.length;
  if (t.shape.length === 3 && dropped > 0) {
    const m = `${dropped} of ${N} ring-buffer slots were never written (all zero) and were left out`;
    warnings.push(m);
    warn(m);
  }
  if (how === 'slot-order-unknown-rotation') {
    const m =
      `stat dump: every one of the ${N} ring-buffer slots was written (or they have gaps) and the dump does not record its write index, so windows are in slot order, not time order; the totals are those of the passes still in the buffer, and any earlier pass of the recording was overwritten`;
    warnings.push(m);
    warn(m);
  }
  const W = order.length;
  const counts = new Float64Array(W * per);
  order.forEach((n, w) => widen(counts, w * per, data, n * per, per));
  const g = countsGcd(counts);
  if (g.gcd >= 2 && g.nonzero >= 16) {
    const m = `every count in this stat dump is a multiple of ${g.gcd}: SGLang all-reduces stat counts over every rank, so under tensor parallelism (no all-to-all MoE backend) each count is tp_size times the tokens routed; if the server ran with --tp ${g.gcd}, divide by ${g.gcd} (ballast capture --sglang does this from the server's tp_size)`;
    warnings.push(m);
    warn(m);
  }
  const keep = liveLayers(counts, W, L, E);
  const windows: WindowInfo[] = order.map((_, w) => (how === 'slot-order-unknown-rotation' ? {} : { step: w }));
  const load = makeLoadTrace(
    {
      layerIds: keep,
      sources: [{ path: file, format: 'sglang-dump' }],
      extra: {
        sglangMode: t.shape.length === 3 ? 'stat' : 'logical_count',
        ringOrder: how,
        ringSlots: order,
        ringSize: N,
        rank: rank ?? null,
        averageUtilizationRateOverWindow: typeof util === 'number' ? util : null,
        droppedDenseLayers: L - keep.length,
      },
    },
    keep.length,
    E,
    selectLayers(counts, W, L, E, keep),
    windows,
  );
  return { load, warnings };
}

/** Greatest common divisor of the nonzero counts, and how many there are. */
export function countsGcd(counts: ArrayLike<number>): { gcd: number; nonzero: number } {
  let g = 0;
  let nonzero = 0;
  for (let i = 0; i < counts.length; i++) {
    let a = counts[i];
    if (a === 0) continue;
    nonzero++;
    let b = g;
    while (b !== 0) [a, b] = [b, a % b];
    g = a;
  }
  return { gcd: g, nonzero };
}

/** Windows of several stat reads one after another; layers aligned by model-level layer id (union). */
function concatStatReads(loads: LoadTrace[], warnings: string[]): RawRead {
  const c = concatWindows(loads, (ld, w, f) => ({ ...ld.windows[w], rank: f }));
  const meta = {
    layerIds: c.layerIds,
    sources: loads.flatMap((l) => l.meta.sources),
    extra: { sglangMode: 'stat', statDumps: loads.length, ringOrder: loads.map((l) => l.meta.extra?.ringOrder) },
  };
  return { load: makeLoadTrace(meta, c.layerIds.length, c.numExperts, c.counts, c.windows), warnings };
}

interface DumpFile {
  file: string;
  obj: unknown;
}

function recordsOf(d: DumpFile): Map<string, unknown>[] {
  const recs = pyGet(d.obj, 'records');
  if (!Array.isArray(recs)) throw new InputError(d.file, 'key records', 'expected a list of records');
  recs.forEach((r, i) => {
    if (!(r instanceof Map)) throw new InputError(d.file, `key records[${i}]`, 'expected a dict');
  });
  return recs as Map<string, unknown>[];
}

function mapOf(d: DumpFile): TorchTensor {
  return tensorAt(d.file, d.obj, 'last_physical_to_logical_map', [2]);
}

interface DetailRecord {
  file: string;
  idx: number;
  rec: Map<string, unknown>;
  pass: number;
  rank: number;
}

function sameTensor(a: unknown, b: unknown): boolean {
  if (!(a instanceof TorchTensor) || !(b instanceof TorchTensor)) return false;
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

/**
 * Under tensor parallelism (and DP attention without an all-to-all MoE backend) every TP rank runs
 * select_experts on the same tokens, so SGLang's per-rank per_pass / per_token records are identical
 * (python/sglang/srt/eplb/expert_distribution.py: _SelectExpertsSinglePassGatherer on every rank,
 * sgl-project/sglang@02295fe5ac5ccff3e8829800d50450351c56fb53). Returns the number of ranks when every
 * pass was recorded by every rank with identical data at `key`, else 1 (ranks saw different tokens,
 * e.g. DeepEP: their counts add up). Records of passes are sorted by (pass, rank).
 */
export function replicatedRanks(all: readonly DetailRecord[], ranks: readonly number[], key: string): number {
  if (ranks.length < 2) return 1;
  let i = 0;
  while (i < all.length) {
    let j = i;
    while (j < all.length && all[j].pass === all[i].pass) j++;
    if (j - i !== ranks.length) return 1;
    for (let r = i + 1; r < j; r++) if (!sameTensor(all[i].rec.get(key), all[r].rec.get(key))) return 1;
    i = j;
  }
  return ranks.length;
}

function readDetail(files: DumpFile[], warn: (s: string) => void, warnings: string[]): RawRead {
  const map = mapOf(files[0]);
  const [L, P] = map.shape;
  let E = 0;
  for (const v of map.data) E = Math.max(E, v + 1);
  for (const f of files.slice(1)) {
    const m = mapOf(f);
    if (m.shape[0] !== L || m.shape[1] !== P || m.data.some((v, i) => v !== map.data[i])) {
      throw new InputError(f.file, 'key last_physical_to_logical_map', `differs from the map in ${files[0].file}; dumps from one recording share one map`);
    }
  }
  for (let i = 0; i < map.data.length; i++) {
    if (map.data[i] < 0) throw new InputError(files[0].file, `key last_physical_to_logical_map[${Math.floor(i / P)}][${i % P}]`, `negative expert id ${map.data[i]}`);
  }
  let all: DetailRecord[] = [];
  for (const f of files) {
    recordsOf(f).forEach((rec, idx) => {
      const pass = asInt(rec.get('forward_pass_id'));
      if (pass === undefined) throw new InputError(f.file, `key records[${idx}].forward_pass_id`, 'expected an integer');
      all.push({ file: f.file, idx, rec, pass, rank: asInt(rec.get('rank')) ?? 0 });
    });
  }
  if (all.length === 0) throw new InputError(files[0].file, 'key records', 'no records: the recorder recorded no forward pass');
  all.sort((a, b) => a.pass - b.pass || a.rank - b.rank);
  const perToken = all[0].rec.has('topk_ids_of_layer');
  const source = files.map((f) => ({ path: f.file, format: 'sglang-dump' }));
  let ranks = [...new Set(all.map((a) => a.rank))].sort((a, b) => a - b);
  const replicas = replicatedRanks(all, ranks, perToken ? 'topk_ids_of_layer' : 'global_physical_count');
  if (replicas > 1) {
    const m = `the ${replicas} ranks (${ranks.join(', ')}) recorded identical routing for every forward pass: tensor-parallel replicas routing the same tokens (SGLang records on every TP rank), counted once, not ${replicas} times`;
    warnings.push(m);
    warn(m);
    const keepRank = ranks[0];
    all = all.filter((a) => a.rank === keepRank);
    ranks = [keepRank];
  }
  if (!perToken) {
    // per_pass: one window per forward pass, physical counts folded to logical and summed over ranks.
    const passes = [...new Set(all.map((a) => a.pass))];
    const wOf = new Map(passes.map((p, i) => [p, i]));
    const counts = new Float64Array(passes.length * L * E);
    for (const a of all) {
      const where = `key records[${a.idx}].global_physical_count`;
      const g = a.rec.get('global_physical_count');
      if (!(g instanceof TorchTensor) || g.shape.length !== 2 || g.shape[0] !== L || g.shape[1] !== P) {
        throw new InputError(a.file, where, `expected a [${L}][${P}] tensor (layers x physical experts of last_physical_to_logical_map)`);
      }
      const base = wOf.get(a.pass)! * L * E;
      for (let l = 0; l < L; l++) {
        for (let p = 0; p < P; p++) {
          const v = g.data[l * P + p];
          if (v < 0) throw new InputError(a.file, `${where}[${l}][${p}]`, `negative count ${v}`);
          counts[base + l * E + map.data[l * P + p]] += v;
        }
      }
    }
    const keep = liveLayers(counts, passes.length, L, E);
    const windows: WindowInfo[] = passes.map((p) => (ranks.length === 1 ? { step: p, rank: ranks[0] } : { step: p }));
    const load = makeLoadTrace(
      { layerIds: keep, sources: source, extra: { sglangMode: 'per_pass', ranks, tpReplicas: replicas, droppedDenseLayers: L - keep.length } },
      keep.length,
      E,
      selectLayers(counts, passes.length, L, E, keep),
      windows,
    );
    return { load, warnings };
  }
  return readPerToken(all, map, L, P, E, source, ranks, replicas, warnings);
}

function readPerToken(
  all: DetailRecord[],
  map: TorchTensor,
  L: number,
  P: number,
  E: number,
  sources: { path: string; format: string }[],
  ranks: number[],
  replicas: number,
  warnings: string[],
): RawRead {
  // First pass: shapes, k (columns in use) and which layers carry routing.
  let K = 0;
  let T = 0;
  const layerUsed = new Uint8Array(L);
  const tensors: TorchTensor[] = [];
  for (const a of all) {
    const where = `key records[${a.idx}].topk_ids_of_layer`;
    const t = a.rec.get('topk_ids_of_layer');
    if (!(t instanceof TorchTensor) || t.shape.length !== 3 || t.shape[0] !== L) {
      throw new InputError(a.file, where, `expected an int tensor [${L}][tokens][k]`);
    }
    const [, n, c] = t.shape;
    const ids = a.rec.get('input_ids');
    if (Array.isArray(ids) && ids.length !== n) throw new InputError(a.file, where, `holds ${n} tokens but input_ids has ${ids.length}`);
    for (let l = 0; l < L; l++) {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < c; j++) {
          const v = t.data[(l * n + i) * c + j];
          if (v >= P) throw new InputError(a.file, `${where}[${l}][${i}][${j}]`, `physical expert id ${v} is not below ${P}`);
          if (v >= 0) {
            layerUsed[l] = 1;
            K = Math.max(K, j + 1);
          }
        }
      }
    }
    tensors.push(t);
    T += n;
  }
  if (K === 0) throw new InputError(all[0].file, 'key records', 'no routed token in any record');
  const keep = [...layerUsed.keys()].filter((l) => layerUsed[l]);
  const Lk = keep.length;
  const experts = allocExpertIds(E, T * Lk * K);
  const seqStarts: number[] = [0];
  const phase = new Uint8Array(T);
  let phaseKnown = true;
  const passes: { forwardPassId: number; rank: number; firstToken: number; numTokens: number; forwardMode: number | null }[] = [];
  let t0 = 0;
  all.forEach((a, r) => {
    const t = tensors[r];
    const [, n, c] = t.shape;
    const where = `key records[${a.idx}].topk_ids_of_layer`;
    keep.forEach((l, li) => {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < K; j++) {
          const v = j < c ? t.data[(l * n + i) * c + j] : -1;
          if (v < 0) throw new InputError(a.file, `${where}[${l}][${i}][${j}]`, `unused slot (-1) inside the first ${K} experts of a routed token`);
          experts[((t0 + i) * Lk + li) * K + j] = map.data[l * P + v];
        }
      }
    });
    const mode = asInt(a.rec.get('forward_mode'));
    const lens = a.rec.get('extend_seq_lens');
    // ForwardMode: EXTEND = 1 (prefill), DECODE = 2; other modes leave per-token phase unknown.
    if (mode === 1 && Array.isArray(lens) && lens.reduce((s: number, x) => s + Number(x), 0) === n) {
      let s = t0;
      for (const x of lens) {
        s += Number(x);
        if (s > seqStarts[seqStarts.length - 1]) seqStarts.push(s);
      }
    } else if (mode === 2) {
      for (let i = 1; i <= n; i++) seqStarts.push(t0 + i);
    } else if (n > 0) {
      seqStarts.push(t0 + n);
    }
    if (mode === 1) phase.fill(0, t0, t0 + n);
    else if (mode === 2) phase.fill(1, t0, t0 + n);
    else phaseKnown = false;
    passes.push({ forwardPassId: a.pass, rank: a.rank, firstToken: t0, numTokens: n, forwardMode: mode ?? null });
    t0 += n;
  });
  if (seqStarts[seqStarts.length - 1] !== T) seqStarts.push(T);
  const meta = {
    layerIds: keep,
    topK: K,
    sources,
    extra: { sglangMode: 'per_token', ranks, tpReplicas: replicas, passes, droppedDenseLayers: L - Lk },
  };
  const routes: TokenRoutes = makeTokenRoutes({
    meta,
    numLayers: Lk,
    numExperts: E,
    topK: K,
    experts,
    seqStarts: Uint32Array.from(seqStarts),
    phase: phaseKnown ? phase : undefined,
  });
  // One load window per (forward pass, rank) record.
  const W = passes.length;
  const counts = new Float64Array(W * Lk * E);
  const windows: WindowInfo[] = [];
  passes.forEach((p, w) => {
    for (let t = p.firstToken; t < p.firstToken + p.numTokens; t++) {
      for (let l = 0; l < Lk; l++) for (let j = 0; j < K; j++) counts[(w * Lk + l) * E + experts[(t * Lk + l) * K + j]] += 1;
    }
    const ph: Phase | undefined = p.forwardMode === 1 ? 'prefill' : p.forwardMode === 2 ? 'decode' : undefined;
    windows.push({ step: p.forwardPassId, rank: p.rank, tokens: p.numTokens, ...(ph ? { phase: ph } : {}) });
  });
  const load: LoadTrace = makeLoadTrace(meta, Lk, E, counts, windows);
  return { load, routes, warnings };
}

/** Read one dump file or a directory of dumps (all ranks of one recording). */
export function readSglangDump(path: string, opts: ReadOptions = {}): RawRead {
  let files: string[];
  if (statSync(path).isDirectory()) {
    files = readdirSync(path)
      .filter((n) => DUMP_NAME.test(n))
      .sort()
      .map((n) => join(path, n));
    if (files.length === 0) throw new InputError(path, '', 'no expert_distribution_recorder_*.pt dumps in this directory');
  } else files = [path];
  return readSglangDumpFiles(path, files, opts);
}

/**
 * Read the dump files of one recording (`label` names them in errors): one stat dump, or the per-rank
 * per_pass / per_token dumps. Several stat dumps are refused unless `concatStat` (one dump request
 * answered by several data-parallel replicas): their windows are then concatenated.
 */
export function readSglangDumpFiles(label: string, files: string[], opts: ReadOptions & { concatStat?: boolean } = {}): RawRead {
  const warn = opts.warn ?? ((s: string) => process.stderr.write(`warning: ${s}\n`));
  const warnings: string[] = [];
  const path = label;
  const dumps: DumpFile[] = files.map((f) => ({ file: f, obj: loadTorchFile(f, { maxBytes: opts.maxBytes }) }));
  for (const d of dumps) {
    if (!(d.obj instanceof Map)) throw new InputError(d.file, '', 'expected a dict at the top of the dump');
  }
  const first = dumps[0];
  if (pyGet(first.obj, 'logical_count') !== undefined) {
    if (dumps.length > 1 && !opts.concatStat) {
      throw new InputError(path, '', `${dumps.length} stat dumps in one directory; stat dumps are already summed over ranks, read one file`);
    }
    if (dumps.length === 1) return readStat(first.file, first.obj, warn, warnings);
    return concatStatReads(dumps.map((d) => readStat(d.file, d.obj, warn, warnings).load!), warnings);
  }
  if (pyGet(first.obj, 'records') !== undefined) return readDetail(dumps, warn, warnings);
  throw new InputError(first.file, '', 'not an SGLang expert-distribution dump: expected key "logical_count" (stat mode) or "records" (per_pass / per_token)');
}
