import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultCluster } from '../../cluster-spec.ts';
import { zipfRoutes } from '../../synthetic.ts';
import { assertMultiEqualsReference, skewedRoutes, threePlans } from './reference-check.ts';

// scoreRoutesBatchMulti (with its gather.ts, masks.ts, replicas.ts and finish-counts.ts parts) against
// the reference scorer. Three plans with k = 8 and Uint8 ids take the fused "direct" mask pass; two
// plans take masksMod8Two; k != 8 takes masksMod8 / masksSingle; Uint16 ids take gatherLayers16.

test('multi === reference: three plans, k = 8, Uint8 ids (direct fused pass), uneven and long batches', async () => {
  const routes = zipfRoutes({ tokens: 3000, layers: 2, experts: 96, topK: 8, s: 1.0, seed: 5 });
  const cluster = defaultCluster(16);
  const plans = await threePlans(routes, cluster, 48);
  await assertMultiEqualsReference({ routes, cluster, plans, batches: [[7, 519], [519, 556], [556, 1856], [2000, 2001]], i0: 3 });
});

test('multi === reference: two plans (masksMod8Two), one plan, overlap on', async () => {
  const routes = zipfRoutes({ tokens: 1500, layers: 9, experts: 64, topK: 8, s: 1.0, seed: 11 });
  const cluster = defaultCluster(8);
  const plans = await threePlans(routes, cluster, 24);
  await assertMultiEqualsReference({ routes, cluster, plans: plans.slice(1), batches: [[0, 512], [512, 1500]], i0: 0, overrides: { overlap: 1 } });
  await assertMultiEqualsReference({ routes, cluster, plans: plans.slice(2), batches: [[3, 700]], i0: 1 });
});

test('multi === reference: Uint16 ids (E = 320), top-6 (masksMod8 / masksSingle, gatherLayers16)', async () => {
  const routes = skewedRoutes(1200, 2, 320, 6, 9);
  assert.ok(routes.experts instanceof Uint16Array);
  const cluster = defaultCluster(32);
  await assertMultiEqualsReference({ routes, cluster, plans: await threePlans(routes, cluster, 96), batches: [[0, 512], [512, 1100]], i0: 0 });
});
