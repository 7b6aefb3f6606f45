/**
 * Line chart as an SVG string. Up to `maxPoints` points per series are drawn as they are; longer
 * series are bucketed (downsampleMinMax) and drawn as a min-max band plus the bucket mean, so spikes
 * stay visible and the page stays light. Hover: one transparent column per point/bucket whose
 * <title> lists every series' value there.
 *
 * lineChart({x[n], series[S]{values[n]}}) -> '<svg class="chart line-chart">...'
 */
import { esc, r2 } from './svg.ts';
import { formatNumber, linearScale, niceDomain } from './scale.ts';
import { legend, legendRows, makeFrame, numericTicks, seriesColor, svgOpen, xAxis, yAxis } from './frame.ts';
import { downsampleMinMax } from './downsample.ts';

export interface LineChartSpec {
  title: string;
  x: number[];
  /** Name of the x quantity in tooltips ('layer', 'window'). */
  xName: string;
  series: { label: string; values: number[] }[];
  xLabel: string;
  yLabel: string;
  unit: string;
  /** Lower end of the y axis (default: 0, or the data min when it is above 1 and `zeroBased` false). */
  yMin?: number;
  referenceLines?: { label: string; value: number }[];
  maxPoints?: number;
  /** Label x ticks with these strings instead of numbers (same length as x). */
  xTickLabels?: string[];
  width?: number;
  height?: number;
}

export function lineChart(spec: LineChartSpec): string {
  const labels = [...spec.series.map((x) => x.label), ...(spec.referenceLines ?? []).map((r) => r.label)];
  const top = 16 + 14 * legendRows(spec.width ?? 720, 64, labels);
  const f = makeFrame(spec.width ?? 720, spec.height ?? 260, { top, right: 16, bottom: 44, left: 64 });
  const n = spec.x.length;
  const maxPoints = spec.maxPoints ?? 400;
  const bucketed = n > maxPoints;
  const buckets = bucketed ? spec.series.map((s) => downsampleMinMax(s.values, maxPoints)) : [];
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of spec.series) {
    for (const v of s.values) {
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  for (const r of spec.referenceLines ?? []) {
    lo = Math.min(lo, r.value);
    hi = Math.max(hi, r.value);
  }
  if (!Number.isFinite(lo)) {
    lo = 0;
    hi = 1;
  }
  const domain = niceDomain(spec.yMin ?? Math.min(0, lo), hi);
  const y = linearScale(domain, [f.y1, f.y0]);
  const xMin = n ? spec.x[0] : 0;
  const xMax = n ? spec.x[n - 1] : 1;
  const x = linearScale([xMin, xMax === xMin ? xMin + 1 : xMax], [f.x0 + 6, f.x1 - 6]);
  let body = yAxis(f, y, domain, spec.yLabel);
  let ticks: { x: number; label: string }[];
  if (spec.xTickLabels && n) {
    const every = Math.max(1, Math.ceil(n / 20));
    ticks = [];
    for (let i = 0; i < n; i += every) ticks.push({ x: x(spec.x[i]), label: spec.xTickLabels[i] });
  } else ticks = numericTicks(x, xMin, xMax);
  body += xAxis(f, ticks, spec.xLabel);
  const labelAt = (i: number) => (spec.xTickLabels ? spec.xTickLabels[i] : formatNumber(spec.x[i]));
  spec.series.forEach((s, si) => {
    const color = seriesColor(si);
    body += `<g class="series" data-series="${si}" data-points="${s.values.length}">`;
    if (!bucketed) {
      let d = '';
      let pen = false;
      for (let i = 0; i < n; i++) {
        const v = s.values[i];
        if (!Number.isFinite(v)) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${r2(x(spec.x[i]))} ${r2(y(v))}`;
        pen = true;
      }
      body += `<path class="line" d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`;
      if (n <= 120) {
        for (let i = 0; i < n; i++) {
          const v = s.values[i];
          if (!Number.isFinite(v)) continue;
          body += `<circle class="point" data-index="${i}" data-value="${v}" cx="${r2(x(spec.x[i]))}" cy="${r2(y(v))}" r="2.6" fill="${color}"/>`;
        }
      }
    } else {
      const b = buckets[si];
      let top = '';
      let bottom = '';
      let mean = '';
      for (let k = 0; k < b.start.length; k++) {
        if (!Number.isFinite(b.mean[k])) continue;
        const mid = spec.x[Math.floor((b.start[k] + b.end[k] - 1) / 2)];
        const px = r2(x(mid));
        top += `${top ? 'L' : 'M'}${px} ${r2(y(b.max[k]))}`;
        bottom = `L${px} ${r2(y(b.min[k]))}${bottom}`;
        mean += `${mean ? 'L' : 'M'}${px} ${r2(y(b.mean[k]))}`;
      }
      body += `<path class="band" d="${top}${bottom}Z" fill="${color}" fill-opacity="0.25" stroke="none"/>`;
      body += `<path class="line" d="${mean}" fill="none" stroke="${color}" stroke-width="1.6"/>`;
    }
    body += `</g>`;
  });
  for (const r of spec.referenceLines ?? []) {
    const py = r2(y(r.value));
    body += `<line class="reference" x1="${f.x0}" x2="${f.x1}" y1="${py}" y2="${py}" stroke-dasharray="5 4"><title>${esc(r.label)}: ${esc(formatNumber(r.value))} ${esc(spec.unit)}</title></line>`;
  }
  // Hover columns.
  body += `<g class="hover-columns">`;
  const cols = bucketed ? buckets[0]?.start.length ?? 0 : n;
  for (let k = 0; k < cols; k++) {
    let i0: number;
    let i1: number;
    let text: string;
    if (bucketed) {
      const b0 = buckets[0];
      i0 = b0.start[k];
      i1 = b0.end[k] - 1;
      text = `${spec.xName} ${labelAt(i0)}–${labelAt(i1)}`;
      spec.series.forEach((s, si) => {
        const b = buckets[si];
        text += `\n${s.label}: mean ${formatNumber(b.mean[k])}, min ${formatNumber(b.min[k])}, max ${formatNumber(b.max[k])} ${spec.unit}`;
      });
    } else {
      i0 = k;
      i1 = k;
      text = `${spec.xName} ${labelAt(k)}`;
      for (const s of spec.series) text += `\n${s.label}: ${formatNumber(s.values[k])} ${spec.unit}`;
    }
    const a = k === 0 ? f.x0 : (x(spec.x[i0]) + x(spec.x[Math.max(0, i0 - 1)])) / 2;
    const bEnd = i1 >= n - 1 ? f.x1 : (x(spec.x[i1]) + x(spec.x[i1 + 1])) / 2;
    body += `<rect class="hover" x="${r2(a)}" y="${f.y0}" width="${r2(Math.max(0.5, bEnd - a))}" height="${f.y1 - f.y0}" fill="transparent"><title>${esc(text)}</title></rect>`;
  }
  body += `</g>`;
  const items: { label: string; color: string; dashed?: boolean }[] = spec.series.map((s, i) => ({ label: s.label, color: seriesColor(i) }));
  for (const r of spec.referenceLines ?? []) items.push({ label: r.label, color: 'currentColor', dashed: true });
  body += legend(f, items);
  return `${svgOpen(f, 'line-chart', spec.title, `data-points="${n}" data-bucketed="${bucketed}"`)}${body}</svg>`;
}
