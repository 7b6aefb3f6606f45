/**
 * Trace replay (the folder src/predict/replay/): play a trace against placement policies, batch by batch, and predict time.
 *
 * Input (`ReplaySource`):
 *   routes  token routes [T][L][k]; the scored part [startToken, endToken) is cut into consecutive
 *           batches of `batchTokens` tokens from its start, the last partial batch dropped.
 *   counts  a load trace [W][L][E]; each window in [startWindow, endWindow) is one batch. Without
 *           routes, communication is estimated by treating a token's k choices as independent draws
 *           from the layer's rank shares (see `scoreCountsBatch`).
 *
 * Per batch and layer (routes): each (token, expert) choice goes to one replica: by default replica
 * number (i mod replicas(e)) where i is the token's index within the scored part ('token-mod', as
 * batch-rank-load.ts), or the replica with the fewest tokens so far in the batch ('least-loaded').
 * The batch's tokens come from the G ranks in contiguous equal blocks (data-parallel attention):
 * token at offset o of a batch of n tokens starts on rank floor(o * G / n).
 *
 * Per batch (length-B series in `BatchSeries`):
 *   maxOverMean     (1/L) sum_l max_r N[l][r] / (batchTokens * k / G)   (N: token-expert pairs on r)
 *   activatedMax    (1/L) sum_l max_r A[l][r]   (A: slots on r with at least one token)
 *   activatedMean   (1/L) sum_l mean_r A[l][r]
 *   distinctRanks   mean over (token, layer) of distinct ranks holding its k choices
 *   distinctNodes   the same for nodes
 *   dispatch/compute/combineUs   sum over layers of each phase's max over ranks (cost-model.ts)
 *   timeUs          sum over layers of the layer time, plus moveUs
 *   moveUs          time to load replicas moved by a re-plan taking effect at this batch
 *
 * Policies (`PolicySpec`): a static plan; periodic re-planning like vLLM EPLB (re-plan every
 * `interval` batches on the last `window` batches' counts, paying each re-plan's move cost); the
 * oracle (re-planned on every batch's own counts, no move cost: the ceiling a placement can reach).
 *
 * Performance (routes, G <= 32, token-mod; scoreRoutesBatchMulti): per batch and layer the ids are
 * gathered, counted and grouped by expert once for all policies; each policy ORs precomputed rank bits
 * (PlanTables.expertRankBit / slotRankBit) into one 32-bit mask per token, adds its replicated experts
 * expert by expert, and counts copies from the masks (byte lanes per node on 8-GPU nodes); counts are
 * Int32 and the per-layer time is computed from them in place (finishBatchCounts). Typed arrays only,
 * no per-batch allocation. Every path gives the same numbers as scoreRoutesBatchGeneral.
 */

// Layout (vLLM distributed/eplb style: state, policy and execution apart; the reference apart from the
// fast kernels):
//   source.ts, series.ts, scratch.ts   what is replayed, the per-batch series, scratch buffers
//   reference.ts                       the reference scorer (token by token, any G, any routing)
//   counts.ts                          the scorer for count-only sources (independent-draw estimate)
//   kernels/                           fast kernels, each tested === the reference (kernels/*.test.ts)
//   score.ts                           picks a scorer per batch
//   policy/                            policies: static, oracle, vllm-eplb, sglang-eplb (state + decisions)
//   execute.ts                         the batch loop that runs policies and charges their moves
//   summary.ts                         per-policy summary statistics
export { type ReplicaRouting, type ReplaySource, numBatches, batchCounts } from './source.ts';
export { type BatchSeries, newSeries } from './series.ts';
export { ReplayScratch, type ScoreItem, SharedScratch } from './scratch.ts';
export { scoreRoutesBatchGeneral, finishBatch } from './reference.ts';
export { scoreCountsBatch } from './counts.ts';
export { scoreRoutesBatch, scoreRoutesBatchMask } from './score.ts';
export { scoreRoutesBatchMulti } from './kernels/multi.ts';
export { commFromMasksNodes8 } from './kernels/comm-nodes8.ts';
export { commFromMasks, commFromMasks1 } from './kernels/comm-sliced.ts';
export { commFromMasksLoop } from './kernels/comm-loop.ts';
export { scoreRoutesBatchMultiPerChoice } from './kernels/per-choice.ts';
export { finishBatchCounts } from './kernels/finish-counts.ts';
export { type SolveBase, type PolicySpec, type PolicyResult, type ReplayOptions, type EplbConfig } from './policy/spec.ts';
export { vllmEplbConfig, sglangEplbConfig, describeEplb, replanDue } from './policy/eplb.ts';
export { EplbRunState } from './policy/state.ts';
export { replayPolicies, replayPolicy } from './execute.ts';
export { type PolicySummary, summarize } from './summary.ts';
