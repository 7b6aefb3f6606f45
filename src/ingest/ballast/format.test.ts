import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../core/errors.ts';
import { makeLoadTrace } from '../../core/load-trace.ts';
import { makeTokenRoutes } from '../../core/token-routes.ts';
import { readBallastTrace } from './reader.ts';
import { TraceWriter, writeTraceFile } from './writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-fmt-'));
const meta = { model: 'toy', layerIds: [3, 5], topK: 2, sources: [{ path: 'x', format: 'test' }] };

test('load windows round-trip exactly, integer and fractional', () => {
  // 2 windows x 2 layers x 3 experts; second window has a fractional value -> stored as f64.
  const counts = Float64Array.from([1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9.5, 4294967296]);
  const load = makeLoadTrace(meta, 2, 3, counts, [{ step: 10, phase: 'prefill' }, { step: 20, rank: 1 }]);
  const p = join(dir, 'load.ballast');
  writeTraceFile(p, { load });
  const back = readBallastTrace(p);
  assert.equal(back.complete, true);
  assert.deepEqual(Array.from(back.load!.counts), Array.from(counts));
  assert.deepEqual(back.load!.windows, [{ step: 10, phase: 'prefill' }, { step: 20, rank: 1 }]);
  assert.deepEqual(back.load!.meta.layerIds, [3, 5]);
  assert.equal(back.load!.meta.model, 'toy');
  assert.equal(back.routes, undefined);
});

test('token routes with weights, phase and sequence boundaries round-trip across chunks', () => {
  // 5 tokens x 2 layers x top-2; sequences [0,2) [2,5); chunk size 2 splits the second sequence.
  const experts = Uint8Array.from([0, 1, 2, 0, 1, 2, 0, 2, 2, 1, 1, 0, 0, 2, 2, 0, 1, 0, 2, 1]);
  const weights = Float32Array.from(experts, (e, i) => (e + 1) / (i + 1));
  const routes = makeTokenRoutes({
    meta,
    numLayers: 2,
    numExperts: 3,
    topK: 2,
    experts,
    weights,
    seqStarts: Uint32Array.of(0, 2, 5),
    phase: Uint8Array.of(0, 0, 0, 1, 1),
  });
  const p = join(dir, 'routes.ballast');
  writeTraceFile(p, { routes }, { chunkTokens: 2 });
  const back = readBallastTrace(p).routes!;
  assert.equal(back.numTokens, 5);
  assert.deepEqual(Array.from(back.experts), Array.from(experts));
  assert.deepEqual(Array.from(back.weights!), Array.from(weights));
  assert.deepEqual(Array.from(back.seqStarts), [0, 2, 5]);
  assert.deepEqual(Array.from(back.phase!), [0, 0, 0, 1, 1]);
});

test('a truncated last record is skipped with a warning; everything before it is kept', () => {
  const p = join(dir, 'live.ballast');
  const w = new TraceWriter(p, meta, 3, { sync: true });
  w.appendLoad(Float64Array.from([1, 1, 1, 2, 2, 2]), { step: 1 });
  const sizeAfterFirst = statSync(p).size;
  w.appendLoad(Float64Array.from([3, 3, 3, 4, 4, 4]), { step: 2 });
  w.abandon(); // crashed capture: no END record
  truncateSync(p, statSync(p).size - 3); // and the second window half-written
  const warnings: string[] = [];
  const back = readBallastTrace(p, { warn: (l) => warnings.push(l) });
  assert.equal(back.complete, false);
  assert.equal(back.load!.numWindows, 1);
  assert.deepEqual(Array.from(back.load!.counts), [1, 1, 1, 2, 2, 2]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], new RegExp(`byte ${sizeAfterFirst}: last record \\(LOAD\\) is truncated`));
});

test('corruption before the last record is an error naming the byte', () => {
  const p = join(dir, 'corrupt.ballast');
  const load = makeLoadTrace(meta, 2, 3, Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
  writeTraceFile(p, { load });
  const buf = readFileSync(p);
  // Flip a byte inside the first LOAD payload (the last 8+4+... bytes belong to the END record).
  const idx = buf.lastIndexOf(Buffer.from('LOAD')); // second window's record
  buf[buf.length - 40] ^= 0xff;
  writeFileSync(p, buf);
  assert.throws(
    () => readBallastTrace(p),
    (e: unknown) => e instanceof InputError && /fails its CRC check/.test(e.message) && e.where === `byte ${idx}`,
  );
});

test('not a ballast file and empty file are InputErrors', () => {
  const p = join(dir, 'bad.ballast');
  writeFileSync(p, 'layer,expert,count\n');
  assert.throws(() => readBallastTrace(p), (e: unknown) => e instanceof InputError && e.where === 'byte 0');
  writeFileSync(p, '');
  assert.throws(() => readBallastTrace(p), (e: unknown) => e instanceof InputError && /empty file/.test(e.message));
});

test('refuses to allocate beyond maxBytes instead of running out of memory', () => {
  const p = join(dir, 'big.ballast');
  const routes = makeTokenRoutes({ meta, numLayers: 2, numExperts: 3, topK: 2, experts: new Uint8Array(4000) });
  writeTraceFile(p, { routes });
  assert.throws(() => readBallastTrace(p, { maxBytes: 1000 }), (e: unknown) => e instanceof InputError && /needs 0.00 GB/.test(e.message));
});
