/**
 * Read time of each bundled raw ESFT task (.tgz of 26 layer text files) through the esft reader, side
 * by side with a baseline: gunzip + JSON.parse of the same data in its derived JSON form
 * (<task>.routing.json.gz from the shared data set). Target: < 2 s per task.
 *
 * Run: node --import tsx bench/read-esft.ts [runs=5]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { reader } from '../src/ingest/readers/esft/index.ts';

const runs = Number(process.argv[2] ?? 5);
const raw = 'data/esft-dsv2lite/raw';
const jsonDirs = ['../shared/data/esft-dsv2lite', '/work/shared/data/esft-dsv2lite', 'data/esft-dsv2lite'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

console.log(`ESFT raw read vs JSON.parse baseline, median of ${runs} runs (after one warm-up)`);
console.log('task     tokens  esft-reader-ms  json-baseline-ms  ratio(reader/json)  target<2000ms');
for (const task of ['law', 'intent', 'summary']) {
  const tgz = join(raw, `${task}.tgz`);
  const jsonPath = jsonDirs.map((d) => join(d, `${task}.routing.json.gz`)).find((p) => existsSync(p));
  let tokens = 0;
  await reader.read(tgz, {});
  const ours: number[] = [];
  for (let i = 0; i < runs; i++) {
    ours.push(
      await time(async () => {
        const r = await reader.read(tgz, {});
        tokens = r.routes!.numTokens;
      }),
    );
  }
  const base: number[] = [];
  if (jsonPath) {
    for (let i = 0; i <= runs; i++) {
      const ms = await time(() => JSON.parse(gunzipSync(readFileSync(jsonPath)).toString('utf8')));
      if (i > 0) base.push(ms);
    }
  }
  const a = median(ours);
  const b = base.length ? median(base) : NaN;
  console.log(
    `${task.padEnd(8)} ${String(tokens).padStart(6)}  ${a.toFixed(0).padStart(14)}  ${(jsonPath ? b.toFixed(0) : 'n/a').padStart(16)}  ${(jsonPath ? (a / b).toFixed(2) : 'n/a').padStart(18)}  ${a < 2000 ? 'ok' : 'MISSED'}`,
  );
}
