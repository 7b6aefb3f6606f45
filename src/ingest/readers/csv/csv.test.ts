import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { InputError } from '../../../core/errors.ts';
import { totalCounts } from '../../../core/load-trace.ts';
import { readInput } from '../../readers.ts';
import { readsOrInputError } from '../fuzz-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-csv-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (text: string | Uint8Array) => {
  const p = join(dir, `f${n++}.csv`);
  writeFileSync(p, text);
  return p;
};

test('property: a random [L][E] integer matrix written as shuffled CSV rows reads back exactly', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.nat({ max: 1e12 }), { minLength: 72, maxLength: 72 }),
      fc.boolean(),
      fc.integer(),
      async (L, E, vals, header, seed) => {
        const rows: string[] = [];
        for (let l = 0; l < L; l++) for (let e = 0; e < E; e++) rows.push(`${l * 3},${e},${vals[l * E + e]}`);
        // Deterministic shuffle from the seed; the last expert of layer 0 is always written so E is known.
        let s = seed >>> 0;
        for (let i = rows.length - 1; i > 0; i--) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          const j = s % (i + 1);
          [rows[i], rows[j]] = [rows[j], rows[i]];
        }
        const p = file(`${header ? 'layer,expert,count\n' : ''}${rows.join('\n')}\n`);
        const d = await readInput(p, { format: 'csv' });
        assert.equal(d.load.numLayers, L);
        assert.equal(d.load.numExperts, E);
        assert.deepEqual(d.load.meta.layerIds, Array.from({ length: L }, (_, l) => l * 3));
        assert.deepEqual(Array.from(totalCounts(d.load)), vals.slice(0, L * E));
        rmSync(p);
      },
    ),
    { numRuns: 60 },
  );
});

test('property: random bytes and mangled CSV never fail with anything but InputError', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string({ unit: fc.constantFrom('0', '1', ',', '\n', '-', '.', 'e', ' ', 'x', '\r') , maxLength: 80 }).map((s) => Buffer.from(s))), async (bytes) => {
      const p = file(bytes);
      await readsOrInputError(p, 'csv');
      rmSync(p);
    }),
    { numRuns: 150 },
  );
});

test('a file bigger than one read chunk is streamed: 300k rows', async () => {
  const L = 60;
  const E = 5000;
  const lines = ['layer,expert,count'];
  for (let l = 0; l < L; l++) for (let e = 0; e < E; e++) lines.push(`${l},${e},${(l * 7 + e) % 13}`);
  const p = file(`${lines.join('\n')}\n`);
  const d = await readInput(p, { format: 'csv' });
  assert.equal(d.load.numLayers, L);
  assert.equal(d.load.numExperts, E);
  assert.equal(d.load.counts[59 * E + 4999], (59 * 7 + 4999) % 13);
});

test('maxBytes refuses a matrix that would not fit', async () => {
  const p = file('0,0,1\n0,60000,1\n1,60000,1\n');
  await assert.rejects(readInput(p, { format: 'csv', maxBytes: 100_000 }), (e) => e instanceof InputError && /memory/.test(e.message));
});

test('a CSV with a malformed row is still detected as csv, so the error names the line', async () => {
  const p = file('layer,expert,count\n0,0,1\n0,1,2\n0,2\n1,0,4\n');
  await assert.rejects(readInput(p), (e) => e instanceof InputError && e.where === 'line 4' && /^expected 3 fields, got 2/.test(e.message));
});
