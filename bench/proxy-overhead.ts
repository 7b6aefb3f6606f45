/**
 * What the recording proxy (`ballast capture --vllm URL --listen ADDR`) costs the client: time to
 * first byte and time to last byte of a response, direct to the upstream vs through a bare relay vs
 * through the ballast proxy, side by side in one run.
 *
 * Four processes: this one (the client, timing), a fake vLLM upstream, a bare relay (Node http,
 * pipes request and response, parses nothing) and the real CLI (`node bin/ballast.js capture ...`,
 * one per response size, so each trace has one model shape). Recording work therefore runs in the
 * proxy's own process (its worker thread), never in the client's. Each round sends one request by
 * each path in a random order (seeded), so drift and the proxy's background recording fall on all
 * three alike; the paired differences are reported as mean +- 1.96 sd / sqrt(n) and as medians.
 *
 * The upstream answers /v1/chat/completions with a precomputed body whose choices[0].routed_experts
 * is base64 .npy uint16 [P + C - 1][L][K] (the form of vllm-project/vllm@006c49d485f9ca479bf4989cbb694d0ac02f44b5),
 * written in one piece with a Content-Length, so its own cost is the same for every path. A real
 * server spends 10^2-10^4 ms generating; only what the proxy adds on top is measured here.
 *
 * Usage: node --import tsx bench/proxy-overhead.ts [rounds=200]
 * (internal: ... upstream | ... relay URL)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SIZES: [number, number, number, number, number][] = [
  [64, 32, 48, 8, 128],
  [512, 128, 48, 8, 128],
  [2048, 256, 61, 8, 256],
];

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

function body([P, C, L, K, E]: [number, number, number, number, number]): Buffer {
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

/** Child: the fake upstream; /v1/chat/completions?s=<size index>. */
async function upstreamMain(): Promise<void> {
  const bodies = SIZES.map(body);
  const server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      const b = bodies[Number(new URL(req.url ?? '/', 'http://x').searchParams.get('s') ?? 0)];
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length }).end(b);
    });
  });
  console.log(`URL ${await listen(server)} ${bodies.map((b) => b.length).join(' ')}`);
}

/** Child: bare relay: forwards method, path, headers and body; pipes the response. */
async function relayMain(upstream: string): Promise<void> {
  const up = new URL(upstream);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((req, res) => {
    const r = httpRequest({ hostname: up.hostname, port: up.port, path: req.url, method: req.method, headers: { ...req.headers, host: up.host }, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    r.on('error', () => res.writeHead(502).end());
    req.pipe(r);
  });
  console.log(`URL ${await listen(server)}`);
}

/** Spawn a child and wait for the line matching `re` on stdout or stderr. */
function child(cmd: string, args: string[], re: RegExp): Promise<{ p: ChildProcess; m: RegExpExecArray; err: () => string }> {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(out) ?? re.exec(err);
      if (m) resolve({ p, m, err: () => err });
    };
    p.stdout!.on('data', (d) => ((out += d), check()));
    p.stderr!.on('data', (d) => ((err += d), check()));
    p.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${err}`)));
  });
}

const clientAgents = new Map<string, Agent>();
/** [time to first body byte, time to last byte] in ms. */
function timed(url: string, s: number): Promise<[number, number]> {
  const payload = '{"model":"bench-moe","messages":[{"role":"user","content":"hi"}]}';
  const u = new URL(url);
  let agent = clientAgents.get(url);
  if (!agent) clientAgents.set(url, (agent = new Agent({ keepAlive: true, maxSockets: 1 })));
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first = -1;
    const req = httpRequest({ hostname: u.hostname, port: u.port, path: `/v1/chat/completions?s=${s}`, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      res.on('data', () => {
        if (first < 0) first = Number(process.hrtime.bigint() - t0) / 1e6;
      });
      res.on('end', () => resolve([first, Number(process.hrtime.bigint() - t0) / 1e6]));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
function meanCi(d: number[]): string {
  const m = d.reduce((s, x) => s + x, 0) / d.length;
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / (d.length - 1));
  return `${m.toFixed(2)} ± ${((1.96 * sd) / Math.sqrt(d.length)).toFixed(2)}`;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 200);
  const self = fileURLToPath(import.meta.url);
  const root = join(self, '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'ballast-proxy-bench-'));
  const kids: ChildProcess[] = [];
  let seed = 3;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed / 2147483648);
  const load0 = loadavg();
  const rows: string[] = [];
  try {
    const up = await child(process.execPath, ['--import', 'tsx', self, 'upstream'], /URL (\S+) (\d+) (\d+) (\d+)/);
    kids.push(up.p);
    const upUrl = up.m[1];
    const relay = await child(process.execPath, ['--import', 'tsx', self, 'relay', upUrl], /URL (\S+)/);
    kids.push(relay.p);
    for (let s = 0; s < SIZES.length; s++) {
      const [P, C, L, K, E] = SIZES[s];
      const out = join(dir, `b${s}.ballast`);
      const px = await child(process.execPath, [join(root, 'bin', 'ballast.js'), 'capture', '--vllm', upUrl, '--listen', '127.0.0.1:0', '--out', out, '--num-experts', String(E), '--max-tokens', '1000000000'], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
      kids.push(px.p);
      const paths = [upUrl, relay.m[1], px.m[1]];
      const t: [number, number][][] = [[], [], []];
      for (let r = -20; r < rounds; r++) {
        const order = [0, 1, 2].sort(() => rand() - 0.5);
        for (const i of order) {
          const x = await timed(paths[i], s);
          if (r >= 0) t[i].push(x);
        }
      }
      // Stop the proxy: it writes the trace and says what it recorded.
      const exited = new Promise((r) => px.p.once('exit', r));
      px.p.kill('SIGINT');
      await exited;
      const rec = /(\d+) requests, (\d+) tokens recorded/.exec(px.err());
      const col = (k: 0 | 1) => t.map((a) => a.map((x) => x[k]));
      for (const [k, what] of [[0, 'first byte'], [1, 'last byte']] as const) {
        const [d, b, o] = col(k);
        rows.push(
          `| ${P}+${C} tok, L ${L}, k ${K} | ${(Number(up.m[2 + s]) / 1024).toFixed(0)} KiB | ${what} | ${median(d).toFixed(2)} | ${median(b).toFixed(2)} | ${median(o).toFixed(2)} | ${meanCi(b.map((x, i) => x - d[i]))} | ${meanCi(o.map((x, i) => x - b[i]))} | ${median(o.map((x, i) => x - b[i])).toFixed(2)} | ${k === 1 && rec ? `${rec[1]} / ${rec[2]}` : ''} |`,
        );
      }
    }
  } finally {
    for (const a of clientAgents.values()) a.destroy();
    for (const k of kids) if (k.exitCode === null) k.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const load1 = loadavg();
  console.log(`rounds per size: ${rounds} (after 20 warm-up rounds), paths in random order each round; times in ms, client-side, loopback; client, upstream, relay and proxy in separate processes`);
  console.log(`load average (1/5/15 min) before: ${load0.map((x) => x.toFixed(2)).join(' ')}, after: ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| response | body | time to | direct median | bare relay median | ballast proxy median | relay − direct, mean ± 95% CI | ballast − relay, mean ± 95% CI | ballast − relay, median | recorded requests / tokens |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

const mode = process.argv[2];
if (mode === 'upstream') await upstreamMain();
else if (mode === 'relay') await relayMain(process.argv[3]);
else await main();
