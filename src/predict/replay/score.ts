/**
 * Picks the scorer for one batch: the bitmask kernels when they apply (G <= 32, token-mod), else the
 * reference; count sources go to counts.ts.
 */
import type { TokenRoutes } from '../../core/token-routes.ts';
import type { PlanTables } from '../plan-tables.ts';
import { scoreCountsBatch } from './counts.ts';
import { scoreRoutesBatchMulti } from './kernels/multi.ts';
import { scoreRoutesBatchGeneral } from './reference.ts';
import { ReplayScratch, SharedScratch } from './scratch.ts';
import type { BatchSeries } from './series.ts';
import { batchCounts, type ReplaySource, type ReplicaRouting, windowTokens } from './source.ts';

/**
 * Replay tokens [bStart, bEnd) of `routes` against `tables`, writing batch `b` of `out`.
 * `i0` is the first token of the scored part (for 'token-mod' replica choice). Uses the bitmask path
 * when G <= 32 and routing is 'token-mod', else the general path; both give identical results.
 */
export function scoreRoutesBatch(
  routes: TokenRoutes,
  tables: PlanTables,
  bStart: number,
  bEnd: number,
  i0: number,
  sc: ReplayScratch,
  routing: ReplicaRouting,
  out: BatchSeries,
  b: number,
): void {
  if (sc.cm.numRanks <= 32 && routing === 'token-mod') scoreRoutesBatchMask(routes, tables, bStart, bEnd, i0, sc, out, b);
  else scoreRoutesBatchGeneral(routes, tables, bStart, bEnd, i0, sc, routing, out, b);
}

/** Bitmask path for one policy (see scoreRoutesBatchMulti). */
export function scoreRoutesBatchMask(
  routes: TokenRoutes,
  tables: PlanTables,
  bStart: number,
  bEnd: number,
  i0: number,
  sc: ReplayScratch,
  out: BatchSeries,
  b: number,
): void {
  scoreRoutesBatchMulti(routes, [{ tables, sc, out }], bStart, bEnd, i0, b, new SharedScratch());
}

export function scoreBatch(src: ReplaySource, tables: PlanTables, b: number, sc: ReplayScratch, routing: ReplicaRouting, out: BatchSeries): void {
  if (src.kind === 'routes') {
    const t0 = src.startToken + b * src.batchTokens;
    scoreRoutesBatch(src.routes, tables, t0, t0 + src.batchTokens, src.startToken, sc, routing, out, b);
  } else {
    const counts = batchCounts(src, b);
    scoreCountsBatch(counts, src.topK, windowTokens(src, b), tables, sc, out, b);
  }
}
