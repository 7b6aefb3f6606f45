/** Conformance cases for the npy reader. Fixtures were written by NumPy 1.24 (numpy.lib.format.write_array). */
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReaderCases } from '../cases.ts';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const copy = (name: string) => (dir: string) => {
  const p = join(dir, name);
  copyFileSync(join(fixtures, name), p);
  return p;
};

// The matrix every valid fixture holds: [[3,0,7,1],[0,12,5,2],[9,9,0,4]] (3 layers x 4 experts).
const M = [3, 0, 7, 1, 0, 12, 5, 2, 9, 9, 0, 4];
const expect = { layers: 3, experts: 4, windows: 1, counts: M, totalByLayer: [11, 19, 22], layerIds: [0, 1, 2] };

export const cases: ReaderCases = {
  valid: [
    { name: 'float32 little-endian C order, v1.0', make: copy('f4-le-c.npy'), expect },
    { name: 'float64 big-endian Fortran order', make: copy('f8-be-fortran.npy'), expect },
    { name: 'int32 format v2.0', make: copy('i4-v2.npy'), expect },
    { name: 'int64 big-endian format v3.0', make: copy('i8-be-v3.npy'), expect },
    { name: 'int64 Fortran order', make: copy('i8-fortran.npy'), expect },
    // float32 load weights with a fraction at [1][1] (read as weights, with a note).
    {
      name: 'float32 non-integer load weights',
      make: copy('fraction.npy'),
      expect: { layers: 3, experts: 4, windows: 1, counts: [3, 0, 7, 1, 0, 2.5, 5, 2, 9, 9, 0, 4], totalByLayer: [11, 9.5, 22] },
    },
  ],
  invalid: [
    { name: 'truncated data', make: copy('truncated.npy'), where: /^byte 128$/, message: /expected 48 bytes of data .*file has 43/ },
    { name: 'complex dtype', make: copy('complex.npy'), where: /descr/, message: /unsupported dtype "<c16".*complex/ },
    { name: '3-D array', make: copy('three-d.npy'), where: /shape/, message: /expected a 2-D .* got shape \(2, 3, 4\)/ },
    { name: 'NaN value', make: copy('nan.npy'), where: /^byte 176$/, message: /\[1\]\[2\], got NaN/ },
    { name: 'Infinity value', make: copy('inf.npy'), where: /^byte 200$/, message: /\[2\]\[1\], got Infinity/ },
    { name: 'negative value', make: copy('negative.npy'), where: /^byte 140$/, message: /\[0\]\[3\], got negative -2/ },
  ],
};
