/**
 * Held-out balance: does a plan made on one part of the traffic balance the next part?
 *
 * 1. ESFT (DeepSeek-V2-Lite, 26 MoE layers x 64 experts, top-6), each task: plan on the first half
 *    (cut at the first sequence boundary at or after 50% of the tokens), score per 512-token batch on
 *    the second half, G = 8, R = 0 and R = 8. Policies: linear, deepseek, ballast (with the planning
 *    routes, i.e. locality on; and without), oracle (ballast re-planned on every batch).
 * 2. Across workloads: plan on all of one ESFT task, score per 512-token batch on another.
 * 3. OLMoE-1B-7B (64 experts, top-8, MoE layers 0/7/15): plan on C4 counts, score on arXiv counts
 *    (histograms, one window; max/mean of the whole arXiv histogram).
 * 4. ballast options on the 18 ESFT cases of 1 and 2 (same-task and cross-task means, cases worse
 *    than deepseek, distinct ranks per token on the scored part): the default, coactivationVariance,
 *    and the variance model's batch size at 256 and 2048 tokens.
 *
 * Reports mean per-batch max/mean rank load (and p99), predicted throughput vs linear, and the gap to
 * the oracle; for ESFT also the paired difference ballast (routes) - deepseek over the scored batches:
 * the mean of the per-batch differences with its standard error sd / sqrt(n) (the two plans are re-made
 * with the inputs simulate gives them and scored by analyze/batch-rank-load.ts, whose means are checked
 * against simulate's). Appends a markdown section to bench/RESULTS.md when run with --append.
 *
 * Run: node --import tsx bench/heldout.ts [--append]
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { batchRankLoad } from '../src/analyze/batch-rank-load.ts';
import { makeLoadTrace } from '../src/core/load-trace.ts';
import { routesToCounts, type TokenRoutes } from '../src/core/token-routes.ts';
import { distinctRanksPerToken } from '../src/analyze/distinct-ranks-per-token.ts';
import { type BallastOptions, solveBallast } from '../src/plan/solvers/ballast/index.ts';
import { solveDeepseek } from '../src/plan/solvers/deepseek/index.ts';
import { readInput } from '../src/ingest/readers.ts';
import { defaultCluster } from '../src/predict/cluster-spec.ts';
import { loadModelConfig } from '../src/predict/model-config.ts';
import { type SimInput, simulate, type SimulationResult } from '../src/predict/simulate.ts';

const append = process.argv.includes('--append');
const G = 8;
const cluster = defaultCluster(G);
const v2 = loadModelConfig('DeepSeek-V2-Lite');
const olmoe = loadModelConfig('OLMoE-1B-7B');
const common = { cluster, batchTokens: 512, window: 4, interval: 4, periodicSolver: 'deepseek', oracleSolver: 'ballast' };

const lines: string[] = [];
const say = (s = '') => {
  console.log(s);
  lines.push(s);
};

type Paired = { mean: number; se: number; n: number };
type Row = { label: string; R: number; res: SimulationResult; resNoRoutes?: SimulationResult; paired?: Paired };

/** Tokens [0, cut) as planning routes, as simulate slices them (sequence starts before cut, then cut). */
function head(r: TokenRoutes, cut: number): TokenRoutes {
  const per = r.numLayers * r.topK;
  const starts: number[] = [];
  for (const st of r.seqStarts) if (st < cut) starts.push(st);
  starts.push(cut);
  return { ...r, numTokens: cut, experts: r.experts.subarray(0, cut * per) as TokenRoutes['experts'], weights: r.weights?.subarray(0, cut * per), seqStarts: Uint32Array.from(starts), phase: r.phase?.subarray(0, cut) };
}
/** First sequence start at or after f of the tokens (simulate's trainFraction cut). */
function sequenceCut(r: TokenRoutes, f: number): number {
  for (const st of r.seqStarts) if (st >= f * r.numTokens) return st;
  return r.numTokens;
}
/**
 * Paired per-batch difference ballast - deepseek (512-token batches of test from startToken), plans made
 * on plan (the inputs simulate passes). Throws when the means disagree with simulate's.
 */
function pairedDiff(plan: TokenRoutes, test: TokenRoutes, startToken: number, R: number, res: SimulationResult): Paired {
  const input = { load: routesToCounts(plan), routes: plan, numLayers: plan.numLayers, numExperts: plan.numExperts, layerIds: Array.from({ length: plan.numLayers }, (_, i) => i), numRanks: G, numNodes: cluster.numNodes, numGroups: 1, redundantSlots: R, cluster };
  const d = batchRankLoad(test, solveDeepseek(input), common.batchTokens, { startToken });
  const b = batchRankLoad(test, solveBallast(input), common.batchTokens, { startToken });
  for (const [name, v] of [['deepseek', d], ['ballast', b]] as const) {
    const sim = pick(res, name).perBatchMaxOverMean.mean;
    if (Math.abs(sim - v.mean) > 1e-9) throw new Error(`paired check: ${name} ${v.mean} here vs ${sim} in simulate`);
  }
  const n = d.perBatch.length;
  const diff = Array.from(b.perBatch, (v, i) => v - d.perBatch[i]);
  const mean = diff.reduce((a, x) => a + x, 0) / n;
  const sd = Math.sqrt(diff.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  return { mean, se: sd / Math.sqrt(n), n };
}
const pick = (r: SimulationResult, n: string) => r.policies.find((p) => p.name === n)!;

function tableHeader() {
  say('| scenario | R | linear | deepseek | ballast (routes) | ballast (no routes) | oracle | ballast vs deepseek | ballast - deepseek per batch (mean ± SE) | x linear: deepseek / ballast / ballast-nr |');
  say('|---|---|---|---|---|---|---|---|---|---|');
}
function tableRow(row: Row) {
  const f = (v: number) => v.toFixed(3);
  const l = pick(row.res, 'linear');
  const d = pick(row.res, 'deepseek');
  const b = pick(row.res, 'ballast');
  const o = row.res.policies.find((p) => p.name === 'oracle');
  const bn = row.resNoRoutes ? pick(row.resNoRoutes, 'ballast') : undefined;
  const cell = (p: typeof l) => `${f(p.perBatchMaxOverMean.mean)} (p99 ${f(p.perBatchMaxOverMean.p99)})`;
  const verdict = b.perBatchMaxOverMean.mean <= d.perBatchMaxOverMean.mean + 1e-12 ? 'no worse' : `worse by ${f(b.perBatchMaxOverMean.mean - d.perBatchMaxOverMean.mean)}`;
  const pd = row.paired ? `${row.paired.mean >= 0 ? '+' : ''}${row.paired.mean.toFixed(4)} ± ${row.paired.se.toFixed(4)}` : '-';
  const verdictNr = bn ? (bn.perBatchMaxOverMean.mean <= d.perBatchMaxOverMean.mean + 1e-12 ? 'no worse' : `worse by ${f(bn.perBatchMaxOverMean.mean - d.perBatchMaxOverMean.mean)}`) : '-';
  say(
    `| ${row.label} | ${row.R} | ${cell(l)} | ${cell(d)} | ${cell(b)} | ${bn ? cell(bn) : '-'} | ${o ? cell(o) : '-'} | routes: ${verdict}; no routes: ${verdictNr} | ${pd} | ${f(d.throughputVsLinear)} / ${f(b.throughputVsLinear)} / ${bn ? f(bn.throughputVsLinear) : '-'} |`,
  );
}

const t0 = performance.now();
const tasks: Record<string, SimInput & { routes: TokenRoutes }> = {};
for (const t of ['law', 'intent', 'summary']) {
  const path = `data/esft-dsv2lite/raw/${t}.tgz`;
  const d = await readInput(path);
  tasks[t] = { path, load: d.load, routes: d.routes! };
}

const esftCases: { same: boolean; plan: TokenRoutes; test: TokenRoutes; start: number; R: number }[] = [];
say('### ESFT, plan on the first half, score per 512-token batch on the second half (G = 8)');
say('Mean per-batch max/mean rank load (p99 over batches); the oracle re-plans on every batch (ballast, no move cost).');
say();
tableHeader();
for (const t of Object.keys(tasks)) {
  for (const R of [0, 8]) {
    const policies = ['linear', 'deepseek', 'ballast', 'oracle'];
    const res = await simulate({ ...common, trace: tasks[t], model: v2, redundant: R, policies, trainFraction: 0.5 });
    const resNoRoutes = await simulate({ ...common, trace: tasks[t], model: v2, redundant: R, policies: ['linear', 'ballast'], trainFraction: 0.5, planWithRoutes: false });
    const cut = sequenceCut(tasks[t].routes, 0.5);
    const paired = pairedDiff(head(tasks[t].routes, cut), tasks[t].routes, cut, R, res);
    esftCases.push({ same: true, plan: head(tasks[t].routes, cut), test: tasks[t].routes, start: cut, R });
    tableRow({ label: `${t} (${res.split.batches} batches)`, R, res, resNoRoutes, paired });
  }
}
say();
say('### ESFT across tasks: plan on all of one task, score per 512-token batch on another (G = 8)');
say();
tableHeader();
for (const a of Object.keys(tasks)) {
  for (const b of Object.keys(tasks)) {
    if (a === b) continue;
    for (const R of [0, 8]) {
      const policies = ['linear', 'deepseek', 'ballast', 'oracle'];
      const res = await simulate({ ...common, train: tasks[a], test: tasks[b], model: v2, redundant: R, policies });
      const resNoRoutes = await simulate({ ...common, train: tasks[a], test: tasks[b], model: v2, redundant: R, policies: ['linear', 'ballast'], planWithRoutes: false });
      const paired = pairedDiff(tasks[a].routes, tasks[b].routes, 0, R, res);
      esftCases.push({ same: false, plan: tasks[a].routes, test: tasks[b].routes, start: 0, R });
      tableRow({ label: `${a} -> ${b} (${res.split.batches} batches)`, R, res, resNoRoutes, paired });
    }
  }
}
say();
say('### OLMoE-1B-7B counts, plan on one domain, score the whole histogram of another (layers 0, 7, 15; G = 8)');
say('One window per domain (~209K tokens): max/mean of the scored histogram. Counts carry no routes, so both ballast columns are the same plan (no locality); the oracle column is a plan made on the scored histogram itself (the in-sample ceiling).');
say();
const counts = JSON.parse(readFileSync('data/olmoe-routing-analysis/olmoe_mixtral_expert_counts.json', 'utf8'));
const om = counts.models.olmoe;
const domain = (d: string): SimInput => ({
  path: `olmoe:${d}`,
  load: makeLoadTrace({ layerIds: om.layers, topK: om.top_k, sources: [{ path: 'data/olmoe-routing-analysis/olmoe_mixtral_expert_counts.json', format: 'json' }] }, 3, 64, Float64Array.from((om.domains[d].expert_counts as number[][]).flat())),
});
tableHeader();
for (const [a, b] of [['c4', 'arxiv'], ['arxiv', 'c4'], ['c4', 'github'], ['wikipedia', 'arxiv']]) {
  for (const R of [0, 8]) {
    const res = await simulate({ ...common, train: domain(a), test: domain(b), model: olmoe, redundant: R, policies: ['linear', 'deepseek', 'ballast', 'oracle'] });
    tableRow({ label: `${a} -> ${b}`, R, res });
  }
}
say();
say('### ESFT, ballast options: means over the 6 same-task and 12 cross-task cases above (G = 8, 512-token batches)');
say('"worse" counts cases whose mean per-batch max/mean is above deepseek\'s; ranks/token: distinct GPUs a token\'s 6 choices reach, mean over the 18 scored parts.');
say();
say('| plan | same-task mean | worse (of 6) | cross-task mean | worse (of 12) | ranks/token |');
say('|---|---|---|---|---|---|');
const variants: [string, BallastOptions | undefined][] = [
  ['deepseek', undefined],
  ['ballast (default)', {}],
  ['ballast, coactivationVariance: true', { coactivationVariance: true }],
  ['ballast, batchTokens: 256', { batchTokens: 256 }],
  ['ballast, batchTokens: 2048', { batchTokens: 2048 }],
];
const dsMeans: number[] = [];
for (const [name, opts] of variants) {
  let same = 0;
  let cross = 0;
  let worseSame = 0;
  let worseCross = 0;
  let ranks = 0;
  esftCases.forEach((c, i) => {
    const input = { load: routesToCounts(c.plan), routes: c.plan, numLayers: c.plan.numLayers, numExperts: c.plan.numExperts, layerIds: Array.from({ length: c.plan.numLayers }, (_, j) => j), numRanks: G, numNodes: cluster.numNodes, numGroups: 1, redundantSlots: c.R, cluster };
    const plan = opts ? solveBallast(input, opts) : solveDeepseek(input);
    const m = batchRankLoad(c.test, plan, common.batchTokens, { startToken: c.start }).mean;
    if (!opts) dsMeans[i] = m;
    const worse = m > dsMeans[i] + 1e-12 ? 1 : 0;
    if (c.same) {
      same += m;
      worseSame += worse;
    } else {
      cross += m;
      worseCross += worse;
    }
    ranks += distinctRanksPerToken(c.test, plan, G / cluster.numNodes, { startToken: c.start }).ranks;
  });
  const nSame = esftCases.filter((c) => c.same).length;
  const nCross = esftCases.length - nSame;
  say(`| ${name} | ${(same / nSame).toFixed(4)} | ${opts ? worseSame : '-'} | ${(cross / nCross).toFixed(4)} | ${opts ? worseCross : '-'} | ${(ranks / esftCases.length).toFixed(3)} |`);
}
const secs = ((performance.now() - t0) / 1000).toFixed(1);
say();
say(`x linear = predicted MoE throughput vs linear placement (cost model, DeepSeek-V2-Lite / OLMoE-1B-7B on 8xH100-SXM, 512-token steps). Run took ${secs} s.`);

if (append) {
  appendFileSync(
    'bench/RESULTS.md',
    `\n## Held-out balance (prediction engineer)\n\nCommand: \`node --import tsx bench/heldout.ts --append\` on 2-core Debian 12, Node 20 (shared machine).\n\n${lines.join('\n')}\n`,
  );
}
