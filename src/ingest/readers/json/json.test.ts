import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { readInput } from '../../readers.ts';
import { readsOrInputError } from '../fuzz-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-json-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

test('property: random [N][L][E] / [L][E] arrays, bare or under logical_count, read back window by window', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 8 }),
      fc.array(fc.nat({ max: 1e9 }), { minLength: 160, maxLength: 160 }),
      fc.boolean(),
      fc.boolean(),
      async (N, L, E, vals, threeD, wrapped) => {
        const W = threeD ? N : 1;
        const nested = Array.from({ length: W }, (_, w) => Array.from({ length: L }, (_, l) => vals.slice((w * L + l) * E, (w * L + l + 1) * E)));
        const body = threeD ? nested : nested[0];
        const p = join(dir, `p${n++}.json`);
        writeFileSync(p, JSON.stringify(wrapped ? { logical_count: body } : body, null, 1));
        const d = await readInput(p);
        assert.equal(d.format, 'json');
        assert.equal(d.load.numWindows, W);
        // Under logical_count rows are decoder layers: a row zero in every window is a dense layer
        // and is dropped; the rest keep their row index as layer id (SGLang expert_location.py).
        const all = Array.from({ length: L }, (_, l) => l);
        const live = all.filter((l) => !wrapped || nested.some((win) => win[l].some((v) => v > 0)));
        const kept = live.length > 0 ? live : all; // nothing recorded at all: every row kept
        assert.deepEqual(d.load.meta.layerIds, kept);
        assert.deepEqual(Array.from(d.load.counts), nested.flatMap((win) => kept.flatMap((l) => win[l])));
        rmSync(p);
      },
    ),
    { numRuns: 60 },
  );
});

test('property: arbitrary JSON values never fail with anything but InputError', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.jsonValue(), fc.record({ logical_count: fc.jsonValue() })), async (v) => {
      const p = join(dir, `g${n++}.json`);
      writeFileSync(p, JSON.stringify(v) ?? 'null');
      await readsOrInputError(p, 'json');
      rmSync(p);
    }),
    { numRuns: 200 },
  );
});

test('detect leaves plan and engine JSON to their own readers', async () => {
  const { READERS, probePath } = await import('../../readers.ts');
  const json = READERS.find((r) => r.name === 'json')!;
  for (const body of [
    { physical_to_logical_map: [[0, 1]] },
    { routed_experts: [[[1, 2]]] },
    { format: 'ballast-plan', version: 1, phy2log: [[0, 1]] },
    { record_type: 'eplb_load_stats', expert_load: [[1]] },
  ]) {
    const p = join(dir, `d${n++}.json`);
    writeFileSync(p, JSON.stringify(body));
    assert.equal(json.detect(probePath(p)), 0, JSON.stringify(body));
  }
});

test('maxBytes refuses JSON too large to parse in memory', async () => {
  const { InputError } = await import('../../../core/errors.ts');
  const p = join(dir, `big${n++}.json`);
  writeFileSync(p, JSON.stringify({ logical_count: [new Array(5000).fill(12345)] }));
  await assert.rejects(readInput(p, { maxBytes: 50_000 }), (e) => e instanceof InputError && /too large to parse/.test(e.message));
});
