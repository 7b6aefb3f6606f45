/**
 * Property-based fuzzing of every reader (issue 16): mutate a valid file of each format (byte flips,
 * truncation, spliced deep nesting, huge/NaN/negative numbers) and read it in-process with the format
 * forced. Each read must either succeed with finite non-negative loads, or throw InputError (one line,
 * exit 2 in the CLI), within a time and memory bound. A few CLI spawns check the one line end to end.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deflateRawSync, gzipSync, crc32 } from 'node:zlib';
import fc from 'fast-check';
import { InputError } from '../../core/errors.ts';
import { makeLoadTrace } from '../../core/load-trace.ts';
import { BALLAST, runBounded } from '../../capture/test-helpers.ts';
import { encodeRecord, writeTraceFile } from '../ballast/writer.ts';
import { MAGIC } from '../ballast/format.ts';
import { READERS, readInput } from '../readers.ts';
import { ZipFile } from '../torch/zip.ts';
import type { ReaderCases } from './cases.ts';
import { SGLANG_LOG } from './sglang-log/cases.ts';
import { VLLM_LOG } from './vllm-log/cases.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'ballast-fuzz-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Per case: at most this long, and the process no larger than this afterwards. */
const CASE_MS = 10_000;
const RSS_BYTES = 2 * 1024 ** 3;
const RUNS = Number(process.env.BALLAST_FUZZ_RUNS ?? 60);

type Mutation =
  | { kind: 'flip'; at: number[]; xor: number[] }
  | { kind: 'truncate'; frac: number }
  | { kind: 'nest'; frac: number; depth: number; open: string }
  | { kind: 'number'; frac: number; text: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }), xor: fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 8, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('nest' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }), depth: fc.constantFrom(100, 5_000, 100_000), open: fc.constantFrom('[', '{"a":') }),
  fc.record({
    kind: fc.constant('number' as const),
    frac: fc.double({ min: 0, max: 1, noNaN: true }),
    text: fc.constantFrom('1e400', '-1e400', '-7', '0.5', '1e300', '9007199254740993', 'NaN', 'Infinity', '-0', '99999999999999999999999'),
  }),
);

/** Apply one mutation to the bytes of a file. */
function mutate(b: Buffer, m: Mutation): Buffer {
  const out = Buffer.from(b);
  if (m.kind === 'flip') {
    m.at.forEach((f, i) => {
      const p = Math.min(out.length - 1, Math.floor(f * out.length));
      out[p] ^= m.xor[i];
    });
    return out;
  }
  const at = Math.min(b.length, Math.floor(m.frac * b.length));
  if (m.kind === 'truncate') return out.subarray(0, at);
  if (m.kind === 'nest') return Buffer.concat([b.subarray(0, at), Buffer.from(m.open.repeat(m.depth)), b.subarray(at)]);
  // Replace the digit run nearest after `at` with the number text.
  const s = b.toString('latin1');
  const re = /\d+(\.\d+)?/g;
  re.lastIndex = at;
  const hit = re.exec(s) ?? /\d+/.exec(s);
  if (!hit) return out;
  return Buffer.concat([b.subarray(0, hit.index), Buffer.from(m.text, 'latin1'), b.subarray(hit.index + hit[0].length)]);
}

/** The largest regular file under a path (the one to mutate when a fixture is a directory). */
function largestFile(p: string): string {
  if (!statSync(p).isDirectory()) return p;
  let best = '';
  let size = -1;
  for (const n of readdirSync(p)) {
    const q = join(p, n);
    const f = largestFile(q);
    if (f && statSync(f).size > size) {
      best = f;
      size = statSync(f).size;
    }
  }
  return best;
}

/** One valid fixture per format: every reader's first valid conformance case, plus a ballast trace. */
async function fixtures(): Promise<{ format: string; path: string }[]> {
  const out: { format: string; path: string }[] = [];
  const b = join(root, 'seed.ballast');
  const counts = Float64Array.from({ length: 3 * 2 * 4 }, (_, i) => (i * 7) % 5);
  writeTraceFile(b, { load: makeLoadTrace({ layerIds: [1, 2], sources: [], extra: { note: 'x' } }, 2, 4, counts, [{ step: 1 }, { step: 2 }, { step: 3, tokens: 4 }]) });
  out.push({ format: 'ballast', path: b });
  // The log readers have no valid cases (logs carry aggregates only); their sample logs seed the fuzzing.
  writeFileSync(join(root, 'vllm.log'), VLLM_LOG);
  out.push({ format: 'vllm-log', path: join(root, 'vllm.log') });
  writeFileSync(join(root, 'sglang.log'), SGLANG_LOG);
  out.push({ format: 'sglang-log', path: join(root, 'sglang.log') });
  for (const r of READERS) {
    let mod: { cases?: ReaderCases };
    try {
      mod = (await import(join(here, r.name, 'cases.ts'))) as { cases?: ReaderCases };
    } catch {
      continue;
    }
    const c = mod.cases?.valid[0];
    if (!c) continue;
    const dir = mkdtempSync(join(root, `${r.name}-`));
    out.push({ format: r.name, path: c.make(dir) });
  }
  return out;
}

/** Read with the format forced; pass on success with sane loads or on InputError, fail on anything else. */
async function readsCleanly(path: string, format: string): Promise<'ok' | 'refused'> {
  const t0 = Date.now();
  try {
    const d = await readInput(path, { format, warn: () => {}, maxBytes: 256 * 1024 * 1024 });
    for (let i = 0; i < d.load.counts.length; i++) {
      const v = d.load.counts[i];
      assert.ok(v >= 0 && v < Infinity, `${format}: accepted a load of ${v} at ${i}`);
    }
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof InputError, `${format} reader threw ${(e as Error)?.stack?.slice(0, 600) ?? String(e)}`);
    assert.ok(!e.message.includes('\n'), `${format}: error message spans lines: ${e.message.slice(0, 200)}`);
    return 'refused';
  } finally {
    const ms = Date.now() - t0;
    assert.ok(ms < CASE_MS, `${format}: read took ${ms} ms`);
    assert.ok(process.memoryUsage().rss < RSS_BYTES, `${format}: process grew to ${process.memoryUsage().rss} bytes`);
  }
}

const seeds = await fixtures();

test('fuzz fixtures cover every reader with conformance cases, plus ballast', () => {
  assert.ok(seeds.length >= 8, `only ${seeds.map((s) => s.format).join(', ')}`);
});

for (const seed of seeds) {
  test(`property: mutated ${seed.format} files are read cleanly or refused with InputError`, { timeout: 300_000 }, async () => {
    // A count-tables case names its table after '#': mutate the file, read it back with the same table.
    const hash = seed.path.indexOf('#');
    const seedFile = hash >= 0 ? seed.path.slice(0, hash) : seed.path;
    const fragment = hash >= 0 ? seed.path.slice(hash) : '';
    const target = largestFile(seedFile);
    const original = readFileSync(target);
    const isDir = statSync(seedFile).isDirectory();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const dir = mkdtempSync(join(root, 'm-'));
        try {
          let path: string;
          if (isDir) {
            path = join(dir, 'in');
            cpSync(seedFile, path, { recursive: true });
            writeFileSync(join(path, target.slice(seedFile.length)), mutate(original, m));
          } else {
            path = join(dir, target.split('/').pop()!);
            writeFileSync(path, mutate(original, m));
          }
          await readsCleanly(path + fragment, seed.format);
          n++;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: RUNS, seed: 16 },
    );
    assert.equal(n, RUNS);
  });
}

/** A minimal zip with one deflated member (`data` deflated, or `raw` used as the member bytes as given). */
function zipWith(name: string, data: Buffer, raw?: Buffer): Buffer {
  const comp = raw ?? deflateRawSync(data);
  const nameB = Buffer.from(name);
  const lh = Buffer.alloc(30);
  lh.writeUInt32LE(0x04034b50, 0);
  lh.writeUInt16LE(20, 4);
  lh.writeUInt16LE(8, 8);
  lh.writeUInt32LE(crc32(data) >>> 0, 14);
  lh.writeUInt32LE(comp.length, 18);
  lh.writeUInt32LE(data.length, 22);
  lh.writeUInt16LE(nameB.length, 26);
  const cd = Buffer.alloc(46);
  cd.writeUInt32LE(0x02014b50, 0);
  cd.writeUInt16LE(20, 4);
  cd.writeUInt16LE(20, 6);
  cd.writeUInt16LE(8, 10);
  cd.writeUInt32LE(crc32(data) >>> 0, 16);
  cd.writeUInt32LE(comp.length, 20);
  cd.writeUInt32LE(data.length, 24);
  cd.writeUInt16LE(nameB.length, 28);
  cd.writeUInt32LE(0, 42);
  const cdOff = lh.length + nameB.length + comp.length;
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(1, 8);
  eocd.writeUInt16LE(1, 10);
  eocd.writeUInt32LE(cd.length + nameB.length, 12);
  eocd.writeUInt32LE(cdOff, 16);
  return Buffer.concat([lh, nameB, comp, cd, nameB, eocd]);
}

test('zip members: bad deflate and a CRC-32 mismatch are InputErrors naming the member; a good member reads back', () => {
  const data = Buffer.from('0123456789'.repeat(100));
  const good = join(root, 'good.zip');
  writeFileSync(good, zipWith('archive/data/0', data));
  const z = new ZipFile(good);
  assert.deepEqual(Buffer.from(z.read('archive/data/0')), data);
  z.close();
  const badDeflate = join(root, 'bad-deflate.zip');
  writeFileSync(badDeflate, zipWith('archive/data/0', data, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x13])));
  const z2 = new ZipFile(badDeflate);
  assert.throws(() => z2.read('archive/data/0'), (e: unknown) => e instanceof InputError && e.where === 'member archive/data/0' && /corrupt deflate data|inflates to/.test(e.message));
  z2.close();
  // Same deflate stream, one byte of the data changed before the CRC was computed: the CRC no longer matches.
  const flipped = Buffer.from(data);
  flipped[500] ^= 1;
  const crcBad = join(root, 'crc.zip');
  writeFileSync(crcBad, zipWith('archive/data/0', flipped, deflateRawSync(data)));
  const z3 = new ZipFile(crcBad);
  assert.throws(() => z3.read('archive/data/0'), (e: unknown) => e instanceof InputError && /fails its CRC-32 check/.test(e.message));
  z3.close();
});

test('CLI: a gzip bomb, deep vLLM JSONL, deep .ballast metadata and NaN f64 loads exit 2 with one line, fast', { timeout: 120_000 }, async () => {
  // 1 MiB of zeros per 1 KiB of gzip: a 200 MB tar inflates far beyond 64 MiB + 50x the archive.
  const bomb = join(root, 'bomb.tgz');
  writeFileSync(bomb, gzipSync(Buffer.alloc(200 * 1024 * 1024), { level: 9 }));
  const jsonl = join(root, 'deep.jsonl');
  writeFileSync(jsonl, `{"record_type":"eplb_load_stats","version":1,"step":${'['.repeat(100_000)}${']'.repeat(100_000)}}\n`);
  const deepMeta = join(root, 'deep-meta.ballast');
  const load = encodeRecord('LOAD', { dtype: 'u32', layers: 1, experts: 2 }, new Uint8Array(Uint32Array.from([1, 2]).buffer));
  // JSON.stringify overflows on 50,000 levels itself, so write the header text by hand.
  const metaText = `{"format":"ballast-trace","version":1,"layerIds":[0],"numExperts":2,"extra":{"x":${'['.repeat(50_000)}${']'.repeat(50_000)}}}`;
  const mh = Buffer.from(metaText);
  const rec = Buffer.alloc(16 + mh.length + 4);
  rec.write('META', 0, 'latin1');
  rec.writeUInt32LE(mh.length, 4);
  mh.copy(rec, 16);
  rec.writeUInt32LE(crc32(mh) >>> 0, 16 + mh.length);
  writeFileSync(deepMeta, Buffer.concat([MAGIC, rec, load, encodeRecord('END ', {})]));
  const nan = join(root, 'nan.ballast');
  writeFileSync(nan, Buffer.concat([MAGIC, encodeRecord('META', { format: 'ballast-trace', version: 1, layerIds: [0], numExperts: 2 }), encodeRecord('LOAD', { dtype: 'f64', layers: 1, experts: 2 }, new Uint8Array(Float64Array.from([1, Number.NaN]).buffer)), encodeRecord('END ', {})]));
  const neg = join(root, 'neg.ballast');
  writeFileSync(neg, Buffer.concat([MAGIC, encodeRecord('META', { format: 'ballast-trace', version: 1, layerIds: [0], numExperts: 2 }), encodeRecord('LOAD', { dtype: 'f64', layers: 1, experts: 2 }, new Uint8Array(Float64Array.from([-3, Infinity]).buffer)), encodeRecord('END ', {})]));
  const cases: [string, string[], RegExp][] = [
    [bomb, ['--format', 'esft'], /bomb\.tgz: inflates to more than \d+ bytes/],
    [jsonl, [], /deep\.jsonl: line 1: nests deeper than 8 levels/],
    [deepMeta, [], /deep-meta\.ballast: byte 24: META record header nests deeper than 32 levels/],
    [nan, [], /nan\.ballast: byte \d+: LOAD window 0 layer 0 expert 1 is NaN; expected a finite non-negative load/],
    [neg, [], /neg\.ballast: byte \d+: LOAD window 0 layer 0 expert 0 is -3/],
  ];
  for (const [file, extra, re] of cases) {
    const r = await runBounded('node', [BALLAST, 'analyze', file, ...extra], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, `${file}: ${r.stderr.slice(0, 400)}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr.slice(0, 400));
    assert.match(r.stderr, re);
    assert.ok(r.ms < 20_000, `${file}: ${r.ms} ms`);
  }
});
