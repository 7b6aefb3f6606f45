import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greedySlots } from './greedy-slots.ts';

// Layer times (us) by R option, worked by hand:
//   layer 0: 10, 7, 6    (gains 3, then 1)
//   layer 1: 10, 8, 3    (gains 2, then 5)
//   layer 2: 10, 10, 10  (no gain)
const t = [
  [10, 7, 6],
  [10, 8, 3],
  [10, 10, 10],
];
const gain = (l: number, i: number) => t[l][i] - t[l][i + 1];

test('greedySlots: each slot to the largest next-step gain, until slots or gains run out', () => {
  // slot 1: gains (3, 2, 0) -> layer 0; slot 2: (1, 2, 0) -> layer 1; slot 3: (1, 5, 0) -> layer 1;
  // slot 4: (1, -, 0) -> layer 0; slot 5: nothing gains.
  assert.deepEqual(Array.from(greedySlots(3, 3, 1, gain)), [1, 0, 0]);
  assert.deepEqual(Array.from(greedySlots(3, 3, 2, gain)), [1, 1, 0]);
  assert.deepEqual(Array.from(greedySlots(3, 3, 3, gain)), [1, 2, 0]);
  assert.deepEqual(Array.from(greedySlots(3, 3, 4, gain)), [2, 2, 0]);
  assert.deepEqual(Array.from(greedySlots(3, 3, 10, gain)), [2, 2, 0]);
  assert.deepEqual(Array.from(greedySlots(3, 3, 0, gain)), [0, 0, 0]);
  assert.deepEqual(Array.from(greedySlots(3, 3, 0.5, gain)), [0, 0, 0], 'a fraction of a slot buys nothing');
});

test('greedySlots: a tie goes to the lower layer; a gain of 0 or less is never taken', () => {
  assert.deepEqual(Array.from(greedySlots(2, 2, 1, () => 4)), [1, 0]);
  assert.deepEqual(Array.from(greedySlots(2, 2, 5, () => 0)), [0, 0]);
  assert.deepEqual(Array.from(greedySlots(2, 2, 5, () => -1)), [0, 0]);
});
