import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadToCsv, loadToJson, loadToNpy } from '../act/export/load-exports.ts';
import { defaultPlan } from '../core/default-placements.ts';
import { InputError } from '../core/errors.ts';
import { makeLoadTrace } from '../core/load-trace.ts';
import { readInput } from '../ingest/readers.ts';
import { getSolver } from '../plan/solvers/index.ts';
import { defaultCluster } from './cluster-spec.ts';
import { loadModelConfig } from './model-config.ts';
import { gatePlan } from './plan-gate.ts';
import { simulate } from './simulate.ts';
import { resolveTopK } from './top-k.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

test('resolveTopK: routes, then trace metadata, then the model; none: one line asking for --model', () => {
  const load = makeLoadTrace({ layerIds: [0], sources: [] }, 1, 4, new Float64Array(4));
  const model = loadModelConfig('DeepSeek-V2-Lite'); // config.json num_experts_per_tok = 6
  assert.deepEqual(resolveTopK({ load, model }), { topK: 6, source: 'model preset DeepSeek-V2-Lite: num_experts_per_tok' });
  const withMeta = makeLoadTrace({ layerIds: [0], sources: [], topK: 2 }, 1, 4, new Float64Array(4));
  assert.equal(resolveTopK({ load: withMeta, model }).source, 'trace metadata');
  assert.equal(resolveTopK({ load: withMeta, model }).topK, 2);
  assert.throws(() => resolveTopK({ load, path: 'x.npy' }), (e: unknown) => e instanceof InputError && /no top-k .*pass --model/.test(e.message) && !e.message.includes('\n'));
});

test('done-when: the law trace as npy, CSV, JSON and as token routes, all with DeepSeek-V2-Lite: top-6, GPUs per token within 10%, same verdict', async () => {
  const routes = await readInput(join(ROOT, 'data/esft-dsv2lite/raw/law.tgz'));
  assert.equal(routes.routes?.topK, 6);
  const dir = mkdtempSync(join(tmpdir(), 'ballast-topk-'));
  const npy = join(dir, 'law.npy');
  writeFileSync(npy, loadToNpy(routes.load));
  const csv = join(dir, 'law.csv');
  writeFileSync(csv, loadToCsv(routes.load));
  const json = join(dir, 'law.json');
  writeFileSync(json, loadToJson(routes.load, { numHiddenLayers: 27, source: 'DeepSeek-V2-Lite config.json', inferred: false }));
  const model = loadModelConfig('DeepSeek-V2-Lite');
  const cluster = defaultCluster(8);
  const base = { model, cluster, redundant: 0, policies: ['linear', 'ballast'], batchTokens: 512, inSample: true, window: 1, interval: 1, periodicSolver: 'deepseek', oracleSolver: 'ballast', threads: 1 };
  const sim = await simulate({ ...base, trace: { path: 'law.tgz', load: routes.load, routes: routes.routes } });
  assert.equal(sim.shape.topK, 6);
  assert.equal(sim.shape.topKSource, 'token routes');
  const truth = sim.policies[0].distinctRanksPerToken;
  const L = routes.load.numLayers;
  const E = routes.load.numExperts;
  const solveInput = { load: routes.load.counts, numLayers: L, numExperts: E, layerIds: routes.load.meta.layerIds, numRanks: 8, numNodes: 1, numGroups: 1, redundantSlots: 0 };
  const current = defaultPlan('linear', L, E, 8, routes.load.meta.layerIds, 8);
  const gateOf = async (d: { load: typeof routes.load; routes?: typeof routes.routes }) =>
    gatePlan({ load: d.load, routes: d.routes, solveInput: { ...solveInput, load: d.routes ? routes.load.counts : d.load.counts }, solver: getSolver('ballast'), current, currentName: 'linear', model, cluster, batchTokens: 512 });
  const want = await gateOf(routes);
  assert.equal(want.topK, 6);
  for (const path of [npy, csv, json]) {
    const d = await readInput(path);
    assert.equal(d.routes, undefined, `${path} is count-only`);
    assert.equal(d.load.meta.topK, undefined, `${path} carries no top-k`);
    const s = await simulate({ ...base, trace: { path, load: d.load } });
    assert.equal(s.shape.topK, 6, path);
    assert.match(s.shape.topKSource, /DeepSeek-V2-Lite/);
    const got = s.policies[0].distinctRanksPerToken;
    assert.ok(Math.abs(got - truth) / truth < 0.1, `${path}: ${got} GPUs per token vs ${truth} from routes`);
    const g = await gateOf(d);
    assert.equal(g.topK, 6);
    assert.equal(g.verdict, want.verdict, `${path}: gate ${g.verdict} vs ${want.verdict} on routes`);
  }
});
