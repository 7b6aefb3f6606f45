import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../core/errors.ts';
import { mergeInputs, readInputs } from './read-inputs.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-read-inputs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const put = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('inputs of one shape are read in order and merged window after window', async () => {
  const a = put('a.csv', 'layer,expert,count\n0,0,1\n0,1,2\n1,0,3\n1,1,4\n');
  const b = put('b.json', JSON.stringify({ logical_count: [[[10, 0], [0, 10]], [[5, 5], [5, 5]]] }));
  const inputs = await readInputs([a, b]);
  assert.deepEqual(inputs.map((d) => d.format), ['csv', 'json']);
  const m = mergeInputs(inputs);
  assert.equal(m.numWindows, 3);
  assert.deepEqual(Array.from(m.counts), [1, 2, 3, 4, 10, 0, 0, 10, 5, 5, 5, 5]);
  assert.deepEqual(m.meta.sources.map((s) => s.path), [a, b]);
});

test('a second input of another shape is an InputError naming it and the first', async () => {
  const a = put('c.csv', '0,0,1\n0,1,1\n');
  const b = put('d.csv', '0,0,1\n0,1,1\n0,2,1\n');
  await assert.rejects(readInputs([a, b]), (e) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.file, b);
    assert.equal(e.message, `shape 1x3 differs from ${a} 1x2`);
    return true;
  });
});

test('merging inputs whose layer ids differ is refused', async () => {
  const a = put('e.csv', '3,0,1\n');
  const b = put('f.csv', '4,0,1\n');
  const inputs = await readInputs([a, b]);
  assert.throws(() => mergeInputs(inputs), (e) => e instanceof InputError && /layer ids \[4\] differ/.test(e.message));
});
