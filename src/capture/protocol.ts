/**
 * Wire format between the Python capture agent and the collector (docs/capture.md, "Agent protocol").
 *
 * One HTTP `POST /api/v1/windows` per flush per agent process, JSON body:
 *   { v: 1, session, pid, host, rank, tp_rank: int|null, model, layer_ids: [L], experts: E, top_k,
 *     moe_parallel: 'ep'|'tp'|null (how the engine sharded the MoE layers, when the agent could tell),
 *     seq, first_step, step, time_ms, final, flush_ms, dropped,
 *     parts: [{ phase: 'prefill'|'decode'|null, steps, tokens,
 *               counts_b64: base64 of int32 LE [L][E], counts_dtype: 'i32'   (or counts: [L*E] numbers) }],
 *     routes?: { tokens: T, top_k: k, every: N, id_type: 'i16'|'i32', ids_b64: base64 LE [T][L][k], phase: [T] },
 *     capture?: { path, engine, engine_version, check },   (which capture point, engine and version counted)
 *     pp_rank?, pp_size?: pipeline stage of this process,  sequence_parallel?: true when every TP rank routes
 *     its own chunk of the tokens (vLLM sequence-parallel MoE),  sum_ranks?: true when each rank counted a
 *     disjoint part of the same tokens (vLLM EPLB load view: its own physical slots), so every rank is added,
 *     num_hidden_layers?: int >= 1 (decoder layers of the model, dense ones included, from its config; more
 *     than the largest layer id) }
 */
import { InputError } from '../core/errors.ts';
import { describeJson, nestsDeeperThan } from '../core/json-depth.ts';
import type { Phase } from '../core/load-trace.ts';

export interface WindowPart {
  phase?: Phase;
  steps: number;
  tokens: number;
  /** [L][E] row-major. */
  counts: Float64Array;
}

export interface SampledRoutes {
  tokens: number;
  topK: number;
  every: number;
  /** [T][L][k] expert ids. */
  ids: Int32Array;
}

/** Which capture point counted, in which engine and version (agent's `capture` key). */
export interface CaptureSource {
  path: string;
  engine?: string;
  engineVersion?: string;
  check?: string;
}

export interface AgentWindow {
  session: string;
  pid: number;
  host: string;
  rank: number;
  tpRank: number | null;
  model: string;
  layerIds: number[];
  experts: number;
  topK?: number;
  moeParallel?: 'ep' | 'tp';
  seq: number;
  step?: number;
  timeMs: number;
  final: boolean;
  flushMs: number;
  dropped: number;
  parts: WindowPart[];
  routes?: SampledRoutes;
  capture?: CaptureSource;
  /** Pipeline stage (0-based) and stage count, when the engine runs pipeline parallel. */
  ppRank?: number;
  ppSize?: number;
  /** Every TP rank routes its own tokens (its counts are not a replica of tp_rank 0's). */
  sequenceParallel?: boolean;
  /** Each rank counted a disjoint part (its own EPLB physical slots): add every rank, tp_rank > 0 included. */
  sumRanks?: boolean;
  /** Decoder layers of the model (config num_hidden_layers, dense layers included), when the agent knew it. */
  numHiddenLayers?: number;
}

const MAX_LAYERS = 4096;
const MAX_EXPERTS = 65536;
/** Counts in one part at most (L*E): 61x256 = 15,616; 4M leaves room for any real model. */
const MAX_CELLS = 1 << 22;
/** An agent window nests 4 deep (body > parts > part > counts); anything far deeper is hostile. */
const MAX_DEPTH = 8;

/** A non-negative safe integer (counts, tokens, steps, ids): 0.5, 1e300 (beyond 2^53), Infinity and NaN are refused. */
function int(v: unknown, where: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new InputError('agent window', where, `expected an integer >= ${min} and <= 2^53-1, got ${describeJson(v)}`);
  }
  return v;
}

/**
 * Validate a decoded JSON body and convert it to an AgentWindow.
 * @throws InputError naming the key that is wrong.
 */
export function parseAgentWindow(body: unknown): AgentWindow {
  if (typeof body !== 'object' || body === null) throw new InputError('agent window', '', 'expected a JSON object');
  if (nestsDeeperThan(body, MAX_DEPTH)) throw new InputError('agent window', '', `nests deeper than ${MAX_DEPTH} levels; expected a flat window object`);
  const b = body as Record<string, unknown>;
  if (b.v !== 1) throw new InputError('agent window', 'key v', `unsupported protocol version ${JSON.stringify(b.v)}; expected 1`);
  if (!Array.isArray(b.layer_ids) || b.layer_ids.length === 0 || b.layer_ids.length > MAX_LAYERS) {
    throw new InputError('agent window', 'key layer_ids', `expected 1..${MAX_LAYERS} layer ids`);
  }
  const layerIds = b.layer_ids.map((x, i) => int(x, `key layer_ids[${i}]`));
  const L = layerIds.length;
  const E = int(b.experts, 'key experts', 1);
  if (E > MAX_EXPERTS) throw new InputError('agent window', 'key experts', `at most ${MAX_EXPERTS} experts`);
  if (L * E > MAX_CELLS) throw new InputError('agent window', 'key experts', `${L}x${E} counts per window; at most ${MAX_CELLS}`);
  if (!Array.isArray(b.parts) || b.parts.length > 8) throw new InputError('agent window', 'key parts', 'expected an array of at most 8 parts');
  const parts: WindowPart[] = b.parts.map((p: unknown, i) => {
    const q = p as Record<string, unknown>;
    if (typeof q !== 'object' || q === null) throw new InputError('agent window', `key parts[${i}]`, 'expected an object');
    const phase = q.phase === null || q.phase === undefined ? undefined : q.phase;
    if (phase !== undefined && phase !== 'prefill' && phase !== 'decode' && phase !== 'mixed') {
      throw new InputError('agent window', `key parts[${i}].phase`, `expected prefill, decode or null`);
    }
    const counts = new Float64Array(L * E);
    if (typeof q.counts_b64 === 'string') {
      if (q.counts_dtype !== 'i32') throw new InputError('agent window', `key parts[${i}].counts_dtype`, 'expected "i32"');
      const bytes = Buffer.from(q.counts_b64, 'base64');
      if (bytes.length !== L * E * 4) {
        throw new InputError('agent window', `key parts[${i}].counts_b64`, `expected ${L * E} int32 counts (L*E), got ${bytes.length} bytes`);
      }
      for (let j = 0; j < counts.length; j++) {
        const v = bytes.readInt32LE(j * 4);
        if (v < 0) throw new InputError('agent window', `key parts[${i}].counts_b64[${j}]`, 'expected a non-negative count');
        counts[j] = v;
      }
    } else {
      if (!Array.isArray(q.counts) || q.counts.length !== L * E) {
        throw new InputError('agent window', `key parts[${i}].counts`, `expected ${L * E} counts (L*E)`);
      }
      for (let j = 0; j < counts.length; j++) {
        const v = q.counts[j];
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
          throw new InputError('agent window', `key parts[${i}].counts[${j}]`, `expected a non-negative integer <= 2^53-1, got ${describeJson(v)}`);
        }
        counts[j] = v;
      }
    }
    return { phase: phase as Phase | undefined, steps: int(q.steps ?? 0, `key parts[${i}].steps`), tokens: int(q.tokens ?? 0, `key parts[${i}].tokens`), counts };
  });
  let routes: SampledRoutes | undefined;
  if (b.routes !== undefined && b.routes !== null) {
    const r = b.routes as Record<string, unknown>;
    const tokens = int(r.tokens, 'key routes.tokens');
    const topK = int(r.top_k, 'key routes.top_k', 1);
    if (typeof r !== 'object' || Array.isArray(r)) throw new InputError('agent window', 'key routes', 'expected an object');
    const bytes = Buffer.from(typeof r.ids_b64 === 'string' ? r.ids_b64 : '', 'base64');
    const elem = r.id_type === 'i32' ? 4 : 2;
    if (bytes.length !== tokens * L * topK * elem) {
      throw new InputError('agent window', 'key routes.ids_b64', `expected ${tokens * L * topK * elem} bytes, got ${bytes.length}`);
    }
    const ids = new Int32Array(tokens * L * topK);
    for (let i = 0; i < ids.length; i++) {
      const v = elem === 2 ? bytes.readInt16LE(i * 2) : bytes.readInt32LE(i * 4);
      if (v < 0 || v >= E) throw new InputError('agent window', `key routes.ids_b64[${i}]`, `expert id ${v} out of range [0, ${E})`);
      ids[i] = v;
    }
    routes = { tokens, topK, every: int(r.every ?? 1, 'key routes.every', 1), ids };
  }
  const tp = b.tp_rank;
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 && v.length <= 200 ? v : undefined);
  let capture: CaptureSource | undefined;
  if (typeof b.capture === 'object' && b.capture !== null) {
    const c = b.capture as Record<string, unknown>;
    const path = str(c.path);
    if (path) capture = { path, engine: str(c.engine), engineVersion: str(c.engine_version), check: str(c.check) };
  }
  const ppSize = typeof b.pp_size === 'number' && Number.isInteger(b.pp_size) && b.pp_size >= 1 ? b.pp_size : undefined;
  let ppRank: number | undefined;
  if (ppSize !== undefined && ppSize > 1) {
    ppRank = int(b.pp_rank, 'key pp_rank');
    if (ppRank >= ppSize) throw new InputError('agent window', 'key pp_rank', `expected a stage below pp_size ${ppSize}, got ${ppRank}`);
  }
  let numHiddenLayers: number | undefined;
  if (b.num_hidden_layers !== undefined && b.num_hidden_layers !== null) {
    numHiddenLayers = int(b.num_hidden_layers, 'key num_hidden_layers', 1);
    const maxId = Math.max(...layerIds);
    if (numHiddenLayers <= maxId) {
      throw new InputError('agent window', 'key num_hidden_layers', `expected more decoder layers than the largest layer id ${maxId}, got ${numHiddenLayers}`);
    }
  }
  return {
    session: typeof b.session === 'string' ? b.session.slice(0, 256) : '',
    pid: int(b.pid ?? 0, 'key pid'),
    host: typeof b.host === 'string' ? b.host.slice(0, 256) : '',
    rank: int(b.rank ?? 0, 'key rank'),
    tpRank: typeof tp === 'number' && Number.isInteger(tp) ? tp : null,
    model: typeof b.model === 'string' ? b.model.slice(0, 1024) : '',
    layerIds,
    experts: E,
    topK: typeof b.top_k === 'number' && Number.isInteger(b.top_k) && b.top_k > 0 ? b.top_k : undefined,
    moeParallel: b.moe_parallel === 'ep' || b.moe_parallel === 'tp' ? b.moe_parallel : undefined,
    seq: int(b.seq ?? 0, 'key seq'),
    step: b.step === undefined || b.step === null ? undefined : int(b.step, 'key step'),
    timeMs: typeof b.time_ms === 'number' && Number.isFinite(b.time_ms) && b.time_ms >= 0 ? b.time_ms : Date.now(),
    final: b.final === true,
    flushMs: typeof b.flush_ms === 'number' && Number.isFinite(b.flush_ms) && b.flush_ms > 0 ? Math.min(b.flush_ms, 3_600_000) : 1000,
    dropped: b.dropped === undefined || b.dropped === null ? 0 : int(b.dropped, 'key dropped'),
    parts,
    routes,
    ...(capture ? { capture } : {}),
    ...(ppSize !== undefined && ppSize > 1 ? { ppRank, ppSize } : {}),
    ...(b.sequence_parallel === true ? { sequenceParallel: true } : {}),
    ...(b.sum_ranks === true ? { sumRanks: true } : {}),
    ...(numHiddenLayers !== undefined ? { numHiddenLayers } : {}),
  };
}
