import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { totalCounts } from '../../../core/load-trace.ts';
import { readInput } from '../../readers.ts';
import { readsOrInputError } from '../fuzz-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-npy-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/**
 * Build a .npy by the format's definition (independent of the exporter): version v, dtype code
 * ('f4','f8','i4','i8'), byte order, C or Fortran order; header padded so data starts at a multiple of 16.
 */
function npy(vals: number[], L: number, E: number, v: 1 | 2 | 3, code: string, big: boolean, fortran: boolean): Uint8Array {
  const header0 = `{'descr': '${big ? '>' : '<'}${code}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${L}, ${E}), }`;
  const pre = v === 1 ? 10 : 12;
  const padded = header0 + ' '.repeat((16 - ((pre + header0.length + 1) % 16)) % 16) + '\n';
  const size = Number(code[1]);
  const out = new Uint8Array(pre + padded.length + L * E * size);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, v, 0]);
  const dv = new DataView(out.buffer);
  if (v === 1) dv.setUint16(8, padded.length, true);
  else dv.setUint32(8, padded.length, true);
  for (let i = 0; i < padded.length; i++) out[pre + i] = padded.charCodeAt(i);
  const base = pre + padded.length;
  for (let l = 0; l < L; l++) {
    for (let e = 0; e < E; e++) {
      const off = base + (fortran ? e * L + l : l * E + e) * size;
      const x = vals[l * E + e];
      if (code === 'f4') dv.setFloat32(off, x, !big);
      else if (code === 'f8') dv.setFloat64(off, x, !big);
      else if (code === 'i4') dv.setInt32(off, x, !big);
      else dv.setBigInt64(off, BigInt(x), !big);
    }
  }
  return out;
}

test('property: random [L][E] matrices in every version, dtype, byte order and memory order read back exactly', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 1, max: 9 }),
      fc.array(fc.nat({ max: 1 << 24 }), { minLength: 63, maxLength: 63 }),
      fc.constantFrom(1 as const, 2 as const, 3 as const),
      fc.constantFrom('f4', 'f8', 'i4', 'i8'),
      fc.boolean(),
      fc.boolean(),
      async (L, E, vals, v, code, big, fortran) => {
        const want = vals.slice(0, L * E);
        const p = join(dir, `p${n++}.npy`);
        writeFileSync(p, npy(want, L, E, v, code, big, fortran));
        const d = await readInput(p);
        assert.equal(d.format, 'npy');
        assert.equal(d.load.numLayers, L);
        assert.equal(d.load.numExperts, E);
        assert.deepEqual(Array.from(totalCounts(d.load)), want);
        rmSync(p);
      },
    ),
    { numRuns: 80 },
  );
});

test('property: truncated, corrupted or random files never fail with anything but InputError', async () => {
  const good = npy([1, 2, 3, 4, 5, 6], 2, 3, 1, 'i8', false, false);
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.nat({ max: good.length - 1 }).map((cut) => good.slice(0, cut)),
        fc.tuple(fc.nat({ max: good.length - 1 }), fc.nat({ max: 255 })).map(([i, b]) => {
          const c = good.slice();
          c[i] = b;
          return c;
        }),
        fc.uint8Array({ maxLength: 300 }).map((r) => Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, ...r])),
      ),
      async (bytes) => {
        const p = join(dir, `g${n++}.npy`);
        writeFileSync(p, bytes);
        await readsOrInputError(p, 'npy');
        rmSync(p);
      },
    ),
    { numRuns: 300 },
  );
});

test('maxBytes refuses an array before reading its data', async () => {
  const p = join(dir, `big${n++}.npy`);
  writeFileSync(p, npy(new Array(60 * 256).fill(1), 60, 256, 1, 'i8', false, false));
  const { InputError } = await import('../../../core/errors.ts');
  await assert.rejects(readInput(p, { maxBytes: 100_000 }), (e) => e instanceof InputError && /needs \d+ bytes in memory/.test(e.message));
  const ok = await readInput(p, { maxBytes: 1_000_000 });
  assert.equal(ok.load.numExperts, 256);
});
