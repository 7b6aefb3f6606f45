/**
 * ballast trace write/read round trip at production scale: synthetic 1M tokens x 60 MoE layers x top-8,
 * E = 256 (skewed random ids, distinct within a token), ids only. Writes a .ballast file, then reads it
 * back in a fresh child process so the read's peak RSS is its own. Baseline: the same routes as JSON
 * (the `{"ids":[L][T*k]}` layout of the shared ESFT routing JSON) for a slice, scaled per token.
 * Targets: write and read < 10 s each, read peak RSS < 2 GB.
 *
 * Run: node --import tsx bench/trace-roundtrip.ts [tokens=1000000] [jsonSliceTokens=50000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTokenRoutes, type TokenRoutes } from '../src/core/token-routes.ts';
import { readBallastTrace } from '../src/ingest/ballast/reader.ts';
import { writeTraceFile } from '../src/ingest/ballast/writer.ts';

const L = 60;
const K = 8;
const E = 256;

function secs(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
const rssMB = () => process.resourceUsage().maxRSS / 1024;

if (process.argv[2] === '--read') {
  // Child: read the file and report seconds and peak RSS as JSON.
  const t0 = process.hrtime.bigint();
  const r = readBallastTrace(process.argv[3], { warn: () => {} });
  const s = secs(t0);
  let sum = 0;
  const ids = r.routes!.experts;
  for (let i = 0; i < ids.length; i += 4099) sum += ids[i];
  process.stdout.write(JSON.stringify({ seconds: s, maxRssMB: rssMB(), tokens: r.routes!.numTokens, checksum: sum }));
  process.exit(0);
}

const T = Number(process.argv[2] ?? 1_000_000);
const sliceT = Math.min(T, Number(process.argv[3] ?? 50_000));

/** Skewed ids: xorshift32, id = floor(E * u^2) (low ids hot), redrawn until distinct within a token. */
function synth(tokens: number): TokenRoutes {
  const experts = new Uint8Array(tokens * L * K);
  let x = 0x9e3779b9;
  const seen = new Uint8Array(E);
  for (let b = 0; b < experts.length; b += K) {
    for (let j = 0; j < K; j++) {
      let id: number;
      do {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const u = (x >>> 0) / 4294967296;
        id = (u * u * E) | 0;
      } while (seen[id]);
      seen[id] = 1;
      experts[b + j] = id;
    }
    for (let j = 0; j < K; j++) seen[experts[b + j]] = 0;
  }
  const seqStarts = new Uint32Array(Math.ceil(tokens / 1000) + 1);
  for (let s = 1; s < seqStarts.length; s++) seqStarts[s] = Math.min(tokens, s * 1000);
  return makeTokenRoutes({
    meta: { layerIds: Array.from({ length: L }, (_, i) => i + 1), topK: K, sources: [{ path: 'synthetic', format: 'bench' }] },
    numLayers: L,
    numExperts: E,
    topK: K,
    experts,
    seqStarts,
  });
}

const dir = mkdtempSync(join(tmpdir(), 'ballast-roundtrip-'));
try {
  let t0 = process.hrtime.bigint();
  const routes = synth(T);
  const genS = secs(t0);
  const path = join(dir, 'synthetic.ballast');
  t0 = process.hrtime.bigint();
  writeTraceFile(path, { routes });
  const writeS = secs(t0);
  const bytes = statSync(path).size;
  const writerRss = rssMB();
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--read', path], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (child.status !== 0) throw new Error(`read child failed: ${child.stderr}`);
  const rd = JSON.parse(child.stdout) as { seconds: number; maxRssMB: number; tokens: number };

  // Baseline: JSON of a slice, same layout as <task>.routing.json.gz (ids per layer, token-major).
  const slice = synth(sliceT);
  t0 = process.hrtime.bigint();
  const ids: number[][] = [];
  for (let l = 0; l < L; l++) {
    const row = new Array<number>(sliceT * K);
    for (let t = 0; t < sliceT; t++) for (let j = 0; j < K; j++) row[t * K + j] = slice.experts[(t * L + l) * K + j];
    ids.push(row);
  }
  const jsonPath = join(dir, 'slice.json');
  writeFileSync(jsonPath, JSON.stringify({ num_experts: E, top_k: K, ids }));
  const jWriteS = secs(t0);
  const jBytes = statSync(jsonPath).size;
  t0 = process.hrtime.bigint();
  JSON.parse(readFileSync(jsonPath, 'utf8'));
  const jReadS = secs(t0);
  const scale = T / sliceT;

  console.log(`synthetic routes: ${T} tokens x ${L} layers x top-${K}, E=${E}, ids only (${(T * L * K / 1e6).toFixed(0)} MB of u8 ids); generated in ${genS.toFixed(2)} s`);
  console.log(`ballast write: ${writeS.toFixed(2)} s (${(bytes / 1e6).toFixed(0)} MB file, writer process peak RSS ${writerRss.toFixed(0)} MB)  target < 10 s: ${writeS < 10 ? 'ok' : 'MISSED'}`);
  console.log(`ballast read:  ${rd.seconds.toFixed(2)} s, read process peak RSS ${rd.maxRssMB.toFixed(0)} MB  targets < 10 s: ${rd.seconds < 10 ? 'ok' : 'MISSED'}, < 2048 MB: ${rd.maxRssMB < 2048 ? 'ok' : 'MISSED'}`);
  console.log(`JSON baseline on a ${sliceT}-token slice: write ${jWriteS.toFixed(2)} s, read ${jReadS.toFixed(2)} s, ${(jBytes / 1e6).toFixed(0)} MB; scaled x${scale.toFixed(0)} to ${T} tokens: write ${(jWriteS * scale).toFixed(1)} s, read ${(jReadS * scale).toFixed(1)} s, ${(jBytes * scale / 1e9).toFixed(2)} GB`);
  console.log(`ratio JSON/ballast (per token): write ${((jWriteS * scale) / writeS).toFixed(1)}x, read ${((jReadS * scale) / rd.seconds).toFixed(1)}x, size ${((jBytes * scale) / bytes).toFixed(1)}x`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
