import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coefficientOfVariation } from './coefficient-of-variation.ts';

test('cv of [1,2,3,6]: mean 3, deviations -2,-1,0,3, squares sum 14, var 14/4, cv sqrt(3.5)/3', () => {
  // sqrt(3.5) = 1.8708286933869707; / 3 = 0.6236095644623235
  assert.ok(Math.abs(coefficientOfVariation(Float64Array.of(1, 2, 3, 6)) - 0.6236095644623235) < 1e-15);
});

test('cv uses the population std: [0, 2] has std 1, mean 1 -> 1 (sample std would give sqrt 2)', () => {
  assert.equal(coefficientOfVariation([0, 2]), 1);
});

test('cv is 0 for an even vector and for an all-zero one', () => {
  assert.equal(coefficientOfVariation([4, 4, 4, 4]), 0);
  assert.equal(coefficientOfVariation(new Float64Array(3)), 0);
});
