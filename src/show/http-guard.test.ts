/**
 * A web page cannot drive the collector or the dashboard: Host allow-list (DNS rebinding), Origin and
 * Sec-Fetch-Site on state-changing requests, JSON content type, tokens. Real servers on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BALLAST, runBounded } from '../capture/test-helpers.ts';
import { Collector } from '../capture/collector.ts';
import { InputError } from '../core/errors.ts';
import { TraceWriter } from '../ingest/ballast/writer.ts';
import { Dashboard } from './dashboard/server.ts';
import { TraceFileSource } from './dashboard/sources.ts';
import { allowedHosts, isLoopbackBind } from './http-guard.ts';
import { tinyTrace } from './report/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-guard-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One raw request to 127.0.0.1 with the headers as given (fetch cannot set Host). */
function raw(url: string, o: { method?: string; path: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: u.port, method: o.method ?? 'GET', path: o.path, headers: o.headers }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b, headers: res.headers }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end(o.body);
  });
}

const window = JSON.stringify({
  v: 1, session: 's', pid: 1, host: 'h', rank: 0, tp_rank: null, model: 'evil', layer_ids: [0], experts: 2, top_k: 1,
  seq: 0, step: 1, time_ms: 0, final: false, flush_ms: 100, dropped: 0, parts: [{ phase: null, steps: 1, tokens: 1, counts: [1, 0] }],
});

test('isLoopbackBind is exact: 127.foo.invalid and 127.0.0.1.attacker.example are not loopback', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.equal(isLoopbackBind(h), true, h);
  for (const h of ['127.foo.invalid', '127.0.0.1.attacker.example', '0.0.0.0', '::', '10.0.0.1', '1270.0.0.1']) assert.equal(isLoopbackBind(h), false, h);
  assert.deepEqual([...allowedHosts('127.0.0.1', 80)].sort(), ['127.0.0.1:80', '[::1]:80', 'localhost:80']);
});

test('collector: foreign Host, cross-origin, cross-site and text/plain posts are refused and fix nothing; agents still work', async () => {
  const c = new Collector({ log: () => {} });
  const url = await c.start();
  const port = new URL(url).port;
  try {
    for (const host of ['127.0.0.1.attacker.example', `127.0.0.1.attacker.example:${port}`, 'attacker.example', `127.0.0.1:${Number(port) + 1}`, `127.foo.invalid:${port}`]) {
      const r = await raw(url, { path: '/api/snapshot', headers: { host } });
      assert.equal(r.status, 403, host);
    }
    const post = (headers: Record<string, string>) => raw(url, { method: 'POST', path: '/api/v1/windows', headers: { host: `127.0.0.1:${port}`, ...headers }, body: window });
    assert.equal((await post({ 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post({ 'content-type': 'application/x-www-form-urlencoded' })).status, 415);
    assert.equal((await post({ 'content-type': 'application/json', origin: 'http://attacker.example' })).status, 403);
    assert.equal((await post({ 'content-type': 'application/json', origin: `http://127.0.0.1:${port}.attacker.example` })).status, 403);
    assert.equal((await post({ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' })).status, 403);
    assert.equal(c.hasData, false, 'no refused request fixed the session shape');
    for (const host of [`localhost:${port}`, `[::1]:${port}`, `127.0.0.1:${port}`]) {
      assert.equal((await raw(url, { path: '/healthz', headers: { host } })).status, 200, host);
    }
    // The agent's request (no Origin, JSON) and a same-origin one pass.
    assert.equal((await post({ 'content-type': 'application/json' })).status, 200);
    assert.equal((await post({ 'content-type': 'application/json; charset=utf-8', origin: `http://localhost:${port}` })).status, 200);
    assert.equal(c.snapshot().windowsReceived, 2);
  } finally {
    await c.stop();
  }
});

test('dashboard: Host allow-list, cross-origin /api/plan refused, --auth-token by bearer, ?token= and the cookie it sets', { timeout: 60_000 }, async () => {
  const path = join(dir, 'd.ballast');
  const t = tinyTrace();
  const w = new TraceWriter(path, t.meta, 4);
  w.appendLoad(t.counts.subarray(0, 8), { step: 1 });
  w.close();
  const dash = new Dashboard({ source: new TraceFileSource(path, { pollMs: 100 }), ranks: 2, rebuildMs: 50, solver: 'none', authToken: 's3cret', log: () => {} });
  try {
    const url = await dash.start();
    await dash.waitForVersion(1, 20_000);
    const port = new URL(url).port;
    const host = `127.0.0.1:${port}`;
    assert.equal((await raw(url, { path: '/api/model?token=s3cret', headers: { host: `127.0.0.1.attacker.example:${port}` } })).status, 403);
    assert.equal((await raw(url, { path: '/api/model', headers: { host } })).status, 401);
    assert.equal((await raw(url, { path: '/api/model', headers: { host, authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await raw(url, { path: '/api/model', headers: { host, authorization: 'Bearer s3cret' } })).status, 200);
    const page = await raw(url, { path: '/?token=s3cret', headers: { host } });
    assert.equal(page.status, 200);
    const cookie = String(page.headers['set-cookie']);
    assert.match(cookie, /^ballast_token=s3cret; HttpOnly; SameSite=Strict; Path=\//);
    const jar = cookie.split(';')[0];
    assert.equal((await raw(url, { path: '/api/model', headers: { host, cookie: jar } })).status, 200);
    const plan = (headers: Record<string, string>) =>
      raw(url, { method: 'POST', path: '/api/plan', headers: { host, cookie: jar, ...headers }, body: JSON.stringify({ solver: 'linear', ranks: 2, redundantSlots: 0 }) });
    assert.equal((await plan({ 'content-type': 'application/json', origin: 'http://attacker.example' })).status, 403);
    assert.equal((await plan({ 'content-type': 'text/plain', origin: `http://${host}` })).status, 415);
    assert.equal((await plan({ 'content-type': 'application/json', origin: `http://${host}` })).status, 200);
  } finally {
    await dash.stop();
  }
  // Off loopback without a token: refused before binding anything.
  assert.throws(
    () => new Dashboard({ source: new TraceFileSource(path), host: '0.0.0.0' }),
    (e: unknown) => e instanceof InputError && e.file === '--host' && /needs --auth-token/.test(e.message),
  );
});

test('CLI: dashboard --host 0.0.0.0 and collect --host 127.foo.invalid fail in one line, exit 2, no stack trace', { timeout: 90_000 }, async () => {
  const env = { BALLAST_SESSION_DIR: join(dir, 'sessions') };
  const cases: [string[], RegExp][] = [
    [['dashboard', '--trace', join(dir, 'none.ballast'), '--host', '0.0.0.0', '--port', '0'], /--host: listening on 0\.0\.0\.0 .*needs --auth-token/],
    [['collect', '--host', '127.foo.invalid', '--port', '0'], /--host: listening on 127\.foo\.invalid .*needs --token/],
    [['collect', '--host', '127.foo.invalid', '--port', '0', '--token', 't'], /--host: cannot listen on 127\.foo\.invalid: the name does not resolve/],
  ];
  for (const [args, re] of cases) {
    const r = await runBounded('node', [BALLAST, ...args], { timeoutMs: 30_000, env });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
});
