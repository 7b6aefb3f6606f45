/**
 * Plain-text side-by-side table of a simulation (no colour codes; the CLI adds none).
 */
import type { SimulationResult } from './simulate.ts';

function f(v: number, d = 2): string {
  return Number.isFinite(v) ? v.toFixed(d) : '-';
}

function table(header: string[], rows: string[][]): string[] {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(header), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)];
}

export function renderSimulation(r: SimulationResult): string {
  const out: string[] = [];
  out.push(`ballast simulate: ${r.trace}`);
  out.push(`  model ${r.model} on ${r.cluster} (${r.ranks} ranks), ${r.shape.layers} MoE layers x ${r.shape.experts} experts, ${r.redundant} redundant slots`);
  out.push(`  top-${r.shape.topK} experts per token, from ${r.shape.topKSource}`);
  if (r.modelNote) out.push(`  ${r.modelNote}`);
  out.push(`  planned on ${r.split.planned}; scored on ${r.split.scored}: ${r.split.batches} batch(es) of ${r.batchTokens} tokens`);
  out.push('');
  const header = ['policy', 'R', 'max/mean', 'p50', 'p99', 'act/GPU', 'GPUs/tok', 'nodes/tok', 'layer us', 'x linear', 'moved'];
  const rows = r.policies.map((p) => [
    p.name,
    String(p.redundant),
    f(p.perBatchMaxOverMean.mean, 3),
    f(p.perBatchMaxOverMean.p50, 3),
    f(p.perBatchMaxOverMean.p99, 3),
    f(p.activatedExpertsPerRank.max, 1),
    f(p.distinctRanksPerToken, 2),
    f(p.distinctNodesPerToken, 2),
    f(p.predictedLayerTimeUs, 1),
    f(p.throughputVsLinear, 3),
    String(p.expertsMoved),
  ]);
  out.push(...table(header, rows).map((l) => `  ${l}`));
  if (r.oracleGap) {
    out.push('');
    out.push('  gap to the oracle (per-batch re-plan, no move cost):');
    const sg = (v: number, d: number) => (v >= 0 ? `+${f(v, d)}` : f(v, d));
    for (const g of r.oracleGap) out.push(`    ${g.policy.padEnd(12)} max/mean ${sg(g.maxOverMeanGap, 3)}   time ${sg(g.timeGapPct, 1)}%`);
    out.push('    (the oracle balances tokens per batch; a policy can beat it on time through locality or fewer active experts)');
  }
  out.push('');
  out.push('  max/mean: per batch, mean over layers of max rank tokens / mean rank tokens (mean, p50, p99 over batches)');
  out.push('  act/GPU: experts with tokens on the busiest GPU; layer us: predicted MoE layer time; x linear: throughput vs linear');
  for (const n of r.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}
