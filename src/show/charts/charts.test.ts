import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync, crc32 } from 'node:zlib';
import { parseHTML } from 'linkedom';
import { esc, jsonForScript } from './svg.ts';
import { viridis, diverging } from './color.ts';
import { formatNumber, niceTicks, niceDomain, linearScale } from './scale.ts';
import { encodePngRgb } from './png.ts';
import { downsampleMinMax } from './downsample.ts';
import { barChart } from './bars.ts';
import { lineChart } from './lines.ts';
import { heatmap, heatPixels } from './heatmap.ts';

function dom(svg: string) {
  return parseHTML(`<!doctype html><html><body>${svg}</body></html>`).document;
}

test('esc and jsonForScript neutralise markup', () => {
  assert.equal(esc('<script>alert("x")</script> & \'y\''), '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;');
  const j = jsonForScript({ model: '</script><script>alert(1)</script>' });
  assert.ok(!j.includes('<'));
  assert.deepEqual(JSON.parse(j), { model: '</script><script>alert(1)</script>' });
});

test('viridis ends and midpoint, diverging centre', () => {
  assert.equal(viridis(0), '#440154');
  assert.equal(viridis(1), '#fde725');
  // t=0.5 sits halfway between stops 4 (#26828e) and 5 (#1f9e89): (38+31)/2=34.5->35, 144, 139.5->140.
  assert.equal(viridis(0.5), '#23908c');
  assert.equal(viridis(-3), '#440154');
  assert.equal(diverging(0), '#f7f7f7');
  assert.equal(diverging(1), '#b35806');
  assert.equal(diverging(-1), '#542788');
});

test('ticks, domains and number labels', () => {
  assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(1.03, 1.52, 5), [1.1, 1.2, 1.3, 1.4, 1.5]);
  assert.deepEqual(niceDomain(0, 9.3), [0, 10]);
  assert.equal(linearScale([0, 10], [100, 0])(2.5), 75);
  assert.equal(formatNumber(12345), '12.3K');
  assert.equal(formatNumber(2500000), '2.5M');
  assert.equal(formatNumber(0.012345), '0.0123');
  assert.equal(formatNumber(1.5), '1.5');
  assert.equal(formatNumber(250), '250');
});

test('PNG encoder writes a valid RGB PNG whose pixels read back', () => {
  const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]); // 3x2
  const png = Buffer.from(encodePngRgb(3, 2, rgb));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.readUInt32BE(8), 13);
  assert.equal(png.toString('latin1', 12, 16), 'IHDR');
  assert.equal(png.readUInt32BE(16), 3);
  assert.equal(png.readUInt32BE(20), 2);
  assert.equal(png[24], 8);
  assert.equal(png[25], 2);
  assert.equal(png.readUInt32BE(29), crc32(png.subarray(12, 29)) >>> 0);
  const idatLen = png.readUInt32BE(33);
  assert.equal(png.toString('latin1', 37, 41), 'IDAT');
  const raw = inflateSync(png.subarray(41, 41 + idatLen));
  assert.deepEqual([...raw], [0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  assert.equal(png.toString('latin1', png.length - 8, png.length - 4), 'IEND');
});

test('downsampleMinMax keeps min, max and mean per bucket', () => {
  const b = downsampleMinMax([1, 5, 2, 8, 3, 0], 3);
  assert.deepEqual(b, { start: [0, 2, 4], end: [2, 4, 6], min: [1, 2, 0], max: [5, 8, 3], mean: [3, 5, 1.5] });
  assert.equal(downsampleMinMax([1, 2], 10).start.length, 2);
});

test('bar chart: one rect per (series, category), heights proportional to values', () => {
  const svg = barChart({
    title: 'rank load',
    categories: ['0', '1', '2', '3'],
    categoryName: 'rank',
    series: [
      { label: 'current', values: [10, 5, 2.5, 0] },
      { label: 'recommended', values: [5, 5, 5, 5] },
    ],
    xLabel: 'EP rank',
    yLabel: 'tokens',
    unit: 'tokens',
    referenceLines: [{ label: 'mean', value: 4.375 }],
  });
  const d = dom(svg);
  const bars = [...d.querySelectorAll('rect.bar')];
  assert.equal(bars.length, 8);
  const h = (s: number, c: number) =>
    Number(d.querySelector(`rect.bar[data-series="${s}"][data-category="${c}"]`)!.getAttribute('height'));
  assert.ok(Math.abs(h(0, 0) / h(0, 1) - 2) < 0.01);
  assert.ok(Math.abs(h(0, 0) / h(0, 2) - 4) < 0.02);
  assert.equal(h(0, 3), 0);
  assert.equal(d.querySelector('rect.bar[data-series="1"][data-category="2"] title')!.textContent, 'recommended · rank 2: 5 tokens');
  assert.deepEqual([...d.querySelectorAll('.x-axis .tick')].map((t) => t.textContent), ['0', '1', '2', '3']);
  assert.equal(d.querySelector('.y-axis .axis-label')!.textContent, 'tokens');
  assert.deepEqual([...d.querySelectorAll('.legend text')].map((t) => t.textContent), ['current', 'recommended', 'mean']);
});

test('line chart: points when short, bucketed band when long', () => {
  const short = dom(
    lineChart({ title: 't', x: [0, 1, 2], xName: 'layer', series: [{ label: 'a', values: [1, 2, 3] }], xLabel: 'x', yLabel: 'y', unit: 'u' }),
  );
  assert.equal(short.querySelectorAll('circle.point').length, 3);
  assert.equal(short.querySelectorAll('rect.hover').length, 3);
  assert.equal(short.querySelector('rect.hover title')!.textContent, 'layer 0\na: 1 u');
  const n = 5000;
  const x = Array.from({ length: n }, (_, i) => i);
  const v = x.map((i) => (i === 2500 ? 100 : 1));
  const long = dom(lineChart({ title: 't', x, xName: 'window', series: [{ label: 'a', values: v }], xLabel: 'x', yLabel: 'y', unit: 'u', maxPoints: 200 }));
  assert.equal(long.querySelector('svg')!.getAttribute('data-bucketed'), 'true');
  assert.equal(long.querySelectorAll('rect.hover').length, 200);
  assert.equal(long.querySelectorAll('circle.point').length, 0);
  // The spike survives bucketing: bucket 100 covers windows 2500..2524 and its max is 100.
  assert.match(long.querySelectorAll('rect.hover')[100].querySelector('title')!.textContent!, /window 2500–2524\na: mean 4.96, min 1, max 100 u/);
});

test('heatmap: data attributes round-trip and the PNG pixel of a cell has its colour', () => {
  const R = 3;
  const C = 4;
  const values = Array.from({ length: R * C }, (_, i) => i); // max 11
  const svg = heatmap({
    title: 'load', rows: R, cols: C, values, rowLabels: [5, 6, 7], rowName: 'layer', colName: 'expert',
    xLabel: 'expert', yLabel: 'layer', unit: 'x mean', id: 'h1',
  });
  const d = dom(svg);
  const el = d.querySelector('svg.heatmap')!;
  assert.equal(el.getAttribute('data-rows'), '3');
  assert.equal(el.getAttribute('data-cols'), '4');
  assert.deepEqual(JSON.parse(el.getAttribute('data-row-labels')!), [5, 6, 7]);
  const back = new Float32Array(new Uint8Array(Buffer.from(el.getAttribute('data-values')!, 'base64')).buffer);
  assert.deepEqual([...back], values);
  const px = heatPixels(values, [0, 11], false);
  // Cell (row 2, col 3) = 11 = domain max -> viridis(1) = #fde725.
  assert.deepEqual([...px.subarray(11 * 3, 12 * 3)], [0xfd, 0xe7, 0x25]);
  assert.deepEqual([...px.subarray(0, 3)], [0x44, 0x01, 0x54]);
  const href = d.querySelector('image.heatmap-image')!.getAttribute('href')!;
  assert.ok(href.startsWith('data:image/png;base64,'));
});
