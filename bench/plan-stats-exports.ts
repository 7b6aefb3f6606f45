/**
 * Cost of scoring and exporting one plan at DeepSeek-V3 shape (58 layers x 256 experts, 32 GPUs,
 * P = 288: one redundant slot per GPU), so `ballast plan` / `ballast export` stay interactive.
 *
 *   planStats (balance + bound + moves + extra HBM) side by side with the bare balance baseline
 *   (analyze/rank-loads.ts + max-over-mean.ts per layer), then write + read back each export form.
 *
 * Run: node --import tsx bench/plan-stats-exports.ts [runs=20]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { maxOverMean } from '../src/analyze/max-over-mean.ts';
import { rankLoads } from '../src/analyze/rank-loads.ts';
import { type Plan, validatePlan } from '../src/core/plan.ts';
import { writePlanExport } from '../src/act/export/plan-exports.ts';
import { readPlanFile } from '../src/plan/plan-file.ts';
import { planStats } from '../src/plan/plan-stats.ts';

const runs = Number(process.argv[2] ?? 20);
const L = 58;
const E = 256;
const G = 32;
const P = E + G;
// Skewed load (Zipf-like, rotated per layer) and a plan: slot p holds p mod E (the first 32 experts get
// a second replica on a different GPU); the current plan is linear.
const load = new Float64Array(L * E);
for (let l = 0; l < L; l++) for (let e = 0; e < E; e++) load[l * E + e] = Math.round(1e5 / (1 + ((e + 7 * l) % E)));
const rowNew = Int32Array.from({ length: P }, (_, p) => (p + 5) % E);
const plan: Plan = { version: 1, numLayers: L, numExperts: E, numRanks: G, layerIds: Array.from({ length: L }, (_, i) => i + 3), phy2log: Array.from({ length: L }, () => rowNew.slice()), ranksPerNode: 8 };
const current: Plan = { ...plan, phy2log: Array.from({ length: L }, () => Int32Array.from({ length: E }, (_, p) => p)) };
validatePlan(plan);

function time(fn: () => unknown): number {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) fn();
  return (performance.now() - t0) / runs;
}

const base = time(() => {
  const rl = rankLoads(load, plan);
  let s = 0;
  for (let l = 0; l < L; l++) s += maxOverMean(rl.subarray(l * G, (l + 1) * G));
  return s / L;
});
const full = time(() => planStats(plan, load, { current, expertBytes: 44e6 }));
const s = planStats(plan, load, { current, expertBytes: 44e6 });
console.log(`DeepSeek-V3 shape: L=${L} E=${E} G=${G} P=${P}, ${runs} runs, node ${process.version}`);
console.log(`  baseline rankLoads + maxOverMean   ${base.toFixed(3)} ms`);
console.log(`  planStats (+ bound, moves, HBM)     ${full.toFixed(3)} ms   (${(full / base).toFixed(2)}x baseline)`);
console.log(`  max/mean ${s.maxOverMean.toFixed(4)}  bound ${s.lowerBound.toFixed(4)}  moved ${s.expertsMoved}  extra HBM ${(s.extraHbmBytes! / 1e9).toFixed(3)} GB/GPU`);
const dir = mkdtempSync(join(tmpdir(), 'ballast-bench-'));
try {
  for (const form of ['sglang', 'vllm-jsonl', 'deepseek'] as const) {
    const path = join(dir, form);
    const w = time(() => writePlanExport(plan, form, path));
    const r = time(() => readPlanFile(path, { numRanks: G }));
    console.log(`  ${form.padEnd(11)} write ${w.toFixed(2)} ms   read+validate ${r.toFixed(2)} ms`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
