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
 *
 * Reports mean per-batch max/mean rank load (and p99), predicted throughput vs linear, and the gap to
 * the oracle. Appends a markdown section to bench/RESULTS.md when run with --append.
 *
 * Run: node --import tsx bench/heldout.ts [--append]
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { makeLoadTrace } from '../src/core/load-trace.ts';
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

type Row = { label: string; R: number; res: SimulationResult; resNoRoutes?: SimulationResult };
const pick = (r: SimulationResult, n: string) => r.policies.find((p) => p.name === n)!;

function tableHeader() {
  say('| scenario | R | linear | deepseek | ballast (routes) | ballast (no routes) | oracle | ballast vs deepseek | x linear: deepseek / ballast / ballast-nr |');
  say('|---|---|---|---|---|---|---|---|---|');
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
  const verdictNr = bn ? (bn.perBatchMaxOverMean.mean <= d.perBatchMaxOverMean.mean + 1e-12 ? 'no worse' : `worse by ${f(bn.perBatchMaxOverMean.mean - d.perBatchMaxOverMean.mean)}`) : '-';
  say(
    `| ${row.label} | ${row.R} | ${cell(l)} | ${cell(d)} | ${cell(b)} | ${bn ? cell(bn) : '-'} | ${o ? cell(o) : '-'} | routes: ${verdict}; no routes: ${verdictNr} | ${f(d.throughputVsLinear)} / ${f(b.throughputVsLinear)} / ${bn ? f(bn.throughputVsLinear) : '-'} |`,
  );
}

const t0 = performance.now();
const tasks: Record<string, SimInput> = {};
for (const t of ['law', 'intent', 'summary']) {
  const path = `data/esft-dsv2lite/raw/${t}.tgz`;
  const d = await readInput(path);
  tasks[t] = { path, load: d.load, routes: d.routes };
}

say('### ESFT, plan on the first half, score per 512-token batch on the second half (G = 8)');
say('Mean per-batch max/mean rank load (p99 over batches); the oracle re-plans on every batch (ballast, no move cost).');
say();
tableHeader();
for (const t of Object.keys(tasks)) {
  for (const R of [0, 8]) {
    const policies = ['linear', 'deepseek', 'ballast', 'oracle'];
    const res = await simulate({ ...common, trace: tasks[t], model: v2, redundant: R, policies, trainFraction: 0.5 });
    const resNoRoutes = await simulate({ ...common, trace: tasks[t], model: v2, redundant: R, policies: ['linear', 'ballast'], trainFraction: 0.5, planWithRoutes: false });
    tableRow({ label: `${t} (${res.split.batches} batches)`, R, res, resNoRoutes });
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
      tableRow({ label: `${a} -> ${b} (${res.split.batches} batches)`, R, res, resNoRoutes });
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
const secs = ((performance.now() - t0) / 1000).toFixed(1);
say();
say(`x linear = predicted MoE throughput vs linear placement (cost model, DeepSeek-V2-Lite / OLMoE-1B-7B on 8xH100-SXM, 512-token steps). Run took ${secs} s.`);

if (append) {
  appendFileSync(
    'bench/RESULTS.md',
    `\n## Held-out balance (prediction engineer)\n\nCommand: \`node --import tsx bench/heldout.ts --append\` on 2-core Debian 12, Node 20 (shared machine).\n\n${lines.join('\n')}\n`,
  );
}
