/**
 * The recording proxy: an HTTP server in front of an OpenAI-compatible vLLM server (or an SGLang
 * server) that forwards every request unchanged, records the routed experts of each JSON response
 * into a ballast trace (recorder.ts), and strips them from what the client sees (extract.ts).
 *
 * - Anything it cannot parse (not JSON, compressed, a routed-experts field in an unknown encoding)
 *   goes to the client byte for byte, unrecorded, and is said once per kind on stderr.
 * - Streamed responses (text/event-stream) are piped through as they arrive, unrecorded (vLLM puts
 *   no routed experts in stream chunks).
 * - SGLang returns routing only per request: on POST /generate the proxy adds
 *   "return_routed_experts": true to the JSON body, and strips the field again unless the client
 *   had asked for it.
 * - Nothing from the requests is stored: headers (Authorization included) are forwarded, never
 *   written; the trace holds expert ids, token counts and the upstream URL without credentials.
 */
import { type IncomingMessage, request as httpRequest, Agent, createServer, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { listenOn } from '../listen.ts';
import { type Engine, extractRouted } from './extract.ts';
import { spliceRouted } from './splice.ts';
import type { RoutesRecorder } from './recorder.ts';

export interface ProxyOptions {
  upstream: string;
  engine: Engine;
  host: string;
  port: number;
  recorder: RoutesRecorder;
  /** Layers and top-k for SGLang's raw int32 encoding. */
  shape?: { layers: number; topK: number };
  /** Write the trace this often (ms). Default 10 s. */
  flushMs?: number;
  log: (line: string) => void;
}

export interface RunningProxy {
  url: string;
  server: Server;
  /** Stop listening, flush the trace. */
  close(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

function forwardHeaders(h: IncomingMessage['headers'], upstreamHost: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  out.host = upstreamHost;
  return out;
}

function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

export async function startProxy(o: ProxyOptions): Promise<RunningProxy> {
  const up = new URL(o.upstream);
  const base = up.pathname.replace(/\/+$/, '');
  const isHttps = up.protocol === 'https:';
  const agent = isHttps ? new HttpsAgent({ keepAlive: true }) : new Agent({ keepAlive: true });
  const said = new Set<string>();
  const once = (key: string, line: string) => {
    if (said.has(key)) return;
    said.add(key);
    o.log(line);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    const headers = forwardHeaders(req.headers, up.host);
    let body: Buffer | undefined;
    let clientAsked = false;
    if (o.engine === 'sglang' && req.method === 'POST' && /^\/generate(\?|$)/.test(path)) {
      body = await readAll(req);
      try {
        const j = JSON.parse(body.toString('utf8'));
        if (j && typeof j === 'object' && !Array.isArray(j)) {
          clientAsked = j.return_routed_experts === true;
          if (!clientAsked) {
            j.return_routed_experts = true;
            body = Buffer.from(JSON.stringify(j), 'utf8');
          }
        }
      } catch {
        once('req-json', `a POST ${path} body is not JSON; forwarded unchanged, its routing is not requested`);
      }
      headers['content-length'] = String(body.length);
    }
    if (req.method === 'POST') headers['accept-encoding'] = 'identity';
    const send = isHttps ? httpsRequest : httpRequest;
    const upReq = send(
      { protocol: up.protocol, hostname: up.hostname, port: up.port || (isHttps ? 443 : 80), path: `${base}${path}`, method: req.method, headers, agent },
      (upRes) => void onResponse(upRes, res, path, clientAsked),
    );
    upReq.on('error', (e: NodeJS.ErrnoException) => {
      once(`up-${e.code}`, `cannot reach ${up.origin}: ${e.code ?? e.message}; answering 502`);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `ballast proxy: upstream ${up.origin} unreachable (${e.code ?? e.message})`, type: 'bad_gateway' } }));
    });
    req.on('aborted', () => upReq.destroy());
    if (body) upReq.end(body);
    else req.pipe(upReq);
  };

  const onResponse = async (upRes: IncomingMessage, res: ServerResponse, path: string, clientAsked: boolean): Promise<void> => {
    const type = String(upRes.headers['content-type'] ?? '');
    const enc = String(upRes.headers['content-encoding'] ?? 'identity');
    const headers = { ...upRes.headers };
    for (const k of Object.keys(headers)) if (HOP.has(k)) delete headers[k];
    if (!/application\/json/i.test(type) || (enc !== 'identity' && enc !== '')) {
      if (/text\/event-stream/i.test(type)) once('sse', `streamed responses (${path}) are passed through and not recorded: the engine puts no routed experts in stream chunks`);
      else if (/application\/json/i.test(type)) once('enc', `a ${enc}-encoded JSON response (${path}) was passed through unchanged and not recorded`);
      res.writeHead(upRes.statusCode ?? 502, headers);
      upRes.pipe(res);
      return;
    }
    const raw = await readAll(upRes);
    const status = upRes.statusCode ?? 502;
    const reply = (b: Buffer) => {
      headers['content-length'] = String(b.length);
      res.writeHead(status, headers);
      res.end(b);
    };
    // Cut the routed-experts values out of the bytes (no full parse of a body that is mostly them),
    // decode them before answering so that an unreadable one goes to the client unchanged, answer,
    // then record.
    const sp = spliceRouted(raw);
    let ex: ReturnType<typeof extractRouted> | undefined;
    let toClient = raw;
    try {
      if (sp) {
        if (sp.values.length === 0) {
          // Nothing to record: answer as sent. Small bodies are still checked, to say once what
          // could not be read.
          if (raw.length < 1 << 20) JSON.parse(raw.toString('utf8'));
          if (sp.nulls > 0 && status < 300) once('none', `${path} responses carry routed_experts: null; is the server started with --enable-return-routed-experts?`);
          return reply(raw);
        }
        ex = extractRouted(JSON.parse(sp.marked.toString('utf8')), o.engine, { strip: false, shape: o.shape, values: sp.values });
        toClient = o.engine === 'sglang' && clientAsked ? raw : sp.client;
      } else {
        const j = JSON.parse(raw.toString('utf8'));
        ex = extractRouted(j, o.engine, { strip: true, shape: o.shape });
        if (ex.found > 0 && !(o.engine === 'sglang' && clientAsked)) toClient = Buffer.from(JSON.stringify(j), 'utf8');
      }
    } catch {
      once('json', `a response from ${path} is not valid JSON; passed through unchanged, not recorded`);
      return reply(raw);
    }
    if (ex.problems.length > 0) {
      once(`bad-${ex.problems[0].split(':')[0]}`, `could not read ${ex.problems[0]} (${path}); response passed through unchanged, not recorded`);
      return reply(raw);
    }
    reply(toClient);
    if (ex.found > 0) {
      const seqs = ex.seqs;
      const version = ex.version;
      setImmediate(() => {
        try {
          if (version) o.recorder.version = version;
          o.recorder.add(seqs);
        } catch (e) {
          once('record', `cannot record: ${(e as Error).message}`);
        }
      });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      once('internal', `proxy error: ${e.message}`);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  const url = await listenOn(server, o.host, o.port);
  const timer = setInterval(() => {
    try {
      o.recorder.flush();
    } catch (e) {
      once('flush', `cannot write the trace: ${(e as Error).message}`);
    }
  }, o.flushMs ?? 10_000);
  timer.unref();
  return {
    url,
    server,
    close: async () => {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
      await new Promise((r) => setImmediate(r)); // records queued by the last responses
      o.recorder.close();
    },
  };
}
