/**
 * Worker side of the parallel replay (replay-parallel.ts). workerData: { cm: CostModel, tables:
 * PlanTables[], numLayers L, numExperts E, topK k, idBytes 1|2, shared? (the trace's ids when they
 * live in a SharedArrayBuffer) }. Each message is one chunk of consecutive batches: { id, ids:
 * ArrayBuffer (the chunk's tokens [n][L][k], transferred) or offset (its first id in `shared`),
 * batches nb, batchTokens, iBase0 (index of the chunk's first token within the replayed part, for the
 * token-mod replica rule) }. Reply: { id, series: BatchSeries[] per plan (length nb) } or { id, error }.
 * The scoring is scoreRoutesBatchMulti, exactly as the sequential replay runs it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CostModel } from './cost-model.ts';
import type { PlanTables } from './plan-tables.ts';
import { makeTokenRoutes } from '../core/token-routes.ts';
import { newSeries, ReplayScratch, type ScoreItem, scoreRoutesBatchMulti, SharedScratch, type BatchSeries } from './replay.ts';

interface Init {
  cm: CostModel;
  tables: PlanTables[];
  numLayers: number;
  numExperts: number;
  topK: number;
  idBytes: 1 | 2;
  /** The whole trace's ids when they live in a SharedArrayBuffer (chunks then come as offsets). */
  shared?: Uint8Array | Uint16Array;
}

export interface ChunkRequest {
  id: number;
  /** The chunk's ids [n][L][k] (transferred), or ... */
  ids?: ArrayBuffer;
  /** ... the chunk's first id in the shared trace (Init.shared). */
  offset?: number;
  batches: number;
  batchTokens: number;
  iBase0: number;
}

export interface ChunkReply {
  id: number;
  series?: BatchSeries[];
  error?: string;
}

const init = workerData as Init;
const scratch = init.tables.map(() => new ReplayScratch(init.cm));
const shared = new SharedScratch();

function seriesBuffers(s: BatchSeries): ArrayBuffer[] {
  return Object.values(s).map((a: Float64Array) => a.buffer as ArrayBuffer);
}

parentPort!.on('message', (msg: ChunkRequest) => {
  try {
    const len = msg.batches * msg.batchTokens * init.numLayers * init.topK;
    const experts = init.shared
      ? init.shared.subarray(msg.offset!, msg.offset! + len)
      : init.idBytes === 1 ? new Uint8Array(msg.ids!) : new Uint16Array(msg.ids!);
    const routes = makeTokenRoutes({ meta: { layerIds: [], topK: init.topK, sources: [] }, numLayers: init.numLayers, numExperts: init.numExperts, topK: init.topK, experts });
    const series = init.tables.map(() => newSeries(msg.batches));
    const items: ScoreItem[] = init.tables.map((tables, q) => ({ tables, sc: scratch[q], out: series[q] }));
    // Token t of the chunk is token iBase0 + t of the replayed part: i0 = -iBase0 keeps bStart - i0 equal.
    for (let j = 0; j < msg.batches; j++) {
      const t0 = j * msg.batchTokens;
      scoreRoutesBatchMulti(routes, items, t0, t0 + msg.batchTokens, -msg.iBase0, j, shared);
    }
    const reply: ChunkReply = { id: msg.id, series };
    parentPort!.postMessage(reply, series.flatMap(seriesBuffers));
  } catch (err) {
    const reply: ChunkReply = { id: msg.id, error: err instanceof Error ? err.message : String(err) };
    parentPort!.postMessage(reply);
  }
});
