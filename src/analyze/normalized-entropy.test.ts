import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizedEntropy } from './normalized-entropy.ts';

test('entropy of [0,0,5,5]: two shares of 1/2 -> H = ln 2, / ln 4 = 0.5 (zero loads add nothing)', () => {
  assert.equal(normalizedEntropy([0, 0, 5, 5]), 0.5);
});

test('entropy of [1,2,3,6]: shares 1/12,1/6,1/4,1/2', () => {
  // H = (1/12)ln12 + (1/6)ln6 + (1/4)ln4 + (1/2)ln2
  //   = 0.2070756 + 0.2986266 + 0.3465736 + 0.3465736 = 1.1988493129136213; / ln4 (1.3862943611198906)
  assert.ok(Math.abs(normalizedEntropy(Float64Array.of(1, 2, 3, 6)) - 0.8647869792568114) < 1e-14);
});

test('entropy is 1 when even, 0 when one expert takes all', () => {
  assert.ok(Math.abs(normalizedEntropy([7, 7, 7, 7, 7]) - 1) < 1e-15);
  assert.equal(normalizedEntropy([0, 9, 0]), 0);
});

test('entropy is defined as 1 for a single expert and for a layer with no traffic', () => {
  assert.equal(normalizedEntropy([42]), 1);
  assert.equal(normalizedEntropy(new Float64Array(8)), 1);
});
