/**
 * Load-matrix exports: write a trace's counts in the forms other tools read.
 *
 *   csv      `layer,expert,count` with header; [L][E] summed over windows; layer = model-level layer id.
 *   npy      NumPy .npy v1.0, shape [L][E] summed over windows; int64 when every count is an integer,
 *            else float64 (the DeepSeek EPLB `weight` input). Rows in trace layer order.
 *   json     `{"logical_count": [N][E]}` summed over windows (SGLang --init-expert-location input): row l
 *            is decoder layer l over all N = num_hidden_layers layers, zeros for dense layers, as SGLang
 *            indexes it (decoder-layers.ts cites the source). SGLang runs its own EPLB on it at start-up.
 *   parquet  long form, one row per (window, layer, expert): columns window INT32, layer INT32
 *            (model-level id), expert INT32, count DOUBLE; all windows. Key-value metadata
 *            `ballast.meta` holds the trace meta as JSON.
 *   ballast  the whole input as a .ballast trace file: token routes when present (plus the load windows
 *            when they are not simply derived from the routes), else every load window.
 */
import { writeFileSync } from 'node:fs';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { type LoadTrace, totalCounts } from '../../core/load-trace.ts';
import type { TokenRoutes } from '../../core/token-routes.ts';
import { writeTraceFile } from '../../ingest/ballast/writer.ts';
import { encodeNpy2d } from '../../ingest/readers/npy/npy-format.ts';
import { loadFromRoutes } from '../../ingest/routes-to-load.ts';
import type { DecoderLayers } from './decoder-layers.ts';

export const LOAD_EXPORT_FORMATS = ['csv', 'npy', 'json', 'parquet', 'ballast'] as const;
export type LoadExportFormat = (typeof LOAD_EXPORT_FORMATS)[number];

function sameCounts(a: LoadTrace, b: LoadTrace): boolean {
  if (a.counts.length !== b.counts.length) return false;
  for (let i = 0; i < a.counts.length; i++) if (a.counts[i] !== b.counts[i]) return false;
  return true;
}

function allIntegral(a: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isSafeInteger(a[i])) return false;
  return true;
}

/** `layer,expert,count` CSV text of [L][E] counts summed over windows (header line first). */
export function loadToCsv(trace: LoadTrace): string {
  const tot = totalCounts(trace);
  const E = trace.numExperts;
  const parts: string[] = ['layer,expert,count\n'];
  for (let l = 0; l < trace.numLayers; l++) {
    const id = trace.meta.layerIds[l];
    let chunk = '';
    for (let e = 0; e < E; e++) chunk += `${id},${e},${tot[l * E + e]}\n`;
    parts.push(chunk);
  }
  return parts.join('');
}

/** .npy bytes of [L][E] counts summed over windows: int64 when all integral, else float64. */
export function loadToNpy(trace: LoadTrace): Buffer {
  const tot = totalCounts(trace);
  return encodeNpy2d(tot, trace.numLayers, trace.numExperts, allIntegral(tot) ? 'int64' : 'float64');
}

/**
 * `{"logical_count": [N][E]}` JSON text of counts summed over windows, N = layers.numHiddenLayers:
 * row l holds the MoE layer whose model-level id is l, zeros for the other (dense) layers.
 */
export function loadToJson(trace: LoadTrace, layers: DecoderLayers): string {
  const tot = totalCounts(trace);
  const E = trace.numExperts;
  const rows: number[][] = Array.from({ length: layers.numHiddenLayers }, () => new Array<number>(E).fill(0));
  for (let l = 0; l < trace.numLayers; l++) rows[trace.meta.layerIds[l]] = Array.from(tot.subarray(l * E, (l + 1) * E));
  return `${JSON.stringify({ logical_count: rows })}\n`;
}

/** Long-form Parquet bytes: W*L*E rows (window, layer, expert, count), window-major. */
export function loadToParquet(trace: LoadTrace): ArrayBuffer {
  const { numWindows: W, numLayers: L, numExperts: E } = trace;
  const n = W * L * E;
  const window = new Int32Array(n);
  const layer = new Int32Array(n);
  const expert = new Int32Array(n);
  const count = new Float64Array(trace.counts);
  let i = 0;
  for (let w = 0; w < W; w++) {
    for (let l = 0; l < L; l++) {
      const id = trace.meta.layerIds[l];
      for (let e = 0; e < E; e++, i++) {
        window[i] = w;
        layer[i] = id;
        expert[i] = e;
      }
    }
  }
  return parquetWriteBuffer({
    columnData: [
      { name: 'window', data: window, type: 'INT32' },
      { name: 'layer', data: layer, type: 'INT32' },
      { name: 'expert', data: expert, type: 'INT32' },
      { name: 'count', data: count, type: 'DOUBLE' },
    ],
    kvMetadata: [{ key: 'ballast.meta', value: JSON.stringify({ ...trace.meta, windows: trace.windows }) }],
  });
}

/**
 * Write `data` in form `to` at `outPath`. `data.load` is [W][L][E]; `data.routes` (optional) is only
 * used by the ballast form, which keeps both.
 */
export function writeLoadExport(data: { load: LoadTrace; routes?: TokenRoutes }, to: LoadExportFormat, outPath: string, opts: { layers?: DecoderLayers } = {}): void {
  switch (to) {
    case 'csv':
      writeFileSync(outPath, loadToCsv(data.load));
      return;
    case 'npy':
      writeFileSync(outPath, loadToNpy(data.load));
      return;
    case 'json': {
      const layers = opts.layers ?? { numHiddenLayers: Math.max(...data.load.meta.layerIds) + 1, source: 'the largest layer id + 1', inferred: true };
      writeFileSync(outPath, loadToJson(data.load, layers));
      return;
    }
    case 'parquet':
      writeFileSync(outPath, new Uint8Array(loadToParquet(data.load)));
      return;
    case 'ballast':
      // Routes carry everything when the load windows are just derived from them; load windows of the
      // input's own (e.g. per-step counts recorded beside the routes) are kept too.
      if (data.routes && sameCounts(loadFromRoutes(data.routes), data.load)) writeTraceFile(outPath, { routes: data.routes });
      else writeTraceFile(outPath, data);
      return;
  }
}
