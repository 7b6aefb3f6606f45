/**
 * Conformance test run against every reader in READERS whose folder exports `cases` from
 * `src/ingest/readers/<name>/cases.ts` (shape: ReaderCases in ./cases.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { InputError } from '../../core/errors.ts';
import { totalCounts } from '../../core/load-trace.ts';
import { detectReader, type InputData, probePath, READERS, readInput } from '../readers.ts';
import type { ReaderCases, ValidCase } from './cases.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'ballast-reader-cases-'));
after(() => rmSync(root, { recursive: true, force: true }));
function freshDir(): string {
  return mkdtempSync(join(root, 'c-'));
}

interface Loaded {
  name: string;
  cases: ReaderCases;
}

const loaded: Loaded[] = [];
for (const r of READERS) {
  const p = join(here, r.name, 'cases.ts');
  if (!existsSync(p)) continue;
  const mod = (await import(p)) as { cases?: ReaderCases };
  if (mod.cases) loaded.push({ name: r.name, cases: mod.cases });
}

function tokensOf(d: InputData): number {
  if (d.routes) return d.routes.numTokens;
  return d.load.windows.reduce((s, w) => s + (w.tokens ?? 0), 0);
}

function checkExpect(d: InputData, c: ValidCase): void {
  const x = c.expect;
  assert.equal(d.load.numLayers, x.layers, 'layers');
  assert.equal(d.load.numExperts, x.experts, 'experts');
  if (x.windows !== undefined) assert.equal(d.load.numWindows, x.windows, 'windows');
  if (x.layerIds) assert.deepEqual(d.load.meta.layerIds, x.layerIds, 'layerIds');
  const tot = totalCounts(d.load);
  if (x.counts) assert.deepEqual(Array.from(tot), x.counts, 'counts');
  if (x.totalByLayer) {
    const byLayer: number[] = [];
    for (let l = 0; l < x.layers; l++) {
      let s = 0;
      for (let e = 0; e < x.experts; e++) s += tot[l * x.experts + e];
      byLayer.push(s);
    }
    assert.deepEqual(byLayer, x.totalByLayer, 'totalByLayer');
  }
  if (x.tokens !== undefined) assert.equal(tokensOf(d), x.tokens, 'tokens');
  if (d.routes) {
    assert.equal(d.routes.numLayers, x.layers, 'routes layers');
    assert.equal(d.routes.numExperts, x.experts, 'routes experts');
  }
}

function bytesOf(d: InputData): Buffer[] {
  const out = [Buffer.from(d.load.counts.buffer, d.load.counts.byteOffset, d.load.counts.byteLength)];
  if (d.routes) {
    const r = d.routes;
    out.push(Buffer.from(r.experts.buffer, r.experts.byteOffset, r.experts.byteLength));
    if (r.weights) out.push(Buffer.from(r.weights.buffer, r.weights.byteOffset, r.weights.byteLength));
    out.push(Buffer.from(r.seqStarts.buffer, r.seqStarts.byteOffset, r.seqStarts.byteLength));
  }
  out.push(Buffer.from(JSON.stringify({ windows: d.load.windows, layerIds: d.load.meta.layerIds, topK: d.load.meta.topK })));
  return out;
}

const quiet = { warn: () => {} };

test('at least one reader has conformance cases', () => {
  assert.ok(loaded.length > 0);
});

test('property: every detect() returns a score in [0, 1] and never throws on random bytes', () => {
  const prefixes = [[], [0x1f, 0x8b], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], [0x50, 0x4b, 0x03, 0x04], [0x7b], [0x5b, 0x5b], [0x42, 0x41, 0x4c, 0x4c, 0x41, 0x53, 0x54, 0x01]];
  fc.assert(
    fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (pre, rest, isDir) => {
      const head = Uint8Array.from([...pre, ...rest]);
      const probe = { path: isDir ? 'd' : 'f.bin', isDirectory: isDir, head: isDir ? new Uint8Array(0) : head, entries: isDir ? ['a.txt', String(rest.length)] : [] };
      for (const r of READERS) {
        const s = r.detect(probe);
        assert.ok(typeof s === 'number' && s >= 0 && s <= 1, `${r.name} detect() = ${s}`);
      }
    }),
    { numRuns: 300 },
  );
});

for (const { name, cases } of loaded) {
  describe(`reader ${name}`, () => {
    for (const c of cases.valid) {
      test(`valid: ${c.name}: forced and detected read give the expected trace`, async () => {
        const path = c.make(freshDir());
        const forced = await readInput(path, { ...quiet, format: name });
        assert.equal(forced.format, name);
        checkExpect(forced, c);
        assert.equal(detectReader(path).name, name, 'auto-detection picks this reader');
        const auto = await readInput(path, quiet);
        assert.equal(auto.format, name);
        checkExpect(auto, c);
      });

      test(`valid: ${c.name}: reading twice gives the same bytes`, async () => {
        const path = c.make(freshDir());
        const a = bytesOf(await readInput(path, { ...quiet, format: name }));
        const b = bytesOf(await readInput(path, { ...quiet, format: name }));
        assert.equal(a.length, b.length);
        for (let i = 0; i < a.length; i++) assert.ok(a[i].equals(b[i]), `part ${i} differs`);
      });

      test(`valid: ${c.name}: no other reader scores as high`, () => {
        const path = c.make(freshDir());
        const probe = probePath(path);
        const own = READERS.find((r) => r.name === name)!.detect(probe);
        assert.ok(own > 0, `${name} detect() returned 0 on its own fixture`);
        for (const r of READERS) {
          if (r.name === name) continue;
          const s = r.detect(probe);
          assert.ok(s < own, `${r.name} detect() = ${s} >= ${name} detect() = ${own}`);
        }
      });
    }

    for (const c of cases.invalid) {
      test(`invalid: ${c.name}: throws InputError`, async () => {
        const path = c.make(freshDir());
        await assert.rejects(
          async () => readInput(path, { ...quiet, format: name }),
          (e: unknown) => {
            assert.ok(e instanceof InputError, `expected InputError, got ${(e as Error)?.stack ?? e}`);
            // A directory or archive input may name the member file inside it.
            assert.ok(e.file.startsWith(path), `InputError.file "${e.file}" should name the input "${path}"`);
            assert.match(e.where, c.where);
            assert.match(e.message, c.message);
            return true;
          },
        );
      });
    }
  });
}
