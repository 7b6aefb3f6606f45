import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEMO_OUT, demoRoutes } from '../../../../scripts/make-demo-data.ts';
import { readBallastTrace } from '../../ballast/reader.ts';

test('shipped data/demo/esft-law.ballast equals a fresh conversion of the raw law dump', async () => {
  const fresh = await demoRoutes();
  const shipped = readBallastTrace(DEMO_OUT, { warn: () => {} });
  assert.ok(shipped.complete, 'shipped file ends with an END record');
  const r = shipped.routes!;
  assert.equal(r.numTokens, 8327);
  assert.equal(r.seqStarts.length - 1, 33);
  assert.equal(r.numLayers, 26);
  assert.equal(r.numExperts, 64);
  assert.equal(r.topK, 6);
  assert.deepEqual(r.experts, fresh.experts);
  assert.deepEqual(r.weights, fresh.weights);
  assert.deepEqual(r.seqStarts, fresh.seqStarts);
  for (const k of ['model', 'layerIds', 'topK', 'phase', 'attribution'] as const) {
    assert.deepEqual(r.meta[k], fresh.meta[k], `meta.${k}`);
  }
  // The ballast reader names the .ballast file as the source and keeps the recorded ones in extra.
  const { originalSources, ...extra } = r.meta.extra ?? {};
  assert.deepEqual(extra, fresh.meta.extra);
  assert.deepEqual(originalSources, fresh.meta.sources);
  assert.match(r.meta.attribution!, /deepseek-ai\/ESFT.*579a7711e4b332b4c57b47e378a0cf240d85caa6.*MIT.*Copyright \(c\) 2023 DeepSeek/);
});
