import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gini } from './gini.ts';

test('gini of [1,2,3,6]: unordered |diffs| 1+2+5+1+4+3 = 16, ordered 32, / (2*4^2*3 = 96) = 1/3', () => {
  assert.ok(Math.abs(gini(Float64Array.of(6, 1, 3, 2)) - 1 / 3) < 1e-15);
});

test('gini of [0,0,5,5]: four (0,5) pairs x 5 = 20, ordered 40, / (2*16*2.5 = 80) = 0.5', () => {
  assert.equal(gini([0, 5, 0, 5]), 0.5);
});

test('gini is 0 when even, (n-1)/n when one expert takes all, 0 with no traffic', () => {
  assert.equal(gini([3, 3, 3]), 0);
  assert.ok(Math.abs(gini([0, 0, 0, 0, 10]) - 4 / 5) < 1e-15);
  assert.equal(gini(new Float64Array(4)), 0);
});

test('gini does not reorder its input', () => {
  const x = Float64Array.of(3, 1, 2);
  gini(x);
  assert.deepEqual(Array.from(x), [3, 1, 2]);
});
