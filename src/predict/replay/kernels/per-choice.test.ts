import { test } from 'node:test';
import { defaultCluster, resolveCluster } from '../../cluster-spec.ts';
import { zipfRoutes } from '../../synthetic.ts';
import { assertMultiEqualsReference, threePlans } from './reference-check.ts';

// scoreRoutesBatchMultiPerChoice (low-latency kernels: a copy per token-expert choice) === reference.
test('per-choice kernel === reference with lowLatency = 1 (single node, PCIe node, multi-node)', async () => {
  const routes = zipfRoutes({ tokens: 1800, layers: 3, experts: 64, topK: 6, s: 1.0, seed: 3 });
  for (const cluster of [defaultCluster(8), await resolveCluster('8xH100-PCIe-2socket'), defaultCluster(32)]) {
    await assertMultiEqualsReference({ routes, cluster, plans: await threePlans(routes, cluster, cluster.gpus.length), batches: [[100, 600], [600, 1700]], i0: 100, overrides: { lowLatency: 1 } });
  }
});
