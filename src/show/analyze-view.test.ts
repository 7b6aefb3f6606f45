import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeTrace } from '../analyze/analyze-trace.ts';
import { makeLoadTrace } from '../core/load-trace.ts';
import { renderAnalysis } from './analyze-view.ts';

// 12 layers (ids 10..21) x 4 experts; layer 10+i has loads [1, 1, 1, 1 + i] -> expert max/mean (4+4i)/(4+i).
const L = 12;
const counts = new Float64Array(L * 4);
for (let i = 0; i < L; i++) counts.set([1, 1, 1, 1 + i], i * 4);
const load = makeLoadTrace({ model: 'toy-moe', layerIds: Array.from({ length: L }, (_, i) => 10 + i), topK: 1, sources: [{ path: 'toy.csv', format: 'csv' }] }, L, 4, counts);

test('plain text: header, worst layers first, the rest on one line, no ANSI codes', () => {
  const s = renderAnalysis(analyzeTrace(load), { color: false });
  assert.ok(!s.includes('\x1b['));
  const lines = s.split('\n');
  assert.equal(lines[0], 'toy.csv (csv)');
  assert.match(lines[1], /^toy-moe · 12 MoE layers × 4 experts · top-1 · 1 window$/);
  // worst layer is 21 (loads [1,1,1,12]: 12 / (15/4) = 3.2), expert 3 takes 12/15 = 80%
  assert.match(s, /worst layer 21 \(3\.20, expert 3 takes 80\.0%\)/);
  const rows = [...s.matchAll(/^\s+(\d+)\s+(\d\.\d\d) /gm)].map((m) => Number(m[1]));
  assert.deepEqual(rows, [21, 20, 19, 18, 17, 16, 15, 14, 13, 12]);
  // the 2 remaining: layer 11 ([1,1,1,2]: 8/5 = 1.60) and layer 10 (even: 1.00)
  assert.match(s, /… 2 more layers, expert max\/mean 1\.00–1\.60/);
  assert.ok(!s.includes('Ranks:'));
});

test('with ranks: balancedness of both engines and the worst layer\'s rank loads', () => {
  // linear over 2 ranks: layer 10+i -> [2, 2 + i]; worst is layer 21: [2, 13], max/mean 13/7.5 = 1.73
  const s = renderAnalysis(analyzeTrace(load, { ranks: 2 }), { color: false });
  assert.match(s, /Ranks: 2 \(linear placement\)/);
  assert.match(s, /balancedness\s+vLLM \d\.\d{3} · SGLang \d\.\d{3}/);
  assert.match(s, /Rank load, layer 21/);
  assert.match(s, /rank 0 .*\s2\s+0\.27×\s+2 active/); // 2 / 7.5
  assert.match(s, /rank 1 .*\s13\s+1\.73×\s+2 active/);
});

test('colour on request only; many ranks are cut to the hottest 16 plus a line', () => {
  assert.ok(renderAnalysis(analyzeTrace(load), { color: true }).includes('\x1b['));
  const wide = makeLoadTrace({ layerIds: [0], sources: [] }, 1, 64, Float64Array.from({ length: 64 }, (_, e) => e + 1));
  const s = renderAnalysis(analyzeTrace(wide, { ranks: 32 }), { color: false });
  // rank r holds experts 2r, 2r+1 with loads 2r+1 + 2r+2 = 4r + 3: hottest is rank 31 (127), coolest rank 0 (3)
  const shown = [...s.matchAll(/^\s+rank (\d+) /gm)].map((m) => Number(m[1]));
  assert.deepEqual(shown, Array.from({ length: 16 }, (_, i) => 31 - i));
  assert.match(s, /… 16 more ranks, 3–63 tokens/); // ranks 15..0: 4*15+3 = 63 down to 3
});

test('bars never print "undefined" when the last fraction rounds up to a whole cell (term.ts bar)', async () => {
  const { bar } = await import('./term.ts');
  // 23.99 of 24 cells: the remainder 0.99 rounds to 8/8 -> 24 full cells
  assert.equal(bar(23.99, 24, 24), '█'.repeat(24));
  // 1.97 of 24 cells: remainder .97 -> 8/8 -> 2 full cells; 1.5 -> 1 full cell + half block
  assert.equal(bar(1.97, 24, 24), '██');
  assert.equal(bar(1.5, 24, 24), '█▌');
});
