import { lognormalLoad } from '../src/plan/solvers/real-data.ts';
import { packLayer, packScratch, swapSearch } from '../src/plan/solvers/ballast/pack.ts';
import { greedyReplicaCounts } from '../src/plan/lower-bound.ts';
const L = 58, E = 256, G = 32, P = 288;
const load = lognormalLoad(L, E, 1, 11);
const ps = packScratch(E, G, P);
const counts = new Int32Array(E); const out = new Int32Array(P);
for (const eps of [0, 1e-4, 1e-3]) for (const maxIt of [1 << 30, 20, 0]) {
  let t = performance.now(); const c0 = process.cpuUsage(); let gapSum = 0;
  for (let rep = 0; rep < 5; rep++) for (let l = 0; l < L; l++) {
    const w = load.subarray(l * E, (l + 1) * E);
    greedyReplicaCounts(w, P - E, G, counts);
    let tot = 0, ms = 0; for (let e = 0; e < E; e++) { tot += w[e]; ms = Math.max(ms, w[e] / counts[e]); }
    const target = Math.max(tot / G, ms);
    const m = packLayer(w, counts, P, ps, out, target * (1 + eps), maxIt, maxIt === 0 ? Infinity : 0.002);
    gapSum += m / target - 1;
  }
  const cu = process.cpuUsage(c0); console.log("eps", eps, "maxIt", maxIt, "cpu ms/plan", ((cu.user + cu.system) / 1000 / 5).toFixed(2), 'ms/plan', ((performance.now() - t) / 5).toFixed(2), 'mean gap', (gapSum / L / 5 * 100).toFixed(4) + '%');
}
