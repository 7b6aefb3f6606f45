import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../../core/errors.ts';
import { SGLANG_LOG } from './cases.ts';
import { parseSglangBalancednessLog, sglangBalancedness } from './parse.ts';

test('parses [Expert Balancedness] lines, running means, gaps and rebalance times', () => {
  const s = parseSglangBalancednessLog(SGLANG_LOG, 'x.log');
  assert.equal(s.passes.length, 3);
  assert.deepEqual(s.passes[1], {
    line: 3,
    time: '2026-08-02 10:01:00',
    forwardPassId: 42,
    current: 0.7,
    lastAverages: { '10': 0.756, '100': 0.756, '1000': 0.756 },
    gpuPhysicalCountSum: 48,
  });
  assert.deepEqual(s.gaps, [{ afterLine: 3, missing: 2 }]);
  assert.deepEqual(s.rebalances, [{ line: 5, time: '2026-08-02 10:01:02', seconds: 2.251 }]);
});

test('a garbled [Expert Balancedness] line is an InputError at its line', () => {
  assert.throws(
    () => parseSglangBalancednessLog('x\n[Expert Balancedness] forward_pass_id=1 current_pass_balancedness=oops', 'f'),
    (e: unknown) => e instanceof InputError && e.where === 'line 2',
  );
});

test("SGLang's balancedness: mean over layers of (mean+1e-5)/(max+1e-5)", () => {
  // layer 0 GPU loads [3, 1]: (2 + 1e-5)/(3 + 1e-5); layer 1 [2, 2]: 1
  const b = sglangBalancedness(Float64Array.from([3, 1, 2, 2]), 2, 2);
  assert.ok(Math.abs(b - ((2 + 1e-5) / (3 + 1e-5) + 1) / 2) < 1e-15);
  assert.ok(Math.abs(b - 0.83333) < 1e-5);
});
