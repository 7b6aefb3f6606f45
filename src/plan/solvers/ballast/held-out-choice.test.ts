import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BatchTimes, chooseHeldOut, meanAt, seOfDiff } from './held-out-choice.ts';

const f = (...v: number[]) => Float64Array.from(v);
/** One fold, one step, one layer: [[[batches]]]. */
const one = (...v: number[]): BatchTimes => [[[f(...v)]]];
const close = (a: number, b: number, msg: string) => assert.ok(Math.abs(a - b) < 1e-12, `${msg}: ${a} vs ${b}`);

test('meanAt and seOfDiff: two folds, two weighted steps, worked by hand', () => {
  // a: fold 0 step 0 [4, 6] (mean 5), step 1 [10, 10] (10); fold 1 step 0 [5, 5] (5), step 1 [12, 12] (12).
  // w = [0.25, 0.75]: mean = 1/2 (0.25*5 + 0.75*10) + 1/2 (0.25*5 + 0.75*12) = 4.375 + 5.125 = 9.5.
  const a: BatchTimes = [
    [[f(4, 6)], [f(10, 10)]],
    [[f(5, 5)], [f(12, 12)]],
  ];
  const b: BatchTimes = [
    [[f(3, 3)], [f(10, 8)]],
    [[f(5, 5)], [f(11, 11)]],
  ];
  const w = [0.25, 0.75];
  close(meanAt(a, 0, w), 9.5, 'mean');
  // d = a - b: fold 0 step 0 [1, 3] (variance, divisor B - 1 = 1: 2), step 1 [0, 2] (2); fold 1: [0, 0],
  // [1, 1] (0). Var = 1/F^2 sum w_s^2 var_s / B = 1/4 (0.0625 * 2/2 + 0.5625 * 2/2) = 0.15625.
  close(seOfDiff(a, b, 0, w), Math.sqrt(0.15625), 'se');
});

test('chooseHeldOut: one-standard-error rule keeps the conservative row unless the gain beats the noise', () => {
  // linear [10, 12, 10, 12] mean 11; balanced [9, 13, 8, 12] mean 10.5. Paired d = [1, -1, 2, 0]: mean 0.5,
  // variance (0.25 + 2.25 + 2.25 + 0.25) / 3 = 5/3, SE = sqrt(5/12) = 0.645 > 0.5 -> linear (1-SE);
  // the plain minimum (seMult 0) takes balanced.
  const times = [
    new Map([
      ['linear', one(10, 12, 10, 12)],
      ['balanced', one(9, 13, 8, 12)],
    ]),
  ];
  assert.deepEqual(chooseHeldOut(times, [['linear', 'balanced']], 1, [1], undefined).names, ['linear']);
  assert.deepEqual(chooseHeldOut(times, [['linear', 'balanced']], 1, [1], undefined, 0).names, ['balanced']);
  // activation-search [8, 10, 7, 9] mean 8.5: vs linear d = [2, 2, 3, 3], mean 2.5 > SE sqrt(1/12) = 0.289;
  // vs balanced d = [1, 3, 1, 3], mean 2 > SE sqrt(1/3) = 0.577: it wins under either rule.
  times[0].set('activation-search', one(8, 10, 7, 9));
  const c = chooseHeldOut(times, [['linear', 'balanced', 'activation-search']], 1, [1], undefined);
  assert.deepEqual(c.names, ['activation-search']);
  close(c.totals[0], 8.5, 'total');
});

test('chooseHeldOut: R = G only when its held-out gain over R = 0 exceeds one standard error', () => {
  // R = 0 linear [10, 10, 10, 10] mean 10; R = G balanced [9, 10, 11, 8] mean 9.5: d = [1, 0, -1, 2], mean 0.5,
  // variance 5/3, SE 0.645 -> R = 0 (rIndex 0). With [9, 9.5, 10.5, 9] (mean 9.5, d = [1, 0.5, -0.5, 1],
  // variance 0.5, SE 0.354 < 0.5) -> R = G.
  const r0 = new Map([['linear', one(10, 10, 10, 10)]]);
  const noisy = chooseHeldOut([r0, new Map([['balanced', one(9, 10, 11, 8)]])], [['linear'], ['balanced']], 1, [1], undefined);
  assert.deepEqual([Array.from(noisy.rIndex), noisy.names], [[0], ['linear']]);
  const clear = chooseHeldOut([r0, new Map([['balanced', one(9, 9.5, 10.5, 9)]])], [['linear'], ['balanced']], 1, [1], undefined);
  assert.deepEqual([Array.from(clear.rIndex), clear.names], [[1], ['balanced']]);
  // Variable slots: the same test per layer, one slot per GPU per layer; none left -> R = 0.
  assert.deepEqual(Array.from(chooseHeldOut([r0, new Map([['balanced', one(9, 9.5, 10.5, 9)]])], [['linear'], ['balanced']], 1, [1], 0).rIndex), [0]);
  assert.deepEqual(Array.from(chooseHeldOut([r0, new Map([['balanced', one(9, 9.5, 10.5, 9)]])], [['linear'], ['balanced']], 1, [1], 1).rIndex), [1]);
});
