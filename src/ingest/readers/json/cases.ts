/** Conformance cases for the json reader (expected values worked out by hand). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReaderCases } from '../cases.ts';

const file = (name: string, text: string) => (dir: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

export const cases: ReaderCases = {
  valid: [
    {
      name: 'logical_count [L][E]',
      make: file('init.json', JSON.stringify({ logical_count: [[1, 2, 3], [4, 0, 6]] })),
      expect: { layers: 2, experts: 3, windows: 1, layerIds: [0, 1], counts: [1, 2, 3, 4, 0, 6], totalByLayer: [6, 10] },
    },
    {
      // Two passes summed: [[1+10, 0+20], [5+0, 5+1]].
      name: 'logical_count [N][L][E] with extra keys',
      make: file('dump.json', JSON.stringify({ rank: 0, logical_count: [[[1, 0], [5, 5]], [[10, 20], [0, 1]]], average_utilization_rate_over_window: null })),
      expect: { layers: 2, experts: 2, windows: 2, counts: [11, 20, 5, 6] },
    },
    {
      // SGLang rows are decoder layers: row 0 (a dense layer, zero in every pass) is dropped, the MoE
      // rows keep their row index as layer id.
      name: 'logical_count over decoder layers with a dense first layer',
      make: file('sgl.json', JSON.stringify({ logical_count: [[0, 0, 0], [1, 2, 3], [4, 0, 6]] })),
      expect: { layers: 2, experts: 3, windows: 1, layerIds: [1, 2], counts: [1, 2, 3, 4, 0, 6], totalByLayer: [6, 10] },
    },
    {
      name: 'bare nested array, no .json extension',
      make: file('counts.txt', '[[7, 0, 1, 2]]\n'),
      expect: { layers: 1, experts: 4, windows: 1, counts: [7, 0, 1, 2] },
    },
  ],
  invalid: [
    {
      name: 'ragged layer row',
      make: file('r.json', JSON.stringify({ logical_count: [[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2]] })),
      where: /^key logical_count\[3\]$/,
      message: /^expected 3 experts, got 2$/,
    },
    {
      name: 'window with a missing layer',
      make: file('w.json', JSON.stringify({ logical_count: [[[1], [2]], [[3]]] })),
      where: /^key logical_count\[1\]$/,
      message: /expected 2 layers, got 1/,
    },
    { name: 'negative count', make: file('n.json', '[[1, -3]]'), where: /^key \[0\]\[1\]$/, message: /non-negative integer count, got -3/ },
    { name: 'non-integer count', make: file('f.json', '{"logical_count": [[0.5]]}'), where: /^key logical_count\[0\]\[0\]$/, message: /got 0\.5/ },
    { name: 'string count', make: file('s.json', '{"logical_count": [["7"]]}'), where: /\[0\]\[0\]$/, message: /got string "7"/ },
    { name: 'no logical_count key', make: file('k.json', '{"counts": [[1]]}'), where: /^$/, message: /expected \{"logical_count"/ },
    { name: 'invalid JSON', make: file('bad.json', '{"logical_count": [[1,2]'), where: /^$/, message: /not valid JSON/ },
  ],
};
