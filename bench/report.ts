/**
 * Report build/render cost and size at DeepSeek-V3-like shape (60 layers x 384 experts... the brief's
 * worst case), side by side with the naive baseline: the same heatmap drawn as one SVG <rect> per cell.
 * Run: node --import tsx bench/report.ts
 */
import { buildReportModel } from '../src/show/report/build.ts';
import { renderReportHtml } from '../src/show/report/html.ts';
import { heatmap } from '../src/show/charts/heatmap.ts';
import { viridis } from '../src/show/charts/color.ts';
import { syntheticTrace } from '../src/show/report/fixtures.ts';

function rectHeatmap(R: number, C: number, values: number[], max: number): string {
  let s = `<svg viewBox="0 0 ${C * 3} ${R * 8}">`;
  for (let r = 0; r < R; r++)
    for (let c = 0; c < C; c++) {
      const v = values[r * C + c];
      s += `<rect x="${c * 3}" y="${r * 8}" width="3" height="8" fill="${viridis(v / max)}"><title>layer ${r} expert ${c}: ${v}</title></rect>`;
    }
  return `${s}</svg>`;
}

for (const [L, E, W, G] of [
  [26, 64, 1024, 8],
  [60, 384, 2000, 32],
] as const) {
  const load = syntheticTrace(L, E, W);
  const t0 = performance.now();
  const model = await buildReportModel({ traces: [{ path: 'synthetic', format: 'ballast', load, warnings: [] }], plans: [], simulations: [], reports: [] }, { ranks: G, solver: 'ballast', noPredict: true });
  const t1 = performance.now();
  const html = renderReportHtml(model);
  const t2 = performance.now();
  const h = model.traces[0].heatmap;
  let max = 0;
  for (const v of h.values) max = Math.max(max, v);
  const t3 = performance.now();
  const png = heatmap({ title: 'h', rows: h.rows, cols: h.cols, values: h.values, rowLabels: h.rowLabels, rowName: 'layer', colName: 'expert', xLabel: 'x', yLabel: 'y', unit: 'u', id: 'b' });
  const t4 = performance.now();
  const rects = rectHeatmap(h.rows, h.cols, h.values, max);
  const t5 = performance.now();
  console.log(
    `${L}x${E}, ${W} windows, G=${G}: build ${(t1 - t0).toFixed(0)} ms (incl. ballast solver), render ${(t2 - t1).toFixed(0)} ms, html ${(html.length / 1024).toFixed(0)} KiB | ` +
      `heatmap PNG-in-SVG ${(png.length / 1024).toFixed(0)} KiB in ${(t4 - t3).toFixed(0)} ms vs rect-per-cell ${(rects.length / 1024).toFixed(0)} KiB in ${(t5 - t4).toFixed(0)} ms (${(rects.length / png.length).toFixed(1)}x larger)`,
  );
}
