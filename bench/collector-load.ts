/**
 * Collector load test (issue 16): R ranks x H Hz of L x E int32 count windows against a real
 * `ballast collect --out` process on loopback, for S seconds. The generator keeps its own tally of
 * every count the collector acknowledged (200), then stops the collector with SIGTERM and checks that
 * the trace file and /api/snapshot hold exactly that tally. Prints throughput, latency, the
 * collector's CPU (utime+stime from /proc) and peak RSS (VmHWM).
 *
 *   node --import tsx bench/collector-load.ts [--ranks 64] [--hz 10] [--seconds 120] [--layers 61] [--experts 256] [--bin OTHER/bin/ballast.js]
 *
 * Each rank posts like the Python agent does (one keep-alive connection, the next window after the
 * previous answer, on a fixed 1/H schedule; a late window goes out at once, none are skipped).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readBallastTrace } from '../src/ingest/ballast/reader.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const R = arg('ranks', 64);
const HZ = arg('hz', 10);
const SECONDS = arg('seconds', 120);
const L = arg('layers', 61);
const E = arg('experts', 256);
const TOKENS = 64;
const TOPK = 8;
const K = 16; // distinct count windows, reused round-robin

// Deterministic skewed count windows: each layer's TOKENS*TOPK assignments spread over E experts.
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const windows: { counts: Int32Array; b64: string }[] = [];
for (let k = 0; k < K; k++) {
  const c = new Int32Array(L * E);
  for (let l = 0; l < L; l++) for (let a = 0; a < TOKENS * TOPK; a++) c[l * E + Math.floor(E * rnd() ** 2)]++;
  windows.push({ counts: c, b64: Buffer.from(c.buffer).toString('base64') });
}
const layerIds = JSON.stringify(Array.from({ length: L }, (_, i) => i + 1));

const dir = mkdtempSync(join(tmpdir(), 'ballast-load-'));
const out = join(dir, 'load.ballast');
// --bin PATH: another checkout's bin/ballast.js (the baseline before a change), run side by side.
const binAt = process.argv.indexOf('--bin');
const bin = binAt >= 0 ? resolve(process.argv[binAt + 1]) : resolve(import.meta.dirname, '../bin/ballast.js');
const col = spawn(process.execPath, [bin, 'collect', '--port', '0', '--out', out], {
  stdio: ['ignore', 'ignore', 'pipe'],
  env: { ...process.env, BALLAST_SESSION_DIR: join(dir, 'sessions') },
});
let colErr = '';
col.stderr!.on('data', (d) => (colErr += d));
const url = await new Promise<string>((res, rej) => {
  const t = setTimeout(() => rej(new Error(`collector did not start: ${colErr}`)), 30_000);
  const poll = setInterval(() => {
    const m = /listening on (http:\/\/\S+)/.exec(colErr);
    if (m) {
      clearTimeout(t);
      clearInterval(poll);
      res(m[1]);
    }
  }, 20);
});
const u = new URL(url);
const pid = col.pid!;

function procCpuTicks(): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}
function procKb(key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

const agent = new Agent({ keepAlive: true, maxSockets: R });
function post(body: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const req = request(
      { host: u.hostname, port: u.port, method: 'POST', path: '/api/v1/windows', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
      (r) => {
        r.resume();
        r.on('end', () => res({ status: r.statusCode ?? 0, ms: performance.now() - t0 }));
      },
    );
    req.on('error', rej);
    req.end(body);
  });
}

const tally = new Float64Array(L * E);
let tallyTokens = 0;
let sent = 0;
let acked = 0;
let refused = 0;
let late = 0;
const lat: number[] = [];
const periodMs = 1000 / HZ;
const t0 = performance.now();
const cpu0 = procCpuTicks();
const load0 = loadavg()[0];
let rssPeakKb = 0;
const rssPoll = setInterval(() => (rssPeakKb = Math.max(rssPeakKb, procKb('VmRSS'))), 250);

async function rank(r: number): Promise<void> {
  // Offered load: R x HZ windows/s for SECONDS; a rank that falls behind sends at once (never skips)
  // and every rank stops at the deadline, so a slow collector shows as fewer windows per second.
  const end = t0 + SECONDS * 1000;
  const offset = (r / R) * periodMs; // ranks spread over the period, as independent agents are
  for (let s = 0; performance.now() < end; s++) {
    const due = t0 + offset + s * periodMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((x) => setTimeout(x, wait));
    else if (wait < -periodMs) late++;
    const w = windows[(r * 7 + s) % K];
    const body =
      `{"v":1,"session":"bench","pid":${1000 + r},"host":"bench","rank":${r},"tp_rank":null,"model":"bench-${L}x${E}","layer_ids":${layerIds},` +
      `"experts":${E},"top_k":${TOPK},"seq":${s},"step":${s + 1},"time_ms":${Date.now()},"final":false,"flush_ms":${periodMs},"dropped":0,` +
      `"parts":[{"phase":"decode","steps":1,"tokens":${TOKENS},"counts_b64":"${w.b64}","counts_dtype":"i32"}]}`;
    sent++;
    const res = await post(body);
    lat.push(res.ms);
    if (res.status === 200) {
      acked++;
      tallyTokens += TOKENS;
      for (let i = 0; i < w.counts.length; i++) tally[i] += w.counts[i];
    } else refused++;
  }
}
await Promise.all(Array.from({ length: R }, (_, r) => rank(r)));
const wallS = (performance.now() - t0) / 1000;
const cpuS = (procCpuTicks() - cpu0) / 100;
clearInterval(rssPoll);
const hwmKb = procKb('VmHWM');

// The last merged window is emitted after its grace period (250 ms here): wait, then compare the snapshot too.
await new Promise((r) => setTimeout(r, 1000));
const snap = (await (await fetch(`${url}/api/snapshot`)).json()) as { totals: number[][]; windowsReceived: number; windowsMerged: number; rejectedWindows: number; tokens: number };
col.kill('SIGTERM');
await new Promise((r) => col.once('exit', r));
agent.destroy();
const trace = readBallastTrace(out, { warn: (l) => console.error(l) });
const fileTotals = new Float64Array(L * E);
let fileTokens = 0;
for (let w = 0; w < trace.load!.numWindows; w++) {
  for (let i = 0; i < L * E; i++) fileTotals[i] += trace.load!.counts[w * L * E + i];
  fileTokens += trace.load!.windows[w].tokens ?? 0;
}
const snapFlat = snap.totals.flat();
let fileDiff = 0;
let snapDiff = 0;
for (let i = 0; i < L * E; i++) {
  fileDiff += Math.abs(fileTotals[i] - tally[i]);
  snapDiff += Math.abs(snapFlat[i] - tally[i]);
}
lat.sort((a, b) => a - b);
const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
const sum = tally.reduce((a, b) => a + b, 0);
const report = {
  config: { bin, ranks: R, hz: HZ, seconds: SECONDS, layers: L, experts: E, bodyBytes: windows[0].b64.length + 400 },
  offeredPerS: R * HZ,
  sent,
  acked,
  refused,
  lateBy1Period: late,
  wallS: +wallS.toFixed(1),
  windowsPerS: +(acked / wallS).toFixed(1),
  latencyMs: { p50: +q(0.5).toFixed(1), p99: +q(0.99).toFixed(1), max: +lat[lat.length - 1].toFixed(1) },
  collectorCpuPctOfOneCore: +((100 * cpuS) / wallS).toFixed(1),
  collectorPeakRssMiB: +(Math.max(rssPeakKb, hwmKb) / 1024).toFixed(0),
  traceMiB: +(statSync(out).size / 2 ** 20).toFixed(1),
  mergedWindows: trace.load!.numWindows,
  traceComplete: trace.complete,
  assignmentsTallied: sum,
  exact: { file: fileDiff === 0 && fileTokens === tallyTokens, snapshot: snapDiff === 0 && snap.tokens === tallyTokens, snapshotWindowsReceived: snap.windowsReceived === acked },
  rejectedWindows: snap.rejectedWindows,
  loadAverage1m: { start: +load0.toFixed(1), end: +loadavg()[0].toFixed(1) },
};
console.log(JSON.stringify(report, null, 2));
rmSync(dir, { recursive: true, force: true });
if (!report.exact.file || !report.exact.snapshot) {
  console.error(`TOTALS DIFFER: file |diff| ${fileDiff}, snapshot |diff| ${snapDiff}`);
  process.exit(1);
}
