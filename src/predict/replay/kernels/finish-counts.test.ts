import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultCluster } from '../../cluster-spec.ts';
import { buildCostModel, NUM_LINK_KINDS } from '../../cost-model.ts';
import { loadModelConfig } from '../../model-config.ts';
import { compilePlan } from '../../plan-tables.ts';
import { mulberry32 } from '../../../core/random.ts';
import { finishBatch } from '../reference.ts';
import { ReplayScratch } from '../scratch.ts';
import { newSeries } from '../series.ts';
import { SERIES_NAMES, skewedRoutes, threePlans } from './reference-check.ts';
import { finishBatchCounts } from './finish-counts.ts';

// finishBatchCounts (Int32 counts, fused per-layer pass) === finishBatch (the reference reduction with
// layerComputeUs / commPhaseUs) on random integer slot and copy counts, including zero slots.
test('finishBatchCounts === finishBatch on random integer counts (overlap on/off, 8 and 16 ranks)', async () => {
  const rnd = mulberry32(21);
  const routes = skewedRoutes(200, 3, 48, 4, 2);
  for (const G of [8, 16]) {
    const cluster = defaultCluster(G);
    const plans = await threePlans(routes, cluster, G);
    for (const overlap of [0, 1]) {
      const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster, overrides: { overlap } });
      for (const plan of plans) {
        const tables = compilePlan(plan);
        const L = tables.numLayers;
        const n = L * G * NUM_LINK_KINDS;
        const slot = Int32Array.from({ length: tables.totalSlots }, () => (rnd() < 0.3 ? 0 : Math.floor(rnd() * 200)));
        const send = Int32Array.from({ length: n }, () => Math.floor(rnd() * 500));
        const recv = Int32Array.from({ length: n }, () => Math.floor(rnd() * 500));
        const fast = newSeries(1);
        const ref = newSeries(1);
        finishBatchCounts(new ReplayScratch(cm), tables, slot, send, recv, 123.5, fast, 0);
        const sc = new ReplayScratch(cm);
        sc.ensure(tables.totalSlots, L);
        sc.slotCount.set(slot);
        sc.send.set(send);
        sc.recv.set(recv);
        finishBatch(sc, tables, 123.5, ref, 0);
        for (const name of SERIES_NAMES) {
          if (name === 'distinctRanks' || name === 'distinctNodes') continue;
          assert.equal(fast[name][0], ref[name][0], `G=${G} overlap=${overlap} ${name}`);
        }
      }
    }
  }
});
