import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { makeLoadTrace, totalCounts } from '../../core/load-trace.ts';
import { readInput } from '../../ingest/readers.ts';
import { runExport } from '../../cli/commands/export.ts';
import { loadToCsv, loadToJson, writeLoadExport } from './load-exports.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-load-exports-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const LAW = 'data/esft-dsv2lite/raw/law.tgz';
const lawCounts = (JSON.parse(readFileSync('data/esft-dsv2lite/load_counts.json', 'utf8')) as { tasks: { law: { counts: number[][] } } }).tasks.law.counts;
const quiet = { warn: () => {} };

// Hand-made trace: 2 windows x 2 layers (ids 4, 9) x 3 experts.
const toy = makeLoadTrace(
  { layerIds: [4, 9], sources: [{ path: 'toy', format: 'test' }] },
  2,
  3,
  Float64Array.from([1, 0, 2, 3, 4, 0, /* window 2 */ 10, 20, 30, 0, 0, 5]),
  [{ step: 1 }, { step: 2 }],
);

test('csv export: header, model-level layer ids, counts summed over windows', () => {
  assert.equal(loadToCsv(toy), 'layer,expert,count\n4,0,11\n4,1,20\n4,2,32\n9,0,3\n9,1,4\n9,2,5\n');
});

test('json export: logical_count [N][E] summed over windows, row l = decoder layer l, dense rows zero', () => {
  const z = [0, 0, 0];
  assert.deepEqual(JSON.parse(loadToJson(toy, { numHiddenLayers: 11, source: 'test', inferred: false })), {
    logical_count: [z, z, z, z, [11, 20, 32], z, z, z, z, [3, 4, 5], z],
  });
});

test('npy export is read by NumPy as int64 [L][E], float64 when counts are fractional', (t) => {
  const py = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (py.status !== 0) {
    t.skip('python3-numpy not installed');
    return;
  }
  const a = join(dir, 'toy.npy');
  writeLoadExport({ load: toy }, 'npy', a);
  const frac = makeLoadTrace({ layerIds: [0], sources: [] }, 1, 2, Float64Array.from([0.5, 2]));
  const b = join(dir, 'frac.npy');
  writeLoadExport({ load: frac }, 'npy', b);
  const r = spawnSync('/usr/bin/python3', ['-c', `import numpy as np, json
a = np.load(${JSON.stringify(a)}); b = np.load(${JSON.stringify(b)})
print(json.dumps([str(a.dtype), list(a.shape), a.tolist(), str(b.dtype), b.tolist()]))`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), ['int64', [2, 3], [[11, 20, 32], [3, 4, 5]], 'float64', [[0.5, 2]]]);
});

test('parquet export: long form of every window, read back with hyparquet', async () => {
  const p = join(dir, 'toy.parquet');
  writeLoadExport({ load: toy }, 'parquet', p);
  const buf = readFileSync(p);
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const rows = await parquetReadObjects({ file });
  assert.equal(rows.length, 12);
  assert.deepEqual(rows[0], { window: 0, layer: 4, expert: 0, count: 1 });
  assert.deepEqual(rows[5], { window: 0, layer: 9, expert: 2, count: 0 });
  assert.deepEqual(rows[8], { window: 1, layer: 4, expert: 2, count: 30 });
  assert.deepEqual(rows[11], { window: 1, layer: 9, expert: 2, count: 5 });
  const kv = parquetMetadata(file).key_value_metadata?.find((x) => x.key === 'ballast.meta');
  assert.deepEqual(JSON.parse(kv!.value!).layerIds, [4, 9]);
});

test('ESFT law exported to csv/npy/json reads back to the load_counts.json matrix', async () => {
  const d = await readInput(LAW, quiet);
  for (const to of ['csv', 'npy', 'json'] as const) {
    const p = join(dir, `law.${to}`);
    writeLoadExport(d, to, p);
    const back = await readInput(p, quiet);
    assert.equal(back.format, to);
    assert.deepEqual(Array.from(totalCounts(back.load)), lawCounts.flat(), to);
  }
  // csv keeps the model-level layer ids 1..26
  const csv = await readInput(join(dir, 'law.csv'), quiet);
  assert.deepEqual(csv.load.meta.layerIds, Array.from({ length: 26 }, (_, i) => i + 1));
});

test('ballast export keeps routes and weights of the ESFT input', async () => {
  const d = await readInput(LAW, quiet);
  const p = join(dir, 'law.ballast');
  const msg = await runExport(LAW, { to: 'ballast', out: p });
  assert.match(msg, /8327 tokens of routes/);
  const back = await readInput(p, quiet);
  assert.equal(back.format, 'ballast');
  assert.ok(back.routes);
  assert.deepEqual(back.routes.experts, d.routes!.experts);
  assert.deepEqual(back.routes.weights, d.routes!.weights);
  assert.deepEqual(back.routes.seqStarts, d.routes!.seqStarts);
  assert.deepEqual(Array.from(totalCounts(back.load)), lawCounts.flat());
});

test('ballast export of a load-only input keeps every window', async () => {
  const p = join(dir, 'toy.ballast');
  writeLoadExport({ load: toy }, 'ballast', p);
  const back = await readInput(p, quiet);
  assert.equal(back.load.numWindows, 2);
  assert.deepEqual(Array.from(back.load.counts), Array.from(toy.counts));
  assert.deepEqual(back.load.meta.layerIds, [4, 9]);
});

test('property: random integer [W][L][E] traces round-trip through every load form', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 9 }),
      fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { minLength: 3 * 5 * 9, maxLength: 3 * 5 * 9 }),
      async (W, L, E, vals) => {
        const counts = Float64Array.from(vals.slice(0, W * L * E));
        const t = makeLoadTrace({ layerIds: Array.from({ length: L }, (_, i) => 2 * i + 1), sources: [] }, L, E, counts);
        const want = Array.from(totalCounts(t));
        for (const to of ['csv', 'npy', 'json', 'ballast'] as const) {
          const p = join(dir, `prop${n++}.${to}`);
          writeLoadExport({ load: t }, to, p);
          const back = await readInput(p, quiet);
          assert.equal(back.format, to);
          if (to === 'json') {
            // json rows are decoder layers 0..2L-1 (ids 1, 3, ...; even rows dense, zero); the reader
            // drops all-zero rows and keeps row indices as ids, so compare layer by layer id.
            const tot = totalCounts(back.load);
            const byId = new Map(back.load.meta.layerIds.map((id, i) => [id, Array.from(tot.subarray(i * E, (i + 1) * E))]));
            t.meta.layerIds.forEach((id, l) => {
              const row = want.slice(l * E, (l + 1) * E);
              assert.deepEqual(byId.get(id) ?? new Array(E).fill(0), row, `json layer ${id}`);
            });
            for (const id of byId.keys()) assert.ok(t.meta.layerIds.includes(id) || byId.get(id)!.every((v) => v === 0), `json row ${id}`);
          } else assert.deepEqual(Array.from(totalCounts(back.load)), want, to);
          rmSync(p);
        }
      },
    ),
    { numRuns: 40 },
  );
});

test('ballast export CLI: unknown --to is an InputError naming the flag', async () => {
  await assert.rejects(runExport(LAW, { to: 'xlsx', out: join(dir, 'x') }), (e: Error & { file?: string }) => e.name === 'InputError' && e.file === '--to');
});

test('ballast export keeps load windows recorded beside routes', async () => {
  const { makeTokenRoutes } = await import('../../core/token-routes.ts');
  const meta = { layerIds: [0], topK: 1, sources: [] };
  const routes = makeTokenRoutes({ meta, numLayers: 1, numExperts: 2, topK: 1, experts: Uint8Array.from([0, 1, 1]) });
  const load = makeLoadTrace(meta, 1, 2, Float64Array.from([100, 7, 3, 9]), [{ step: 5 }, { step: 6 }]);
  const p = join(dir, 'both.ballast');
  writeLoadExport({ load, routes }, 'ballast', p);
  const back = await readInput(p, quiet);
  assert.deepEqual(Array.from(back.load.counts), [100, 7, 3, 9]);
  assert.deepEqual(Array.from(back.routes!.experts), [0, 1, 1]);
});
