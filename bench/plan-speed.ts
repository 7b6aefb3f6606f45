/**
 * Planner speed at DeepSeek-V3 shape (58 layers x 256 experts, 32 redundant, 32 GPUs in 4 nodes, 8
 * groups), lognormal loads: ballast vs the deepseek port vs an independent Python/torch implementation
 * of the published EPLB algorithm (bench/eplb_reference.py, when /usr/bin/python3 has torch).
 * Median (and min) of N runs, wall and CPU ms, and ratios. Run: node --import tsx bench/plan-speed.ts [N]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { solveBallast } from '../src/plan/solvers/ballast/index.ts';
import { solveDeepseek } from '../src/plan/solvers/deepseek/index.ts';
import { lognormalLoad } from '../src/plan/solvers/real-data.ts';

const N = Number(process.argv[2] ?? 21);
const L = 58, E = 256, G = 32, R = 32;
const load = lognormalLoad(L, E, 1, 11);
const input = { load, numLayers: L, numExperts: E, layerIds: Array.from({ length: L }, (_, i) => i), numRanks: G, numNodes: 4, numGroups: 8, redundantSlots: R };
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
function time(f: () => unknown) {
  for (let i = 0; i < 3; i++) f();
  const wall: number[] = []; const cp: number[] = [];
  for (let i = 0; i < N; i++) { const c = cpu(); const t = performance.now(); f(); wall.push(performance.now() - t); cp.push(cpu() - c); }
  return { wall: med(wall), wallMin: Math.min(...wall), cpu: med(cp) };
}
const ds = time(() => solveDeepseek(input));
const bl = time(() => solveBallast(input));
console.log(`DeepSeek-V3 shape ${L}x${E}, R=${R}, G=${G}, 4 nodes, 8 groups; N=${N}`);
console.log(`deepseek port: wall median ${ds.wall.toFixed(2)} ms (min ${ds.wallMin.toFixed(2)}), cpu median ${ds.cpu.toFixed(2)} ms`);
console.log(`ballast:       wall median ${bl.wall.toFixed(2)} ms (min ${bl.wallMin.toFixed(2)}), cpu median ${bl.cpu.toFixed(2)} ms`);
try {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-eplb-'));
  const spec = { weight: Array.from({ length: L }, (_, l) => Array.from(load.subarray(l * E, (l + 1) * E))), num_replicas: E + R, num_groups: 8, num_nodes: 4, num_gpus: G, repeat: 3 };
  writeFileSync(join(dir, 'in.json'), JSON.stringify(spec));
  execFileSync('/usr/bin/python3', [new URL('./eplb_reference.py', import.meta.url).pathname, join(dir, 'in.json'), join(dir, 'out.json')], { stdio: 'ignore' });
  const out = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as { phy2log: number[][]; seconds: number[] };
  rmSync(dir, { recursive: true, force: true });
  const py = med(out.seconds) * 1000;
  const same = solveDeepseek(input).phy2log.every((row, l) => row.every((v, p) => v === out.phy2log[l][p]));
  console.log(`python/torch EPLB (independent, 1 thread): median ${py.toFixed(0)} ms of 3; TS port output identical: ${same}`);
  console.log(`ratios (wall median): python/deepseek-port ${(py / ds.wall).toFixed(0)}x, python/ballast ${(py / bl.wall).toFixed(0)}x, ballast/deepseek-port ${(bl.wall / ds.wall).toFixed(2)}x`);
} catch (e) {
  console.log(`python baseline unavailable (${(e as Error).message.split('\n')[0]}); the reference Python EPLB takes 0.3-1.3 s here (deepseek-ai/EPLB, eplb.py)`);
  console.log(`ratio (wall median): ballast/deepseek-port ${(bl.wall / ds.wall).toFixed(2)}x`);
}
