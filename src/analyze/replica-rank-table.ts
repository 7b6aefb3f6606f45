/**
 * Lookup that sends each (token, expert) choice to one replica's rank, as the engines do when they
 * hash by token: the choice of expert e by the token with index i (counted from the start of the
 * scored part) goes to replica number (i mod replicas[l][e]), replicas numbered in slot order.
 *
 * Shapes: `plan` with L layers, E experts, G ranks ->
 *   replicas  Int32Array[L][E]       replica count of each expert (>= 1 in a valid plan)
 *   ranks     Int32Array[L][E][X]    rank of replica j of expert e at layer l; -1 padded
 *   maxReplicas X                    largest replica count in the plan
 *   firstRank Int32Array[L][E]       rank of replica 0 (the whole answer when replicas = 1)
 */
import type { Plan } from '../core/plan.ts';

export interface ReplicaRankTable {
  numLayers: number;
  numExperts: number;
  maxReplicas: number;
  replicas: Int32Array;
  ranks: Int32Array;
  firstRank: Int32Array;
}

export function replicaRankTable(plan: Plan): ReplicaRankTable {
  const { numLayers: L, numExperts: E, numRanks: G } = plan;
  const replicas = new Int32Array(L * E);
  let X = 1;
  for (let l = 0; l < L; l++) {
    for (const e of plan.phy2log[l]) {
      const c = ++replicas[l * E + e];
      if (c > X) X = c;
    }
  }
  const ranks = new Int32Array(L * E * X).fill(-1);
  const fill = new Int32Array(E);
  for (let l = 0; l < L; l++) {
    fill.fill(0);
    const row = plan.phy2log[l];
    const perRank = row.length / G;
    for (let p = 0; p < row.length; p++) {
      const e = row[p];
      ranks[(l * E + e) * X + fill[e]++] = Math.floor(p / perRank);
    }
  }
  const firstRank = new Int32Array(L * E);
  for (let le = 0; le < L * E; le++) firstRank[le] = ranks[le * X];
  return { numLayers: L, numExperts: E, maxReplicas: X, replicas, ranks, firstRank };
}

/** Rank serving the choice of expert `e` at layer `l` by the token with index `i` in the scored part. */
export function replicaRank(table: ReplicaRankTable, l: number, e: number, i: number): number {
  const le = l * table.numExperts + e;
  return table.ranks[le * table.maxReplicas + (i % table.replicas[le])];
}
