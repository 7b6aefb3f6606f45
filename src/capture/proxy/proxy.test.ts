/**
 * The recording proxy against a fake OpenAI-compatible server on loopback that returns routed
 * experts the way vLLM's releases do (vllm-project/vllm@006c49d485f9ca479bf4989cbb694d0ac02f44b5
 * chat_completion/protocol.py + serving.py: base64 .npy per choice covering prompt + completion - 1
 * tokens; earlier: `prompt_routed_experts` + per-choice completion rows as lists or
 * {encoding, dtype, shape, data}), and SGLang's /generate (`meta_info.routed_experts`, raw int32).
 * The truth is the arrays the fake server generated, counted by the test from what it sent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readBallastTrace } from '../../ingest/ballast/reader.ts';
import { routesToCounts } from '../../core/token-routes.ts';
import { parseListen } from '../../cli/commands/capture.ts';
import { BALLAST, start } from '../test-helpers.ts';
import { startProxy } from './server.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-proxy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const L = 4; // layer 0 dense (all zero rows), like DeepSeek's first layers
const E = 16;
const K = 2;

let seed = 11;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};

/** [T][L][K] ids; layer 0 all zero. */
function routes(T: number): number[][][] {
  return Array.from({ length: T }, () =>
    Array.from({ length: L }, (_, l) => {
      if (l === 0) return [0, 0];
      const a = Math.floor(rand() * E);
      return [a, (a + 1 + Math.floor(rand() * (E - 1))) % E];
    }),
  );
}

/** .npy v1.0 bytes of a [T][L][K] uint16 array, written from numpy's format definition. */
function npy(a: number[][][]): Buffer {
  const shape = `(${a.length}, ${L}, ${K})`;
  let header = `{'descr': '<u2', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const h = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(h);
  h.writeUInt16LE(header.length, 8);
  const data = Buffer.alloc(a.length * L * K * 2);
  a.flat(2).forEach((v, i) => data.writeUInt16LE(v, 2 * i));
  return Buffer.concat([h, Buffer.from(header, 'latin1'), data]);
}

const int16Dict = (a: number[][][]) => {
  const b = Buffer.alloc(a.length * L * K * 2);
  a.flat(2).forEach((v, i) => b.writeInt16LE(v, 2 * i));
  return { encoding: 'base64', dtype: 'int16', shape: [a.length, L, K], data: b.toString('base64') };
};
const int32Raw = (a: number[][][]) => {
  const b = Buffer.alloc(a.length * L * K * 4);
  a.flat(2).forEach((v, i) => b.writeInt32LE(v, 4 * i));
  return b.toString('base64');
};

type Mode = 'npy' | 'split-list' | 'split-dict' | 'sglang';

class FakeEngine {
  /** [L-1][E] counts of what was sent (layers 1..L-1). */
  truth = new Float64Array((L - 1) * E);
  tokens = 0;
  prefillTokens = 0;
  seen: { url: string; auth?: string; body: string }[] = [];
  server: Server;
  url = '';
  constructor(readonly mode: Mode) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }
  async listen() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async close() {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
  private count(a: number[][][], prompt: number) {
    for (const tok of a) for (let l = 1; l < L; l++) for (const id of tok[l]) this.truth[(l - 1) * E + id] += 1;
    this.tokens += a.length;
    this.prefillTokens += prompt;
  }
  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse) {
    const parts: Buffer[] = [];
    for await (const d of req) parts.push(d as Buffer);
    const body = Buffer.concat(parts).toString('utf8');
    this.seen.push({ url: req.url ?? '', auth: req.headers.authorization, body });
    if (req.url === '/v1/models') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"fake-moe"}]}');
    if (req.url === '/metrics') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('vllm:num_requests_running 0\n');
    if (req.url === '/broken') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [ not json');
    const j = JSON.parse(body);
    const P = 3 + Math.floor(rand() * 5);
    const C = 2 + Math.floor(rand() * 6);
    if (j.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[{"delta":{"content":"hi"}}]}\n\n');
      return void res.end('data: [DONE]\n\n');
    }
    if (this.mode === 'sglang') {
      const meta: Record<string, unknown> = { prompt_tokens: P, completion_tokens: C, finish_reason: { type: 'length' } };
      if (j.return_routed_experts === true) {
        const a = routes(P + C - 1);
        this.count(a, P);
        meta.routed_experts = int32Raw(a);
      }
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ text: 'ok', output_ids: [1, 2], meta_info: meta }));
    }
    const usage = { prompt_tokens: P, completion_tokens: C, total_tokens: P + C };
    const choice: Record<string, unknown> = { index: 0, message: { role: 'assistant', content: 'x'.repeat(C) }, finish_reason: 'length', stop_reason: null, token_ids: null };
    const resp: Record<string, unknown> = { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'fake-moe', choices: [choice], system_fingerprint: 'vllm-0.23.0-5fb9e411', usage };
    if (this.mode === 'npy') {
      const a = routes(P + C - 1);
      this.count(a, P);
      choice.routed_experts = npy(a).toString('base64');
    } else {
      const p = routes(P);
      const c = routes(C - 1);
      this.count([...p, ...c], P);
      resp.prompt_routed_experts = this.mode === 'split-list' ? p : int16Dict(p);
      choice.routed_experts = this.mode === 'split-list' ? c : int16Dict(c);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(resp));
  }
}

async function setup(mode: Mode, name: string, opts: { shape?: { layers: number; topK: number }; numExperts?: number } = {}) {
  const fake = new FakeEngine(mode);
  await fake.listen();
  const logs: string[] = [];
  const out = join(dir, `${name}.ballast`);
  const record = { out, numExperts: opts.numExperts ?? E, extra: { upstream: fake.url } };
  const proxy = await startProxy({ upstream: fake.url, engine: mode === 'sglang' ? 'sglang' : 'vllm', host: '127.0.0.1', port: 0, record, shape: opts.shape, log: (l) => logs.push(l), flushMs: 60_000 });
  return { fake, proxy, logs, out };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

function assertTraceMatches(out: string, fake: FakeEngine, phases: boolean) {
  const t = readBallastTrace(out, { warn: () => {} });
  const r = t.routes!;
  assert.equal(r.numTokens, fake.tokens);
  assert.deepEqual(r.meta.layerIds, [1, 2, 3], 'the dense layer 0 is left out');
  assert.deepEqual(Array.from(routesToCounts(r)), Array.from(fake.truth));
  if (phases) {
    assert.ok(r.phase);
    assert.equal(r.phase!.filter((p) => p === 0).length, fake.prefillTokens);
  }
  return t;
}

for (const mode of ['npy', 'split-list', 'split-dict'] as const) {
  test(`vLLM ${mode}: every request recorded with prompt/decode phases, routed experts stripped from what the client sees`, async () => {
    const { fake, proxy, out, logs } = await setup(mode, mode);
    try {
      for (let i = 0; i < 6; i++) {
        const res = await post(`${proxy.url}/v1/chat/completions`, { model: 'fake-moe', messages: [{ role: 'user', content: 'hi' }] }, { authorization: 'Bearer sk-secret-123' });
        assert.equal(res.status, 200);
        const j = await res.json();
        assert.equal(j.choices[0].routed_experts, null);
        if (mode !== 'npy') assert.equal(j.prompt_routed_experts, null);
        assert.equal(j.choices[0].message.content.length, j.usage.completion_tokens, 'the rest of the response is unchanged');
      }
      await proxy.idle(); // recorded after each response, in a worker thread
      assert.equal(proxy.stats().requests, 6);
      assert.ok(fake.seen.every((s) => s.auth === 'Bearer sk-secret-123'), 'auth forwarded upstream');
    } finally {
      await proxy.close();
      await fake.close();
    }
    const t = assertTraceMatches(out, fake, true);
    assert.equal(t.routes!.meta.extra?.engineVersion, '0.23.0');
    assert.ok(!readFileSync(out).includes('sk-secret-123'), 'no credentials in the trace');
    assert.deepEqual(logs.filter((l) => !/expert count/.test(l)), []);
  });
}

test('SGLang /generate: the proxy asks for routed experts, records them, strips them; a client that asked keeps them', async () => {
  const { fake, proxy, out } = await setup('sglang', 'sglang', { shape: { layers: L, topK: K } });
  try {
    for (let i = 0; i < 4; i++) {
      const res = await post(`${proxy.url}/generate`, { text: 'hello', sampling_params: { max_new_tokens: 8 } });
      const j = await res.json();
      assert.equal(j.meta_info.routed_experts, null, 'stripped to null');
      assert.equal(typeof j.meta_info.prompt_tokens, 'number');
    }
    assert.ok(fake.seen.every((s) => JSON.parse(s.body).return_routed_experts === true));
    const streamed = await post(`${proxy.url}/generate`, { text: 's', stream: true });
    assert.equal(streamed.headers.get('content-type'), 'text/event-stream');
    await streamed.text();
    assert.equal(JSON.parse(fake.seen.at(-1)!.body).return_routed_experts, undefined, 'a streamed request is forwarded as sent');
    const asked = await (await post(`${proxy.url}/generate`, { text: 'x', return_routed_experts: true })).json();
    assert.equal(typeof asked.meta_info.routed_experts, 'string', 'kept for a client that asked');
    await proxy.idle();
    assert.equal(proxy.stats().requests, 5);
  } finally {
    await proxy.close();
    await fake.close();
  }
  assertTraceMatches(out, fake, true);
});

test('passes through what it cannot parse, byte for byte, and says so once', async () => {
  const { fake, proxy, logs } = await setup('npy', 'pass');
  try {
    const m = await fetch(`${proxy.url}/v1/models`);
    assert.equal(await m.text(), '{"object":"list","data":[{"id":"fake-moe"}]}');
    const metrics = await fetch(`${proxy.url}/metrics`);
    assert.equal(await metrics.text(), 'vllm:num_requests_running 0\n');
    for (let i = 0; i < 2; i++) {
      const b = await post(`${proxy.url}/broken`, {});
      assert.equal(await b.text(), '{"choices": [ not json');
    }
    for (let i = 0; i < 2; i++) {
      const s = await post(`${proxy.url}/v1/chat/completions`, { stream: true, messages: [] });
      assert.equal(s.headers.get('content-type'), 'text/event-stream');
      assert.equal(await s.text(), 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n');
    }
    await proxy.idle();
    assert.equal(proxy.stats().requests, 0);
  } finally {
    await proxy.close();
    await fake.close();
  }
  assert.equal(logs.filter((l) => /not valid JSON; passed through unchanged/.test(l)).length, 1);
  assert.equal(logs.filter((l) => /streamed responses .* passed through and not recorded/.test(l)).length, 1);
});

test('a routed-experts field in an unknown encoding: stripped like any other (clients see null), not recorded, one line', async () => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices":[{"index":0,"routed_experts":"%%%not-base64%%%"}]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const logs: string[] = [];
  const proxy = await startProxy({ upstream: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, engine: 'vllm', host: '127.0.0.1', port: 0, record: { out: join(dir, 'unk.ballast'), extra: {} }, log: (l) => logs.push(l) });
  let stats;
  try {
    // The value is decoded after the response has been answered (never on its path), so the client
    // gets what it gets for a readable one: null.
    for (let i = 0; i < 2; i++) assert.equal(await (await post(`${proxy.url}/v1/completions`, {})).text(), '{"choices":[{"index":0,"routed_experts":null}]}');
  } finally {
    stats = await proxy.close();
    server.closeAllConnections();
    server.close();
  }
  assert.equal(stats.requests, 0);
  assert.equal(logs.length, 1);
  assert.match(logs[0], /could not read choices\[0\]\.routed_experts: not base64 .*stripped from the response \(clients see null\), not recorded/);
});

test('upstream down: 502 to the client, one line', async () => {
  const logs: string[] = [];
  const proxy = await startProxy({ upstream: 'http://127.0.0.1:1', engine: 'vllm', host: '127.0.0.1', port: 0, record: { out: join(dir, 'down.ballast'), extra: {} }, log: (l) => logs.push(l) });
  try {
    for (let i = 0; i < 2; i++) assert.equal((await post(`${proxy.url}/v1/completions`, {})).status, 502);
  } finally {
    await proxy.close();
  }
  assert.equal(logs.length, 1);
  assert.match(logs[0], /cannot reach http:\/\/127\.0\.0\.1:1: ECONNREFUSED; answering 502/);
});

test('--listen parsing defaults to 127.0.0.1', () => {
  assert.deepEqual(parseListen('8001'), { host: '127.0.0.1', port: 8001 });
  assert.deepEqual(parseListen(':8001'), { host: '127.0.0.1', port: 8001 });
  assert.deepEqual(parseListen('0.0.0.0:9000'), { host: '0.0.0.0', port: 9000 });
  assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
  assert.throws(() => parseListen('host:port'));
});

test('CLI: `ballast capture --vllm URL --listen ADDR` records until SIGINT and writes the trace', async () => {
  const fake = new FakeEngine('npy');
  await fake.listen();
  const out = join(dir, 'cli.ballast');
  const p = start('node', [BALLAST, 'capture', '--vllm', fake.url, '--listen', '127.0.0.1:0', '--out', out, '--num-experts', String(E)], { timeoutMs: 60_000 });
  try {
    let url = '';
    for (let i = 0; i < 300 && !url; i++) {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(p.stderr());
      if (m) url = m[1];
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(url, p.stderr());
    for (let i = 0; i < 3; i++) assert.equal((await (await post(`${url}/v1/chat/completions`, { messages: [] })).json()).choices[0].routed_experts, null);
    p.child.kill('SIGINT');
    const r = await p.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /3 requests, \d+ tokens recorded; wrote /);
  } finally {
    p.kill();
    await fake.close();
  }
  assertTraceMatches(out, fake, true);
  const bad = start('node', [BALLAST, 'capture', '--vllm', 'http://127.0.0.1:8000'], { timeoutMs: 30_000 });
  const br = await bad.done;
  assert.equal(br.code, 2);
  assert.match(br.stderr, /^ballast: --vllm: expected --listen HOST:PORT/);
});

/** An upstream that answers from a list of canned responses, writing each body in small random
 * pieces with a pause between them, so that keys and values cross real network chunk boundaries. */
function cannedUpstream(responses: { status: number; type: string; body: Buffer; encoding?: string; hold?: boolean }[]) {
  let n = 0;
  const events: string[] = [];
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    const r = responses[n++ % responses.length];
    res.on('close', () => events.push(res.writableFinished ? 'finished' : 'closed-early'));
    res.writeHead(r.status, { 'content-type': r.type, 'content-length': r.body.length, ...(r.encoding ? { 'content-encoding': r.encoding } : {}) });
    let i = 0;
    while (i < r.body.length && !res.destroyed) {
      if (r.hold && i >= r.body.length / 2) return; // stall mid-body until the client gives up
      const len = 1 + Math.floor(rand() * 300);
      res.write(r.body.subarray(i, i + len));
      i += len;
      await new Promise((ok) => setImmediate(ok));
    }
    res.end();
  });
  return { server, events };
}

async function withProxy(up: ReturnType<typeof cannedUpstream>, name: string, fn: (url: string, proxy: Awaited<ReturnType<typeof startProxy>>, logs: string[]) => Promise<void>, maxHeldBytes?: number) {
  await new Promise<void>((r) => up.server.listen(0, '127.0.0.1', r));
  const logs: string[] = [];
  const proxy = await startProxy({ upstream: `http://127.0.0.1:${(up.server.address() as AddressInfo).port}`, engine: 'vllm', host: '127.0.0.1', port: 0, record: { out: join(dir, `${name}.ballast`), numExperts: E, extra: {} }, maxHeldBytes, log: (l) => logs.push(l) });
  try {
    await fn(proxy.url, proxy, logs);
  } finally {
    await proxy.close();
    up.server.closeAllConnections();
    await new Promise<void>((r) => up.server.close(() => r()));
  }
}

/** One request on `agent`; resolves with status, headers, body, and whether the socket was reused. */
function get(url: string, agent: Agent, path = '/v1/chat/completions') {
  const u = new URL(url);
  return new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer; reused: boolean }>((resolve, reject) => {
    const req = httpRequest({ hostname: u.hostname, port: u.port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': 2 } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end('{}');
  });
}

function vllmResponse(T: number) {
  const a = routes(T);
  const obj = {
    id: 'chatcmpl-2',
    choices: [
      { index: 0, message: { role: 'assistant', content: 'the "routed_experts": key \\" in text' }, routed_experts: npy(a).toString('base64'), token_ids: null },
      { index: 1, message: { role: 'assistant', content: '' }, routed_experts: npy(routes(T)).toString('base64') },
    ],
    usage: { prompt_tokens: 3, completion_tokens: T - 2, total_tokens: T + 1 },
  };
  const expected = structuredClone(obj) as any;
  expected.choices[0].routed_experts = null;
  expected.choices[1].routed_experts = null;
  return { body: Buffer.from(JSON.stringify(obj)), expected, tokens: 2 * T };
}

test('keep-alive: several requests on one connection, bodies dribbled in small chunks, each answered chunked with the values null, all recorded', async () => {
  const resps = [vllmResponse(40), vllmResponse(7), vllmResponse(90)];
  const up = cannedUpstream(resps.map((r) => ({ status: 200, type: 'application/json', body: r.body })));
  await withProxy(up, 'keepalive', async (url, proxy, logs) => {
    let connections = 0;
    proxy.server.on('connection', () => connections++);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 6; i++) {
        const r = await get(url, agent);
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-length'], undefined);
        assert.equal(r.headers['transfer-encoding'], 'chunked');
        assert.deepEqual(JSON.parse(r.body.toString('utf8')), resps[i % 3].expected);
        if (i > 0) assert.equal(r.reused, true, 'the same connection');
      }
    } finally {
      agent.destroy();
    }
    assert.equal(connections, 1);
    await proxy.idle();
    assert.equal(proxy.stats().requests, 6);
    assert.equal(proxy.stats().tokens, 2 * (2 * (40 + 7 + 90)));
    assert.equal(proxy.stats().heldBytes, 0, 'nothing left held');
    assert.deepEqual(logs.filter((l) => !/expert count/.test(l)), []);
  });
});

test('client aborts mid-stream: no crash, the upstream request is closed, nothing held; the next request works', async () => {
  const big = vllmResponse(3000);
  const up = cannedUpstream([{ status: 200, type: 'application/json', body: big.body, hold: true }, { status: 200, type: 'application/json', body: big.body }]);
  await withProxy(up, 'abort', async (url, proxy) => {
    const u = new URL(url);
    await new Promise<void>((resolve) => {
      const req = httpRequest({ hostname: u.hostname, port: u.port, path: '/v1/chat/completions', method: 'POST' }, (res) => {
        let got = 0;
        res.on('data', (d: Buffer) => {
          got += d.length;
          if (got > 100) req.destroy(); // hang up mid-body
        });
        res.on('error', () => {});
        res.on('close', () => resolve());
      });
      req.on('error', () => {});
      req.end('{}');
    });
    for (let i = 0; i < 200 && (up.events.length === 0 || proxy.inFlight() > 0); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(up.events, ['closed-early'], 'the proxy closed its upstream request');
    assert.equal(proxy.inFlight(), 0);
    assert.equal(proxy.stats().heldBytes, 0, 'what the aborted response held is released');
    const agent = new Agent();
    const r = await get(url, agent);
    agent.destroy();
    assert.deepEqual(JSON.parse(r.body.toString('utf8')), big.expected);
    await proxy.idle();
    assert.equal(proxy.stats().requests, 1, 'only the answered response is recorded');
  });
});

test('upstream error statuses and compressed bodies pass through unchanged; a compressed one is said once', async () => {
  const err400 = Buffer.from(JSON.stringify({ object: 'error', message: 'max_tokens is too large: "routed_experts"', type: 'BadRequestError', param: null, code: 400 }));
  const err500 = Buffer.from('Internal Server Error');
  const gz = gzipSync(vllmResponse(5).body);
  const up = cannedUpstream([
    { status: 400, type: 'application/json', body: err400 },
    { status: 500, type: 'text/plain; charset=utf-8', body: err500 },
    { status: 200, type: 'application/json', body: gz, encoding: 'gzip' },
  ]);
  await withProxy(up, 'errors', async (url, proxy, logs) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let round = 0; round < 2; round++) {
        const a = await get(url, agent);
        assert.equal(a.status, 400);
        assert.ok(a.body.equals(err400));
        const b = await get(url, agent);
        assert.equal(b.status, 500);
        assert.ok(b.body.equals(err500));
        const c = await get(url, agent);
        assert.equal(c.status, 200);
        assert.equal(c.headers['content-encoding'], 'gzip');
        assert.ok(c.body.equals(gz), 'compressed body byte for byte');
      }
    } finally {
      agent.destroy();
    }
    await proxy.idle();
    assert.equal(proxy.stats().requests, 0);
    assert.equal(logs.length, 1);
    assert.match(logs[0], /gzip-encoded JSON response .* passed through unchanged and not recorded/);
  });
});

test('24 requests at once: every client gets its own response with the values null, all recorded, counts exact', async () => {
  const { fake, proxy, out } = await setup('npy', 'parallel');
  try {
    const replies = await Promise.all(Array.from({ length: 24 }, () => post(`${proxy.url}/v1/chat/completions`, { messages: [] }).then((r) => r.json())));
    for (const j of replies) {
      assert.equal(j.choices[0].routed_experts, null);
      assert.equal(j.choices[0].message.content.length, j.usage.completion_tokens);
    }
    await proxy.idle();
    assert.equal(proxy.stats().requests, 24);
  } finally {
    await proxy.close();
    await fake.close();
  }
  assertTraceMatches(out, fake, true);
});

test('over the memory cap for recording: clients still get every response at once, values null; the routing is dropped, counted, said once', async () => {
  const resps = [vllmResponse(200), vllmResponse(300)];
  const up = cannedUpstream(resps.map((r) => ({ status: 200, type: 'application/json', body: r.body })));
  await withProxy(
    up,
    'cap',
    async (url, proxy, logs) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; i < 4; i++) assert.deepEqual(JSON.parse((await get(url, agent)).body.toString('utf8')), resps[i % 2].expected);
      } finally {
        agent.destroy();
      }
      await proxy.idle();
      assert.equal(proxy.stats().dropped, 4);
      assert.equal(proxy.stats().requests, 0);
      assert.equal(proxy.stats().heldBytes, 0);
      assert.equal(logs.filter((l) => /recording fell behind/.test(l)).length, 1);
    },
    4096, // each response's values are > 4 KiB
  );
});
