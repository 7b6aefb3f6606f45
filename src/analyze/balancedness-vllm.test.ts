import assert from 'node:assert/strict';
import { test } from 'node:test';
import { balancednessVllm } from './balancedness-vllm.ts';

test('vLLM balancedness of layers [3,9] and [4,4]: (6 + 4) / (9 + 4) = 10/13', () => {
  assert.equal(balancednessVllm(Float64Array.of(3, 9, 4, 4), 2), 10 / 13);
});

test('heavier layers weigh more: [0,100] and [1,1] -> (50 + 1) / (100 + 1) = 51/101', () => {
  assert.equal(balancednessVllm(Float64Array.of(0, 100, 1, 1), 2), 51 / 101);
});

test('1 when even, 1/G when one rank takes all, 1 with no traffic', () => {
  assert.equal(balancednessVllm(Float64Array.of(2, 2, 2, 2), 4), 1);
  assert.equal(balancednessVllm(Float64Array.of(0, 0, 0, 8), 4), 0.25);
  assert.equal(balancednessVllm(new Float64Array(4), 2), 1);
  assert.throws(() => balancednessVllm(new Float64Array(3), 2), RangeError);
});
