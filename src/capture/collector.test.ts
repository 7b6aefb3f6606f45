/**
 * The collector over real HTTP on loopback: merging ranks, the trace file, snapshot, SSE, auth,
 * sessions/watch, and a real Prometheus (/usr/bin/prometheus) scraping /metrics.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../core/errors.ts';
import { readBallastTrace } from '../ingest/ballast/reader.ts';
import { Collector } from './collector.ts';
import { WindowMerger, type MergedWindow } from './merge.ts';
import { parseAgentWindow } from './protocol.ts';
import { listSessions } from './sessions.ts';
import { BALLAST, runBounded, start, waitFor } from './test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-col-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An agent window body: 2 layers (ids 4, 9) x 3 experts. */
function body(o: { rank: number; pid?: number; seq: number; counts: number[]; phase?: string | null; tp?: number | null; final?: boolean; tokens?: number }) {
  return {
    v: 1,
    session: 's',
    pid: o.pid ?? 1000 + o.rank,
    host: 'h',
    rank: o.rank,
    tp_rank: o.tp ?? null,
    model: 'toy',
    layer_ids: [4, 9],
    experts: 3,
    top_k: 2,
    seq: o.seq,
    step: o.seq + 1,
    time_ms: 1_700_000_000_000 + o.seq * 1000,
    final: o.final ?? false,
    flush_ms: 200,
    dropped: 0,
    parts: [{ phase: o.phase ?? null, steps: 1, tokens: o.tokens ?? 3, counts: o.counts }],
  };
}

async function post(url: string, b: unknown, token?: string): Promise<Response> {
  return fetch(`${url}/api/v1/windows`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(b),
  });
}

test('two ranks merge into one window per flush; TP replicas are not double counted; the trace is written as windows arrive', async () => {
  const out = join(dir, 'merge.ballast');
  const c = new Collector({ out, session: 'abc', log: () => {} });
  const url = await c.start();
  try {
    // SSE subscriber first.
    const ac = new AbortController();
    const events: string[] = [];
    const sse = fetch(`${url}/api/events`, { signal: ac.signal }).then(async (res) => {
      const reader = res.body!.getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += new TextDecoder().decode(value);
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          events.push(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    }).catch(() => {});
    await waitFor(() => (events.some((e) => e.startsWith('event: hello')) ? true : undefined), 5000, 'SSE hello');

    assert.equal((await post(url, body({ rank: 0, seq: 0, counts: [2, 1, 0, 0, 3, 0], phase: 'prefill' }))).status, 200);
    // Only rank 0 is known yet: its window is emitted at once.
    assert.equal(c.snapshot().windowsMerged, 1);
    // Window 2: rank 1 arrives first, then rank 0 -> one merged window with the sum.
    await post(url, body({ rank: 1, seq: 0, counts: [0, 0, 4, 1, 1, 1], phase: 'decode' }));
    assert.equal(c.snapshot().windowsMerged, 1, 'waits for rank 0');
    // A TP replica (tp_rank 1) of rank 0: per-rank totals only.
    await post(url, body({ rank: 2, seq: 1, counts: [9, 9, 9, 9, 9, 9], phase: 'decode', tp: 1 }));
    await post(url, body({ rank: 0, seq: 1, counts: [1, 0, 0, 0, 0, 2], phase: 'decode' }));
    const s = c.snapshot();
    assert.equal(s.windowsMerged, 2);
    assert.equal(s.windowsReceived, 4);
    assert.deepEqual(s.totals, [[3, 1, 4], [1, 4, 3]]);
    assert.deepEqual(s.layerIds, [4, 9]);
    assert.deepEqual(
      s.ranks.map((r) => [r.rank, r.assignments, r.tpRank]),
      [[0, 9, null], [1, 7, null], [2, 54, 1]],
    );
    // last window = [1,0,4 | 1,1,3]: layer 4 max/mean = 4 / (5/3) = 2.4; layer 9 = 3 / (5/3) = 1.8
    assert.deepEqual(s.lastWindow!.layerImbalance.map((v) => +v.toFixed(6)), [2.4, 1.8]);
    await waitFor(() => (events.filter((e) => e.startsWith('event: window')).length >= 2 ? true : undefined), 5000, 'two SSE windows');
    const ev = JSON.parse(events.filter((e) => e.startsWith('event: window'))[1].split('\ndata: ')[1]);
    assert.deepEqual(ev.counts, [[1, 0, 4], [1, 1, 3]]);
    assert.deepEqual(ev.ranks, [0, 1]);
    assert.equal(ev.phase, 'decode');
    // The file is readable while the collector runs (no END record yet).
    const live = readBallastTrace(out, { warn: () => {} });
    assert.equal(live.complete, false);
    assert.equal(live.load!.numWindows, 2);
    ac.abort();
    await sse;
  } finally {
    await c.stop();
  }
  const done = readBallastTrace(out, { warn: () => {} });
  assert.equal(done.complete, true);
  assert.deepEqual(Array.from(done.load!.counts), [2, 1, 0, 0, 3, 0, 1, 0, 4, 1, 1, 3]);
  assert.deepEqual(done.load!.windows.map((w) => w.phase), ['prefill', 'decode']);
  assert.deepEqual(done.load!.windows.map((w) => w.tokens), [3, 6]);
});

test('the merger emits a window held up by a silent rank after the grace time, and never loses a late one', () => {
  let now = 0;
  const got: MergedWindow[] = [];
  const m = new WindowMerger(6, (w) => got.push({ ...w, counts: Float64Array.from(w.counts) }), () => now);
  const w = (rank: number, seq: number, counts: number[]) => parseAgentWindow(body({ rank, seq, counts }));
  m.add(w(0, 0, [1, 0, 0, 0, 0, 0]));
  m.add(w(1, 0, [0, 1, 0, 0, 0, 0]));
  assert.equal(got.length, 1); // rank 0 alone was known when it arrived -> emitted; rank 1 opens the next
  now = 100;
  m.add(w(0, 1, [0, 0, 1, 0, 0, 0]));
  assert.equal(got.length, 2); // both contributed
  now = 150;
  m.add(w(0, 2, [0, 0, 0, 1, 0, 0])); // rank 1 silent
  m.tick();
  assert.equal(got.length, 2);
  now = 150 + 301; // grace = max(250, 1.5 * 200)
  m.tick();
  assert.equal(got.length, 3);
  now = 500;
  m.add(w(1, 1, [0, 0, 0, 0, 1, 0])); // late: lands in the next window
  m.flush();
  const sum = new Float64Array(6);
  for (const g of got) for (let i = 0; i < 6; i++) sum[i] += g.counts[i];
  assert.deepEqual(Array.from(sum), [1, 1, 1, 1, 1, 0]);
});

test('bad windows are refused with the key at fault; shape changes are refused', async () => {
  const c = new Collector({ log: () => {} });
  const url = await c.start();
  try {
    const short = body({ rank: 0, seq: 0, counts: [1, 2, 3] });
    const r = await post(url, short);
    assert.equal(r.status, 400);
    assert.match(await r.text(), /key parts\[0\]\.counts: expected 6 counts/);
    assert.equal((await post(url, body({ rank: 0, seq: 0, counts: [1, 2, 3, 4, 5, 6] }))).status, 200);
    const other = { ...body({ rank: 0, seq: 1, counts: [1, 2, 3, 4, 5, 6] }), layer_ids: [4, 10] };
    assert.equal((await post(url, other)).status, 409);
    assert.equal(c.rejectedWindows, 2);
  } finally {
    await c.stop();
  }
});

test('a token is required off loopback, and checked on every endpoint when set', async () => {
  assert.throws(() => new Collector({ host: '0.0.0.0' }), InputError);
  const c = new Collector({ token: 's3cret', log: () => {} });
  const url = await c.start();
  try {
    assert.equal((await post(url, body({ rank: 0, seq: 0, counts: [1, 1, 1, 1, 1, 1] }))).status, 401);
    assert.equal((await post(url, body({ rank: 0, seq: 0, counts: [1, 1, 1, 1, 1, 1] }), 'wrong')).status, 401);
    assert.equal((await post(url, body({ rank: 0, seq: 0, counts: [1, 1, 1, 1, 1, 1] }), 's3cret')).status, 200);
    assert.equal((await fetch(`${url}/metrics`)).status, 401);
    assert.equal((await fetch(`${url}/api/snapshot?token=s3cret`)).status, 200);
  } finally {
    await c.stop();
  }
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

test('a real Prometheus scrapes /metrics and sees the per-layer imbalance', async () => {
  const prom = '/usr/bin/prometheus';
  assert.ok(existsSync(prom), 'prometheus is not installed at /usr/bin/prometheus (Debian package "prometheus"); CI must install it');
  const c = new Collector({ log: () => {}, session: 'prom', epRanks: 3 });
  const url = await c.start();
  // layer 4 = [6, 3, 0]: max/mean = 6 / 3 = 2; layer 9 = [2, 2, 2]: 1.
  await post(url, body({ rank: 0, seq: 0, counts: [6, 3, 0, 2, 2, 2] }));
  const pdir = mkdtempSync(join(dir, 'prom-'));
  const port = await freePort();
  const target = url.replace('http://', '');
  writeFileSync(
    join(pdir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ballast\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['${target}']\n`,
  );
  const p = start(
    prom,
    [`--config.file=${join(pdir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(pdir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { timeoutMs: 120_000 },
  );
  try {
    const q = async (expr: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(2000) });
      const j = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      return j.data.result;
    };
    const rows = await waitFor(async () => {
      const r = await q('ballast_layer_imbalance');
      return r.length === 2 ? r : undefined;
    }, 90_000, `Prometheus to scrape ${url}/metrics (prometheus stderr: ${p.stderr().slice(-300)})`);
    const byLayer = Object.fromEntries(rows.map((r) => [r.metric.layer, Number(r.value[1])]));
    assert.deepEqual(byLayer, { '4': 2, '9': 1 });
    assert.equal(rows[0].metric.job, 'ballast');
    const ep = await q('ballast_layer_ep_imbalance{layer="4"}');
    assert.equal(Number(ep[0].value[1]), 2); // one expert per EP rank here: same as per expert
    const up = await q('up{job="ballast"}');
    assert.equal(up[0].value[1], '1');
  } finally {
    p.kill();
    await p.done;
    await c.stop();
  }
});

test('ballast collect registers a session; sessions lists it; watch --once shows the layers; stale sessions are dropped', async () => {
  const sdir = join(dir, 'sessions');
  const env = { BALLAST_SESSION_DIR: sdir, NO_COLOR: '1' };
  // A stale session file (a pid that cannot exist).
  mkdirSync(sdir, { recursive: true });
  writeFileSync(join(sdir, 'dead0000.json'), JSON.stringify({ id: 'dead0000', pid: 2 ** 22 + 12345, address: 'http://127.0.0.1:1', kind: 'run', command: ['x'], startedMs: 0, out: null }));
  const col = start('node', [BALLAST, 'collect', '--port', '0'], { timeoutMs: 90_000, env });
  try {
    const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(col.stderr())?.[1], 30_000, 'collector start');
    await post(url, body({ rank: 0, seq: 0, counts: [6, 3, 0, 2, 2, 2] }));
    const ls = await runBounded('node', [BALLAST, 'sessions', '--json'], { timeoutMs: 30_000, env });
    assert.equal(ls.code, 0, ls.stderr);
    const rows = JSON.parse(ls.stdout);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].address, url);
    assert.equal(rows[0].kind, 'collect');
    assert.equal(rows[0].windows, 1);
    assert.ok(!readdirSync(sdir).includes('dead0000.json'), 'stale session removed');
    const w = await runBounded('node', [BALLAST, 'watch', '--once'], { timeoutMs: 30_000, env });
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /2 layers x 3 experts, top-2/);
    assert.match(w.stdout, /^L4 +2\.00 +2\.00 +█+/m);
    assert.match(w.stdout, /^L9 +1\.00 +1\.00 +█+/m);
    col.child.kill('SIGTERM');
    const fin = await col.done;
    assert.equal(fin.code, 0);
    assert.deepEqual(listSessions(sdir), []);
  } finally {
    col.kill();
  }
  const none = await runBounded('node', [BALLAST, 'watch', '--once'], { timeoutMs: 30_000, env });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no running capture sessions/);
});
