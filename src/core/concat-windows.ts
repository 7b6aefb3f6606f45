/**
 * Windows of several load traces one after another, layers aligned by model-level layer id.
 *
 * concatWindows(loads[i]: [W_i][L_i][E_i], windowOf) ->
 *   { layerIds: sorted union of the loads' layer ids (length L), numExperts: E = max E_i,
 *     counts: [sum W_i][L][E] (a layer or expert a load lacks stays 0), windows: one WindowInfo per
 *     window, from windowOf(load, its window index, load index, global window index) }
 */
import type { LoadTrace, WindowInfo } from './load-trace.ts';

export interface ConcatenatedWindows {
  layerIds: number[];
  numExperts: number;
  counts: Float64Array;
  windows: WindowInfo[];
}

export function concatWindows(
  loads: LoadTrace[],
  windowOf: (load: LoadTrace, w: number, loadIndex: number, globalWindow: number) => WindowInfo,
): ConcatenatedWindows {
  const E = Math.max(...loads.map((l) => l.numExperts));
  const layerIds = [...new Set(loads.flatMap((l) => l.meta.layerIds))].sort((a, b) => a - b);
  const L = layerIds.length;
  const at = new Map(layerIds.map((id, i) => [id, i]));
  const W = loads.reduce((s, l) => s + l.numWindows, 0);
  const counts = new Float64Array(W * L * E);
  const windows: WindowInfo[] = [];
  let w0 = 0;
  loads.forEach((ld, f) => {
    for (let w = 0; w < ld.numWindows; w++) {
      ld.meta.layerIds.forEach((id, li) => {
        const src = (w * ld.numLayers + li) * ld.numExperts;
        counts.set(ld.counts.subarray(src, src + ld.numExperts), ((w0 + w) * L + at.get(id)!) * E);
      });
      windows.push(windowOf(ld, w, f, w0 + w));
    }
    w0 += ld.numWindows;
  });
  return { layerIds, numExperts: E, counts, windows };
}
