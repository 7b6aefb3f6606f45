/**
 * Scratch buffers of one replay: per-policy (ReplayScratch) and shared by all policies (SharedScratch).
 * Sized on first use, grown when needed, never allocated per batch.
 */
import { LinkKind } from '../../core/cluster.ts';
import { type CostModel, NUM_LINK_KINDS } from '../cost-model.ts';
import type { PlanTables } from '../plan-tables.ts';
import type { BatchSeries } from './series.ts';

/** Scratch arrays shared by every batch of one replay (sized on first use, grown when needed). */
export class ReplayScratch {
  slotCount = new Float64Array(0);
  send = new Float64Array(0);
  recv = new Float64Array(0);
  rankStamp: Int32Array;
  nodeStamp: Int32Array;
  netStamp: Int32Array;
  distinct: Int32Array;
  rankTmp: Float64Array;
  rankTmp2: Float64Array;
  rankTmp3: Float64Array;
  stamp = 0;
  srcRank = new Int32Array(0);
  ids = new Int32Array(0);
  slotCountI = new Int32Array(0);
  /** [n] destination-rank bitmask of each token of the batch at the current layer. */
  masks = new Int32Array(0);
  fwdSend: Int32Array;
  sendI = new Int32Array(0);
  recvI = new Int32Array(0);
  /** [G * NUM_LINK_KINDS] bitmask of the same-node peers of rank s reached over each link kind (G <= 32). */
  kindMask: Int32Array;
  /** Same-node link kinds present in the cluster. */
  kindList: Int32Array;
  modTab = new Uint8Array(0);
  /** [maxReplicas] rank bit and token count of each replica of the expert being added (addReplicatedChoices). */
  repBit = new Int32Array(0);
  repCount = new Int32Array(0);
  /** [numNodes] bitmask of the ranks on each node (G <= 32). */
  nodeMask: Int32Array;
  /**
   * True when the byte-lane communication counter applies (commFromMasksNodes8): 8 ranks per node,
   * rank r on node floor(r / 8), G a multiple of 8 and <= 32, one same-node link kind joining every
   * same-node pair.
   */
  node8: boolean;
  /** All ranks have the same speed (finishBatchCounts then divides the slowest rank's time once). */
  uniformSpeed: boolean;
  /** [NUM_LINK_KINDS] 1 when every rank has the same bandwidth of that kind (one division per kind). */
  uniformLink: Uint8Array;
  /** Distinct ranks / nodes summed over (token, layer) by the current batch's mask pass. */
  rankTotal = 0;
  nodeTotal = 0;
  /** [32] per-destination-rank counters of commFromMasksNodes8. */
  laneHits = new Int32Array(32);
  laneSub = new Int32Array(32);
  constructor(readonly cm: CostModel) {
    const G = cm.numRanks;
    this.rankStamp = new Int32Array(G);
    this.nodeStamp = new Int32Array(G);
    this.netStamp = new Int32Array(G);
    this.distinct = new Int32Array(G);
    this.rankTmp = new Float64Array(G);
    this.rankTmp2 = new Float64Array(G);
    this.rankTmp3 = new Float64Array(G);
    const numNodes = Math.max(1, Math.round(G / cm.ranksPerNode));
    this.nodeMask = new Int32Array(numNodes);
    this.fwdSend = new Int32Array(numNodes);
    this.kindMask = new Int32Array(G * NUM_LINK_KINDS);
    if (G <= 32) {
      for (let r = 0; r < G; r++) this.nodeMask[cm.nodeOfRank[r]] |= 1 << r;
      for (let a = 0; a < G; a++) {
        for (let b = 0; b < G; b++) {
          if (a !== b && cm.nodeOfRank[a] === cm.nodeOfRank[b]) this.kindMask[a * NUM_LINK_KINDS + cm.linkKind[a * G + b]] |= 1 << b;
        }
      }
    }
    const kinds: number[] = [];
    for (let kind = 1; kind < NUM_LINK_KINDS; kind++) {
      if (kind === LinkKind.NETWORK) continue;
      for (let r = 0; r < Math.min(G, 32); r++) {
        if (this.kindMask[r * NUM_LINK_KINDS + kind] !== 0) {
          kinds.push(kind);
          break;
        }
      }
    }
    this.kindList = Int32Array.from(kinds);
    let node8 = cm.ranksPerNode === 8 && G % 8 === 0 && G <= 32 && kinds.length === 1;
    for (let r = 0; node8 && r < G; r++) {
      if (cm.nodeOfRank[r] !== r >>> 3) node8 = false;
      else if (this.kindMask[r * NUM_LINK_KINDS + kinds[0]] !== (this.nodeMask[r >>> 3] & ~(1 << r))) node8 = false;
    }
    this.node8 = node8;
    let us = true;
    for (let r = 1; r < G; r++) if (cm.rankSpeed[r] !== cm.rankSpeed[0]) us = false;
    this.uniformSpeed = us;
    this.uniformLink = new Uint8Array(NUM_LINK_KINDS);
    for (let kind = 0; kind < NUM_LINK_KINDS; kind++) {
      let u = 1;
      for (let r = 1; r < G; r++) if (cm.rankLinkGBs[r * NUM_LINK_KINDS + kind] !== cm.rankLinkGBs[kind]) u = 0;
      this.uniformLink[kind] = u;
    }
  }
  ensureBatch(n: number, maxReplicas: number): void {
    if (this.srcRank.length < n) this.srcRank = new Int32Array(n);
    if (this.masks.length < n) this.masks = new Int32Array(n);
    if (this.ids.length < n * 64) this.ids = new Int32Array(n * 64);
    const need = n * (maxReplicas + 1);
    if (maxReplicas > 1 && this.modTab.length < need) this.modTab = new Uint8Array(need);
    if (this.repBit.length < maxReplicas) {
      this.repBit = new Int32Array(maxReplicas);
      this.repCount = new Int32Array(maxReplicas);
    }
  }
  ensure(totalSlots: number, numLayers: number): void {
    if (this.slotCount.length < totalSlots) {
      this.slotCount = new Float64Array(totalSlots);
      this.slotCountI = new Int32Array(totalSlots);
    }
    const n = numLayers * this.cm.numRanks * NUM_LINK_KINDS;
    if (this.send.length < n) {
      this.send = new Float64Array(n);
      this.recv = new Float64Array(n);
      this.sendI = new Int32Array(n);
      this.recvI = new Int32Array(n);
    }
  }
}

/** One policy's part of a multi-policy batch: its plan tables, scratch and output series. */
export interface ScoreItem {
  tables: PlanTables;
  sc: ReplayScratch;
  out: BatchSeries;
}

/** Buffers shared by every policy of one replay: the batch's ids of one layer and expert counts. */
export class SharedScratch {
  ids = new Int32Array(0);
  expertCount = new Int32Array(0);
  srcRank = new Int32Array(0);
  /** [n*k] the current layer's (token offset) of each choice, grouped by expert (counting sort). */
  byExpert = new Int32Array(0);
  /** [E+1] start of expert e's group in byExpert; [E] fill cursor. */
  expertStart = new Int32Array(0);
  expertFill = new Int32Array(0);
  /** [LB][8][E] the current layer block's expert counts split by token index mod 8. */
  countMod8 = new Int32Array(0);
  ensure(n: number, k: number, LE: number): void {
    if (this.ids.length < n * k) this.ids = new Int32Array(n * k);
    if (this.byExpert.length < n * k) this.byExpert = new Int32Array(n * k);
    if (this.expertCount.length < LE) this.expertCount = new Int32Array(LE);
    if (this.srcRank.length < n) this.srcRank = new Int32Array(n);
  }
}
