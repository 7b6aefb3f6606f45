import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../../core/errors.ts';
import { VLLM_LOG } from './cases.ts';
import { compareWithRankLoads, parseVllmEplbLog, vllmAggregates, vllmLineConsistent } from './parse.ts';

test('parses both EPLB step line forms and the rearrangement line', () => {
  const s = parseVllmEplbLog(`${VLLM_LOG}\nINFO 07-01 09:00:00 [eplb_state.py:1] EPLB step: avg_tokens=10.50, max_tokens=21, balancedness=0.5000\n`, 'x.log');
  assert.equal(s.steps.length, 3);
  assert.deepEqual(s.steps[0], {
    line: 2,
    step: 100,
    model: 'deepseek-ai/DeepSeek-V2-Lite',
    time: '08-02 10:01:00',
    avgTokens: 512,
    maxTokens: 1024,
    balancedness: 0.5,
    stepsUntilRearrangement: 2900,
    selfConsistent: true,
  });
  assert.equal(s.steps[2].step, undefined);
  assert.equal(s.steps[2].avgTokens, 10.5);
  assert.deepEqual(s.rearrangements, [{ line: 4, time: '08-02 10:05:00', seconds: 1.37, profile: false }]);
  assert.deepEqual(s.inconsistentLines, []);
});

test('self-consistency allows for %.2f / %d (truncated) / %.4f printing and flags the rest', () => {
  // max printed 401 means the true max is in [401, 402): 300.25/402 = 0.74689 .. 300.25/401 = 0.74875
  assert.equal(vllmLineConsistent(300.25, 401, 0.7488), true);
  assert.equal(vllmLineConsistent(300.25, 401, 0.7469), true);
  assert.equal(vllmLineConsistent(300.25, 401, 0.7460), false);
  assert.equal(vllmLineConsistent(512, 1024, 0.7), false);
  const s = parseVllmEplbLog('EPLB step: 5 for model m: avg_tokens=512.00, max_tokens=1024, balancedness=0.7000', 'x');
  assert.deepEqual(s.inconsistentLines, [1]);
});

test('aggregates from rank loads, correct axis and the pre-Aug-2026 wrong axis (worked by hand)', () => {
  // n[l][r]: layer 0 = [10, 0, 0, 6], layer 1 = [2, 2, 2, 2]
  const n = Float64Array.from([10, 0, 0, 6, 2, 2, 2, 2]);
  const a = vllmAggregates(n, 2, 4);
  // correct: avg = 16/4 + 8/4 = 6, max = 10 + 2 = 12; wrong: avg = 12/2+2/2+2/2+8/2 = 12, max = 10+2+2+6 = 20
  assert.deepEqual(a.correct, { avgTokens: 6, maxTokens: 12, balancedness: 0.5 });
  assert.deepEqual(a.wrongAxis, { avgTokens: 12, maxTokens: 20, balancedness: 0.6 });
  const s = parseVllmEplbLog(
    'EPLB step: 1 for model m: avg_tokens=6.00, max_tokens=12, balancedness=0.5000\nEPLB step: 2 for model m: avg_tokens=12.00, max_tokens=20, balancedness=0.6000\nEPLB step: 3 for model m: avg_tokens=7.00, max_tokens=12, balancedness=0.5833',
    'x',
  );
  assert.equal(compareWithRankLoads(s.steps[0], n, 2, 4).verdict, 'correct');
  assert.equal(compareWithRankLoads(s.steps[1], n, 2, 4).verdict, 'wrong-axis');
  assert.equal(compareWithRankLoads(s.steps[2], n, 2, 4).verdict, 'neither');
  // Square and uniform loads cannot tell the builds apart.
  assert.equal(compareWithRankLoads({ ...s.steps[0], avgTokens: 2, maxTokens: 2, balancedness: 1 }, Float64Array.from([1, 1, 1, 1]), 2, 2).verdict, 'both');
});

test('bad numbers in a step line are reported at that line', () => {
  assert.throws(
    () => parseVllmEplbLog('ok\nEPLB step: 1 for model m: avg_tokens=abc, max_tokens=3, balancedness=0.5', 'f.log'),
    (e: unknown) => e instanceof InputError && e.where === 'line 2',
  );
});
