/**
 * `ballast capture --sglang` against a fake SGLang server on loopback, modelled on
 * sgl-project/sglang@02295fe5ac5ccff3e8829800d50450351c56fb53 python/sglang/srt/eplb/expert_distribution.py:
 * while recording it runs forward passes on a timer; each pass routes a few tokens top-2 on every rank
 * (the same tokens on every TP rank without an all-to-all backend, its own tokens per rank with one).
 * stat mode keeps a _CircularBuffer of buffer_size slots of the rank-summed counts (the all-reduce),
 * rank 0 writes one file; per_pass / per_token write one file per rank. Dumps are real torch.save files
 * (one long-lived /usr/bin/python3 writer). The truth is what the fake engine routed while recording,
 * counted where it routes, never by ballast.
 */
import { mulberry32 } from '../core/random.ts';
import assert from 'node:assert/strict';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { InputError } from '../core/errors.ts';
import { totalCounts } from '../core/load-trace.ts';
import { readBallastTrace } from '../ingest/ballast/reader.ts';
import { captureSglang, parseDuration } from './sglang.ts';
import { BALLAST, PYTHON, runBounded } from './test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-sglang-'));
const WRITER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/torch_writer.py');
let py: ChildProcessByStdio<import('node:stream').Writable, import('node:stream').Readable, null>;
let pyOut = '';
const pyWaiters: ((line: string) => void)[] = [];

before(() => {
  py = spawn(PYTHON, [WRITER], { stdio: ['pipe', 'pipe', 'inherit'] });
  py.stdout.on('data', (d) => {
    pyOut += d;
    let i: number;
    while ((i = pyOut.indexOf('\n')) >= 0) {
      const line = pyOut.slice(0, i);
      pyOut = pyOut.slice(i + 1);
      pyWaiters.shift()?.(line);
    }
  });
});
after(() => {
  py.stdin.end();
  py.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function torchSave(out: string, value: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('torch writer timed out')), 60_000);
    pyWaiters.push((line) => {
      clearTimeout(t);
      if (line === 'ok') resolve();
      else reject(new Error(line));
    });
    py.stdin.write(`${JSON.stringify({ out, value })}\n`);
  });
}
const tensor = (data: unknown, dtype = 'int32') => ({ __tensor__: data, dtype });

const rng = mulberry32;

interface FakeOpts {
  mode: 'stat' | 'per_pass' | 'per_token';
  tp: number;
  a2a?: string;
  bufferSize?: number;
  passMs: number;
  /** No /get_server_info (older or proxied server). */
  noInfo?: boolean;
}

const L = 3; // model layers; layer 0 is dense (never routed), like DeepSeek's first layers
const E = 6;
const K = 2;

class FakeSglang {
  readonly calls: string[] = [];
  /** Truth: assignments routed while recording, [L][E], over all ranks' distinct tokens. */
  readonly truth = new Float64Array(L * E);
  truthTokens = 0;
  truthPasses = 0;
  private recording = false;
  private passId = 0;
  private timer?: NodeJS.Timeout;
  private ring: Float64Array[];
  private curr = 0;
  private records: { pass: number; rank: number; topk: number[][][] }[] = [];
  private rand = rng(7);
  server: Server;
  url = '';

  constructor(
    readonly o: FakeOpts,
    readonly dumpDir: string,
  ) {
    this.ring = Array.from({ length: o.bufferSize ?? 1000 }, () => new Float64Array(L * E));
    this.server = createServer((req, res) => void this.handle(req.url ?? '', req.method ?? '', res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** One forward pass: tokens routed top-2 to distinct experts of layers 1..L-1 on every rank. */
  private forward(): void {
    const replicated = (this.o.a2a ?? 'none') === 'none';
    const pass = this.passId++;
    const perRank: number[][][][] = [];
    for (let r = 0; r < this.o.tp; r++) {
      if (replicated && r > 0) {
        perRank.push(perRank[0]);
        continue;
      }
      const T = 1 + Math.floor(this.rand() * 4);
      const topk: number[][][] = []; // [L][T][K], -1 for the dense layer
      for (let l = 0; l < L; l++) {
        const rows: number[][] = [];
        for (let t = 0; t < T; t++) {
          if (l === 0) {
            rows.push([-1, -1]);
            continue;
          }
          const a = Math.floor(this.rand() * E);
          const b = (a + 1 + Math.floor(this.rand() * (E - 1))) % E;
          rows.push([a, b]);
          this.truth[l * E + a] += 1;
          this.truth[l * E + b] += 1;
        }
        topk.push(rows);
      }
      this.truthTokens += T;
      perRank.push(topk);
    }
    this.truthPasses++;
    // stat: the all-reduced (rank-summed) counts of this pass go into the ring (_CircularBuffer).
    const slot = new Float64Array(L * E);
    for (const topk of perRank) for (let l = 0; l < L; l++) for (const row of topk[l]) for (const id of row) if (id >= 0) slot[l * E + id] += 1;
    this.ring[this.curr] = slot;
    this.curr = (this.curr + 1) % this.ring.length;
    perRank.forEach((topk, rank) => this.records.push({ pass, rank, topk }));
  }

  private reset(): void {
    this.ring = this.ring.map(() => new Float64Array(L * E)); // zeroed, curr_index kept
    this.records = [];
  }

  private async dump(): Promise<void> {
    const t = Date.now() / 1000;
    if (this.o.mode === 'stat') {
      const lc = this.ring.map((s) => Array.from({ length: L }, (_, l) => Array.from(s.subarray(l * E, (l + 1) * E))));
      await torchSave(join(this.dumpDir, `expert_distribution_recorder_${t}.pt`), { rank: 0, logical_count: tensor(lc), average_utilization_rate_over_window: null });
    } else {
      const p2l = Array.from({ length: L }, () => Array.from({ length: E }, (_, e) => e));
      for (let rank = 0; rank < this.o.tp; rank++) {
        const recs = this.records
          .filter((r) => r.rank === rank)
          .map((r) => {
            const gpc = Array.from({ length: L }, (_, l) => {
              const row = new Array(E).fill(0);
              for (const ids of r.topk[l]) for (const id of ids) if (id >= 0) row[id] += 1;
              return row;
            });
            const base = { forward_pass_id: r.pass, rank, gatherer_key: 'primary', global_physical_count: tensor(gpc) };
            if (this.o.mode === 'per_pass') return base;
            const T = r.topk[0].length;
            const padded = r.topk.map((rows) => rows.map((ids) => [...ids, -1, -1, -1, -1, -1, -1]));
            return { ...base, topk_ids_of_layer: tensor(padded), input_ids: Array.from({ length: T }, (_, i) => i), extend_seq_lens: null, forward_mode: 2 };
          });
        await torchSave(join(this.dumpDir, `expert_distribution_recorder_${t}_${rank}.pt`), { records: recs, last_physical_to_logical_map: tensor(p2l, 'int64') });
      }
    }
    this.reset();
  }

  private async handle(url: string, method: string, res: import('node:http').ServerResponse): Promise<void> {
    this.calls.push(`${method} ${url}`);
    if (url === '/get_server_info' && method === 'GET') {
      if (this.o.noInfo) return void res.writeHead(404).end('{"detail":"Not Found"}');
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          model_path: 'fake/moe',
          tp_size: this.o.tp,
          dp_size: 1,
          pp_size: 1,
          ep_size: 1,
          enable_dp_attention: false,
          moe_a2a_backend: this.o.a2a ?? 'none',
          expert_distribution_recorder_mode: this.o.mode,
          expert_distribution_recorder_buffer_size: this.o.bufferSize ?? 1000,
          version: '0.5.6-fake',
        }),
      );
    }
    if (method !== 'POST') return void res.writeHead(405).end();
    if (url === '/start_expert_distribution_record') {
      this.reset();
      this.recording = true;
      // Passes at a steady wall-clock rate (one per passMs since the start), whatever the timer
      // jitter of a loaded machine: the engine's rate does not depend on ballast's event loop.
      const t0 = Date.now();
      let done = 0;
      this.timer = setInterval(() => {
        if (!this.recording) return;
        const due = Math.floor((Date.now() - t0) / this.o.passMs);
        for (; done < due; done++) this.forward();
      }, Math.max(1, Math.floor(this.o.passMs / 2)));
      return void res.writeHead(200).end('ok');
    }
    if (url === '/stop_expert_distribution_record') {
      this.recording = false;
      clearInterval(this.timer);
      return void res.writeHead(200).end('ok');
    }
    if (url === '/dump_expert_distribution_record') {
      try {
        await this.dump();
        return void res.writeHead(200).end('ok');
      } catch (e) {
        return void res.writeHead(500).end(String(e));
      }
    }
    res.writeHead(404).end('not found');
  }
}

async function withFake<T>(o: FakeOpts, fn: (f: FakeSglang) => Promise<T>): Promise<T> {
  const f = new FakeSglang(o, mkdtempSync(join(dir, 'dumps-')));
  await f.listen();
  try {
    return await fn(f);
  } finally {
    await f.close();
  }
}

/** Truth restricted to the routed layers 1..L-1 (the reader drops the dense layer 0). */
const routedTruth = (f: FakeSglang) => Array.from(f.truth.subarray(E));

test('stat, tp 2 without all-to-all: the all-reduced counts are divided by 2 and equal what was routed', async () => {
  await withFake({ mode: 'stat', tp: 2, passMs: 10, bufferSize: 1000 }, async (f) => {
    const logs: string[] = [];
    const out = join(dir, 'stat-tp2.ballast');
    const r = await captureSglang({ url: f.url, durationMs: 400, dumpDir: f.dumpDir, out, log: (l) => logs.push(l) });
    assert.ok(f.truthPasses > 5, `only ${f.truthPasses} passes`);
    assert.deepEqual(f.calls.slice(0, 4), ['GET /get_server_info', 'POST /start_expert_distribution_record', 'POST /stop_expert_distribution_record', 'POST /dump_expert_distribution_record']);
    assert.equal(r.dividedBy, 2);
    assert.equal(r.complete, true);
    assert.equal(r.segments.length, 1);
    assert.deepEqual(r.load.meta.layerIds, [1, 2]);
    assert.deepEqual(Array.from(totalCounts(r.load)), routedTruth(f));
    assert.equal(r.segments[0].passes, f.truthPasses);
    assert.ok(logs.some((l) => /stat counts divided by 2: tp_size 2 without an all-to-all MoE backend/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /ring buffer never full/.test(l)), logs.join('\n'));
    assert.ok(!logs.some((l) => /exact/.test(l)), logs.join('\n'));
    const back = readBallastTrace(out, { warn: () => {} });
    assert.deepEqual(Array.from(totalCounts(back.load!)), routedTruth(f));
    assert.equal(back.load!.meta.extra?.complete, true);
  });
});

test('stat with a small ring buffer: segments sized from the measured pass rate never overrun and add up to what was routed', async () => {
  await withFake({ mode: 'stat', tp: 1, passMs: 10, bufferSize: 40 }, async (f) => {
    const logs: string[] = [];
    // 100 passes/s: the 100 ms probe sees ~10, later segments are sized to ~20 (half the buffer).
    const r = await captureSglang({ url: f.url, durationMs: 900, dumpDir: f.dumpDir, probeMs: 100, minSegmentMs: 30, log: (l) => logs.push(l) });
    assert.ok(r.segments.length >= 3, `${r.segments.length} segments`);
    assert.ok(r.segments.every((s) => !s.full && s.passes < 40), JSON.stringify(r.segments));
    assert.equal(r.complete, true);
    assert.equal(r.dividedBy, 1);
    // Every pass routed while the recorder was on is counted: passes in the gaps were never routed
    // while recording, so the fake's truth holds only recorded passes.
    assert.equal(r.segments.reduce((s, g) => s + g.passes, 0), f.truthPasses);
    assert.deepEqual(Array.from(totalCounts(r.load)), routedTruth(f));
    assert.ok(logs.some((l) => /the recorder was off for \d+ ms between segments/.test(l)), logs.join('\n'));
  });
});

test('stat ring-buffer overrun is reported, the trace is marked incomplete, never more than was routed', async () => {
  await withFake({ mode: 'stat', tp: 1, passMs: 5, bufferSize: 4 }, async (f) => {
    const logs: string[] = [];
    const out = join(dir, 'overrun.ballast');
    const r = await captureSglang({ url: f.url, durationMs: 300, dumpDir: f.dumpDir, out, probeMs: 150, minSegmentMs: 100, log: (l) => logs.push(l) });
    assert.ok(r.segments[0].full, JSON.stringify(r.segments));
    assert.equal(r.complete, false);
    assert.ok(logs.some((l) => /wrote all 4 ring-buffer slots: passes before its last 4 were overwritten/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /--expert-distribution-recorder-buffer-size -1/.test(l)));
    const got = totalCounts(r.load);
    const truth = routedTruth(f);
    let lt = false;
    got.forEach((v, i) => {
      assert.ok(v <= truth[i]);
      if (v < truth[i]) lt = true;
    });
    assert.ok(lt, 'an overrun loses counts');
    assert.equal(readBallastTrace(out, { warn: () => {} }).load!.meta.extra?.complete, false);
  });
});

test('per_pass, tp 2 without all-to-all: both rank files are read, identical replicas counted once', async () => {
  await withFake({ mode: 'per_pass', tp: 2, passMs: 10 }, async (f) => {
    const logs: string[] = [];
    const r = await captureSglang({ url: f.url, durationMs: 300, dumpDir: f.dumpDir, log: (l) => logs.push(l) });
    assert.equal(r.dumps.length, 2);
    assert.deepEqual(Array.from(totalCounts(r.load)), routedTruth(f));
    assert.equal(r.load.meta.extra?.tpReplicas, 2);
    assert.ok(logs.some((l) => /recorded identical routing for every forward pass/.test(l)));
  });
});

test('per_pass with DeepEP (each rank routes its own tokens): both rank files are summed', async () => {
  await withFake({ mode: 'per_pass', tp: 2, a2a: 'deepep', passMs: 10 }, async (f) => {
    const r = await captureSglang({ url: f.url, durationMs: 300, dumpDir: f.dumpDir, log: () => {} });
    assert.equal(r.dumps.length, 2);
    assert.equal(r.load.meta.extra?.tpReplicas, 1);
    assert.deepEqual(Array.from(totalCounts(r.load)), routedTruth(f));
    assert.equal(r.load.meta.moeParallel, 'ep');
  });
});

test('per_token, tp 2 replicas: token routes counted once, with the truth token count', async () => {
  await withFake({ mode: 'per_token', tp: 2, passMs: 10 }, async (f) => {
    const out = join(dir, 'pt.ballast');
    const r = await captureSglang({ url: f.url, durationMs: 250, dumpDir: f.dumpDir, out, log: () => {} });
    assert.equal(r.routes?.numTokens, f.truthTokens);
    assert.deepEqual(Array.from(totalCounts(r.load)), routedTruth(f));
    const back = readBallastTrace(out, { warn: () => {} });
    assert.equal(back.routes?.numTokens, f.truthTokens);
  });
});

test('a server without /get_server_info: recorded as before, said in one line, not called complete', async () => {
  await withFake({ mode: 'stat', tp: 1, passMs: 10, noInfo: true }, async (f) => {
    const logs: string[] = [];
    const r = await captureSglang({ url: f.url, durationMs: 200, dumpDir: f.dumpDir, log: (l) => logs.push(l) });
    assert.deepEqual(Array.from(totalCounts(r.load)), routedTruth(f));
    assert.equal(r.complete, false);
    assert.ok(logs.some((l) => /GET \/get_server_info answered HTTP 404; .*overrun cannot be avoided/.test(l)), logs.join('\n'));
  });
});

test('the CLI writes the trace; an unreachable server is one line and exit code 2', async () => {
  let port = 0;
  await withFake({ mode: 'stat', tp: 4, passMs: 10 }, async (f) => {
    port = Number(new URL(f.url).port);
    const out = join(dir, 'cli.ballast');
    const res = await runBounded('node', [BALLAST, 'capture', '--sglang', f.url, '--duration', '300ms', '--dump-dir', f.dumpDir, '--out', out], { timeoutMs: 90_000 });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /2 layers x 6 experts, \d+ assignments; wrote /);
    assert.match(res.stderr, /stat counts divided by 4/);
    assert.deepEqual(Array.from(totalCounts(readBallastTrace(out, { warn: () => {} }).load!)), routedTruth(f));
  });
  const bad = await runBounded('node', [BALLAST, 'capture', '--sglang', `http://127.0.0.1:${port}`, '--duration', '1s', '--dump-dir', dir], { timeoutMs: 30_000 });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^ballast: --sglang: cannot reach http:\/\/127\.0\.0\.1:\d+\/get_server_info: ECONNREFUSED\n$/);
});

test('no dump appearing is a clear error, after stopping the recorder', async () => {
  const dumpDir = mkdtempSync(join(dir, 'dumps-'));
  const calls: string[] = [];
  const server = createServer((req, res) => {
    calls.push(req.url ?? '');
    res.writeHead(req.url === '/get_server_info' ? 404 : 200).end('ok'); // says ok but writes nothing
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await assert.rejects(captureSglang({ url, durationMs: 10, dumpDir, dumpWaitMs: 400, log: () => {} }), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /no new expert_distribution_recorder_\*\.pt appeared/);
      return true;
    });
    assert.deepEqual(calls, ['/get_server_info', '/start_expert_distribution_record', '/stop_expert_distribution_record', '/dump_expert_distribution_record']);
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
