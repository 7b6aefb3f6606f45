/**
 * Worker thread of the recording proxy: decodes the routed experts cut out of each response
 * (splice.ts) and appends them to the trace (recorder.ts), off the proxy's event loop, so that
 * decoding megabytes of base64 and writing the trace never delay a byte sent to a client.
 *
 * workerData: { engine, shape?, recorder: RecorderOptions without log, flushMs }.
 * Messages in:  { t: 'job', path, marked: Uint8Array, values: Uint8Array[], bytes } | { t: 'close' }.
 * Messages out: { t: 'log', line } | { t: 'done', bytes, stats } | { t: 'closed', stats }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type Engine, extractRouted } from './extract.ts';
import { RoutesRecorder, type RecorderOptions } from './recorder.ts';

export interface RecordJob {
  t: 'job';
  path: string;
  /** The body with a marker string in place of each cut value (splice.ts). */
  marked: Uint8Array;
  /** Each cut value's raw JSON text. */
  values: Uint8Array[];
  /** Bytes held for this job (released by the proxy when it is done). */
  bytes: number;
}

export interface RecordStats {
  requests: number;
  tokens: number;
  skipped: number;
}

export interface RecordWorkerData {
  engine: Engine;
  shape?: { layers: number; topK: number };
  recorder: Omit<RecorderOptions, 'log'>;
  flushMs: number;
}

const port = parentPort!;
const d = workerData as RecordWorkerData;
const log = (line: string) => port.postMessage({ t: 'log', line });
const said = new Set<string>();
const once = (key: string, line: string) => {
  if (said.has(key)) return;
  said.add(key);
  log(line);
};
const rec = new RoutesRecorder({ ...d.recorder, log });
const stats = (): RecordStats => ({ requests: rec.requests, tokens: rec.tokens, skipped: rec.skipped });

const asBuf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function record(job: RecordJob): void {
  let body: unknown;
  try {
    body = JSON.parse(asBuf(job.marked).toString('utf8'));
  } catch {
    once('json', `a response from ${job.path} is not valid JSON; passed through, not recorded`);
    return;
  }
  const values = job.values.map((v) => asBuf(v).toString('latin1'));
  let ex;
  try {
    ex = extractRouted(body, d.engine, { strip: false, shape: d.shape, values });
  } catch (e) {
    once('value-json', `a routed-experts value from ${job.path} is not valid JSON (${(e as Error).message}); stripped from the response, not recorded`);
    return;
  }
  if (ex.problems.length > 0) {
    once(`bad-${ex.problems[0].split(':')[0]}`, `could not read ${ex.problems[0]} (${job.path}); stripped from the response (clients see null), not recorded`);
    return;
  }
  if (ex.found === 0) return;
  if (ex.version) rec.version = ex.version;
  rec.add(ex.seqs);
}

const timer = setInterval(() => {
  try {
    rec.flush();
  } catch (e) {
    once('flush', `cannot write the trace: ${(e as Error).message}`);
  }
}, d.flushMs);

port.on('message', (m: RecordJob | { t: 'close' }) => {
  if (m.t === 'job') {
    try {
      record(m);
    } catch (e) {
      once('record', `cannot record: ${(e as Error).message}`);
    }
    port.postMessage({ t: 'done', bytes: m.bytes, stats: stats() });
    return;
  }
  clearInterval(timer);
  try {
    rec.close();
  } catch (e) {
    once('flush', `cannot write the trace: ${(e as Error).message}`);
  }
  port.postMessage({ t: 'closed', stats: stats() });
  port.close();
});
