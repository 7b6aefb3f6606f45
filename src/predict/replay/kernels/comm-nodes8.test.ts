import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultCluster } from '../../cluster-spec.ts';
import { zipfRoutes } from '../../synthetic.ts';
import { assertMultiEqualsReference, threePlans } from './reference-check.ts';

// commFromMasksNodes8 (byte lanes per node of 8 GPUs) inside the multi kernel === the reference.
test('commFromMasksNodes8 === reference on 1-4 nodes of 8 (batches shorter than G, runs over 31 tokens)', async () => {
  const routes = zipfRoutes({ tokens: 2600, layers: 2, experts: 96, topK: 8, s: 1.0, seed: 5 });
  for (const G of [8, 16, 24, 32]) {
    const cluster = defaultCluster(G);
    await assertMultiEqualsReference({
      routes, cluster, plans: await threePlans(routes, cluster, 3 * G), batches: [[7, 519], [519, 556], [556, 1856], [2000, 2001]], i0: 3,
      overrides: { overlap: G === 32 ? 1 : 0 },
      check: (sc) => assert.equal(sc.node8, true, `G=${G} takes the byte-lane counter`),
    });
  }
});
