/**
 * Replay on several threads. The static policies of a routes replay (bitmask path: G <= 32, token-mod
 * routing) are scored by this thread and threads - 1 workers, the batches cut into chunks taken from
 * one queue as threads free up;
 * batches are independent under a static plan, so every number is identical to the sequential replay
 * (replayPolicies). Periodic and oracle policies, whose plan depends on the batches before, run
 * sequentially alongside. Small replays, where starting workers costs more than it saves, run
 * sequentially too.
 *
 * Memory: the trace is not copied as a whole; each worker chunk's ids (chunkBatches x batchTokens x L
 * x k) are copied and transferred to the worker that scores it, at most 2 chunks in flight per worker
 * (none copied when the ids live in a SharedArrayBuffer: workers then read them in place).
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { CostModel } from './cost-model.ts';
import { compilePlan } from './plan-tables.ts';
import {
  newSeries,
  numBatches,
  type PolicyResult,
  type PolicySpec,
  replayPolicies,
  ReplayScratch,
  type ReplayOptions,
  type ReplaySource,
  type BatchSeries,
  type ScoreItem,
  scoreRoutesBatchMulti,
  SharedScratch,
} from './replay.ts';
import type { ChunkReply, ChunkRequest } from './replay-worker.ts';
import { startWorker } from '../runtime/start-worker.ts';

/**
 * Token-expert pair x policy products below which the replay stays on one thread: about a second of
 * sequential scoring on the machine in bench/RESULTS.md, against ~0.2-0.4 s to start a worker.
 */
export const MIN_PARALLEL_WORK = 3e8;

export interface ParallelReplayOptions extends ReplayOptions {
  /** Threads, this one included (default: the machine's available parallelism, at most 8; 1 = sequential). */
  threads?: number;
  /** Work threshold for going parallel (default MIN_PARALLEL_WORK; tests set 0). */
  minWork?: number;
  /** Batches per chunk (default: about 8 chunks per worker, at least 4 batches). */
  chunkBatches?: number;
  /** The workers' module (default replay-worker.ts; tests pass a failing one to check the fallback). */
  workerModule?: URL;
}

/** Default thread count: available parallelism, capped at 8. */
export function defaultThreads(): number {
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(8, n));
}

/**
 * replayPolicies with the static policies' batches spread over worker threads. Shapes as
 * replayPolicies: policies[Q] -> PolicyResult[Q] in the same order, each series of length B.
 */
export async function replayPoliciesParallel(src: ReplaySource, policies: PolicySpec[], cm: CostModel, opts: ParallelReplayOptions = {}): Promise<PolicyResult[]> {
  const routing = opts.routing ?? 'token-mod';
  const threads = opts.threads ?? defaultThreads();
  const staticIdx = policies.flatMap((p, i) => (p.kind === 'static' ? [i] : []));
  if (src.kind !== 'routes' || routing !== 'token-mod' || cm.numRanks > 32 || threads <= 1 || staticIdx.length === 0) {
    return replayPolicies(src, policies, cm, opts);
  }
  const B = numBatches(src);
  const { numLayers: L, topK: k } = src.routes;
  const work = B * src.batchTokens * L * k * staticIdx.length;
  if (work < (opts.minWork ?? MIN_PARALLEL_WORK) || B < 2) return replayPolicies(src, policies, cm, opts);

  const statics = staticIdx.map((i) => policies[i] as Extract<PolicySpec, { kind: 'static' }>);
  const others = policies.filter((p) => p.kind !== 'static');
  const [staticSeries, otherResults] = await Promise.all([
    // A worker that cannot start or dies (resource limits, a missing loader) costs time, not the
    // result: the static plans are then replayed on this thread.
    scoreStaticInWorkers(src, statics, cm, Math.min(threads, B), opts.chunkBatches, opts.workerModule).catch(async () => {
      const seq = await replayPolicies(src, statics, cm, opts);
      return seq.map((r) => r.series);
    }),
    others.length > 0 ? replayPolicies(src, others, cm, opts) : Promise.resolve([] as PolicyResult[]),
  ]);
  const out: PolicyResult[] = [];
  let s = 0;
  let o = 0;
  for (const p of policies) {
    if (p.kind === 'static') out.push({ name: p.name, kind: 'static', series: staticSeries[s++], finalPlan: p.plan, replans: 0, expertsMoved: 0 });
    else out.push(otherResults[o++]);
  }
  return out;
}

/**
 * Score every batch of `src` for the static plans on `threads` threads: this one and threads - 1
 * workers, taking chunks of consecutive batches from one queue. Returns BatchSeries[Q], length B each.
 */
function scoreStaticInWorkers(
  src: Extract<ReplaySource, { kind: 'routes' }>,
  statics: Extract<PolicySpec, { kind: 'static' }>[],
  cm: CostModel,
  threads: number,
  chunkBatches?: number,
  workerModule = new URL('./replay-worker.ts', import.meta.url),
): Promise<BatchSeries[]> {
  const B = numBatches(src);
  const { routes, batchTokens, startToken } = src;
  const { numLayers: L, numExperts: E, topK: k, experts } = routes;
  const perToken = L * k;
  const chunk = Math.max(1, chunkBatches ?? Math.max(4, Math.ceil(B / (threads * 8))));
  const numChunks = Math.ceil(B / chunk);
  const tables = statics.map((p) => compilePlan(p.plan));
  const result = statics.map(() => newSeries(B));
  const idBytes = experts.BYTES_PER_ELEMENT as 1 | 2;
  const shared = typeof SharedArrayBuffer === 'function' && experts.buffer instanceof SharedArrayBuffer ? experts : undefined;
  return new Promise<BatchSeries[]>((resolve, reject) => {
    const workers: Worker[] = [];
    let next = 0;
    let done = 0;
    let finished = false;
    const stop = () => {
      for (const w of workers) void w.terminate();
    };
    const fail = (err: Error) => {
      if (finished) return;
      finished = true;
      stop();
      reject(err);
    };
    const chunkDone = () => {
      done++;
      if (done === numChunks && !finished) {
        finished = true;
        stop();
        resolve(result);
      }
    };
    const send = (w: Worker) => {
      if (next >= numChunks) return;
      const c = next++;
      const b0 = c * chunk;
      const nb = Math.min(chunk, B - b0);
      const t0 = startToken + b0 * batchTokens;
      const req: ChunkRequest = { id: c, batches: nb, batchTokens, iBase0: b0 * batchTokens };
      if (shared) {
        // The trace lives in shared memory: the worker reads the chunk in place.
        req.offset = t0 * perToken;
        w.postMessage(req);
      } else {
        // A copy of the chunk's ids (slice), transferred: the trace itself stays with this thread.
        req.ids = experts.slice(t0 * perToken, (t0 + nb * batchTokens) * perToken).buffer as ArrayBuffer;
        w.postMessage(req, [req.ids]);
      }
    };
    for (let i = 0; i < Math.min(threads - 1, numChunks - 1); i++) {
      const w = startWorker(workerModule, { cm, tables, numLayers: L, numExperts: E, topK: k, idBytes, shared });
      workers.push(w);
      w.on('message', (msg: ChunkReply) => {
        if (finished) return;
        if (msg.error || !msg.series) {
          fail(new Error(`replay worker: ${msg.error ?? 'no result'}`));
          return;
        }
        const b0 = msg.id * chunk;
        msg.series.forEach((s, q) => {
          for (const [name, arr] of Object.entries(s) as [keyof BatchSeries, Float64Array][]) result[q][name].set(arr, b0);
        });
        send(w);
        chunkDone();
      });
      w.on('error', (err) => fail(err));
      w.on('exit', (code) => {
        if (!finished) fail(new Error(`replay worker exited with code ${code} before the replay finished`));
      });
      // Two chunks in flight per worker: the next one is queued while the current one is scored.
      send(w);
      send(w);
    }
    // This thread takes chunks from the same queue, reading the trace in place, and yields between
    // chunks so that the workers' replies are taken in and answered with new chunks.
    const scratch = tables.map(() => new ReplayScratch(cm));
    const sharedScratch = new SharedScratch();
    const items: ScoreItem[] = tables.map((t, q) => ({ tables: t, sc: scratch[q], out: result[q] }));
    const runHere = () => {
      if (finished || next >= numChunks) return;
      const c = next++;
      try {
        for (let b = c * chunk; b < Math.min(B, (c + 1) * chunk); b++) {
          const t0 = startToken + b * batchTokens;
          scoreRoutesBatchMulti(routes, items, t0, t0 + batchTokens, startToken, b, sharedScratch);
        }
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      chunkDone();
      setImmediate(runHere);
    };
    setImmediate(runHere);
  });
}
