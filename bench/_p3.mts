import { lognormalLoad } from '../src/plan/solvers/real-data.ts';
import { packLayer, packScratch } from '../src/plan/solvers/ballast/pack.ts';
import { greedyReplicaCounts } from '../src/plan/lower-bound.ts';
const L = 58, E = 256, G = 32, P = 288;
const load = lognormalLoad(L, E, 1, 11);
const ps = packScratch(E, G, P);
const counts = new Int32Array(E); const out = new Int32Array(P);
const cu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
for (let rep = 0; rep < 3; rep++) {
  let t = cu();
  for (let r = 0; r < 10; r++) for (let l = 0; l < L; l++) greedyReplicaCounts(load.subarray(l * E, (l + 1) * E), P - E, G, counts);
  const tc = (cu() - t) / 10; t = cu();
  for (let r = 0; r < 10; r++) for (let l = 0; l < L; l++) { const w = load.subarray(l * E, (l + 1) * E); greedyReplicaCounts(w, P - E, G, counts); packLayer(w, counts, P, ps, out, Infinity, 0, Infinity); }
  console.log('counts', tc.toFixed(2), 'counts+lpt', ((cu() - t) / 10).toFixed(2));
}
