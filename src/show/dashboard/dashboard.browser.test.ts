/**
 * The live dashboard in headless Chromium, fed by the real collector (src/capture/collector.ts):
 * windows POSTed to the collector show up on the page without a reload; the plan playground solves;
 * a hostile model name stays text. Screenshots land in .test-artifacts/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Collector } from '../../capture/collector.ts';
import { chromiumAvailable, screenshot, watchPage, withBrowser } from '../report/browser-harness.ts';
import { Dashboard } from './server.ts';
import { CollectorSource } from './sources.ts';

const skip = chromiumAvailable() ? false : 'no /usr/bin/chromium';
const HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>';

function agentWindow(seq: number, step: number, counts: number[]) {
  return {
    v: 1, session: 'browser-test', pid: 4242, host: 'test', rank: 0, tp_rank: null, model: HOSTILE,
    layer_ids: [3, 5], experts: 4, top_k: 2, seq, first_step: step, step, time_ms: Date.now(), final: false, flush_ms: 100, dropped: 0,
    parts: [{ phase: 'decode', steps: 1, tokens: counts.reduce((a, b) => a + b, 0) / 4, counts }],
  };
}

async function post(url: string, body: unknown): Promise<void> {
  const r = await fetch(`${url}/api/v1/windows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200, await r.text());
}

test('dashboard follows the real collector live, in Chromium', { skip, timeout: 180_000 }, async () => {
  const collector = new Collector({ port: 0, session: 'browser-test', log: () => {} });
  const curl = await collector.start();
  const dash = new Dashboard({ source: new CollectorSource(curl), ranks: 2, rebuildMs: 100, solver: 'ballast' });
  try {
    const url = await dash.start();
    // Window 0: layer 3 [4,2,1,1], layer 5 [1,1,1,1] -> linear over 2 ranks: rank 0 = 6 + 2 = 8.
    await post(curl, agentWindow(0, 10, [4, 2, 1, 1, 1, 1, 1, 1]));
    await dash.waitForVersion(1, 30_000);
    await withBrowser(async (ctx) => {
      const page = await ctx.newPage();
      const seen = watchPage(page);
      await page.goto(`${url}/`, { timeout: 30_000 });
      await page.waitForSelector('#t0-ranks rect.bar');
      assert.equal(await page.textContent('#t0 .model-name'), HOSTILE);
      assert.equal(await page.locator('main img').count(), 0);
      assert.equal(await page.getAttribute('#t0-ranks rect.bar[data-series="0"][data-category="0"]', 'data-value'), '8');
      assert.equal(await page.getAttribute('#t0-heatmap svg.heatmap', 'data-rows'), '2');
      const v0 = Number(await page.getAttribute('body', 'data-version'));
      // Window 1 arrives at the collector: layer 3 [4,2,1,1], layer 5 [3,1,0,0] -> rank 0 = 8 + 6 + 4 = 18.
      await post(curl, agentWindow(1, 20, [4, 2, 1, 1, 3, 1, 0, 0]));
      await page.waitForFunction(
        () => document.querySelector('#t0-ranks rect.bar[data-series="0"][data-category="0"]')?.getAttribute('data-value') === '18',
        undefined,
        { timeout: 30_000 },
      );
      assert.ok(Number(await page.getAttribute('body', 'data-version')) > v0);
      assert.equal(await page.getAttribute('#t0-ranks rect.bar[data-series="0"][data-category="1"]', 'data-value'), '6');
      assert.match((await page.textContent('#live-status'))!, /live|update/);
      // Heatmap hover still works after the live swap: layer 5 expert 0 = 4 of 8 -> 2x the layer mean.
      const p = await page.$eval('#t0-heatmap svg.heatmap', (svg) => {
        const s = svg as SVGSVGElement;
        const [x0, y0, w, h] = s.getAttribute('data-plot')!.split(',').map(Number);
        const q = new DOMPoint(x0 + 0.5 * (w / 4), y0 + 1.5 * (h / 2)).matrixTransform(s.getScreenCTM()!);
        return { x: q.x, y: q.y };
      });
      await page.mouse.move(p.x, p.y);
      assert.equal(await page.getAttribute('.tooltip', 'data-value'), '2');
      await screenshot(page, 'dashboard-live.png');
      // Plan playground: 2 ranks, 2 redundant slots with the ballast solver.
      await page.selectOption('#playground-form select[name=solver]', 'ballast');
      await page.fill('#playground-form input[name=ranks]', '2');
      await page.fill('#playground-form input[name=redundant]', '2');
      await page.click('#playground-form button[type=submit]');
      await page.waitForSelector('#pg-gain', { timeout: 60_000 });
      assert.match((await page.textContent('#pg-gain'))!, /^1\.500 → \d\.\d{3}$/);
      const after = Number((await page.textContent('#pg-gain'))!.split('→')[1]);
      assert.ok(after < 1.5, `replicas should lower max/mean below linear's 1.5, got ${after}`);
      assert.equal(await page.locator('#pg-ranks rect.bar').count(), 4);
      assert.deepEqual(seen.errors, []);
      // A bad budget is reported on the page (the browser logs the 400 response itself).
      await page.fill('#playground-form input[name=redundant]', '1');
      await page.click('#playground-form button[type=submit]');
      await page.waitForSelector('#playground-result .error', { timeout: 30_000 });
      assert.match((await page.textContent('#playground-result .error'))!, /redundant slots/);
      await page.fill('#playground-form input[name=redundant]', '2');
      await page.click('#playground-form button[type=submit]');
      await page.waitForSelector('#pg-gain', { timeout: 60_000 });
      await page.click('#theme-toggle');
      await page.click('#theme-toggle');
      assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
      await screenshot(page, 'dashboard-playground-dark.png');
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /^ballast_assignments_total 24$/m);
      assert.deepEqual(seen.errors, ['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
      assert.deepEqual(seen.dialogs, []);
    });
  } finally {
    await dash.stop();
    await collector.stop();
  }
});
