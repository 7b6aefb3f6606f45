import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numaGroups } from './numa-groups.ts';

test('known NUMA ids are renumbered densely in order of first appearance', () => {
  assert.deepEqual(numaGroups([3, 3, 1, 1], () => false), [0, 0, 1, 1]);
});

test('any unknown id: groups are the components of the links (0-1-2 chained, 3 alone, 4-5)', () => {
  const edges = new Set(['0-1', '1-2', '4-5']);
  const linked = (a: number, b: number) => edges.has(`${Math.min(a, b)}-${Math.max(a, b)}`);
  assert.deepEqual(numaGroups([0, undefined, 0, 1, 1, 1], linked), [0, 0, 0, 1, 2, 2]);
});
