import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topCount, topShare } from './top-share.ts';

test('expert counts: ceil(0.1*64) = 7, ceil(0.25*64) = 16; at least 1; float-exact products are not bumped', () => {
  assert.equal(topCount(64, 0.1), 7);
  assert.equal(topCount(64, 0.25), 16);
  assert.equal(topCount(8, 0.1), 1); // ceil(0.8)
  assert.equal(topCount(8, 0.25), 2);
  assert.equal(topCount(4, 0.1), 1);
  assert.equal(topCount(30, 0.1), 3); // 0.1*30 = 3.0000000000000004 in floating point
  assert.equal(topCount(10, 0.25), 3); // ceil(2.5)
});

test('top shares of 1..10 (sum 55): hottest 10% = {10} -> 10/55; hottest 25% = {10,9,8} -> 27/55', () => {
  const x = Float64Array.of(3, 1, 4, 10, 5, 9, 2, 6, 8, 7);
  assert.ok(Math.abs(topShare(x, 0.1) - 10 / 55) < 1e-15);
  assert.ok(Math.abs(topShare(x, 0.25) - 27 / 55) < 1e-15);
});

test('an even layer of 64 has top-10% share 7/64 and top-25% share 16/64', () => {
  const x = new Float64Array(64).fill(3);
  assert.ok(Math.abs(topShare(x, 0.1) - 7 / 64) < 1e-15);
  assert.ok(Math.abs(topShare(x, 0.25) - 0.25) < 1e-15);
});

test('no traffic: share 0; bad fraction: error', () => {
  assert.equal(topShare(new Float64Array(5), 0.1), 0);
  assert.throws(() => topShare([1], 0), RangeError);
});
