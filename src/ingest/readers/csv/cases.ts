/** Conformance cases for the csv reader (expected values worked out by hand from the rows). */
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
      // Layers 5 and 3 given out of order; (3,1), (3,2) and (5,0) missing -> 0; E = max id + 1 = 4.
      name: 'header, layers out of order, missing pairs',
      make: file('counts.csv', 'layer,expert,count\n5,3,2\n5,1,10\n3,0,4\n5,2,1\n3,3,6\n'),
      expect: { layers: 2, experts: 4, windows: 1, layerIds: [3, 5], counts: [4, 0, 0, 6, 0, 10, 1, 2], totalByLayer: [10, 13] },
    },
    {
      name: 'no header, CRLF line ends, no .csv extension',
      make: file('counts.txt', '0,0,1\r\n0,1,2\r\n1,0,3\r\n1,1,4\r\n'),
      expect: { layers: 2, experts: 2, layerIds: [0, 1], counts: [1, 2, 3, 4] },
    },
    {
      name: 'header naming columns in another order, spaces, float-formatted integers',
      make: file('swap.csv', 'expert, layer, count\n2, 0, 7.0\n0, 0, 1e2\n'),
      expect: { layers: 1, experts: 3, layerIds: [0], counts: [100, 0, 7] },
    },
  ],
  invalid: [
    { name: 'ragged row', make: file('r.csv', 'layer,expert,count\n0,0,1\n0,1\n'), where: /^line 3$/, message: /^expected 3 fields, got 2/ },
    { name: 'negative count', make: file('n.csv', '0,0,1\n0,1,-4\n'), where: /^line 2$/, message: /non-negative integer count, got -4/ },
    { name: 'non-integer count', make: file('f.csv', '0,0,1.5\n'), where: /^line 1$/, message: /non-negative integer count, got 1\.5/ },
    { name: 'NaN count', make: file('nan.csv', '0,0,1\n1,0,NaN\n'), where: /^line 2$/, message: /finite count, got "NaN"/ },
    { name: 'Infinity count', make: file('inf.csv', '0,0,Infinity\n'), where: /^line 1$/, message: /finite count/ },
    { name: 'duplicate pair', make: file('d.csv', '0,0,1\n0,1,2\n0,1,3\n'), where: /^line 3$/, message: /duplicate row for layer 0, expert 1/ },
    { name: 'negative layer', make: file('nl.csv', '-1,0,1\n'), where: /^line 1$/, message: /non-negative integer layer/ },
    { name: 'empty file', make: file('e.csv', ''), where: /^$/, message: /empty file/ },
    { name: 'header only', make: file('h.csv', 'layer,expert,count\n'), where: /^$/, message: /empty file/ },
  ],
};
