/**
 * HTML page for a diff (self-contained like the report): summary cards, imbalance by layer for A and
 * B, a diverging heatmap of the share change, and the experts that moved most.
 */
import { esc } from '../charts/svg.ts';
import { lineChart } from '../charts/lines.ts';
import { heatmap } from '../charts/heatmap.ts';
import { renderPage } from '../report/html.ts';
import type { DiffModel } from './diff.ts';

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');

export function renderDiffHtml(d: DiffModel): string {
  const s = d.summary;
  const card = (k: string, a: number, b: number, sub: string) =>
    `<div class="card"><div class="k">${esc(k)}</div><div class="v">${f3(a)} → ${f3(b)}</div><div class="s">${esc(sub)}</div></div>`;
  let body = `<section class="diff"><h2>A = <span class="side-a">${esc(d.a.label)}</span>${d.a.model ? ` <span class="muted">(${esc(d.a.model)})</span>` : ''} · B = <span class="side-b">${esc(d.b.label)}</span>${d.b.model ? ` <span class="muted">(${esc(d.b.model)})</span>` : ''}</h2>`;
  body += `<div class="cards">`;
  body += card('Hottest expert / mean', s.meanExpertMaxOverMeanA, s.meanExpertMaxOverMeanB, 'mean over layers');
  body += card('Max / mean rank load', s.meanRankMaxOverMeanA, s.meanRankMaxOverMeanB, `A: ${d.placementA}; B: ${d.placementB}`);
  body += `<div class="card"><div class="k">Expert mix shift</div><div class="v">${f3(s.meanTotalVariation)}</div><div class="s">total variation, mean over layers (0 = same, 1 = disjoint)</div></div>`;
  body += `<div class="card"><div class="k">Layers</div><div class="v">${d.layers.length} × ${d.numExperts}</div><div class="s">matched by ${esc(d.alignedBy)}</div></div>`;
  body += `</div>`;
  const ids = d.layers.map((x) => x.layer);
  const x = ids.map((_, i) => i);
  body += `<div class="grid2">`;
  body += `<figure id="diff-rank"><figcaption>Rank imbalance by layer <span class="muted">max ÷ mean rank load</span></figcaption>${lineChart({
    title: 'Rank imbalance by layer', x, xTickLabels: ids.map(String), xName: 'layer', xLabel: 'MoE layer (model index)', yLabel: 'max / mean', unit: '×', yMin: 1, width: 540, height: 320,
    series: [{ label: `A ${d.a.label}`, values: d.layers.map((l) => l.rankMaxOverMeanA) }, { label: `B ${d.b.label}`, values: d.layers.map((l) => l.rankMaxOverMeanB) }],
  })}</figure>`;
  body += `<figure id="diff-expert"><figcaption>Hottest expert by layer <span class="muted">max ÷ mean expert load</span></figcaption>${lineChart({
    title: 'Hottest expert by layer', x, xTickLabels: ids.map(String), xName: 'layer', xLabel: 'MoE layer (model index)', yLabel: 'max / mean', unit: '×', yMin: 1, width: 540, height: 320,
    series: [{ label: `A ${d.a.label}`, values: d.layers.map((l) => l.expertMaxOverMeanA) }, { label: `B ${d.b.label}`, values: d.layers.map((l) => l.expertMaxOverMeanB) }],
  })}</figure></div>`;
  body += `<figure id="diff-change"><figcaption>Share change B − A <span class="muted">in units of the layer mean; orange = more load in B, purple = less</span></figcaption>${heatmap({
    title: 'Share change by layer and expert', rows: d.layers.length, cols: d.numExperts, values: d.change, rowLabels: ids, rowName: 'layer', colName: 'expert',
    xLabel: 'expert id', yLabel: 'MoE layer (model index)', unit: 'Δ × layer mean', diverging: true, id: 'diff-hm', width: 1040,
  })}</figure>`;
  body += `<h3>Experts whose share moved most</h3><table class="movers"><thead><tr><th>layer</th><th>expert</th><th>share A</th><th>share B</th><th>change</th></tr></thead><tbody>`;
  for (const m of d.movers) {
    body += `<tr><td>${m.layer}</td><td>${m.expert}</td><td class="num">${(m.shareA * 100).toFixed(2)}%</td><td class="num">${(m.shareB * 100).toFixed(2)}%</td><td class="num">${m.delta >= 0 ? '+' : ''}${(m.delta * 100).toFixed(2)} pts</td></tr>`;
  }
  body += `</tbody></table></section>`;
  return renderPage({ title: `ballast diff: ${d.a.label} vs ${d.b.label}`, body });
}
