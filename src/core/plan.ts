/**
 * Placement plan: which logical expert each physical slot holds, per MoE layer.
 *
 * The engines' layout (docs/solvers.md#deepseek): per layer, phy2log[P] with P = E + R slots; slot p lives on
 * rank floor(p / (P / G)). A plan may give layers different slot counts (P_l), when the target engine
 * allows it; vLLM and SGLang need one P for every layer (`uniformSlots`).
 *
 * Shapes:
 *   phy2log[L]     Int32Array[P_l] per layer, values in [0, E).
 *   log2phy        derived: [L][E][X] slot ids, -1 padded (X = max replicas).
 *   replicaCount   derived: [L][E] Int32Array.
 */
import { InputError } from './errors.ts';

export interface PlanStats {
  /** In-sample max/mean rank load, mean over layers. */
  maxOverMean?: number;
  /** Lower bound of max/mean for this shape and load (docs/solvers.md, lower bound), mean over layers. */
  lowerBound?: number;
  /** (maxOverMean - lowerBound) / lowerBound. */
  gapToBound?: number;
  /** Expert replicas that must be loaded onto a rank that did not hold them (vs. --current). */
  expertsMoved?: number;
  /** Extra HBM used by replicas, bytes per rank (max over ranks). */
  extraHbmBytes?: number;
  /** Mean distinct ranks per token, when routes are known. */
  distinctRanksPerToken?: number;
  /** Mean distinct nodes per token, when routes are known. */
  distinctNodesPerToken?: number;
  [key: string]: unknown;
}

export interface Plan {
  /** Format version of the plan JSON this was read from / will be written as. */
  version: 1;
  numLayers: number;
  numExperts: number;
  numRanks: number;
  /** Model-level layer ids, length L. */
  layerIds: number[];
  /** Per layer phy2log (length P_l, divisible by numRanks). */
  phy2log: Int32Array[];
  /** Ranks per node (G when single node). */
  ranksPerNode: number;
  /** True when replicas of one expert may share a rank (off by default). */
  allowColocatedReplicas?: boolean;
  /** Solver that produced it and its parameters. */
  solver?: string;
  params?: Record<string, unknown>;
  stats?: PlanStats;
  model?: string;
}

/** Slots per rank in layer l. */
export function slotsPerRank(plan: Plan, l: number): number {
  return plan.phy2log[l].length / plan.numRanks;
}

/** Rank holding slot p when the layer has P slots over G ranks. */
export function rankOfSlot(p: number, numSlots: number, numRanks: number): number {
  return Math.floor(p / (numSlots / numRanks));
}

/** True when every layer has the same slot count (what vLLM and SGLang require). */
export function uniformSlots(plan: Plan): boolean {
  const P = plan.phy2log[0]?.length ?? 0;
  return plan.phy2log.every((row) => row.length === P);
}

/** Replica count per expert for layer l. Returns [E]. */
export function replicaCounts(plan: Plan, l: number): Int32Array {
  const out = new Int32Array(plan.numExperts);
  for (const e of plan.phy2log[l]) out[e]++;
  return out;
}

/**
 * log2phy for layer l: [E][X] slot ids padded with -1, X = max replica count in the layer.
 * Returns { log2phy: Int32Array (E*X), maxReplicas: X }.
 */
export function log2phy(plan: Plan, l: number): { log2phy: Int32Array; maxReplicas: number } {
  const cnt = replicaCounts(plan, l);
  let X = 0;
  for (const c of cnt) X = Math.max(X, c);
  const out = new Int32Array(plan.numExperts * X).fill(-1);
  const fill = new Int32Array(plan.numExperts);
  const row = plan.phy2log[l];
  for (let p = 0; p < row.length; p++) {
    const e = row[p];
    out[e * X + fill[e]++] = p;
  }
  return { log2phy: out, maxReplicas: X };
}

/**
 * Expert -> rank ownership share: for layer l, returns [E][G] fractions (each row sums to 1)
 * assuming traffic splits evenly over an expert's replicas.
 */
export function expertRankShare(plan: Plan, l: number): Float64Array {
  const G = plan.numRanks;
  const E = plan.numExperts;
  const row = plan.phy2log[l];
  const P = row.length;
  const cnt = replicaCounts(plan, l);
  const out = new Float64Array(E * G);
  for (let p = 0; p < P; p++) {
    const e = row[p];
    out[e * G + rankOfSlot(p, P, G)] += 1 / cnt[e];
  }
  return out;
}

/**
 * Check a plan's structure. Throws InputError naming `file` and the layer/slot at fault.
 * - every layer's P_l divisible by G and >= G;
 * - every id in [0, E);
 * - every logical expert has at least one replica;
 * - no two replicas of one expert on one rank unless allowColocatedReplicas.
 */
export function validatePlan(plan: Plan, file = 'plan'): void {
  const { numLayers: L, numExperts: E, numRanks: G } = plan;
  if (!(G >= 1)) throw new InputError(file, 'numRanks', `expected a positive rank count, got ${G}`);
  if (plan.phy2log.length !== L) {
    throw new InputError(file, 'phy2log', `expected ${L} layers, got ${plan.phy2log.length}`);
  }
  if (plan.layerIds.length !== L) {
    throw new InputError(file, 'layerIds', `expected ${L} layer ids, got ${plan.layerIds.length}`);
  }
  if (plan.ranksPerNode < 1 || G % plan.ranksPerNode !== 0) {
    throw new InputError(file, 'ranksPerNode', `ranksPerNode ${plan.ranksPerNode} does not divide ${G} ranks`);
  }
  for (let l = 0; l < L; l++) {
    const row = plan.phy2log[l];
    const P = row.length;
    if (P < G || P % G !== 0) {
      throw new InputError(file, `phy2log[${l}]`, `${P} slots do not divide evenly over ${G} ranks (need a multiple of ${G}, at least ${G})`);
    }
    if (P < E) throw new InputError(file, `phy2log[${l}]`, `${P} slots cannot hold ${E} experts`);
    const seen = new Uint8Array(E);
    const perRank = P / G;
    for (let p = 0; p < P; p++) {
      const e = row[p];
      if (!Number.isInteger(e) || e < 0 || e >= E) {
        throw new InputError(file, `phy2log[${l}][${p}]`, `expected an expert id in [0, ${E}), got ${e}`);
      }
      seen[e] = 1;
    }
    for (let e = 0; e < E; e++) {
      if (!seen[e]) throw new InputError(file, `phy2log[${l}]`, `logical expert ${e} has no replica`);
    }
    if (!plan.allowColocatedReplicas) {
      for (let r = 0; r < G; r++) {
        const mark = new Set<number>();
        for (let p = r * perRank; p < (r + 1) * perRank; p++) {
          const e = row[p];
          if (mark.has(e)) {
            throw new InputError(file, `phy2log[${l}][${p}]`, `two replicas of expert ${e} on rank ${r} (pass --allow-colocated-replicas to permit)`);
          }
          mark.add(e);
        }
      }
    }
  }
}

/** Check that a plan fits a trace's shape. */
export function checkPlanMatchesTrace(plan: Plan, numLayers: number, numExperts: number, file = 'plan'): void {
  if (plan.numLayers !== numLayers || plan.numExperts !== numExperts) {
    throw new InputError(
      file,
      '',
      `plan is for ${plan.numLayers} layers x ${plan.numExperts} experts but the trace has ${numLayers} layers x ${numExperts} experts`,
    );
  }
}
