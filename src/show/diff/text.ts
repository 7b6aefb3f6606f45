/**
 * Terminal rendering of a diff: a summary, the per-layer table and the experts whose share moved most.
 * renderDiffText(diff, {color}) -> string (ends in a newline).
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import type { DiffModel } from './diff.ts';

/** cli-table3 borders without a rule between body rows. */
const COMPACT = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '-');
const pctPts = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)} pts`;

export function renderDiffText(d: DiffModel, opts: { color?: boolean; maxLayers?: number } = {}): string {
  const c = pc.createColors(opts.color ?? false);
  const signed = (v: number) => {
    const s = `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
    return v > 0.005 ? c.yellow(s) : v < -0.005 ? c.cyan(s) : s;
  };
  const lines: string[] = [];
  lines.push(c.bold(`ballast diff: A = ${d.a.label}${d.a.model ? ` (${d.a.model})` : ''}  vs  B = ${d.b.label}${d.b.model ? ` (${d.b.model})` : ''}`));
  lines.push(`${d.layers.length} layers matched by ${d.alignedBy}, ${d.numExperts} experts; rank imbalance under A: ${d.placementA}, B: ${d.placementB}`);
  const s = d.summary;
  lines.push(`hottest expert / mean (mean over layers): ${f3(s.meanExpertMaxOverMeanA)} -> ${f3(s.meanExpertMaxOverMeanB)} (${signed(s.meanExpertMaxOverMeanB - s.meanExpertMaxOverMeanA)})`);
  lines.push(`max / mean rank load (mean over layers):  ${f3(s.meanRankMaxOverMeanA)} -> ${f3(s.meanRankMaxOverMeanB)} (${signed(s.meanRankMaxOverMeanB - s.meanRankMaxOverMeanA)})`);
  lines.push(`expert mix shift (total variation, mean over layers): ${f3(s.meanTotalVariation)}${s.worstLayer !== undefined ? `; rank imbalance rose most in layer ${s.worstLayer}` : ''}`);
  const t = new Table({
    head: ['layer', 'expert max/mean A', 'B', 'change', 'rank max/mean A', 'B', 'change', 'mix shift'],
    chars: COMPACT,
    style: { head: [], border: [] },
    colAligns: ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  });
  const rows = opts.maxLayers && d.layers.length > opts.maxLayers ? d.layers.slice(0, opts.maxLayers) : d.layers;
  for (const x of rows) {
    t.push([
      String(x.layer), f3(x.expertMaxOverMeanA), f3(x.expertMaxOverMeanB), signed(x.expertMaxOverMeanB - x.expertMaxOverMeanA),
      f3(x.rankMaxOverMeanA), f3(x.rankMaxOverMeanB), signed(x.rankMaxOverMeanB - x.rankMaxOverMeanA), f3(x.totalVariation),
    ]);
  }
  lines.push(t.toString());
  if (rows.length < d.layers.length) lines.push(`(${d.layers.length - rows.length} more layers in --json / --html)`);
  const m = new Table({ head: ['layer', 'expert', 'share A', 'share B', 'change'], chars: COMPACT, style: { head: [], border: [] }, colAligns: ['right', 'right', 'right', 'right', 'right'] });
  for (const x of d.movers) m.push([String(x.layer), String(x.expert), `${(x.shareA * 100).toFixed(2)}%`, `${(x.shareB * 100).toFixed(2)}%`, pctPts(x.delta)]);
  lines.push(c.bold(`experts whose share of their layer moved most (top ${d.movers.length}):`));
  lines.push(m.toString());
  return `${lines.join('\n')}\n`;
}
