import assert from 'node:assert/strict';
import { test } from 'node:test';
import { concatWindows } from './concat-windows.ts';
import { makeLoadTrace } from './load-trace.ts';

test('two loads with different layers and experts: union of layer ids, missing cells 0, windows in order', () => {
  // a: 1 window, layers [1, 3], 2 experts; b: 2 windows, layer [3], 3 experts
  const a = makeLoadTrace({ layerIds: [1, 3], sources: [] }, 2, 2, Float64Array.from([1, 2, 3, 4]), [{ step: 7 }]);
  const b = makeLoadTrace({ layerIds: [3], sources: [] }, 1, 3, Float64Array.from([5, 6, 7, 8, 9, 10]), [{ step: 0 }, { step: 1 }]);
  const c = concatWindows([a, b], (_ld, _w, f, g) => ({ rank: f, step: g }));
  assert.deepEqual(c.layerIds, [1, 3]);
  assert.equal(c.numExperts, 3);
  // window 0 (a): layer 1 = [1,2,0], layer 3 = [3,4,0]; windows 1-2 (b): layer 1 empty, layer 3 = b's rows
  assert.deepEqual(Array.from(c.counts), [1, 2, 0, 3, 4, 0, 0, 0, 0, 5, 6, 7, 0, 0, 0, 8, 9, 10]);
  assert.deepEqual(c.windows, [{ rank: 0, step: 0 }, { rank: 1, step: 1 }, { rank: 1, step: 2 }]);
});
