/**
 * Hostile window bodies: counts that are not non-negative safe integers, deep nesting and bodies larger
 * than the session's shape needs are refused (400/413, never 500), counted, and shown in /api/snapshot,
 * /metrics and the stop line; the collector keeps working.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Collector } from './collector.ts';
import { BALLAST, start, waitFor } from './test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-hostile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Body text of a 1 x 2 window whose counts are given as raw JSON text. */
const win = (counts: string, extra = '') =>
  `{"v":1,"session":"s","pid":1,"host":"h","rank":0,"tp_rank":null,"model":"m","layer_ids":[0],"experts":2,"seq":0,"step":1,"time_ms":0,"final":false,"flush_ms":100,"dropped":0${extra},"parts":[{"phase":null,"steps":1,"tokens":1,"counts":${counts}}]}`;

async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}/api/v1/windows`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  return { status: r.status, text: await r.text() };
}

test('counts of 1e400, 0.5, 1e300, 2^53+1 and -1, and a 200,000-deep body, get 400 naming the key; nothing is added', async () => {
  const c = new Collector({ log: () => {} });
  const url = await c.start();
  try {
    assert.equal((await post(url, win('[3,4]'))).status, 200);
    for (const bad of ['[1e400,0]', '[0.5,0]', '[1e300,0]', '[9007199254740993,0]', '[-1,0]', '["1",0]']) {
      const r = await post(url, win(bad));
      assert.equal(r.status, 400, bad);
      assert.match(r.text, /key parts\[0\]\.counts\[0\]: expected a non-negative integer <= 2\^53-1/, bad);
    }
    const tok = await post(url, win('[1,1]').replace('"tokens":1', '"tokens":1e300'));
    assert.equal(tok.status, 400);
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    const d = await post(url, win('[1,1]', `,"junk":${deep}`));
    assert.equal(d.status, 400);
    assert.match(d.text, /nests deeper than 8 levels/);
    const s = c.snapshot();
    assert.deepEqual(s.totals, [[3, 4]]);
    assert.equal(s.rejectedWindows, 8);
    assert.match(s.lastRejection ?? '', /^400 nests deeper/);
    const m = await (await fetch(`${url}/metrics`)).text();
    assert.match(m, /^ballast_rejected_windows_total 8$/m);
    assert.doesNotMatch(m, /Inf|NaN/);
  } finally {
    await c.stop();
  }
});

test('a body larger than the session shape allows is refused with 413 without reading it; the bound follows L x E', async () => {
  const c = new Collector({ log: () => {} });
  const url = await c.start();
  try {
    assert.equal(c.bodyBound(), 64 * 1024 * 1024);
    assert.equal((await post(url, win('[1,2]'))).status, 200);
    // 1 layer x 2 experts: 64 KiB + 4 parts x 2 counts x 20 bytes + 16 MiB.
    const bound = 64 * 1024 + 160 + 16 * 1024 * 1024;
    assert.equal(c.bodyBound(), bound);
    const big = win('[1,2]', `,"pad":"${'x'.repeat(bound)}"`);
    const r = await post(url, big);
    assert.equal(r.status, 413);
    assert.match(r.text, new RegExp(`larger than ${bound} bytes`));
    assert.equal(c.snapshot().rejectedWindows, 1);
    assert.equal((await post(url, win('[1,1]'))).status, 200);
    assert.deepEqual(c.snapshot().totals, [[2, 3]]);
  } finally {
    await c.stop();
  }
});

test('collect: the stop line reports rejected windows', { timeout: 60_000 }, async () => {
  const col = start('node', [BALLAST, 'collect', '--port', '0'], { timeoutMs: 50_000, env: { BALLAST_SESSION_DIR: join(dir, 's') } });
  try {
    const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(col.stderr())?.[1], 30_000, 'collector start');
    assert.equal((await post(url, win('[0.5,1]'))).status, 400);
    col.child.kill('SIGTERM');
    const fin = await col.done;
    assert.equal(fin.code, 0);
    assert.match(fin.stderr, /collector stopped: 0 windows from 0 rank\(s\); 1 window\(s\) rejected \(last: 400 key parts\[0\]\.counts\[0\]: expected a non-negative integer/);
    assert.doesNotMatch(fin.stderr, /\n\s+at /);
  } finally {
    col.kill();
  }
});
