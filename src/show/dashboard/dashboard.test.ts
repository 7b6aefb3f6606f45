import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TraceWriter } from '../../ingest/ballast/writer.ts';
import { tinyTrace } from '../report/fixtures.ts';
import { Dashboard } from './server.ts';
import { collectorBaseUrl, SseParser, TraceFileSource } from './sources.ts';

test('SSE parser: events split across chunks, comments, multi-line data', () => {
  const got: [string, string][] = [];
  const p = new SseParser((e, d) => got.push([e, d]));
  p.push('event: window\ndata: {"a"');
  p.push(':1}\n\n: ping\n\ndata: x\ndata: y\r\n\r\n');
  assert.deepEqual(got, [['window', '{"a":1}'], ['message', 'x\ny']]);
  assert.equal(collectorBaseUrl('127.0.0.1:9400/'), 'http://127.0.0.1:9400');
});

test('dashboard over a growing trace file: views, /metrics, playground, host guard', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-dash-'));
  const path = join(dir, 'live.ballast');
  const t = tinyTrace();
  const w = new TraceWriter(path, t.meta, 4, { sync: true });
  w.appendLoad(t.counts.subarray(0, 8), { step: 10 });
  const dash = new Dashboard({ source: new TraceFileSource(path, { pollMs: 100 }), ranks: 2, rebuildMs: 50, solver: 'none' });
  try {
    const url = await dash.start();
    await dash.waitForVersion(1, 20_000);
    // Window 0 only: layer 3 [4,2,1,1] -> ranks [6,2]; layer 5 [1,1,1,1] -> [2,2]; totals [8,4].
    assert.deepEqual(dash.currentModel().traces[0].placements!.current.rankLoad, [8, 4]);
    w.appendLoad(t.counts.subarray(8, 16), { step: 20 });
    await dash.waitForVersion(2, 20_000);
    assert.deepEqual(dash.currentModel().traces[0].placements!.current.rankLoad, [18, 6]);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^ballast_layers 2$/m);
    assert.match(metrics, /^ballast_assignments_total 24$/m);
    const r = await fetch(`${url}/api/plan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ solver: 'linear', ranks: 2, redundantSlots: 0 }) });
    const j = (await r.json()) as { summary: { currentMaxOverMean: number; recommendedMaxOverMean: number } };
    assert.equal(r.status, 200);
    // linear vs linear: 1.5 both.
    assert.equal(j.summary.currentMaxOverMean, 1.5);
    assert.equal(j.summary.recommendedMaxOverMean, 1.5);
    const bad = await fetch(`${url}/api/plan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ solver: 'linear', ranks: 3 }) });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /3 ranks do not divide 4 experts/);
    const form = await fetch(`${url}/api/plan`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
    assert.equal(form.status, 415);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(url);
      const req = request({ host: u.hostname, port: u.port, path: '/', headers: { host: 'attacker.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 403);
  } finally {
    w.close();
    await dash.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
