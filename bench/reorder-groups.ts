/**
 * `plan --for reorder` on group-limited layers: how close solveGroupedLayer gets to a lower bound, and
 * how long it takes per layer. Synthetic skewed loads (exp(3u), u uniform), DeepSeek-V3-like shapes.
 * Lower bound on the max rank load: max(total / G, heaviest expert, and when a group spans k = gs/spr
 * ranks, the group's load / k). Also the max/mean of the identity (the checkpoint as it is).
 *
 *   node --import tsx bench/reorder-groups.ts
 */
import { rankLoads, solveGroupedLayer } from '../src/plan/reorder-groups.ts';

let seed = 3;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const shapes: [number, number, number][] = [[256, 8, 8], [256, 16, 8], [256, 32, 8], [256, 64, 8], [256, 4, 8], [160, 16, 8], [64, 16, 8]];
console.log('E    G   groups  max/bound  max/mean  identity max/mean  ms/layer (median of 5 layers)');
for (const [E, G, ng] of shapes) {
  const ratios: number[] = [];
  const mm: number[] = [];
  const id: number[] = [];
  const ms: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const load = Array.from({ length: E }, () => Math.exp(rnd() * 3));
    const gs = E / ng;
    const spr = E / G;
    const total = load.reduce((a, b) => a + b, 0);
    let bound = Math.max(total / G, ...load);
    if (gs >= spr) {
      for (let g = 0; g < ng; g++) {
        let s = 0;
        for (let i = 0; i < gs; i++) s += load[g * gs + i];
        bound = Math.max(bound, s / (gs / spr));
      }
    }
    const t0 = performance.now();
    const p = solveGroupedLayer(load, E, G, ng);
    ms.push(performance.now() - t0);
    const m = Math.max(...rankLoads(load, p, G));
    ratios.push(m / bound);
    mm.push(m / (total / G));
    id.push(Math.max(...rankLoads(load, Int32Array.from({ length: E }, (_, i) => i), G)) / (total / G));
  }
  const med = (a: number[]) => a.slice().sort((x, y) => x - y)[2];
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  console.log(`${String(E).padEnd(5)}${String(G).padEnd(4)}${String(ng).padEnd(8)}${mean(ratios).toFixed(4).padEnd(11)}${mean(mm).toFixed(4).padEnd(10)}${mean(id).toFixed(4).padEnd(19)}${med(ms).toFixed(0)}`);
}
