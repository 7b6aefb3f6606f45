import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterJson } from '../../../plan/cluster/cluster-json.ts';
import { zipfRoutes } from '../../synthetic.ts';
import { assertMultiEqualsReference, threePlans } from './reference-check.ts';

// commFromMasksLoop (a loop over destination bits; any mix of same-node kinds across nodes) === reference.
test('commFromMasksLoop === reference: two PCIe nodes with two same-node kinds each', async () => {
  const routes = zipfRoutes({ tokens: 1600, layers: 2, experts: 64, topK: 6, s: 1.0, seed: 4 });
  const cluster = parseClusterJson({
    name: '2x8-pcie', nodes: 2, gpusPerNode: 8, gpu: 'H100-PCIe', numaPerNode: 2,
    links: { intraNode: { kind: 'pcie-switch', GBs: 50 }, crossSocket: { kind: 'pcie-cross-socket', GBs: 40 }, interNode: { kind: 'network', GBs: 50 } },
  }, 'test');
  await assertMultiEqualsReference({
    routes, cluster, plans: await threePlans(routes, cluster, 16), batches: [[0, 500], [500, 1600]], i0: 0,
    check: (sc) => assert.ok(!sc.node8 && sc.kindList.length === 2 && cluster.numNodes === 2, 'takes commFromMasksLoop'),
  });
});
