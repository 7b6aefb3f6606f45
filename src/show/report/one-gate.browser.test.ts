/**
 * One gate everywhere: on the same trace and flags, `ballast plan`, the HTML report (opened in
 * headless Chromium from file://) and the dashboard's plan playground (Chromium against the local
 * server) show the same verdict and the same predicted MoE time per step, judged held out.
 * The truth is `ballast plan --json`'s gate, run as a separate process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Dashboard } from '../dashboard/server.ts';
import { TraceFileSource } from '../dashboard/sources.ts';
import { chromiumAvailable, screenshot, watchPage, withBrowser } from './browser-harness.ts';

const skip = chromiumAvailable() ? false : 'no /usr/bin/chromium';
const TRACE = 'data/demo/esft-law.ballast';
const FLAGS = ['--ranks', '8', '--redundant', '8', '--cluster', '8xH100-SXM'];

function ballast(args: string[]) {
  return spawnSync(process.execPath, ['bin/ballast.js', ...args], { encoding: 'utf8', timeout: 240_000, env: { ...process.env, NO_COLOR: '1' } });
}

/** 5 significant digits, as the report model stores figures. */
const sig5 = (v: number) => Number(v.toPrecision(5));
/** The page's time format, written out independently: ms with 2 decimals from 1000 µs, else µs with 1. */
const time = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);

test('report and dashboard playground show the verdict and predicted time `ballast plan` gives', { skip, timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-one-gate-'));
  const p = ballast(['plan', TRACE, ...FLAGS, '--json']);
  assert.equal(p.status, 0, p.stderr);
  const gate = JSON.parse(p.stdout).gate;
  assert.equal(gate.heldOut, true);
  const verdict = gate.verdict.toUpperCase();
  const curUs = sig5(gate.currentStepUs);
  const propUs = sig5(gate.currentStepUs - gate.gainPerStepUs);
  const shown = `${time(curUs)} → ${time(propUs)}`;

  const html = join(dir, 'report.html');
  const r = ballast(['report', TRACE, ...FLAGS, '--html', html]);
  assert.equal(r.status, 0, r.stderr);
  const dash = new Dashboard({ source: new TraceFileSource(TRACE), ranks: 8, redundantSlots: 8, cluster: '8xH100-SXM', solver: 'ballast' });
  try {
    const url = await dash.start();
    await dash.waitForVersion(1, 120_000);
    await withBrowser(async (ctx) => {
      const page = await ctx.newPage();
      const seen = watchPage(page);
      await page.goto(pathToFileURL(html).href, { timeout: 30_000 });
      assert.equal((await page.textContent('#t0 .gate-verdict'))!.trim(), verdict);
      assert.match((await page.textContent('#t0 .gate-judged'))!, /^held out/);
      assert.equal(Number(await page.getAttribute('#t0 .gate-time', 'data-current-us')), curUs);
      assert.equal(Number(await page.getAttribute('#t0 .gate-time', 'data-proposed-us')), propUs);
      assert.equal((await page.textContent('#t0 .gate-time'))!.trim(), shown);
      assert.match((await page.textContent('#t0 .gate-headline'))!, new RegExp(`^${verdict} \\(held out: a ballast plan made on tokens \\[0, \\d+\\) of 8327`));
      await screenshot(page, 'one-gate-report.png');

      await page.goto(`${url}/`, { timeout: 30_000 });
      await page.selectOption('#playground-form select[name=solver]', 'ballast');
      await page.fill('#playground-form input[name=ranks]', '8');
      await page.fill('#playground-form input[name=redundant]', '8');
      await page.click('#playground-form button[type=submit]');
      await page.waitForSelector('#pg-verdict', { timeout: 120_000 });
      assert.equal((await page.textContent('#pg-verdict'))!.trim(), verdict);
      assert.match((await page.textContent('#pg-judged'))!, /^held out/);
      assert.equal(Number(await page.getAttribute('#pg-time', 'data-current-us')), curUs);
      assert.equal(Number(await page.getAttribute('#pg-time', 'data-proposed-us')), propUs);
      assert.equal((await page.textContent('#pg-time'))!.trim(), shown);
      // Token balance stays beside the time.
      assert.match((await page.textContent('#pg-gain'))!, /^\d\.\d{3} → \d\.\d{3}$/);
      await screenshot(page, 'one-gate-playground.png');
      assert.deepEqual(seen.errors, []);
    });
  } finally {
    await dash.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
