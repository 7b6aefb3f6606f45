import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { readInput } from '../../readers.ts';
import { readsOrInputError } from '../fuzz-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-vllm-jsonl-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

test('property: logical loads split at random over replica slots fold back to the logical loads', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }), // steps
      fc.integer({ min: 1, max: 3 }), // layers
      fc.integer({ min: 1, max: 6 }), // logical experts
      fc.integer({ min: 0, max: 4 }), // redundant slots
      fc.array(fc.nat({ max: 1e6 }), { minLength: 4 * 3 * 6, maxLength: 4 * 3 * 6 }),
      fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
      fc.boolean(),
      async (S, L, E, R, logical, rnd, withMeta) => {
        let r = 0;
        const next = () => rnd[r++ % rnd.length] + r;
        const P = E + R;
        // Per layer: slots 0..E-1 hold experts 0..E-1 in a rotated order, the R extra slots replicate random experts.
        const p2l = Array.from({ length: L }, (_, l) => [...Array.from({ length: E }, (_, i) => (i + l) % E), ...Array.from({ length: R }, () => next() % E)]);
        const recs: unknown[] = [];
        if (withMeta) recs.push({ record_type: 'eplb_load_meta', version: 1, model: 'm', num_ranks: 1, num_layers: L, num_redundant_experts: R });
        const want: number[] = [];
        for (let s = 0; s < S; s++) {
          const load = p2l.map(() => new Array<number>(P).fill(0));
          for (let l = 0; l < L; l++) {
            for (let e = 0; e < E; e++) {
              const total = logical[(s * L + l) * E + e];
              want.push(total);
              const slots = p2l[l].flatMap((x, p) => (x === e ? [p] : []));
              let left = total;
              for (let i = 0; i < slots.length - 1; i++) {
                const part = left === 0 ? 0 : next() % (left + 1);
                load[l][slots[i]] += part;
                left -= part;
              }
              load[l][slots[slots.length - 1]] += left;
            }
          }
          recs.push({ record_type: 'eplb_load_stats', version: 1, step: 10 * s, expert_load: load, p2l_map: p2l });
        }
        const p = join(dir, `p${n++}.jsonl`);
        writeFileSync(p, recs.map((x) => JSON.stringify(x)).join('\n'));
        const d = await readInput(p);
        assert.equal(d.format, 'vllm-jsonl');
        assert.equal(d.load.numExperts, E);
        assert.deepEqual(d.load.windows.map((w) => w.step), Array.from({ length: S }, (_, s) => 10 * s));
        assert.deepEqual(Array.from(d.load.counts), want);
        rmSync(p);
      },
    ),
    { numRuns: 60 },
  );
});

test('property: mangled lines never fail with anything but InputError', async () => {
  const good = `{"record_type":"eplb_load_meta","version":1,"num_layers":1,"num_redundant_experts":1}\n{"record_type":"eplb_load_stats","version":1,"step":3,"expert_load":[[1,2,3]],"p2l_map":[[0,1,0]]}\n`;
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: good.length - 1 }), fc.string({ maxLength: 4 }), async (i, s) => {
      const p = join(dir, `g${n++}.jsonl`);
      writeFileSync(p, good.slice(0, i) + s + good.slice(i + 1));
      await readsOrInputError(p, 'vllm-jsonl');
      rmSync(p);
    }),
    { numRuns: 300 },
  );
});
