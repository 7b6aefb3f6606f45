/**
 * `ballast capture --sglang` against a fake SGLang server on loopback that, on the dump request,
 * writes a real torch.save stat-mode dump with /usr/bin/python3 + torch.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../core/errors.ts';
import { totalCounts } from '../core/load-trace.ts';
import { readBallastTrace } from '../ingest/ballast/reader.ts';
import { captureSglang, parseDuration } from './sglang.ts';
import { BALLAST, PYTHON, runBounded } from './test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-sglang-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// logical_count [N=3 passes][L=2 layers][E=4 experts]
const LOGICAL = [
  [[5, 0, 1, 2], [0, 0, 8, 0]],
  [[1, 1, 1, 1], [2, 2, 0, 4]],
  [[0, 3, 0, 0], [1, 0, 0, 0]],
];
// Sum over passes, worked out by hand.
const TOTAL = [[6, 4, 2, 3], [3, 2, 8, 4]];

function fakeSglang(dumpDir: string) {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    calls.push(`${req.method} ${req.url}`);
    if (req.method !== 'POST') return res.writeHead(405).end();
    if (req.url === '/start_expert_distribution_record' || req.url === '/stop_expert_distribution_record') return res.writeHead(200).end('ok');
    if (req.url === '/dump_expert_distribution_record') {
      const out = join(dumpDir, `expert_distribution_recorder_${Date.now() / 1000}.pt`);
      const py = `import torch,json,sys\ntorch.save({"rank": 0, "logical_count": torch.tensor(json.loads(sys.argv[2]), dtype=torch.int32), "average_utilization_rate_over_window": None}, sys.argv[1])`;
      execFileSync(PYTHON, ['-c', py, out, JSON.stringify(LOGICAL)], { timeout: 60_000 });
      return res.writeHead(200).end('ok');
    }
    res.writeHead(404).end('not found');
  });
  return { server, calls };
}

test('records for the duration, dumps, finds the new dump and reads it natively', async () => {
  const dumpDir = mkdtempSync(join(dir, 'dumps-'));
  const { server, calls } = fakeSglang(dumpDir);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const out = join(dir, 'api.ballast');
    const t0 = Date.now();
    const r = await captureSglang({ url, durationMs: 300, dumpDir, out, log: () => {} });
    assert.ok(Date.now() - t0 >= 300);
    assert.deepEqual(calls, ['POST /start_expert_distribution_record', 'POST /stop_expert_distribution_record', 'POST /dump_expert_distribution_record']);
    assert.equal(r.load.numLayers, 2);
    assert.equal(r.load.numExperts, 4);
    assert.deepEqual(Array.from(totalCounts(r.load)), TOTAL.flat());
    const back = readBallastTrace(out, { warn: () => {} });
    assert.deepEqual(Array.from(totalCounts(back.load!)), TOTAL.flat());
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('the CLI writes the trace; an unreachable server is one line and exit code 2', async () => {
  const dumpDir = mkdtempSync(join(dir, 'dumps-'));
  const { server } = fakeSglang(dumpDir);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const out = join(dir, 'cli.ballast');
    const res = await runBounded('node', [BALLAST, 'capture', '--sglang', `http://127.0.0.1:${port}`, '--duration', '200ms', '--dump-dir', dumpDir, '--out', out], {
      timeoutMs: 90_000,
    });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /2 layers x 4 experts, 32 assignments/);
    assert.deepEqual(Array.from(totalCounts(readBallastTrace(out, { warn: () => {} }).load!)), TOTAL.flat());
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
  const bad = await runBounded('node', [BALLAST, 'capture', '--sglang', `http://127.0.0.1:${port}`, '--duration', '1s', '--dump-dir', dir], { timeoutMs: 30_000 });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^ballast: --sglang: cannot reach http:\/\/127\.0\.0\.1:\d+\/start_expert_distribution_record: ECONNREFUSED\n$/);
});

test('no dump appearing is a clear error, after stopping the recorder', async () => {
  const dumpDir = mkdtempSync(join(dir, 'dumps-'));
  const calls: string[] = [];
  const server = createServer((req, res) => {
    calls.push(req.url ?? '');
    res.writeHead(200).end('ok'); // says ok but writes nothing
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await assert.rejects(captureSglang({ url, durationMs: 10, dumpDir, dumpWaitMs: 400, log: () => {} }), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /no new expert_distribution_recorder_\*\.pt appeared/);
      return true;
    });
    assert.deepEqual(calls, ['/start_expert_distribution_record', '/stop_expert_distribution_record', '/dump_expert_distribution_record']);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('durations', () => {
  assert.equal(parseDuration('60s'), 60_000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1.5'), 1500);
  assert.throws(() => parseDuration('soon'), InputError);
});
