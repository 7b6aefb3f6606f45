import assert from 'node:assert/strict';
import { test } from 'node:test';
import { balancednessSglang } from './balancedness-sglang.ts';

test('SGLang balancedness of layers [3,9] and [4,4]: ((6+1e-5)/(9+1e-5) + 1) / 2', () => {
  // (6.00001/9.00001) = 0.666667037036625..., + 1, / 2 = 0.8333335185183128
  assert.ok(Math.abs(balancednessSglang(Float64Array.of(3, 9, 4, 4), 2) - 0.8333335185183128) < 1e-15);
});

test('every layer weighs the same: [0,100] and [1,1] -> ((50+1e-5)/(100+1e-5) + 1)/2, not vLLM 51/101', () => {
  const want = ((50 + 1e-5) / (100 + 1e-5) + 1) / 2; // 0.75000002499...
  assert.ok(Math.abs(balancednessSglang(Float64Array.of(0, 100, 1, 1), 2) - want) < 1e-15);
  assert.ok(Math.abs(want - 51 / 101) > 0.2);
});

test('a layer with no traffic scores exactly 1', () => {
  assert.equal(balancednessSglang(new Float64Array(4), 4), 1);
});
