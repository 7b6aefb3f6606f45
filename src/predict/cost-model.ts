/**
 * Time model of one MoE layer under expert parallelism (docs/cost-model.md: every constant and its source).
 *
 * Notation: H hidden size, F expert FFN size, G ranks, n tokens on one (rank, expert) slot,
 * B_e = 3*H*F*bytes_per_weight bytes of one expert.
 *
 *   compute, per active slot:   t(n) = c0 + max(B_e / (hbmEff * HBM), 6*H*F*n / (eff * FLOPS))
 *   rank compute:               sum of t(n) over the rank's slots with n > 0, divided by the GPU's speed
 *   dispatch / combine:         per rank and link kind, copies sent and received times bytes per copy,
 *                               over that link kind's bandwidth (times linkEff); the rank's phase time is
 *                               the slowest of its link kinds (they run concurrently)
 *   layer (no overlap):         max_r dispatch + max_r compute + max_r combine + 2 * commLatency
 *   layer (two micro-batches):  d + max(x, d) + max(x, c) + c with d, x, c one micro-batch's phase
 *                               times (d = D/2, c = C/2, x = compute of half the tokens per slot):
 *                               MB1 dispatch; MB1 compute || MB2 dispatch; MB1 combine || MB2 compute;
 *                               MB2 combine (attention is not modelled).
 *
 * FLOPS is the GPU's dense BF16 throughput, doubled for FP8/INT8 weights (tensor-core rate of the weight
 * type). The crossover n* = bytes_per_weight * eff * FLOPS / (2 * hbmEff * HBM) is 295 tokens per expert
 * at peak on H100 for both BF16 and FP8 weights, 256 with the default efficiencies (0.78 / 0.9).
 *
 * Every constant can be overridden (`--set name=value`); `explainCostModel` lists each with its source.
 * Units: microseconds, bytes, GB/s (1e9 bytes/s), TFLOP/s (1e12/s).
 */
import { type Cluster, LinkKind } from '../core/cluster.ts';
import { InputError } from '../core/errors.ts';
import { expertBytes, type ModelConfig } from './model-config.ts';

/** Link kinds are indexed by the LinkKind codes (0 self .. 4 network). */
export const NUM_LINK_KINDS = 5;

export interface CostConstants {
  /** H: hidden size. */
  hiddenSize: number;
  /** F: expert FFN size. */
  expertFfnSize: number;
  /** Bytes per expert weight. */
  bytesPerWeight: number;
  /** HBM bandwidth, GB/s (nominal; per GPU unless the cluster gives per-GPU values). */
  hbmGBs: number;
  /** Achieved fraction of HBM bandwidth when streaming expert weights. */
  hbmEff: number;
  /** Dense tensor throughput for the weight type, TFLOP/s. */
  tflops: number;
  /** Achieved fraction of `tflops` in the expert GEMMs. */
  eff: number;
  /** Fixed cost per active (rank, expert) slot, microseconds. */
  c0Us: number;
  /** Bytes one dispatched token copy carries (FP8 activations + per-128-channel fp32 scales). */
  dispatchBytesPerToken: number;
  /** Bytes one combined token copy carries (BF16). */
  combineBytesPerToken: number;
  /** Achieved fraction of each link's bandwidth. */
  linkEff: number;
  /** Overrides of the cluster's link bandwidths (GB/s); 0 = use the cluster's. */
  nvlinkGBs: number;
  pcieGBs: number;
  networkGBs: number;
  /** Fixed latency added to each of dispatch and combine, microseconds. */
  commLatencyUs: number;
  /** 1: low-latency kernels (one copy per (token, expert) off the source rank); 0: one per destination rank/node. */
  lowLatency: number;
  /** 1: two-micro-batch overlap of communication and compute; 0: none. */
  overlap: number;
}

export type ConstantName = keyof CostConstants;

/** What each constant means and its unit, for --explain and --set help. */
export const CONSTANT_INFO: Record<ConstantName, { unit: string; what: string }> = {
  hiddenSize: { unit: '', what: 'H, hidden size' },
  expertFfnSize: { unit: '', what: 'F, expert FFN size' },
  bytesPerWeight: { unit: 'B', what: 'bytes per expert weight' },
  hbmGBs: { unit: 'GB/s', what: 'HBM bandwidth' },
  hbmEff: { unit: '', what: 'achieved fraction of HBM bandwidth' },
  tflops: { unit: 'TFLOP/s', what: 'dense tensor throughput for the weight type' },
  eff: { unit: '', what: 'achieved fraction of tflops in expert GEMMs' },
  c0Us: { unit: 'us', what: 'fixed cost per active (rank, expert)' },
  dispatchBytesPerToken: { unit: 'B', what: 'bytes per dispatched token copy' },
  combineBytesPerToken: { unit: 'B', what: 'bytes per combined token copy' },
  linkEff: { unit: '', what: 'achieved fraction of link bandwidth' },
  nvlinkGBs: { unit: 'GB/s', what: 'NVLink bandwidth override (0 = cluster)' },
  pcieGBs: { unit: 'GB/s', what: 'PCIe bandwidth override (0 = cluster)' },
  networkGBs: { unit: 'GB/s', what: 'inter-node bandwidth per GPU override (0 = cluster)' },
  commLatencyUs: { unit: 'us', what: 'fixed latency per dispatch and per combine' },
  lowLatency: { unit: '', what: '1 = low-latency kernels (copy per token-expert)' },
  overlap: { unit: '', what: '1 = two-micro-batch overlap' },
};

/** Defaults and their public sources: docs/cost-model.md (one section per constant). */
const H100_HBM_GBS = 3350;
const H100_BF16_TFLOPS = 989;
/** FlashMLA (deepseek-ai/FlashMLA README): up to 3000 GB/s memory-bound on H800 SXM5 (3350 GB/s HBM3). */
export const DEFAULT_HBM_EFF = 0.9;
/** DeepGEMM (deepseek-ai/DeepGEMM README, 2025.04.18): up to 1550 FP8 TFLOP/s on H800 (1979 dense peak). */
export const DEFAULT_EFF = 0.78;
/**
 * DeepGEMM README (2025.02) normal GEMMs at M = 64 on H800: 206 TFLOP/s at 1688 GB/s (N 2112, K 7168),
 * 289 at 2455 (N 24576, K 1536), 219 at 2143 (N 32768, K 512): each takes 2.3-4.0 us longer than
 * streaming its weights at 0.9 x 3350 GB/s; the low end per active expert.
 */
export const DEFAULT_C0_US = 2.3;
/**
 * DeepEP README low-latency kernels on H800 (128 tokens, H 7168, top-8; FP8 dispatch, BF16 combine):
 * dispatch / combine 77 / 114 us at EP8, 118 / 195 at EP16, 155 / 273 at EP32. Fitting t = L + bytes / B
 * to each dispatch-combine pair (7.57 MB and 14.68 MB) gives L = 37.6, 36.0 and 29.5 us; the low end.
 */
export const DEFAULT_COMM_LATENCY_US = 29.5;

export interface CostModel {
  constants: CostConstants;
  /** Constant name -> where its value came from. */
  sources: Record<string, string>;
  numRanks: number;
  /** Ranks per node (cluster.gpusPerNode). */
  ranksPerNode: number;
  /** [G] node of each rank. */
  nodeOfRank: Int32Array;
  /** [G*G] LinkKind code between ranks. */
  linkKind: Uint8Array;
  /** [G*NUM_LINK_KINDS] effective per-direction GB/s of each rank's links of each kind (0 = none). */
  rankLinkGBs: Float64Array;
  /** [G] relative speed. */
  rankSpeed: Float64Array;
  /** [G] microseconds to stream one expert's weights from HBM (B_e / (hbmEff * HBM)). */
  memUs: Float64Array;
  /** [G] microseconds of GEMM per token per expert (6HF / (eff * FLOPS)). */
  tokenUs: Float64Array;
  /** B_e in bytes. */
  expertBytes: number;
  /** HBM headroom per rank for replicas (bytes; Infinity when unknown). */
  hbmFreeBytes: Float64Array;
  cluster: Cluster;
  model: ModelConfig;
}

export interface BuildCostModelOptions {
  model: ModelConfig;
  cluster: Cluster;
  /** --set overrides, name -> value. */
  overrides?: Partial<Record<ConstantName, number>>;
  /** Constants fitted by calibration (applied before overrides). */
  calibrated?: Partial<Record<ConstantName, number>>;
  /** Label of the calibration source, e.g. the measurements file. */
  calibrationSource?: string;
}

/** Parse `name=value` strings (from repeated --set) into overrides; throws InputError on unknown names. */
export function parseOverrides(items: string[]): Partial<Record<ConstantName, number>> {
  const out: Partial<Record<ConstantName, number>> = {};
  for (const item of items) {
    const m = /^([A-Za-z0-9_]+)=(.+)$/.exec(item.trim());
    if (!m) throw new InputError('--set', item, 'expected name=value, e.g. --set eff=0.6');
    const name = m[1] as ConstantName;
    if (!(name in CONSTANT_INFO)) {
      throw new InputError('--set', item, `unknown constant "${m[1]}"; expected one of ${Object.keys(CONSTANT_INFO).join(', ')}`);
    }
    const v = Number(m[2]);
    if (!Number.isFinite(v) || v < 0) throw new InputError('--set', item, `expected a non-negative number, got "${m[2]}"`);
    out[name] = v;
  }
  return out;
}

/**
 * Build the cost model for `model` on `cluster` (G = cluster GPUs). Defaults: model dims from the
 * config, GPU numbers from the cluster (H100 when it gives none), efficiencies 1, c0 = 0.
 */
export function buildCostModel(opts: BuildCostModelOptions): CostModel {
  const { model, cluster } = opts;
  const G = cluster.gpus.length;
  const g0 = cluster.gpus[0];
  const fp8Like = model.weightDtype === 'fp8' || model.weightDtype === 'int8';
  const H = model.hiddenSize;
  const src: Record<string, string> = {};
  const baseTflops = g0?.tflops ?? H100_BF16_TFLOPS;
  const c: CostConstants = {
    hiddenSize: H,
    expertFfnSize: model.expertFfnSize,
    bytesPerWeight: model.bytesPerWeight,
    hbmGBs: g0?.hbmGBs ?? H100_HBM_GBS,
    hbmEff: DEFAULT_HBM_EFF,
    tflops: fp8Like ? 2 * baseTflops : baseTflops,
    eff: DEFAULT_EFF,
    c0Us: DEFAULT_C0_US,
    dispatchBytesPerToken: H + (H / 128) * 4,
    combineBytesPerToken: 2 * H,
    linkEff: 1,
    nvlinkGBs: 0,
    pcieGBs: 0,
    networkGBs: 0,
    commLatencyUs: 0,
    lowLatency: 0,
    overlap: 0,
  };
  src.hiddenSize = model.fieldSources.hiddenSize ?? model.source;
  src.expertFfnSize = model.fieldSources.expertFfnSize ?? model.source;
  src.bytesPerWeight = model.fieldSources.bytesPerWeight ?? model.source;
  const doc = (section: string) => `docs/cost-model.md#${section}`;
  src.hbmGBs = `${g0?.hbmGBs !== undefined ? `cluster ${cluster.name}: gpus[0].hbmGBs` : 'H100 SXM default'} (GPU datasheet; ${doc('gpus')})`;
  src.hbmEff = `FlashMLA 3000 of 3350 GB/s on H800 (${doc('hbmeff')}); fit with --calibrate`;
  src.tflops = `${g0?.tflops !== undefined ? `cluster ${cluster.name}: gpus[0].tflops` : 'H100 SXM datasheet'} ${baseTflops} dense BF16 TFLOP/s${fp8Like ? ', x2 for FP8 weights' : ''} (${doc('gpus')})`;
  src.eff = `DeepGEMM 1550 of 1979 FP8 TFLOP/s on H800 (${doc('eff')}); fit with --calibrate`;
  src.c0Us = `DeepGEMM M=64 GEMMs: 2.3-4.0 us above weight streaming (${doc('c0us')}); fit with --calibrate`;
  src.dispatchBytesPerToken = `FP8 dispatch + per-128-channel fp32 scales = H + 4*H/128 = ${c.dispatchBytesPerToken} (${doc('bytes-per-token')})`;
  src.combineBytesPerToken = `BF16 combine = 2*H = ${c.combineBytesPerToken} (${doc('bytes-per-token')})`;
  src.linkEff = `1: cluster link bandwidths are per-direction achieved figures where measured (${doc('linkeff')})`;
  src.nvlinkGBs = src.pcieGBs = src.networkGBs = `0 = per-pair bandwidths of cluster ${cluster.name}`;
  src.commLatencyUs = `0 with normal kernels (no published fixed latency; bandwidth-bound at engine batch sizes), ${DEFAULT_COMM_LATENCY_US} with low-latency kernels (DeepEP fit) (${doc('commlatencyus')})`;
  src.lowLatency = `default 0: normal kernels, one copy per distinct destination rank (node across nodes) (${doc('kernels')})`;
  src.overlap = `default 0: layer = max dispatch + max compute + max combine (${doc('overlap')})`;
  for (const [k, v] of Object.entries(opts.calibrated ?? {})) {
    (c as unknown as Record<string, number>)[k] = v as number;
    src[k] = `calibration (${opts.calibrationSource ?? 'measurements'})`;
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    (c as unknown as Record<string, number>)[k] = v as number;
    src[k] = 'user override (--set)';
  }
  // Low-latency kernels pay DeepEP's measured fixed latency unless it was set or calibrated.
  if (c.lowLatency >= 1 && opts.overrides?.commLatencyUs === undefined && opts.calibrated?.commLatencyUs === undefined) {
    c.commLatencyUs = DEFAULT_COMM_LATENCY_US;
    src.commLatencyUs = `DeepEP low-latency kernels: dispatch/combine fit gives ${DEFAULT_COMM_LATENCY_US}-37.6 us fixed per phase (${doc('commlatencyus')})`;
  }
  if (!(c.hbmEff > 0) || !(c.eff > 0) || !(c.hbmGBs > 0) || !(c.tflops > 0) || !(c.linkEff > 0)) {
    throw new InputError('--set', '', 'hbmGBs, hbmEff, tflops, eff and linkEff must be positive');
  }

  const Be = 3 * c.hiddenSize * c.expertFfnSize * c.bytesPerWeight;
  const rankSpeed = new Float64Array(G);
  const memUs = new Float64Array(G);
  const tokenUs = new Float64Array(G);
  const hbmFreeBytes = new Float64Array(G);
  const nodeOfRank = new Int32Array(G);
  const overrideHbm = opts.overrides?.hbmGBs !== undefined || opts.calibrated?.hbmGBs !== undefined;
  const overrideFlops = opts.overrides?.tflops !== undefined || opts.calibrated?.tflops !== undefined;
  for (let r = 0; r < G; r++) {
    const g = cluster.gpus[r];
    rankSpeed[r] = g.speed > 0 ? g.speed : 1;
    const hbm = !overrideHbm && g.hbmGBs ? g.hbmGBs : c.hbmGBs;
    const tf = !overrideFlops && g.tflops ? (fp8Like ? 2 * g.tflops : g.tflops) : c.tflops;
    memUs[r] = Be / (c.hbmEff * hbm * 1e3);
    tokenUs[r] = (6 * c.hiddenSize * c.expertFfnSize) / (c.eff * tf * 1e6);
    hbmFreeBytes[r] = g.hbmFreeBytes;
    nodeOfRank[r] = g.node;
  }
  const rankLinkGBs = new Float64Array(G * NUM_LINK_KINDS);
  for (let a = 0; a < G; a++) {
    for (let b = 0; b < G; b++) {
      if (a === b) continue;
      const kind = cluster.linkKind[a * G + b];
      let bw = cluster.linkGBs[a * G + b];
      if (kind === LinkKind.NVLINK && c.nvlinkGBs > 0) bw = c.nvlinkGBs;
      if ((kind === LinkKind.PCIE_SWITCH || kind === LinkKind.PCIE_CROSS_SOCKET) && c.pcieGBs > 0) bw = c.pcieGBs;
      if (kind === LinkKind.NETWORK && c.networkGBs > 0) bw = c.networkGBs;
      bw *= c.linkEff;
      const i = a * NUM_LINK_KINDS + kind;
      // A rank's traffic of one kind shares its port: take the slowest peer of that kind.
      if (rankLinkGBs[i] === 0 || bw < rankLinkGBs[i]) rankLinkGBs[i] = bw;
    }
  }
  return {
    constants: c,
    sources: src,
    numRanks: G,
    ranksPerNode: cluster.gpusPerNode,
    nodeOfRank,
    linkKind: cluster.linkKind,
    rankLinkGBs,
    rankSpeed,
    memUs,
    tokenUs,
    expertBytes: Be,
    hbmFreeBytes,
    cluster,
    model,
  };
}

/** Microseconds one active slot with n > 0 tokens takes on rank r (before dividing by speed). */
export function slotTimeUs(cm: CostModel, n: number, r = 0): number {
  if (!(n > 0)) return 0;
  const mem = cm.memUs[r];
  const comp = n * cm.tokenUs[r];
  return cm.constants.c0Us + (mem > comp ? mem : comp);
}

/** Tokens per expert where the memory and compute terms meet on rank r. */
export function crossoverTokens(cm: CostModel, r = 0): number {
  return cm.memUs[r] / cm.tokenUs[r];
}

/**
 * Max over ranks of compute time for one layer.
 * Shapes: slotCounts [P] tokens per slot, slotRank [P] rank of each slot (values < G);
 * `scale` multiplies every count (0.5 for one micro-batch of two). Returns microseconds.
 */
export function layerComputeUs(cm: CostModel, slotCounts: ArrayLike<number>, slotRank: ArrayLike<number>, scratch: Float64Array, scale = 1): number {
  const G = cm.numRanks;
  scratch.fill(0, 0, G);
  const c0 = cm.constants.c0Us;
  for (let p = 0; p < slotCounts.length; p++) {
    const n = slotCounts[p] * scale;
    if (n > 0) {
      const r = slotRank[p];
      const mem = cm.memUs[r];
      const comp = n * cm.tokenUs[r];
      scratch[r] += c0 + (mem > comp ? mem : comp);
    }
  }
  let m = 0;
  for (let r = 0; r < G; r++) {
    const t = scratch[r] / cm.rankSpeed[r];
    if (t > m) m = t;
  }
  return m;
}

/**
 * Max over ranks of one communication phase: copies sent and received per (rank, link kind), times
 * `bytesPerCopy`, over the rank's bandwidth of that kind; a rank's kinds run concurrently.
 * Shapes: send, recv [G * NUM_LINK_KINDS] copy counts (offset `off` into larger arrays). Returns us.
 */
export function commPhaseUs(cm: CostModel, send: ArrayLike<number>, recv: ArrayLike<number>, off: number, bytesPerCopy: number): number {
  const G = cm.numRanks;
  let m = 0;
  for (let r = 0; r < G; r++) {
    for (let kind = 1; kind < NUM_LINK_KINDS; kind++) {
      const i = off + r * NUM_LINK_KINDS + kind;
      const copies = send[i] > recv[i] ? send[i] : recv[i];
      if (copies === 0) continue;
      const bw = cm.rankLinkGBs[r * NUM_LINK_KINDS + kind];
      const t = bw > 0 ? (copies * bytesPerCopy) / (bw * 1e3) : Number.POSITIVE_INFINITY;
      if (t > m) m = t;
    }
  }
  return m;
}

/** Phase times of one layer, microseconds. */
export interface LayerTime {
  dispatchUs: number;
  computeUs: number;
  combineUs: number;
  /** Layer time after the barrier (and overlap, when on). */
  totalUs: number;
}

/**
 * Combine phase times into the layer time. `halfComputeUs` (compute of one of two micro-batches) is
 * needed only when overlap is on.
 */
export function combineLayerTime(cm: CostModel, dispatchUs: number, computeUs: number, combineUs: number, halfComputeUs = computeUs / 2): LayerTime {
  const lat = cm.constants.commLatencyUs;
  let total: number;
  if (cm.constants.overlap >= 1) {
    const d = dispatchUs / 2 + lat;
    const c = combineUs / 2 + lat;
    const x = halfComputeUs;
    total = d + Math.max(x, d) + Math.max(x, c) + c;
  } else {
    total = dispatchUs + lat + computeUs + combineUs + lat;
  }
  return { dispatchUs, computeUs, combineUs, totalUs: total };
}

/**
 * Time to move `movedPerRank[r]` expert replicas into each rank, microseconds: the slowest rank's
 * incoming bytes (moved replicas x B_e) over its fastest peer link (NVLink within a node; the network
 * when a node has one GPU). Shapes: movedPerRank [G].
 */
export function moveTimeUs(cm: CostModel, movedPerRank: ArrayLike<number>): number {
  let m = 0;
  for (let r = 0; r < cm.numRanks; r++) {
    if (!movedPerRank[r]) continue;
    let bw = 0;
    for (let kind = 1; kind < NUM_LINK_KINDS; kind++) bw = Math.max(bw, cm.rankLinkGBs[r * NUM_LINK_KINDS + kind]);
    if (bw === 0) bw = cm.constants.hbmGBs; // single GPU: a copy within HBM
    const t = (movedPerRank[r] * cm.expertBytes) / (bw * 1e3);
    if (t > m) m = t;
  }
  return m;
}

export interface ExplainRow {
  name: string;
  value: number;
  unit: string;
  what: string;
  source: string;
}

/** Every constant with its value and source, plus the derived quantities (B_e, crossover). */
export function explainCostModel(cm: CostModel): ExplainRow[] {
  const rows: ExplainRow[] = [];
  for (const name of Object.keys(CONSTANT_INFO) as ConstantName[]) {
    rows.push({ name, value: cm.constants[name], unit: CONSTANT_INFO[name].unit, what: CONSTANT_INFO[name].what, source: cm.sources[name] ?? '' });
  }
  rows.push({ name: 'expertBytes', value: cm.expertBytes, unit: 'B', what: 'B_e = 3*H*F*bytesPerWeight', source: 'derived (docs/cost-model.md#model-terms)' });
  rows.push({ name: 'memUs', value: cm.memUs[0], unit: 'us', what: 'B_e / (hbmEff*HBM), rank 0', source: 'derived' });
  rows.push({ name: 'crossoverTokens', value: crossoverTokens(cm), unit: 'tok', what: 'tokens/expert where compute = memory time', source: 'derived: bytesPerWeight * eff * tflops / (2 * hbmEff * hbmGBs) (docs/cost-model.md#model-terms)' });
  rows.push({ name: 'moeLayers', value: cm.model.moeLayerIds.length, unit: '', what: 'MoE layers in the model', source: cm.model.fieldSources.moeLayerIds ?? cm.model.source });
  rows.push({ name: 'numRanks', value: cm.numRanks, unit: '', what: 'EP ranks (cluster GPUs)', source: `cluster ${cm.cluster.name}` });
  return rows;
}

/** Plain-text table of `explainCostModel`. */
export function renderExplain(cm: CostModel): string {
  const rows = explainCostModel(cm);
  const w = Math.max(...rows.map((r) => r.name.length));
  const lines = [`cost model: ${cm.model.name} on ${cm.cluster.name} (${cm.numRanks} ranks)`];
  for (const r of rows) {
    const v = Number.isInteger(r.value) ? String(r.value) : String(Number(r.value.toPrecision(4)));
    lines.push(`  ${r.name.padEnd(w)}  ${`${v} ${r.unit}`.trim().padEnd(16)}  ${r.what}  [${r.source}]`);
  }
  return lines.join('\n');
}

/** Expert bytes of a model (re-exported for callers that only hold a ModelConfig). */
export { expertBytes };
