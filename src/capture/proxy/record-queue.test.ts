/**
 * The recording thread failing under the proxy: whether it throws (an uncaught error in the thread)
 * or simply exits, the queue says so in one line, stops holding bytes, releases whoever waits in
 * idle() and close(), and counts the responses whose routing could not be recorded after that. Before
 * the 'exit' case was handled, idle() after an exit without an error waited forever, so the proxy's
 * Ctrl-C never finished; each test here is bounded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { RecordQueue } from './record-queue.ts';
import { RoutedSplicer, VLLM_PLACES } from './splice.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-rq-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what} did not finish in ${ms} ms`)), ms).unref())]);

function queue(name: string) {
  const logs: string[] = [];
  const q = new RecordQueue({ engine: 'vllm', recorder: { out: join(dir, `${name}.ballast`), extra: {} }, flushMs: 60_000 }, 1 << 20, (l) => logs.push(l));
  const worker = (q as unknown as { worker: Worker }).worker;
  return { q, logs, worker };
}

/** A vLLM response body whose one choice carries a (list-encoded) routed_experts value, cut out. */
function splicedResponse(): RoutedSplicer {
  const body = Buffer.from(JSON.stringify({ choices: [{ index: 0, routed_experts: [[[1, 2]], [[3, 4]]] }] }));
  const sp = new RoutedSplicer({ places: VLLM_PLACES });
  sp.push(body);
  sp.end();
  return sp;
}

test('recording thread throws: one line, idle() and close() return, later routing counted as lost', async () => {
  const { q, logs, worker } = queue('throws');
  const gone = new Promise((r) => worker.once('exit', r));
  q.expect(); // a response has ended; its job is on the way
  worker.postMessage(null); // the thread's message handler reads null.t: an uncaught TypeError there
  await within(gone, 20_000, 'the thread exit');
  await within(q.idle(), 5_000, 'idle()');
  assert.equal(q.failed, true);
  assert.equal(q.reserve(10), false, 'nothing more is held for a dead thread');
  assert.equal(q.heldBytes, 0);
  const sp = splicedResponse();
  assert.ok(sp.values.length > 0, 'the splicer cut the value out');
  q.expect();
  q.submit(sp, '/v1/chat/completions');
  await within(q.idle(), 5_000, 'idle() after a submit to a dead thread');
  assert.equal(q.lost, 1);
  const st = await within(q.close(), 10_000, 'close()');
  assert.equal(st.requests, 0);
  const failed = logs.filter((l) => /recording thread failed/.test(l));
  assert.equal(failed.length, 1, logs.join('\n'));
  assert.match(failed[0], /responses are still proxied, no longer recorded/);
});

test('recording thread exits without an error: the same, instead of idle() waiting forever', async () => {
  const { q, logs, worker } = queue('exits');
  await new Promise((r) => worker.once('online', r));
  q.expect();
  await worker.terminate();
  await within(q.idle(), 5_000, 'idle()');
  assert.equal(q.failed, true);
  await within(q.close(), 10_000, 'close()');
  assert.deepEqual(
    logs.filter((l) => /recording thread failed/.test(l)),
    ['the recording thread failed (it exited with code 1); responses are still proxied, no longer recorded'],
  );
});

test('a normal close is not a failure', async () => {
  const { q, logs } = queue('normal');
  const st = await within(q.close(), 20_000, 'close()');
  assert.equal(q.failed, false);
  assert.deepEqual(st, { requests: 0, tokens: 0, skipped: 0 });
  assert.deepEqual(logs, []);
});
