/**
 * Terminal rendering of `ballast analyze` results (AnalysisJson, src/analyze/analyze-trace.ts).
 *
 * renderAnalysis(analysis, {color}) -> multi-line string (ends without a trailing newline):
 *   - a header naming the source, model and shape;
 *   - the worst layers first (top 10, with bars), then one line for the rest;
 *   - with ranks: balancedness in both engine conventions, per-batch figures when routes were given,
 *     and the per-rank load of the worst layer (bars) with activated experts.
 * Sorting: by rank max/mean when ranks were given (what an EP deployment waits on), else by expert
 * max/mean. Colour only when `color` is true (callers pass `useColor()` from term.ts).
 */
import pc from 'picocolors';
import type { AnalysisJson, LayerAnalysis } from '../analyze/analyze-trace.ts';
import { captureLabel } from '../core/capture-info.ts';
import { bar, fmt } from './term.ts';

export interface RenderOptions {
  color: boolean;
  /** Layers shown in full before the summary line (default 10). */
  topLayers?: number;
  /** Ranks shown in full before the summary line (default 16). */
  topRanks?: number;
}

type Colors = ReturnType<typeof pc.createColors>;

const BAR_WIDTH = 20;

export function renderAnalysis(a: AnalysisJson, opts: RenderOptions): string {
  const c = pc.createColors(opts.color);
  const out: string[] = [];
  const t = a.trace;
  const src = t.sources.map((s) => `${s.path} (${s.format})`).join(', ') || '(no source)';
  out.push(c.bold(src));
  for (const s of t.sources) if (s.incomplete) out.push(c.yellow(`${s.path}: ${s.incomplete}`));
  const shape = [
    t.model ?? undefined,
    `${t.layers} MoE layers × ${t.experts} experts`,
    t.topK !== null ? `top-${t.topK}` : undefined,
    a.summary.tokens !== undefined ? `${a.summary.tokens.toLocaleString('en-US')} tokens` : undefined,
    `${t.windows} window${t.windows === 1 ? '' : 's'}`,
    t.phase ?? undefined,
  ].filter((x) => x !== undefined);
  out.push(c.dim(shape.join(' · ')));
  if (t.capture) out.push(c.dim(`captured via ${captureLabel(t.capture)}`));
  out.push('');

  const s = a.summary;
  const byRank = s.ranks !== undefined;
  out.push(c.bold('Expert imbalance') + c.dim(' (all windows summed; max/mean = hottest expert over the mean)'));
  const worst = a.layers.find((l) => l.layer === s.worstLayer)!;
  out.push(
    `  mean max/mean ${tone(c, s.meanExpertMaxOverMean, 1.3, 2)(fmt(s.meanExpertMaxOverMean))}` +
      ` · worst layer ${s.worstLayer} (${fmt(worst.expertMaxOverMean)}, expert ${worst.hottestExpert} takes ${pct(worst.hottestShare)})`,
  );
  out.push('');
  out.push(...layerTable(a.layers, byRank, opts.topLayers ?? 10, c));

  if (byRank) {
    out.push('');
    const redundant = s.redundantSlots ? `, ${s.redundantSlots} redundant slots` : '';
    out.push(c.bold(`Ranks: ${s.ranks} (${s.placement} placement${redundant}${s.ranksPerNode !== s.ranks ? `, ${s.ranksPerNode} per node` : ''})`));
    out.push(
      `  balancedness  vLLM ${tone(c, s.balancednessVllm!, 0.9, 0.7, true)(fmt(s.balancednessVllm, 3))}` +
        ` · SGLang ${tone(c, s.balancednessSglang!, 0.9, 0.7, true)(fmt(s.balancednessSglang, 3))}` +
        c.dim('  (mean/max rank load; 1 = even)'),
    );
    out.push(`  rank max/mean ${tone(c, s.meanRankMaxOverMean!, 1.1, 1.5)(fmt(s.meanRankMaxOverMean))} mean over layers · worst layer ${s.worstRankLayer}`);
    if (s.perBatchMaxOverMean) {
      const pb = s.perBatchMaxOverMean;
      out.push(
        `  per-batch rank max/mean (${s.batches} batches of ${s.batchTokens} tokens): mean ${fmt(pb.mean ?? undefined)} · p99 ${fmt(pb.p99 ?? undefined)}`,
      );
    }
    if (s.distinctRanksPerToken !== undefined && s.distinctRanksPerToken !== null) {
      const nodes = s.ranksPerNode !== undefined && s.ranks !== undefined ? s.ranks / s.ranksPerNode : 1;
      out.push(
        `  distinct ranks per token ${fmt(s.distinctRanksPerToken)} of ${s.ranks}` +
          (nodes > 1 ? ` · distinct nodes ${fmt(s.distinctNodesPerToken ?? undefined)} of ${nodes}` : ''),
      );
    }
    const wl = a.layers.find((l) => l.layer === s.worstRankLayer)!;
    out.push('');
    out.push(c.bold(`Rank load, layer ${wl.layer}`) + c.dim(' (worst rank max/mean; tokens, activated experts)'));
    out.push(...rankTable(wl, opts.topRanks ?? 16, c));
  }
  return out.join('\n');
}

/** Several analyses, separated by a blank line. */
export function renderAnalyses(list: AnalysisJson[], opts: RenderOptions): string {
  return list.map((a) => renderAnalysis(a, opts)).join('\n\n');
}

function layerTable(layers: LayerAnalysis[], byRank: boolean, top: number, c: Colors): string[] {
  const key = (l: LayerAnalysis) => (byRank ? l.rankMaxOverMean! : l.expertMaxOverMean);
  const sorted = [...layers].sort((x, y) => key(y) - key(x));
  const maxKey = key(sorted[0]);
  const head = byRank
    ? `  ${'layer'.padStart(5)}  ${'rank max/mean'.padEnd(BAR_WIDTH + 6)}  ${'expert m/m'.padStart(10)}`
    : `  ${'layer'.padStart(5)}  ${'expert max/mean'.padEnd(BAR_WIDTH + 6)}`;
  const rows = [c.dim(`${head}  ${'cv'.padStart(5)}  ${'gini'.padStart(5)}  ${'entropy'.padStart(7)}  ${'hottest'.padEnd(12)}  top10%  top25%`)];
  const [lo, hi] = byRank ? [1.1, 1.5] : [1.3, 2];
  for (const l of sorted.slice(0, top)) {
    const k = key(l);
    const b = bar(k, maxKey, BAR_WIDTH).padEnd(BAR_WIDTH);
    let line = `  ${String(l.layer).padStart(5)}  ${tone(c, k, lo, hi)(fmt(k).padStart(5))} ${c.cyan(b)}`;
    if (byRank) line += `  ${fmt(l.expertMaxOverMean).padStart(10)}`;
    const hottest = l.hottestExpert < 0 ? '-' : `e${l.hottestExpert} ${pct(l.hottestShare)}`;
    line += `  ${fmt(l.cv).padStart(5)}  ${fmt(l.gini).padStart(5)}  ${fmt(l.entropy, 3).padStart(7)}  ${hottest.padEnd(12)}  ${pct(l.top10Share).padStart(6)}  ${pct(l.top25Share).padStart(6)}`;
    rows.push(line);
  }
  const rest = sorted.slice(top);
  if (rest.length > 0) {
    rows.push(c.dim(`  … ${rest.length} more layer${rest.length === 1 ? '' : 's'}, ${byRank ? 'rank' : 'expert'} max/mean ${fmt(key(rest[rest.length - 1]))}–${fmt(key(rest[0]))}`));
  }
  return rows;
}

function rankTable(l: LayerAnalysis, top: number, c: Colors): string[] {
  const loads = l.rankLoads!;
  const act = l.activatedExpertsPerRank!;
  const G = loads.length;
  const mean = loads.reduce((x, y) => x + y, 0) / G;
  const max = Math.max(...loads);
  // Few ranks: all in rank order. Many: the hottest `top`, then a line for the rest.
  const order = Array.from({ length: G }, (_, r) => r);
  if (G > top) order.sort((x, y) => loads[y] - loads[x]);
  const width = String(G - 1).length;
  const rows: string[] = [];
  for (const r of order.slice(0, top)) {
    const v = loads[r];
    const ratio = mean > 0 ? v / mean : 1;
    rows.push(
      `  rank ${String(r).padStart(width)}  ${c.cyan(bar(v, max, BAR_WIDTH).padEnd(BAR_WIDTH))}  ${count(v).padStart(9)}  ${tone(c, ratio, 1.1, 1.5)(`${fmt(ratio)}×`)}  ${c.dim(`${act[r]} active`)}`,
    );
  }
  const rest = order.slice(top);
  if (rest.length > 0) {
    const rv = rest.map((r) => loads[r]);
    rows.push(c.dim(`  … ${rest.length} more ranks, ${count(Math.min(...rv))}–${count(Math.max(...rv))} tokens`));
  }
  rows.push(c.dim(`  mean ${count(mean)} tokens per rank`));
  return rows;
}

/** Colour a value: green when good, yellow in between, red when bad (`higherIsBetter` flips it). */
function tone(c: Colors, v: number, good: number, bad: number, higherIsBetter = false): (s: string) => string {
  const isGood = higherIsBetter ? v >= good : v <= good;
  const isBad = higherIsBetter ? v < bad : v > bad;
  return isBad ? c.red : isGood ? c.green : c.yellow;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function count(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 1 });
}
