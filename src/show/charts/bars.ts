/**
 * Grouped bar chart as an SVG string: one group per category (e.g. rank), one bar per series
 * (e.g. current vs recommended placement), optional dashed reference lines (e.g. the mean).
 * Every bar carries data-series / data-category / data-value and a <title> tooltip.
 *
 * barChart({categories[C], series[S]{values[C]}}) -> '<svg class="chart bar-chart">...'
 */
import { esc, r2 } from './svg.ts';
import { formatNumber, linearScale, niceDomain } from './scale.ts';
import { legend, legendRows, makeFrame, seriesColor, svgOpen, xAxis, yAxis } from './frame.ts';

export interface BarChartSpec {
  title: string;
  categories: string[];
  /** Category name used in tooltips ('rank'). */
  categoryName: string;
  series: { label: string; values: number[] }[];
  xLabel: string;
  yLabel: string;
  /** Unit shown in tooltips ('tokens'). */
  unit: string;
  referenceLines?: { label: string; value: number }[];
  width?: number;
  height?: number;
}

export function barChart(spec: BarChartSpec): string {
  const labels = [...spec.series.map((x) => x.label), ...(spec.referenceLines ?? []).map((r) => r.label)];
  const top = 16 + 14 * legendRows(spec.width ?? 720, 64, labels);
  const f = makeFrame(spec.width ?? 720, spec.height ?? 280, { top, right: 16, bottom: 44, left: 64 });
  const C = spec.categories.length;
  const S = Math.max(1, spec.series.length);
  let max = 0;
  for (const s of spec.series) for (const v of s.values) if (Number.isFinite(v) && v > max) max = v;
  for (const r of spec.referenceLines ?? []) if (r.value > max) max = r.value;
  const domain = niceDomain(0, max);
  const y = linearScale(domain, [f.y1, f.y0]);
  const band = (f.x1 - f.x0) / Math.max(1, C);
  const pad = band > 12 ? band * 0.18 : band * 0.06;
  const barW = Math.max(0.5, (band - 2 * pad) / S);
  let body = yAxis(f, y, domain, spec.yLabel);
  const every = Math.max(1, Math.ceil(C / 24));
  const ticks = [];
  for (let c = 0; c < C; c += every) ticks.push({ x: f.x0 + band * (c + 0.5), label: spec.categories[c] });
  body += xAxis(f, ticks, spec.xLabel);
  body += `<g class="bars">`;
  spec.series.forEach((s, si) => {
    const color = seriesColor(si);
    for (let c = 0; c < C; c++) {
      const v = s.values[c];
      if (!Number.isFinite(v)) continue;
      const bx = f.x0 + band * c + pad + barW * si;
      const by = y(Math.max(0, v));
      const h = Math.max(0, f.y1 - by);
      body += `<rect class="bar" data-series="${si}" data-category="${c}" data-value="${v}" x="${r2(bx, 2)}" y="${r2(by, 2)}" width="${r2(barW, 2)}" height="${r2(h, 2)}" fill="${color}"><title>${esc(s.label)} · ${esc(spec.categoryName)} ${esc(spec.categories[c])}: ${esc(formatNumber(v))} ${esc(spec.unit)}</title></rect>`;
    }
  });
  body += `</g>`;
  const items = spec.series.map((s, i) => ({ label: s.label, color: seriesColor(i) }));
  for (const r of spec.referenceLines ?? []) {
    const py = r2(y(r.value));
    body += `<line class="reference" x1="${f.x0}" x2="${f.x1}" y1="${py}" y2="${py}" stroke-dasharray="5 4"><title>${esc(r.label)}: ${esc(formatNumber(r.value))} ${esc(spec.unit)}</title></line>`;
    items.push({ label: r.label, color: 'currentColor', dashed: true } as (typeof items)[number]);
  }
  body += legend(f, items);
  return `${svgOpen(f, 'bar-chart', spec.title, `data-categories="${C}" data-series-count="${spec.series.length}"`)}${body}</svg>`;
}
