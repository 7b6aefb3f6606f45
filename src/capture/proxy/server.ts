/**
 * The recording proxy: an HTTP server in front of an OpenAI-compatible vLLM server (or an SGLang
 * server) that forwards every request unchanged, and streams every response back as its bytes
 * arrive, cutting the routed-experts values out on the way (splice.ts: clients see `null`).
 *
 * Nothing but forwarding bytes is on a response's path: the cut values are decoded and recorded
 * after the client's response has ended, in a worker thread (record-queue.ts, record-worker.ts),
 * with a cap on the bytes held; over it a response's routing is dropped, never the response held up.
 *
 * - JSON responses are sent with chunked transfer encoding (their length changes): the upstream
 *   Content-Length is dropped. Everything else (status, other headers) is passed on as sent.
 * - Anything it cannot parse (not JSON from some byte on) goes to the client byte for byte from that
 *   byte, unrecorded, said once. A compressed response is passed through untouched and unrecorded
 *   (the proxy asks upstream for identity encoding on POST), said once.
 * - Streamed responses (text/event-stream) are piped through untouched, unrecorded: vLLM puts no
 *   routed experts in stream chunks (vllm-project/vllm@006c49d485f9ca479bf4989cbb694d0ac02f44b5
 *   vllm/entrypoints/openai/chat_completion/serving.py: chat_completion_stream_generator builds
 *   ChatCompletionResponseStreamChoice without them; only chat_completion_full_generator sets
 *   routed_experts).
 * - SGLang returns routing only per request: on POST /generate the proxy adds
 *   "return_routed_experts": true to the JSON body, and strips the field again unless the client
 *   had asked for it. Not on streamed requests ("stream": true): those are piped untouched, so the
 *   field would reach a client that did not ask for it (said once).
 * - Nothing from the requests is stored: headers (Authorization included) are forwarded, never
 *   written; the trace holds expert ids, token counts and the upstream URL without credentials.
 */
import { type IncomingMessage, request as httpRequest, Agent, createServer, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { listenOn } from '../listen.ts';
import type { Engine } from './extract.ts';
import type { RecorderOptions } from './recorder.ts';
import { RecordQueue } from './record-queue.ts';
import type { RecordStats } from './record-worker.ts';
import { RoutedSplicer, SGLANG_PLACES, VLLM_PLACES } from './splice.ts';

export interface ProxyOptions {
  upstream: string;
  engine: Engine;
  host: string;
  port: number;
  /** The trace to write (recorded in a worker thread). */
  record: Omit<RecorderOptions, 'log'>;
  /** Layers and top-k for SGLang's raw int32 encoding. */
  shape?: { layers: number; topK: number };
  /** Write the trace this often (ms). Default 10 s. */
  flushMs?: number;
  /** Most bytes of routed experts held for recording (in flight + queued). Default 256 MiB. */
  maxHeldBytes?: number;
  log: (line: string) => void;
}

export interface ProxyStats extends RecordStats {
  /** Responses whose routing was dropped (recording over its memory cap). */
  dropped: number;
  /** Bytes of routed experts held now (responses in flight + queued for recording). */
  heldBytes: number;
  /** Responses whose routing was cut out after the recording thread failed. */
  lost: number;
  /** The recording thread failed (said once in the log): the trace holds what it wrote before. */
  recordingFailed: boolean;
}

export interface RunningProxy {
  url: string;
  server: Server;
  /** Counts so far (recorded asynchronously: see idle()). */
  stats(): ProxyStats;
  /** Responses being answered now. */
  inFlight(): number;
  /** Resolves when everything queued for recording is recorded. */
  idle(): Promise<void>;
  /** Stop listening, record what is queued, finish the trace; the final counts. */
  close(): Promise<ProxyStats>;
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
  const places = o.engine === 'vllm' ? VLLM_PLACES : SGLANG_PLACES;
  const said = new Set<string>();
  const once = (key: string, line: string) => {
    if (said.has(key)) return;
    said.add(key);
    o.log(line);
  };
  const queue = new RecordQueue({ engine: o.engine, shape: o.shape, recorder: o.record, flushMs: o.flushMs ?? 10_000 }, o.maxHeldBytes ?? 256 * 2 ** 20, o.log);
  let inFlight = 0;

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
          if (j.stream === true) {
            // SGLang fills meta_info.routed_experts in the same place for streamed chunks
            // (tokenizer_manager.py, _handle_batch_output); streams are piped untouched, so asking
            // for them would hand them to a client that did not ask.
            once('sglang-stream', `streamed ${path} requests are forwarded unchanged: their routing is not requested, not recorded`);
          } else if (!clientAsked) {
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
      (upRes) => onResponse(upRes, req, res, path, clientAsked),
    );
    upReq.on('error', (e: NodeJS.ErrnoException) => {
      if (res.headersSent) {
        // The upstream connection died mid-response: end the client's too, so it sees the cut.
        res.destroy();
        return;
      }
      once(`up-${e.code}`, `cannot reach ${up.origin}: ${e.code ?? e.message}; answering 502`);
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `ballast proxy: upstream ${up.origin} unreachable (${e.code ?? e.message})`, type: 'bad_gateway' } }));
    });
    // The client went away (before or during the response): stop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });
    if (body) upReq.end(body);
    else req.pipe(upReq);
  };

  const onResponse = (upRes: IncomingMessage, req: IncomingMessage, res: ServerResponse, path: string, clientAsked: boolean): void => {
    const type = String(upRes.headers['content-type'] ?? '');
    const enc = String(upRes.headers['content-encoding'] ?? 'identity');
    const status = upRes.statusCode ?? 502;
    const headers = { ...upRes.headers };
    for (const k of Object.keys(headers)) if (HOP.has(k)) delete headers[k];
    const json = /application\/json/i.test(type);
    const identity = enc === 'identity' || enc === '';
    if (!json || !identity || req.method === 'HEAD' || status === 204 || status === 304) {
      if (/text\/event-stream/i.test(type)) once('sse', o.engine === 'vllm' ? `streamed responses (${path}) are passed through and not recorded: vLLM puts no routed experts in stream chunks` : `streamed responses (${path}) are passed through unchanged and not recorded (what a client asked for reaches it as sent)`);
      else if (json && !identity) once('enc', `a ${enc}-encoded JSON response (${path}) was passed through unchanged and not recorded`);
      res.writeHead(status, headers);
      upRes.pipe(res);
      return;
    }
    // Its length changes when a value is cut: chunked encoding (or close-delimited for HTTP/1.0).
    delete headers['content-length'];
    res.writeHead(status, headers);
    inFlight++;
    const sp = new RoutedSplicer({ places, keep: o.engine === 'sglang' && clientAsked, reserve: queue.reserve });
    let done = false;
    const finish = (answered: boolean) => {
      if (done) return;
      done = true;
      inFlight--;
      if (!answered) {
        queue.release(sp.heldBytes);
        sp.release();
        return;
      }
      // Strictly after the client's response has ended.
      queue.expect();
      setImmediate(() => {
        if (sp.broken) once('json', `a response from ${path} is not valid JSON; passed through unchanged, not recorded`);
        else {
          if (sp.unexpected) once(`place-${sp.unexpected}`, `a response from ${path} has "${sp.unexpected}", where the engine does not put routed experts; passed through, not recorded`);
          if (sp.values.length === 0 && sp.nulls > 0 && status < 300) once('none', `${path} responses carry routed_experts: null; is the server started with --enable-return-routed-experts?`);
        }
        queue.submit(sp, path);
      });
    };
    const write = (parts: Buffer[]): boolean => {
      if (parts.length === 1) return res.write(parts[0]);
      if (parts.length === 0) return true;
      res.cork();
      let ok = true;
      for (const p of parts) ok = res.write(p);
      res.uncork();
      return ok;
    };
    // With a Content-Length the last chunk is known when it arrives: end the client's response with
    // it (last bytes and the terminating chunk in one write) instead of one event-loop turn later.
    const length = Number(upRes.headers['content-length'] ?? NaN);
    let got = 0;
    let ended = false;
    const endWith = (parts: Buffer[]) => {
      ended = true;
      const all = [...parts, ...sp.end()];
      if (all.length > 1) write(all.slice(0, -1));
      res.end(all.at(-1));
    };
    upRes.on('data', (d: Buffer) => {
      if (ended) return;
      got += d.length;
      const parts = sp.push(d);
      if (got === length) return endWith(parts);
      if (!write(parts)) {
        upRes.pause();
        res.once('drain', () => upRes.resume());
      }
    });
    upRes.on('end', () => {
      if (!ended) endWith([]);
    });
    upRes.on('error', () => res.destroy());
    res.on('finish', () => finish(true));
    res.on('close', () => {
      if (!res.writableFinished) {
        upRes.destroy();
        finish(false);
      }
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      once('internal', `proxy error: ${e.message}`);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  const url = await listenOn(server, o.host, o.port);
  const stats = (): ProxyStats => ({ ...queue.stats, dropped: queue.dropped, heldBytes: queue.heldBytes, lost: queue.lost, recordingFailed: queue.failed });
  return {
    url,
    server,
    stats,
    inFlight: () => inFlight,
    idle: async () => {
      while (inFlight > 0) await new Promise((r) => setTimeout(r, 2));
      await queue.idle();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
      await queue.close(); // records what the last responses queued
      return stats();
    },
  };
}
