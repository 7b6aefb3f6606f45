/**
 * Predicted MoE step time of one layer's placement row, estimated by resampling token routes into
 * batches of the deployment's step size (the time objective's measure; time-objective.ts).
 *
 * For each resampled batch (n consecutive tokens starting at a drawn offset, as an engine step of
 * n tokens would see them) and layer l:
 *   - each (token, choice) goes to one replica of its expert by the replica routing (`routing`):
 *       'token-mod'   replica (o mod c_e), o the token's offset in the batch (the replay's rule, close to
 *                     vLLM's flat-position rule, see REPLICA_ROUTING below);
 *       'local-first' the replica on the token's own GPU when there is one, else replica (s mod c_e),
 *                     s the token's source GPU (SGLang's static dispatch, see REPLICA_ROUTING);
 *   - the batch's tokens start on the G ranks in equal contiguous blocks (data-parallel attention):
 *     token o of n starts on rank floor(o * G / n);
 *   - compute = max over ranks of the sum of the cost model's slot times (cost-model.ts: c0 +
 *     max(weights from HBM, GEMM)) over the rank's slots with a token, over the rank's speed;
 *   - dispatch / combine: one copy per (token, distinct destination rank other than its own) over that
 *     pair's link kind (lowLatency = 1: one copy per choice not on its own rank), priced by
 *     commPhaseUs; the layer time is combineLayerTime of the three.
 * Across nodes this counts one copy per destination rank, not per node (DeepEP's normal kernels send
 * one per node and forward inside it): an overestimate of network copies, stated where used.
 *
 * Also kept per batch: the busiest GPU's activated slots (slots with at least one token) and token-
 * expert pairs, the two quantities decode and prefill time follow.
 *
 * Shapes: routes [T][L][k]; row [P] phy2log of layer l (P divisible by G); starts [B] batch start
 * tokens, each + n <= T. Returns means over the B batches.
 */
import type { TokenRoutes } from '../../../core/token-routes.ts';
import { mulberry32 } from '../../../core/random.ts';
import { combineLayerTime, commPhaseUs, type CostModel, layerComputeUs, NUM_LINK_KINDS } from '../../../predict/cost-model.ts';

export type StepRouting = 'token-mod' | 'local-first';

/** How each engine picks a replica of a replicated expert, read from its source. */
export const REPLICA_ROUTING = {
  vllm:
    'vLLM: replica = (flat position of the (token, choice) pair in the rank\'s top-k ids) mod replica count; ' +
    'vllm-project/vllm vllm/model_executor/layers/fused_moe/router/base_router.py eplb_map_to_physical_and_record @ b9f290edc622f8126056e49e7afe03f0cb0c5347; ' +
    'ballast estimates it with token-mod (token offset mod replica count), which spreads a hot expert over its replicas the same way',
  sglang:
    'SGLang (--ep-dispatch-algorithm static): each GPU sends an expert to one fixed replica, the one on the same GPU when there is one, else a seeded fair choice; ' +
    'sgl-project/sglang python/sglang/srt/eplb/expert_location.py compute_logical_to_rank_dispatch_physical_map @ 6270b01498692d05d29267efe96d0eb7d9824545; ballast estimates it with local-first',
} as const;

export interface StepTimeScratch {
  slotCount: Float64Array;
  slotRank: Int32Array;
  send: Float64Array;
  recv: Float64Array;
  rankTmp: Float64Array;
  stamp: Int32Array;
  /** [E][X] slots of each expert, -1 padded; [E] replica counts. */
  repSlots: Int32Array;
  repCount: Int32Array;
  rankActive: Int32Array;
  rankTokens: Float64Array;
}

export function stepTimeScratch(cm: CostModel, numExperts: number, maxSlots: number): StepTimeScratch {
  const G = cm.numRanks;
  return {
    slotCount: new Float64Array(maxSlots),
    slotRank: new Int32Array(maxSlots),
    send: new Float64Array(G * NUM_LINK_KINDS),
    recv: new Float64Array(G * NUM_LINK_KINDS),
    rankTmp: new Float64Array(G),
    stamp: new Int32Array(G),
    repSlots: new Int32Array(numExperts * G),
    repCount: new Int32Array(numExperts),
    rankActive: new Int32Array(G),
    rankTokens: new Float64Array(G),
  };
}

/**
 * Batch start tokens for resampling: `count` offsets drawn uniformly from [0, T - n] with a seeded
 * generator (mulberry32), sorted. Shapes: -> Int32Array [count].
 */
export function resampleStarts(numTokens: number, n: number, count: number, seed = 1): Int32Array {
  if (n > numTokens) throw new RangeError(`step of ${n} tokens is larger than the ${numTokens} tokens to resample`);
  const rand = mulberry32(seed);
  const out = new Int32Array(count);
  const span = numTokens - n + 1;
  for (let i = 0; i < count; i++) out[i] = Math.floor(rand() * span);
  return out.sort();
}

export interface LayerStepTime {
  /** Mean layer time over the batches, microseconds. */
  timeUs: number;
  /** Mean over batches of the busiest rank's activated slots. */
  activatedMax: number;
  /** Mean over batches of the busiest rank's token-expert pairs. */
  tokensMax: number;
  dispatchUs: number;
  computeUs: number;
  combineUs: number;
}

/** Mean step time of layer `l` under `row` over batches of `n` tokens at `starts` (see file header); each batch's into `perBatchUs` when given. */
export function layerStepTime(
  cm: CostModel,
  routes: TokenRoutes,
  l: number,
  row: Int32Array,
  starts: Int32Array,
  n: number,
  sc: StepTimeScratch,
  routing: StepRouting = 'token-mod',
  /** When given ([B]): each batch's layer time, us. */
  perBatchUs?: Float64Array,
): LayerStepTime {
  const G = cm.numRanks;
  const { numLayers: L, topK: k, experts } = routes;
  const E = routes.numExperts;
  const P = row.length;
  const S = P / G;
  const X = G;
  sc.repCount.fill(0);
  for (let p = 0; p < P; p++) {
    const e = row[p];
    sc.repSlots[e * X + sc.repCount[e]++] = p;
    sc.slotRank[p] = Math.floor(p / S);
  }
  for (let e = 0; e < E; e++) if (sc.repCount[e] === 0) throw new RangeError(`layer ${l}: expert ${e} has no slot`);
  const lowLatency = cm.constants.lowLatency >= 1;
  const overlap = cm.constants.overlap >= 1;
  const dBytes = cm.constants.dispatchBytesPerToken;
  const cBytes = cm.constants.combineBytesPerToken;
  let sumT = 0;
  let sumA = 0;
  let sumN = 0;
  let sumD = 0;
  let sumX = 0;
  let sumC = 0;
  let stampId = 0;
  sc.stamp.fill(0);
  for (let b = 0; b < starts.length; b++) {
    const t0 = starts[b];
    sc.slotCount.fill(0, 0, P);
    sc.send.fill(0);
    sc.recv.fill(0);
    for (let o = 0; o < n; o++) {
      const src = Math.floor((o * G) / n);
      const base = ((t0 + o) * L + l) * k;
      stampId++;
      for (let j = 0; j < k; j++) {
        const e = experts[base + j];
        const c = sc.repCount[e];
        let slot = sc.repSlots[e * X];
        if (c > 1) {
          if (routing === 'token-mod') slot = sc.repSlots[e * X + (o % c)];
          else {
            let local = -1;
            for (let i = 0; i < c; i++) if (sc.slotRank[sc.repSlots[e * X + i]] === src) local = sc.repSlots[e * X + i];
            slot = local >= 0 ? local : sc.repSlots[e * X + (src % c)];
          }
        }
        sc.slotCount[slot]++;
        const dst = sc.slotRank[slot];
        if (dst === src) continue;
        if (lowLatency || sc.stamp[dst] !== stampId) {
          sc.stamp[dst] = stampId;
          const kind = cm.linkKind[src * G + dst];
          sc.send[src * NUM_LINK_KINDS + kind]++;
          sc.recv[dst * NUM_LINK_KINDS + kind]++;
        }
      }
    }
    const x = layerComputeUs(cm, sc.slotCount.subarray(0, P), sc.slotRank, sc.rankTmp);
    const half = overlap ? layerComputeUs(cm, sc.slotCount.subarray(0, P), sc.slotRank, sc.rankTmp, 0.5) : x / 2;
    const d = commPhaseUs(cm, sc.send, sc.recv, 0, dBytes);
    const c = commPhaseUs(cm, sc.send, sc.recv, 0, cBytes);
    const t = combineLayerTime(cm, d, x, c, half).totalUs;
    sumT += t;
    if (perBatchUs) perBatchUs[b] = t;
    sumD += d;
    sumX += x;
    sumC += c;
    sc.rankActive.fill(0);
    sc.rankTokens.fill(0);
    for (let p = 0; p < P; p++) {
      const v = sc.slotCount[p];
      if (v > 0) {
        sc.rankActive[sc.slotRank[p]]++;
        sc.rankTokens[sc.slotRank[p]] += v;
      }
    }
    let a = 0;
    let m = 0;
    for (let r = 0; r < G; r++) {
      if (sc.rankActive[r] > a) a = sc.rankActive[r];
      if (sc.rankTokens[r] > m) m = sc.rankTokens[r];
    }
    sumA += a;
    sumN += m;
  }
  const B = Math.max(1, starts.length);
  return { timeUs: sumT / B, activatedMax: sumA / B, tokensMax: sumN / B, dispatchUs: sumD / B, computeUs: sumX / B, combineUs: sumC / B };
}

/**
 * Expected compute time each expert adds to its rank per step, were it alone on one slot: the mean
 * over batches of slotTime(n_e) (0 when the expert gets no token). In decode this is about
 * P(expert active) x the time to stream its weights; in prefill about its tokens x GEMM time per token.
 * Shapes: routes [T][L][k], starts [B] -> [L][E] microseconds.
 */
export function expertStepWeights(cm: CostModel, routes: TokenRoutes, starts: Int32Array, n: number): Float64Array {
  const { numLayers: L, numExperts: E, topK: k, experts } = routes;
  const out = new Float64Array(L * E);
  const cnt = new Float64Array(E);
  const c0 = cm.constants.c0Us;
  const mem = cm.memUs[0];
  const tok = cm.tokenUs[0];
  for (let l = 0; l < L; l++) {
    for (let b = 0; b < starts.length; b++) {
      cnt.fill(0);
      for (let o = 0; o < n; o++) {
        const base = ((starts[b] + o) * L + l) * k;
        for (let j = 0; j < k; j++) cnt[experts[base + j]]++;
      }
      for (let e = 0; e < E; e++) {
        const v = cnt[e];
        if (v > 0) out[l * E + e] += c0 + Math.max(mem, v * tok);
      }
    }
    for (let e = 0; e < E; e++) out[l * E + e] /= Math.max(1, starts.length);
  }
  return out;
}
