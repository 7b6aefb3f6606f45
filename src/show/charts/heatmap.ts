/**
 * Heatmap as an SVG string: the cells are one PNG (one pixel per cell, encoded here) shown through
 * an <image> scaled with pixelated rendering, so 60 layers x 384 experts stays a ~30 KB image
 * instead of 23K <rect>s. Axes and the colour legend are SVG. The cell values travel in
 * `data-values` (base64 little-endian Float32, row-major) so the page script can show the exact value
 * under the pointer.
 *
 * heatmap({rows R, cols C, values[R*C]}) -> '<svg class="chart heatmap" data-rows=R data-cols=C ...>'
 */
import { esc, r2 } from './svg.ts';
import { divergingRgb, viridisRgb, rgbToHex } from './color.ts';
import { formatNumber, linearScale, niceTicks } from './scale.ts';
import { makeFrame, svgOpen, xAxis } from './frame.ts';
import { encodePngRgb } from './png.ts';

export interface HeatmapSpec {
  title: string;
  rows: number;
  cols: number;
  /** Row-major [rows][cols]. NaN cells draw grey. */
  values: ArrayLike<number>;
  rowLabels: (string | number)[];
  rowName: string;
  colName: string;
  xLabel: string;
  yLabel: string;
  /** Unit of the cell value ('x layer mean'). */
  unit: string;
  /** Colour domain; default [0, max] for sequential, [-m, m] for diverging. */
  domain?: [number, number];
  /** Purple-white-orange around 0 instead of viridis. */
  diverging?: boolean;
  /** Per-row totals, so the hover can show a cell's count (value * rowTotal / cols). */
  rowTotals?: number[];
  /** Unique id prefix for gradient ids. */
  id: string;
  width?: number;
}

/** Colour domain of a value list: [0, max] (or symmetric around 0 when diverging). */
export function heatDomain(values: ArrayLike<number>, diverging: boolean): [number, number] {
  let mx = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    const a = diverging ? Math.abs(v) : v;
    if (a > mx) mx = a;
  }
  if (mx === 0) mx = 1;
  return diverging ? [-mx, mx] : [0, mx];
}

/** Base64 of the values as little-endian Float32. */
export function float32Base64(values: ArrayLike<number>): string {
  const f = Float32Array.from(values as ArrayLike<number>);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

/** RGB pixels for the cells under the chosen colour scale. */
export function heatPixels(values: ArrayLike<number>, domain: [number, number], diverging: boolean): Uint8Array {
  const out = new Uint8Array(values.length * 3);
  const [d0, d1] = domain;
  const span = d1 - d0 || 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let c: [number, number, number];
    if (!Number.isFinite(v)) c = [128, 128, 128];
    else if (diverging) c = divergingRgb(v / Math.max(Math.abs(d0), Math.abs(d1)));
    else c = viridisRgb((v - d0) / span);
    out[i * 3] = c[0];
    out[i * 3 + 1] = c[1];
    out[i * 3 + 2] = c[2];
  }
  return out;
}

export function heatmap(spec: HeatmapSpec): string {
  const { rows: R, cols: C } = spec;
  const width = spec.width ?? 720;
  const plotH = Math.max(120, Math.min(520, R * 9));
  const f = makeFrame(width, plotH + 30 + 46, { top: 30, right: 90, bottom: 46, left: 64 });
  const diverging = spec.diverging ?? false;
  const domain = spec.domain ?? heatDomain(spec.values, diverging);
  const png = encodePngRgb(C, R, heatPixels(spec.values, domain, diverging));
  const pw = f.x1 - f.x0;
  const ph = f.y1 - f.y0;
  const cw = pw / C;
  const ch = ph / R;
  let body = '';
  body += `<image class="heatmap-image" x="${f.x0}" y="${f.y0}" width="${pw}" height="${ph}" preserveAspectRatio="none" style="image-rendering:pixelated;image-rendering:crisp-edges" href="data:image/png;base64,${Buffer.from(png).toString('base64')}"/>`;
  // Y axis: row labels.
  body += `<g class="axis y-axis">`;
  const everyR = Math.max(1, Math.ceil(R / Math.max(1, Math.floor(ph / 14))));
  for (let r = 0; r < R; r += everyR) {
    body += `<text class="tick" x="${f.x0 - 6}" y="${r2(f.y0 + ch * (r + 0.5))}" text-anchor="end" dominant-baseline="middle">${esc(spec.rowLabels[r])}</text>`;
  }
  body += `<text class="axis-label" transform="translate(14 ${r2((f.y0 + f.y1) / 2)}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text></g>`;
  const everyC = Math.max(1, Math.ceil(C / 16));
  const xt = [];
  for (let c = 0; c < C; c += everyC) xt.push({ x: f.x0 + cw * (c + 0.5), label: String(c) });
  body += xAxis(f, xt, spec.xLabel);
  // Colour legend: vertical gradient on the right.
  const lx = f.x1 + 18;
  const gid = `${spec.id}-grad`;
  body += `<defs><linearGradient id="${esc(gid)}" x1="0" y1="1" x2="0" y2="0">`;
  for (let i = 0; i <= 10; i++) {
    const t = i / 10;
    const rgb = diverging ? divergingRgb(2 * t - 1) : viridisRgb(t);
    body += `<stop offset="${t}" stop-color="${rgbToHex(rgb)}"/>`;
  }
  body += `</linearGradient></defs><g class="color-legend"><rect x="${lx}" y="${f.y0}" width="12" height="${ph}" fill="url(#${esc(gid)})"/>`;
  const ly = linearScale(domain, [f.y1, f.y0]);
  for (const t of niceTicks(domain[0], domain[1], 5)) {
    body += `<text class="tick" x="${lx + 16}" y="${r2(ly(t))}" dominant-baseline="middle">${esc(formatNumber(t))}</text>`;
  }
  body += `<text class="axis-label" x="${lx + 6}" y="${f.y0 - 8}" text-anchor="middle">${esc(spec.unit)}</text></g>`;
  body += `<rect class="heatmap-cursor" x="0" y="0" width="${r2(cw, 3)}" height="${r2(ch, 3)}" fill="none" visibility="hidden"/>`;
  body += `<rect class="heatmap-hit" x="${f.x0}" y="${f.y0}" width="${pw}" height="${ph}" fill="transparent"/>`;
  const data = [
    `data-rows="${R}"`,
    `data-cols="${C}"`,
    `data-plot="${f.x0},${f.y0},${pw},${ph}"`,
    `data-row-labels="${esc(JSON.stringify(spec.rowLabels))}"`,
    `data-row-name="${esc(spec.rowName)}"`,
    `data-col-name="${esc(spec.colName)}"`,
    `data-unit="${esc(spec.unit)}"`,
    `data-domain="${domain[0]},${domain[1]}"`,
    `data-values="${float32Base64(spec.values)}"`,
  ];
  if (spec.rowTotals) data.push(`data-row-totals="${esc(JSON.stringify(spec.rowTotals))}"`);
  return `${svgOpen(f, 'heatmap', spec.title, data.join(' '))}${body}</svg>`;
}
