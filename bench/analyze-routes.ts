/**
 * Speed of the token-level metrics (src/analyze/batch-rank-load.ts, distinct-ranks-per-token.ts) on a
 * synthetic DeepSeek-V3-shaped trace, side by side with a straightforward baseline written the obvious
 * way (a Set per token, an array of rank counts per batch and layer).
 *
 * Usage: node --import tsx bench/analyze-routes.ts [--tokens N] [--layers L] [--experts E] [--k K] [--ranks G] [--no-baseline]
 * Defaults: 200,000 tokens x 58 layers x 256 experts, top-8, 32 ranks (4 per node), plus one redundant
 * slot per rank holding a second replica (P = E + G = 288). Routing is skewed (Zipf-like), distinct per token.
 * Prints ms per pass and Mtoken-layers/s for each, the ratio, and checks both give the same numbers.
 */
import { performance } from 'node:perf_hooks';
import { type Plan, validatePlan } from '../src/core/plan.ts';
import { mulberry32 } from '../src/core/random.ts';
import { allocExpertIds, makeTokenRoutes, type TokenRoutes } from '../src/core/token-routes.ts';
import { batchRankLoad } from '../src/analyze/batch-rank-load.ts';
import { distinctRanksPerToken } from '../src/analyze/distinct-ranks-per-token.ts';
import { replicaRankTable } from '../src/analyze/replica-rank-table.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const T = arg('tokens', 200_000);
const L = arg('layers', 58);
const E = arg('experts', 256);
const k = arg('k', 8);
const G = arg('ranks', 32);
const RPN = Math.min(G, 4);
const REPL = G; // one extra replica per rank
const BATCH = 256;

function makeRoutes(): TokenRoutes {
  const rand = mulberry32(42);
  // Zipf-like popularity per layer, with a per-layer permutation of which expert is hot.
  const cdf = new Float64Array(L * E);
  for (let l = 0; l < L; l++) {
    const perm = Array.from({ length: E }, (_, i) => i);
    for (let i = E - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    let s = 0;
    const w = new Float64Array(E);
    for (let i = 0; i < E; i++) {
      w[perm[i]] = 1 / (i + 1) ** 0.8;
      s += w[perm[i]];
    }
    let c = 0;
    for (let e = 0; e < E; e++) {
      c += w[e] / s;
      cdf[l * E + e] = c;
    }
  }
  // Quantised inverse CDF (4096 buckets per layer) so that drawing is one table lookup.
  const Q = 4096;
  const inv = new Int32Array(L * Q);
  for (let l = 0; l < L; l++) {
    let e = 0;
    for (let q = 0; q < Q; q++) {
      while (e < E - 1 && cdf[l * E + e] < (q + 0.5) / Q) e++;
      inv[l * Q + q] = e;
    }
  }
  const experts = allocExpertIds(E, T * L * k);
  const pick = new Int32Array(k);
  for (let t = 0; t < T; t++) {
    for (let l = 0; l < L; l++) {
      let n = 0;
      while (n < k) {
        const e = inv[l * Q + ((rand() * Q) | 0)];
        let dup = false;
        for (let j = 0; j < n; j++) if (pick[j] === e) dup = true;
        if (!dup) pick[n++] = e;
      }
      for (let j = 0; j < k; j++) experts[(t * L + l) * k + j] = pick[j];
    }
  }
  return makeTokenRoutes({ meta: { layerIds: Array.from({ length: L }, (_, i) => i), sources: [] }, numLayers: L, numExperts: E, topK: k, experts });
}

/** Linear placement plus one extra replica of experts 0..REPL-1, spread over ranks. */
function makePlan(): Plan {
  const P = E + REPL;
  const per = P / G;
  const phy2log: Int32Array[] = [];
  for (let l = 0; l < L; l++) {
    const row = new Int32Array(P);
    // rank r: its E/G own experts, then REPL/G replicas of experts owned by rank (r + G/2) mod G.
    const own = E / G;
    const extra = REPL / G;
    for (let r = 0; r < G; r++) {
      for (let i = 0; i < own; i++) row[r * per + i] = r * own + i;
      const donor = (r + G / 2) % G;
      for (let i = 0; i < extra; i++) row[r * per + own + i] = donor * own + i;
    }
    phy2log.push(row);
  }
  return { version: 1, numLayers: L, numExperts: E, numRanks: G, layerIds: Array.from({ length: L }, (_, i) => i), phy2log, ranksPerNode: RPN };
}

/** Baseline: the obvious implementation, allocating per token and per batch. */
function naive(routes: TokenRoutes, plan: Plan): { batchMean: number; ranks: number; nodes: number } {
  const table = replicaRankTable(plan);
  const rankOf = (l: number, e: number, i: number) => {
    const c = table.replicas[l * E + e];
    return table.ranks[(l * E + e) * table.maxReplicas + (i % c)];
  };
  let rankSum = 0;
  let nodeSum = 0;
  for (let t = 0; t < T; t++) {
    for (let l = 0; l < L; l++) {
      const rs = new Set<number>();
      const ns = new Set<number>();
      for (let j = 0; j < k; j++) {
        const r = rankOf(l, routes.experts[(t * L + l) * k + j], t);
        rs.add(r);
        ns.add(Math.floor(r / RPN));
      }
      rankSum += rs.size;
      nodeSum += ns.size;
    }
  }
  const vals: number[] = [];
  for (let b = 0; b < Math.floor(T / BATCH); b++) {
    let s = 0;
    for (let l = 0; l < L; l++) {
      const cnt = new Array<number>(G).fill(0);
      for (let t = b * BATCH; t < (b + 1) * BATCH; t++) {
        for (let j = 0; j < k; j++) cnt[rankOf(l, routes.experts[(t * L + l) * k + j], t)]++;
      }
      s += Math.max(...cnt) / ((BATCH * k) / G);
    }
    vals.push(s / L);
  }
  return { batchMean: vals.reduce((x, y) => x + y, 0) / vals.length, ranks: rankSum / (T * L), nodes: nodeSum / (T * L) };
}

function time<R>(f: () => R, reps: number): { ms: number; out: R } {
  let out = f(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) out = f();
  return { ms: (performance.now() - t0) / reps, out };
}

const g0 = performance.now();
const routes = makeRoutes();
const plan = makePlan();
validatePlan(plan, 'bench plan');
console.log(`trace: ${T} tokens x ${L} layers x top-${k}, E=${E}, G=${G} (${RPN}/node), P=${E + REPL}; generated in ${(performance.now() - g0).toFixed(0)} ms`);
console.log(`machine: ${process.platform} ${process.arch}, Node ${process.version}`);

const cells = (T * L) / 1e6;
const br = time(() => batchRankLoad(routes, plan, BATCH), 3);
const dr = time(() => distinctRanksPerToken(routes, plan), 3);
console.log(`batchRankLoad          ${br.ms.toFixed(1).padStart(8)} ms  ${(cells / (br.ms / 1000)).toFixed(1).padStart(7)} M token-layers/s`);
console.log(`distinctRanksPerToken  ${dr.ms.toFixed(1).padStart(8)} ms  ${(cells / (dr.ms / 1000)).toFixed(1).padStart(7)} M token-layers/s`);
console.log(`(per-batch mean ${br.out.mean.toFixed(4)}, p99 ${br.out.p99.toFixed(4)}, ranks/token ${dr.out.ranks.toFixed(3)}, nodes/token ${dr.out.nodes.toFixed(3)})`);
if (!process.argv.includes('--no-baseline')) {
  const nv = time(() => naive(routes, plan), 1);
  console.log(`naive (both, Sets)     ${nv.ms.toFixed(1).padStart(8)} ms  ${(cells / (nv.ms / 1000)).toFixed(1).padStart(7)} M token-layers/s`);
  console.log(`speed-up (naive / (batch + distinct)): ${(nv.ms / (br.ms + dr.ms)).toFixed(1)}x`);
  const same =
    Math.abs(br.out.mean - nv.out.batchMean) < 1e-9 && Math.abs(dr.out.ranks - nv.out.ranks) < 1e-12 && Math.abs(dr.out.nodes - nv.out.nodes) < 1e-12;
  console.log(`results agree with the baseline: ${same}`);
  if (!same) process.exitCode = 1;
}
