/**
 * Headless Chromium for the browser tests (Debian's /usr/bin/chromium through playwright-core):
 * a fresh profile directory per launch, no network services, closed and cleaned up in `finally`.
 * Screenshots go to .test-artifacts/ (gitignored).
 */
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.BALLAST_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACT_DIR = join(process.cwd(), '.test-artifacts');

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/**
 * Launch Chromium with a fresh profile (playwright passes it as --user-data-dir), run `fn` with the
 * browser context, always close it and remove the profile.
 */
export async function withBrowser<T>(fn: (browser: BrowserContext) => Promise<T>): Promise<T> {
  const profile = mkdtempSync(join(tmpdir(), 'ballast-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 60_000,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
  try {
    return await fn(browser);
  } finally {
    await browser.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Collect console errors, page errors, dialogs and failed requests of `page`. */
export function watchPage(page: Page): { errors: string[]; dialogs: string[]; requests: string[] } {
  const out = { errors: [] as string[], dialogs: [] as string[], requests: [] as string[] };
  page.on('console', (m) => {
    if (m.type() === 'error') out.errors.push(m.text());
  });
  page.on('pageerror', (e) => out.errors.push(String(e)));
  page.on('dialog', (d) => {
    out.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('request', (r) => out.requests.push(r.url()));
  return out;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACT_DIR, { recursive: true });
  const path = join(ARTIFACT_DIR, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}
