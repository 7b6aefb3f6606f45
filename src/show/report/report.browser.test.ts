/**
 * The HTML report in headless Chromium, opened from file:// with no network: loads without console
 * errors, charts carry the data they should, hover shows exact values, hostile model names stay text,
 * the theme toggles. Screenshots land in .test-artifacts/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { main } from '../../cli/main.ts';
import { writeTraceFile } from '../../ingest/ballast/writer.ts';
import { planToJson } from '../../plan/plan-file.ts';
import { chromiumAvailable, screenshot, watchPage, withBrowser } from './browser-harness.ts';
import { swapPlan, tinyTrace } from './fixtures.ts';

const skip = chromiumAvailable() ? false : 'no /usr/bin/chromium';
const HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>';

async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const w = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = w;
    process.stderr.write = e;
  }
}

/** Client coordinates of the centre of heatmap cell (r, c). */
async function cellPoint(page: Page, sel: string, r: number, c: number): Promise<{ x: number; y: number }> {
  return page.$eval(
    sel,
    (svg, [r, c]) => {
      const s = svg as SVGSVGElement;
      const [x0, y0, w, h] = s.getAttribute('data-plot')!.split(',').map(Number);
      const R = Number(s.getAttribute('data-rows'));
      const C = Number(s.getAttribute('data-cols'));
      const p = new DOMPoint(x0 + (c + 0.5) * (w / C), y0 + (r + 0.5) * (h / R)).matrixTransform(s.getScreenCTM()!);
      return { x: p.x, y: p.y };
    },
    [r, c] as [number, number],
  );
}

test('report: tiny trace + plan, from file://, in Chromium', { skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-report-'));
  try {
    const tracePath = join(dir, 'tiny.ballast');
    writeTraceFile(tracePath, { load: tinyTrace(HOSTILE) });
    const planPath = join(dir, 'swap.json');
    writeFileSync(planPath, JSON.stringify(planToJson(swapPlan())));
    const out = join(dir, 'report.html');
    const code = await quiet(() => main(['report', tracePath, planPath, '--html', out]));
    assert.equal(code, 0);
    await withBrowser(async (ctx) => {
      const page = await ctx.newPage();
      const seen = watchPage(page);
      await page.emulateMedia({ colorScheme: 'light' });
      await page.goto(pathToFileURL(out).href, { timeout: 30_000 });
      await page.waitForSelector('svg.heatmap');
      assert.deepEqual(seen.errors, []);
      assert.deepEqual(seen.dialogs, []);
      assert.ok(seen.requests.every((u) => u.startsWith('file:') || u.startsWith('data:')), seen.requests.join(' '));
      // Hostile model name is visible text, not markup.
      assert.equal(await page.textContent('#t0 .model-name'), HOSTILE);
      assert.equal(await page.locator('img').count(), 0);
      // Rank bars: 2 ranks x (current, recommended); current rank 0 carries 12 + 6 = 18.
      assert.equal(await page.locator('#t0-ranks rect.bar').count(), 4);
      assert.equal(await page.getAttribute('#t0-ranks rect.bar[data-series="0"][data-category="0"]', 'data-value'), '18');
      assert.deepEqual(await page.locator('#t0-ranks .x-axis .tick').allTextContents(), ['0', '1']);
      await page.hover('#t0-ranks rect.bar[data-series="1"][data-category="1"]');
      assert.match((await page.textContent('.tooltip'))!, /rank 1: 9 assignments/);
      // Imbalance by layer: three series with one point per layer.
      assert.equal(await page.locator('#t0-layers g.series').count(), 3);
      assert.deepEqual(await page.locator('#t0-layers g.series[data-series="0"] circle.point').evaluateAll((els) => els.map((e) => e.getAttribute('data-value'))), ['1.5', '1.5']);
      // Heatmap: layer 5 (row 1), expert 0: 4 of 8 assignments, mean 2 -> 2x.
      const hm = '#t0-heatmap svg.heatmap';
      assert.equal(await page.getAttribute(hm, 'data-rows'), '2');
      assert.equal(await page.getAttribute(hm, 'data-cols'), '4');
      const p = await cellPoint(page, hm, 1, 0);
      await page.mouse.move(p.x, p.y);
      assert.equal(await page.getAttribute('.tooltip', 'data-row'), '1');
      assert.equal(await page.getAttribute('.tooltip', 'data-col'), '0');
      assert.equal(await page.getAttribute('.tooltip', 'data-value'), '2');
      assert.match((await page.textContent('.tooltip'))!, /layer 5 · expert 0\n2 × layer mean\n4 tokens/);
      await screenshot(page, 'report-tiny-light.png');
      // Theme toggle: auto -> light -> dark, and the background follows.
      const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const light = await bg();
      await page.click('#theme-toggle');
      assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
      await page.click('#theme-toggle');
      assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
      assert.notEqual(await bg(), light);
      await screenshot(page, 'report-tiny-dark.png');
      assert.deepEqual(seen.errors, []);
      assert.deepEqual(seen.dialogs, []);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report: real ESFT law routing (DeepSeek-V2-Lite), heatmap cell checked against load_counts.json', { skip, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-report-'));
  try {
    const out = join(dir, 'law.html');
    const code = await quiet(() => main(['report', 'data/esft-dsv2lite/raw/law.tgz', '--ranks', '8', '--html', out]));
    assert.equal(code, 0);
    const ref = JSON.parse(readFileSync('data/esft-dsv2lite/load_counts.json', 'utf8'));
    const counts: number[][] = ref.tasks.law.counts;
    // Layer index 9 (model layer 10), expert 37: count / (row sum / 64).
    const row = counts[9];
    const expected = row[37] / (row.reduce((a, b) => a + b, 0) / 64);
    await withBrowser(async (ctx) => {
      const page = await ctx.newPage();
      const seen = watchPage(page);
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.goto(pathToFileURL(out).href, { timeout: 30_000 });
      const hm = '#t0-heatmap svg.heatmap';
      await page.waitForSelector(hm);
      assert.equal(await page.getAttribute(hm, 'data-rows'), '26');
      assert.equal(await page.getAttribute(hm, 'data-cols'), '64');
      const p = await cellPoint(page, hm, 9, 37);
      await page.mouse.move(p.x, p.y);
      assert.equal(await page.getAttribute('.tooltip', 'data-col'), '37');
      const v = Number(await page.getAttribute('.tooltip', 'data-value'));
      assert.ok(Math.abs(v - expected) / expected < 1e-3, `${v} vs ${expected}`);
      assert.match((await page.textContent('.tooltip'))!, new RegExp(`layer 10 · expert 37\\n.*\\n${row[37]} tokens`));
      assert.equal(await page.locator('#t0-ranks rect.bar[data-series="0"]').count(), 8);
      // Per-batch replay from the token routes: floor(8327 / 512) = 16 batches, for the straggler
      // factor and for the predicted time (DeepSeek-V2-Lite guessed from 64 experts, top-6).
      const perBatch = page.locator('figure', { hasText: 'Per-batch straggler factor' });
      assert.equal(await perBatch.locator('g.series[data-series="0"] circle.point').count(), 16);
      const predicted = page.locator('figure', { hasText: 'Predicted MoE time per batch' });
      assert.equal(await predicted.locator('g.series[data-series="1"] circle.point').count(), 16);
      assert.match((await page.textContent('.gate-table'))!, /verdict(APPLY|KEEP CURRENT)/);
      await screenshot(page, 'report-esft-law-dark.png');
      assert.deepEqual(seen.errors, []);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
