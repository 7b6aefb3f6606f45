/**
 * Added latency of the recording proxy (`ballast capture --vllm URL --listen ADDR`) against a bare
 * relay (Node http, pipes request and response, parses nothing) and against no proxy at all, side by
 * side in one run, requests alternating (direct, relay, ballast) so drift hits all three alike.
 *
 * Upstream: a fake vLLM server on loopback answering /v1/chat/completions with a precomputed
 * response whose choices[0].routed_experts is base64 .npy uint16 [P + C - 1][L][K] (the form of
 * vllm-project/vllm@006c49d485f9ca479bf4989cbb694d0ac02f44b5), so the upstream's own cost is the same
 * for every path. A real server spends 10^2-10^4 ms generating; what is measured here is only what the
 * proxy adds on top.
 *
 * All parts run in this one process, so the proxy's recording work after each response (appending to
 * the trace) is charged to whichever request runs next: the numbers overstate a proxy in its own
 * process.
 *
 * Usage: node --import tsx bench/proxy-overhead.ts [pairs=200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy } from '../src/capture/proxy/server.ts';

const PAIRS = Number(process.argv[2] ?? 200);

function npyB64(T: number, L: number, K: number, E: number): string {
  let header = `{'descr': '<u2', 'fortran_order': False, 'shape': (${T}, ${L}, ${K}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const h = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(h);
  h.writeUInt16LE(header.length, 8);
  const data = Buffer.alloc(T * L * K * 2);
  let s = 1;
  for (let i = 0; i < T * L * K; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data.writeUInt16LE(s % E, 2 * i);
  }
  return Buffer.concat([h, Buffer.from(header, 'latin1'), data]).toString('base64');
}

function body(P: number, C: number, L: number, K: number, E: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      id: 'chatcmpl-bench',
      object: 'chat.completion',
      created: 1,
      model: 'bench-moe',
      choices: [{ index: 0, message: { role: 'assistant', content: 'y'.repeat(C * 4) }, finish_reason: 'length', stop_reason: null, token_ids: null, routed_experts: npyB64(P + C - 1, L, K, E) }],
      system_fingerprint: 'vllm-0.23.0-bench',
      usage: { prompt_tokens: P, completion_tokens: C, total_tokens: P + C },
    }),
  );
}

async function listen(server: ReturnType<typeof createServer>): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Bare relay: forwards method, path, headers and body; pipes the response. */
function bareRelay(upstream: string) {
  const up = new URL(upstream);
  const agent = new Agent({ keepAlive: true });
  return createServer((req, res) => {
    const r = httpRequest({ hostname: up.hostname, port: up.port, path: req.url, method: req.method, headers: { ...req.headers, host: up.host }, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    r.on('error', () => res.writeHead(502).end());
    req.pipe(r);
  });
}

const clientAgent = new Agent({ keepAlive: true, maxSockets: 1 });
function timed(url: string): Promise<number> {
  const payload = '{"model":"bench-moe","messages":[{"role":"user","content":"hi"}]}';
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const u = new URL(url);
    const req = httpRequest({ hostname: u.hostname, port: u.port, path: '/v1/chat/completions', method: 'POST', agent: clientAgent, headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
function meanCi(d: number[]): [number, number] {
  const m = d.reduce((s, x) => s + x, 0) / d.length;
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / (d.length - 1));
  return [m, (1.96 * sd) / Math.sqrt(d.length)];
}

const dir = mkdtempSync(join(tmpdir(), 'ballast-proxy-bench-'));
const rows: string[] = [];
try {
  for (const [P, C, L, K, E] of [
    [64, 32, 48, 8, 128],
    [512, 128, 48, 8, 128],
    [2048, 256, 61, 8, 256],
  ]) {
    const resp = body(P, C, L, K, E);
    const upstream = createServer((req, res) => {
      req.on('data', () => {});
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': resp.length }).end(resp));
    });
    const upUrl = await listen(upstream);
    const relay = bareRelay(upUrl);
    const relayUrl = await listen(relay);
    const proxy = await startProxy({ upstream: upUrl, engine: 'vllm', host: '127.0.0.1', port: 0, record: { out: join(dir, 'b.ballast'), numExperts: E, maxTokens: 1e12, extra: {} }, flushMs: 3_600_000, log: (l) => process.stderr.write(`${l}\n`) });
    for (let i = 0; i < 20; i++) {
      await timed(upUrl);
      await timed(relayUrl);
      await timed(proxy.url);
    }
    const direct: number[] = [];
    const bare: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < PAIRS; i++) {
      direct.push(await timed(upUrl));
      bare.push(await timed(relayUrl));
      ours.push(await timed(proxy.url));
    }
    const recorder = await proxy.close();
    const [dm, dci] = meanCi(ours.map((x, i) => x - bare[i]));
    const [rm, rci] = meanCi(bare.map((x, i) => x - direct[i]));
    rows.push(
      `| ${P}+${C} tok, L ${L}, k ${K} | ${(resp.length / 1024).toFixed(0)} KiB | ${median(direct).toFixed(2)} | ${median(bare).toFixed(2)} | ${median(ours).toFixed(2)} | ${rm.toFixed(2)} ± ${rci.toFixed(2)} | ${dm.toFixed(2)} ± ${dci.toFixed(2)} | ${recorder.requests} / ${recorder.tokens} |`,
    );
    relay.closeAllConnections();
    relay.close();
    upstream.closeAllConnections();
    upstream.close();
  }
} finally {
  clientAgent.destroy();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`pairs per size: ${PAIRS} (after 20 warm-up rounds); times in ms, client-side, loopback`);
console.log('| response | body | direct median | bare relay median | ballast proxy median | relay - direct, mean ± 95% CI | ballast - relay, mean ± 95% CI | recorded requests / tokens |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
