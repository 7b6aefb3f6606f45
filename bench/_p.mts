import { solveDeepseek } from '../src/plan/solvers/deepseek/index.ts';
import { solveBallast } from '../src/plan/solvers/ballast/index.ts';
import { lognormalLoad } from '../src/plan/solvers/real-data.ts';
const load = lognormalLoad(58, 256, 1, 11);
const inp = { load, numLayers: 58, numExperts: 256, layerIds: Array.from({ length: 58 }, (_, i) => i), numRanks: 32, numNodes: 4, numGroups: 8, redundantSlots: 32 };
const cu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
for (const [name, f] of [['deepseek', solveDeepseek], ['ballast', solveBallast], ['deepseek', solveDeepseek], ['ballast', solveBallast]] as const) {
  const ts: number[] = []; const cs: number[] = [];
  for (let i = 0; i < 21; i++) { const c = cu(); const t = performance.now(); f(inp); ts.push(performance.now() - t); cs.push(cu() - c); }
  ts.sort((a, b) => a - b); cs.sort((a, b) => a - b);
  console.log(name, 'wall median', ts[10].toFixed(2), 'min', ts[0].toFixed(2), 'cpu median', cs[10].toFixed(2));
}
