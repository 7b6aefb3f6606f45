import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureInfo, captureLabel } from './capture-info.ts';

test('capture info comes from the META extra keys the collector writes, and only from them', () => {
  const meta = { layerIds: [1], sources: [], extra: { capturePath: 'vllm-capture-fn', engine: 'vllm', engineVersion: '0.11.0' } };
  assert.deepEqual(captureInfo(meta), { path: 'vllm-capture-fn', engine: 'vllm', engineVersion: '0.11.0' });
  assert.equal(captureLabel(captureInfo(meta)!), 'vllm-capture-fn (vllm 0.11.0)');
  assert.equal(captureLabel({ path: 'router-hook' }), 'router-hook');
  assert.equal(captureInfo({ layerIds: [1], sources: [] }), undefined);
  assert.equal(captureInfo({ layerIds: [1], sources: [], extra: { capturePath: 3 } }), undefined);
});
