/**
 * Shared chart frame: SVG root, axes with ticks and labels, legend. Charts draw in a fixed
 * viewBox (width x height user units) and scale to the container width. Text and axes use
 * `currentColor` and CSS classes, so the page's light/dark theme applies.
 */
import { esc, r2 } from './svg.ts';
import { formatNumber, niceTicks, type Scale } from './scale.ts';
import { seriesColor } from './color.ts';

export interface Margin {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

export interface Frame {
  width: number;
  height: number;
  margin: Margin;
  /** Plot area. */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export function makeFrame(width: number, height: number, margin: Margin): Frame {
  return { width, height, margin, x0: margin.left, x1: width - margin.right, y0: margin.top, y1: height - margin.bottom };
}

/** `<svg>` open tag with role/aria label; `cls` names the chart kind for tests and CSS. */
export function svgOpen(f: Frame, cls: string, title: string, extra = ''): string {
  return `<svg class="chart ${esc(cls)}" viewBox="0 0 ${f.width} ${f.height}" width="100%" role="img" aria-label="${esc(title)}" preserveAspectRatio="xMidYMid meet" ${extra}><title>${esc(title)}</title>`;
}

/** Y axis with grid lines and tick labels, plus the rotated axis label. */
export function yAxis(f: Frame, y: Scale, domain: [number, number], label: string, tickCount = 5): string {
  const ticks = niceTicks(domain[0], domain[1], tickCount);
  let s = `<g class="axis y-axis">`;
  for (const t of ticks) {
    const py = r2(y(t));
    s += `<line class="grid" x1="${f.x0}" x2="${f.x1}" y1="${py}" y2="${py}"/>`;
    s += `<text class="tick" x="${f.x0 - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${esc(formatNumber(t))}</text>`;
  }
  s += `<line class="domain" x1="${f.x0}" x2="${f.x0}" y1="${f.y0}" y2="${f.y1}"/>`;
  const cy = (f.y0 + f.y1) / 2;
  s += `<text class="axis-label" transform="translate(14 ${r2(cy)}) rotate(-90)" text-anchor="middle">${esc(label)}</text></g>`;
  return s;
}

/** X axis from explicit (position, label) ticks, plus the axis label under it. */
export function xAxis(f: Frame, ticks: { x: number; label: string }[], label: string): string {
  let s = `<g class="axis x-axis"><line class="domain" x1="${f.x0}" x2="${f.x1}" y1="${f.y1}" y2="${f.y1}"/>`;
  for (const t of ticks) {
    s += `<line class="tick-mark" x1="${r2(t.x)}" x2="${r2(t.x)}" y1="${f.y1}" y2="${f.y1 + 4}"/>`;
    s += `<text class="tick" x="${r2(t.x)}" y="${f.y1 + 16}" text-anchor="middle">${esc(t.label)}</text>`;
  }
  s += `<text class="axis-label" x="${r2((f.x0 + f.x1) / 2)}" y="${f.height - 6}" text-anchor="middle">${esc(label)}</text></g>`;
  return s;
}

/** Numeric x ticks for a linear x scale. */
export function numericTicks(x: Scale, min: number, max: number, count = 8): { x: number; label: string }[] {
  return niceTicks(min, max, count).map((t) => ({ x: x(t), label: formatNumber(t) }));
}

/** Rows the legend needs for these labels in a chart `width` wide with the plot starting at `x0`. */
export function legendRows(width: number, x0: number, labels: string[]): number {
  let x = x0;
  let rows = 1;
  for (const l of labels) {
    const w = 30 + l.length * 6.2;
    if (x > x0 && x + w - 12 > width) {
      x = x0;
      rows++;
    }
    x += w;
  }
  return rows;
}

/** Legend in the top margin: one swatch + label per series (dashed swatch for reference lines); wraps to a second row. */
export function legend(f: Frame, items: { label: string; color: string; dashed?: boolean }[]): string {
  let s = `<g class="legend">`;
  let x = f.x0;
  let y = 12;
  for (const it of items) {
    const w = 30 + it.label.length * 6.2;
    if (x > f.x0 && x + w - 12 > f.width) {
      x = f.x0;
      y += 14;
    }
    s += `<g class="legend-item">`;
    if (it.dashed) s += `<line x1="${x}" x2="${x + 14}" y1="${y}" y2="${y}" stroke="${it.color}" stroke-width="2" stroke-dasharray="4 3"/>`;
    else s += `<rect x="${x}" y="${y - 6}" width="12" height="12" rx="2" fill="${it.color}"/>`;
    s += `<text x="${x + 18}" y="${y}" dominant-baseline="middle">${esc(it.label)}</text></g>`;
    x += w;
  }
  return `${s}</g>`;
}

export { seriesColor };
