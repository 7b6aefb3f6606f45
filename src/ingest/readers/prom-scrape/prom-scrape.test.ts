import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../../../core/errors.ts';
import { windowCounts } from '../../../core/load-trace.ts';
import { promHistogram } from './cases.ts';
import { readPromScrape } from './index.ts';
import { detectReader } from '../../readers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-prom-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a directory of scrapes: windows are increases; a drop (restart) takes the new cumulative value', () => {
  const d = join(dir, 'scrapes');
  mkdirSync(d);
  writeFileSync(join(d, '001.prom'), promHistogram({ 1: [2, 1, 0] }));
  writeFileSync(join(d, '002.prom'), promHistogram({ 1: [5, 1, 3] }));
  writeFileSync(join(d, '003.prom'), promHistogram({ 1: [1, 0, 1] })); // server restarted
  const warned: string[] = [];
  const t = readPromScrape(d, { warn: (s) => warned.push(s) }).load!;
  assert.equal(t.numWindows, 3);
  assert.deepEqual(Array.from(windowCounts(t, 0)), [2, 1, 0]);
  assert.deepEqual(Array.from(windowCounts(t, 1)), [3, 0, 3]);
  assert.deepEqual(Array.from(windowCounts(t, 2)), [1, 0, 1]);
  assert.equal(t.meta.extra?.axis, 'gpu');
  assert.ok(warned.some((w) => /restart/.test(w)));
  assert.ok(warned.some((w) => /per-GPU counts, not per-expert/.test(w)));
  assert.equal(detectReader(d).name, 'prom-scrape');
});

test('untimestamped scrapes appended to one file split where a series repeats', () => {
  const p = join(dir, 'appended.prom');
  writeFileSync(p, promHistogram({ 0: [1, 1], 1: [2, 0] }) + promHistogram({ 0: [2, 2], 1: [2, 4] }));
  const t = readPromScrape(p, { warn: () => {} }).load!;
  assert.equal(t.numWindows, 2);
  assert.deepEqual(Array.from(windowCounts(t, 1)), [1, 1, 0, 4]);
});

test('series from two instances are refused', () => {
  const p = join(dir, 'two.prom');
  writeFileSync(
    p,
    'sglang:eplb_gpu_physical_count_bucket{instance="a",layer="1",le="0.0"} 1\nsglang:eplb_gpu_physical_count_bucket{instance="b",layer="1",le="0.0"} 1\n',
  );
  assert.throws(() => readPromScrape(p, { warn: () => {} }), (e: unknown) => e instanceof InputError && e.where === 'line 2' && /more than one source/.test(e.message));
});
