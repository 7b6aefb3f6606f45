import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { InputError } from '../../../core/errors.ts';
import { readInput } from '../../readers.ts';
import { readsOrInputError } from '../fuzz-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-esft-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function writeDump(files: Record<string, string>): string {
  const d = join(dir, `d${n++}`);
  mkdirSync(d);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}

/**
 * Distinct k ids (k <= E) from a seed list (top-k never repeats an expert): the seed's candidates
 * first, then the smallest unused ids, so it ends even when the seed repeats itself mod E.
 */
function distinct(seed: number[], k: number, E: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < seed.length && out.length < k; i++) {
    const v = (seed[i] + i * 7) % E;
    if (!out.includes(v)) out.push(v);
  }
  for (let v = 0; out.length < k; v++) if (!out.includes(v)) out.push(v);
  return out;
}

test('property: random routes written as ESFT layer files read back exactly (ids, float32 weights, sequences)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), // tokens per sequence
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }), // layer ids (deduped)
      fc.integer({ min: 1, max: 4 }), // k
      fc.array(fc.nat({ max: 1000 }), { minLength: 8, maxLength: 8 }),
      async (seqLens, rawLayers, k, seed) => {
        const layerIds = [...new Set(rawLayers)].sort((a, b) => a - b);
        const E = 8;
        const T = seqLens.reduce((a, b) => a + b, 0);
        const L = layerIds.length;
        // ids[t][l][j], weights = (id + 1) / 16 (exact in float32)
        const ids: number[][][] = Array.from({ length: T }, (_, t) => layerIds.map((_, l) => distinct(seed.map((x) => x + t * 31 + l * 3), k, E)));
        const files: Record<string, string> = {};
        layerIds.forEach((lid, l) => {
          let t = 0;
          const lines: string[] = [];
          for (const len of seqLens) {
            const tok = ids.slice(t, t + len).map((x) => x[l]).flat();
            lines.push(`${tok.join('\t')}\t\t${tok.map((v) => (v + 1) / 16).join('\t')}`);
            t += len;
          }
          files[`expert_weights_${lid}.txt`] = `${lines.join('\n')}\n`;
        });
        const d = await readInput(writeDump(files), { topK: k, numExperts: E });
        assert.equal(d.format, 'esft');
        const r = d.routes!;
        assert.equal(r.numTokens, T);
        assert.equal(r.topK, k);
        assert.deepEqual(r.meta.layerIds, layerIds);
        assert.deepEqual(Array.from(r.experts), ids.flat(2));
        assert.deepEqual(Array.from(r.weights!), ids.flat(2).map((v) => (v + 1) / 16));
        const starts = [0];
        for (const len of seqLens) starts.push(starts[starts.length - 1] + len);
        assert.deepEqual(Array.from(r.seqStarts), starts);
      },
    ),
    { numRuns: 50 },
  );
});

test('k is inferred as the largest divisor with distinct ids per token', async () => {
  // gcd of id counts is 6; groups of 6 repeat expert 1, groups of 3 do not -> k = 3.
  const p = writeDump({ 'expert_weights_1.txt': '1\t2\t3\t1\t4\t5\t\t.1\t.1\t.1\t.1\t.1\t.1\n' });
  const d = await readInput(p);
  assert.equal(d.routes!.topK, 3);
  assert.equal(d.routes!.numTokens, 2);
});

test('numExperts widens E; an id at or above it is an error naming the line', async () => {
  const p = writeDump({ 'expert_weights_1.txt': '0\t1\t\t.5\t.5\n2\t3\t\t.5\t.5\n' });
  const d = await readInput(p, { numExperts: 64 });
  assert.equal(d.load.numExperts, 64);
  await assert.rejects(readInput(p, { numExperts: 3 }), (e) => e instanceof InputError && e.where === 'line 2' && /expert id 3 >= 3 experts/.test(e.message));
});

test('an id count that is not a multiple of the given k is an error naming the line', async () => {
  const p = writeDump({ 'expert_weights_1.txt': '0\t1\t\t.5\t.5\n2\t3\t4\t\t.5\t.5\t.1\n' });
  await assert.rejects(readInput(p, { topK: 2 }), (e) => e instanceof InputError && e.where === 'line 2' && /3 expert ids is not a multiple of k=2/.test(e.message));
});

test('property: mangled layer files never fail with anything but InputError', async () => {
  const good = '0\t1\t2\t3\t\t0.5\t0.25\t0.5\t0.125\n1\t3\t\t0.75\t0.25\n';
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: good.length - 1 }), fc.string({ unit: fc.constantFrom('\t', '\n', '1', '9', '.', 'x', '-', ''), maxLength: 3 }), async (i, s) => {
      const p = writeDump({ 'expert_weights_1.txt': good, 'expert_weights_2.txt': good.slice(0, i) + s + good.slice(i + 1) });
      await readsOrInputError(p, 'esft');
    }),
    { numRuns: 200 },
  );
});
