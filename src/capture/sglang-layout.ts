/**
 * What a running SGLang server's `/get_server_info` says about its expert-distribution recorder and
 * its parallel layout, and what that means for the counts its dumps hold. Pure functions.
 *
 * Written against sgl-project/sglang@02295fe5ac5ccff3e8829800d50450351c56fb53,
 * python/sglang/srt/eplb/expert_distribution.py, and python/sglang/srt/entrypoints/http_server.py
 * (`/get_server_info` returns `dataclasses.asdict(server_args)` plus `version`):
 *  - stat mode: every rank's `_SelectExpertsSinglePassGatherer` counts the topk ids its own
 *    select_experts saw; `_StatAccumulator.dump` then `torch.distributed.all_reduce(SUM)`s the
 *    buffered counts over the world group and rank 0 writes the file. Without an all-to-all MoE
 *    backend (`moe_a2a_backend` "none": plain TP or EP-by-TP MoE, with or without DP attention, whose
 *    MoE input is gathered first) every TP rank runs select_experts on the same tokens, so each count
 *    is tp_size times the tokens routed. With DeepEP/Mooncake each rank routes only its own tokens and
 *    the sum is right.
 *  - per_pass / per_token: `_DetailAccumulator.dump` writes one file per rank
 *    (`expert_distribution_recorder_<time>_<rank>.pt`); the same replication shows up as identical
 *    records on every TP rank (the reader counts those once).
 *  - stat mode keeps `expert_distribution_recorder_buffer_size` passes in a `_CircularBuffer`
 *    (default 1000); a negative size selects `_InfiniteBuffer` (unbounded).
 */

export interface SglangServerInfo {
  version?: string;
  /** 'stat' | 'stat_approx' | 'per_pass' | 'per_token' | null (recorder off). */
  mode: string | null | undefined;
  /** Ring-buffer slots in stat mode; < 0 = unbounded; undefined = not reported. */
  bufferSize?: number;
  tp: number;
  dp: number;
  pp: number;
  ep: number;
  dpAttention: boolean;
  /** 'none' when MoE tokens are not exchanged all-to-all. */
  a2a: string;
}

const int = (x: unknown, d: number): number => (typeof x === 'number' && Number.isInteger(x) ? x : d);

/** Pick the fields ballast uses out of a `/get_server_info` JSON body; undefined if it is not one. */
export function parseSglangServerInfo(body: unknown): SglangServerInfo | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const o = body as Record<string, unknown>;
  if (!('tp_size' in o) && !('expert_distribution_recorder_mode' in o)) return undefined;
  const mode = o.expert_distribution_recorder_mode;
  const a2a = o.moe_a2a_backend;
  return {
    version: typeof o.version === 'string' ? o.version : undefined,
    mode: typeof mode === 'string' ? mode : mode === null ? null : undefined,
    bufferSize: typeof o.expert_distribution_recorder_buffer_size === 'number' ? o.expert_distribution_recorder_buffer_size : undefined,
    tp: int(o.tp_size, 1),
    dp: int(o.dp_size, 1),
    pp: int(o.pp_size, 1),
    ep: int(o.ep_size, 1),
    dpAttention: o.enable_dp_attention === true,
    a2a: typeof a2a === 'string' && a2a !== '' ? a2a : 'none',
  };
}

/**
 * How many times a stat dump counts each routed token (the TP ranks that route the same tokens and
 * are summed by the all-reduce), and why.
 */
export function statReplication(info: SglangServerInfo): { factor: number; why: string } {
  if (info.a2a !== 'none') return { factor: 1, why: `moe_a2a_backend ${info.a2a}: each rank routes its own tokens` };
  if (info.tp <= 1) return { factor: 1, why: 'tp_size 1' };
  return {
    factor: info.tp,
    why: `tp_size ${info.tp} without an all-to-all MoE backend: all ${info.tp} TP ranks route the same tokens and the stat all-reduce sums them`,
  };
}

/** Dump files one dump request should produce: one per rank (per_pass/per_token) or per world (stat). */
export function expectedDumpFiles(info: SglangServerInfo): number {
  const worlds = info.dpAttention ? 1 : Math.max(1, info.dp);
  if (info.mode === 'per_pass' || info.mode === 'per_token') return worlds * Math.max(1, info.tp) * Math.max(1, info.pp);
  return worlds;
}

/**
 * Length of the next recording segment in stat mode so that the ring buffer (`bufferSize` slots)
 * is at most half filled, from the pass rate seen in the previous segment.
 * - unbounded buffer (< 0) or unknown size: everything that is left;
 * - no rate yet: a probe of `probeMs` (or less when less is left);
 * - no pass seen: twice the previous segment;
 * - else bufferSize / 2 / rate, at least `minMs`, at most what is left; after a segment that filled
 *   the buffer (its pass count is only a lower bound) also at most a quarter of that segment.
 */
export function nextSegmentMs(a: {
  remainingMs: number;
  bufferSize: number | undefined;
  probeMs: number;
  minMs: number;
  last?: { passes: number; ms: number; full?: boolean };
}): number {
  const { remainingMs, bufferSize } = a;
  if (bufferSize === undefined || bufferSize < 0) return remainingMs;
  if (!a.last) return Math.min(remainingMs, a.probeMs);
  if (a.last.passes === 0) return Math.min(remainingMs, Math.max(a.minMs, 2 * a.last.ms));
  const rate = a.last.passes / Math.max(1, a.last.ms);
  let want = bufferSize / 2 / rate;
  if (a.last.full) want = Math.min(want, a.last.ms / 4);
  return Math.min(remainingMs, Math.max(a.minMs, Math.floor(want)));
}
