import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultCluster, resolveCluster } from '../../cluster-spec.ts';
import { parseClusterJson } from '../../../plan/cluster/cluster-json.ts';
import { zipfRoutes } from '../../synthetic.ts';
import { assertMultiEqualsReference, threePlans } from './reference-check.ts';

// The bit-sliced counters (commFromMasks1: one same-node link kind; commFromMasks: two kinds on one
// node) inside the multi kernel === the reference.
const routes = zipfRoutes({ tokens: 2200, layers: 2, experts: 64, topK: 6, s: 1.0, seed: 3 });
const batches: Array<[number, number]> = [[100, 600], [600, 1700], [1700, 1703]];

test('commFromMasks1 === reference: one node of 4, two nodes of 4 (one same-node kind, not 8-GPU nodes)', async () => {
  const two = parseClusterJson({ name: '2x4', nodes: 2, gpusPerNode: 4, gpu: 'H100-SXM', links: { intraNode: { kind: 'nvlink', GBs: 450 }, interNode: { kind: 'network', GBs: 50 } } }, 'test');
  for (const cluster of [defaultCluster(4), two]) {
    await assertMultiEqualsReference({
      routes, cluster, plans: await threePlans(routes, cluster, cluster.gpus.length), batches, i0: 100,
      check: (sc) => assert.ok(!sc.node8 && sc.kindList.length <= 1, `${cluster.name} takes commFromMasks1`),
    });
  }
});

test('commFromMasks === reference: one node with two same-node link kinds (PCIe switch + cross-socket)', async () => {
  for (const spec of ['8xH100-PCIe-2socket', '4xA100-PCIe']) {
    const cluster = await resolveCluster(spec);
    await assertMultiEqualsReference({
      routes, cluster, plans: await threePlans(routes, cluster, cluster.gpus.length), batches, i0: 100,
      check: (sc) => assert.ok(!sc.node8 && sc.kindList.length === 2 && cluster.numNodes === 1, `${spec} takes commFromMasks`),
    });
  }
});
