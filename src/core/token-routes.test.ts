import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTokenRoutes, sampleRouteWindows, sliceRoutes } from './token-routes.ts';

/** T tokens, 1 layer, top-1: token t chose expert t mod 256 (so ids name their token). */
function numbered(T: number, seqStarts: number[]) {
  const experts = new Uint8Array(T);
  for (let t = 0; t < T; t++) experts[t] = t % 256;
  return makeTokenRoutes({ meta: { layerIds: [0], sources: [] }, numLayers: 1, numExperts: 256, topK: 1, experts, seqStarts: Uint32Array.from(seqStarts) });
}

test('sampleRouteWindows: short traces come back unchanged', () => {
  const r = numbered(50, [0, 50]);
  assert.equal(sampleRouteWindows(r, 50), r);
  assert.equal(sampleRouteWindows(r, 64), r);
});

test('sampleRouteWindows: 4 windows of 5 tokens from 100, snapped to sequence starts in their first half', () => {
  // Points 0, 25, 50, 75. Window 1 moves to the start at 27 (27 < 25 + 2.5, and 27 + 5 <= 50);
  // window 2 stays at 50 (the next start, 60, is past 50 + 2.5); window 3 moves to 77 (77 < 77.5,
  // 77 + 5 <= 100).
  const r = numbered(100, [0, 27, 60, 77, 90, 100]);
  const s = sampleRouteWindows(r, 20, 4);
  assert.equal(s.numTokens, 20);
  assert.deepEqual(Array.from(s.experts), [0, 1, 2, 3, 4, 27, 28, 29, 30, 31, 50, 51, 52, 53, 54, 77, 78, 79, 80, 81]);
  assert.deepEqual(Array.from(s.seqStarts), [0, 5, 10, 15, 20]);
});

test('sampleRouteWindows: starts inside a window are kept; a window is not moved past the trace end', () => {
  // T = 36, 2 windows of 15: points 0 and 18. Window 0 [0, 15) holds the start at 9. Window 1 may not
  // move to the start at 22 (22 + 15 = 37 > 36), so it stays at 18 and keeps 22 as an inner start.
  const r = numbered(36, [0, 9, 22, 36]);
  const s = sampleRouteWindows(r, 30, 2);
  assert.deepEqual(Array.from(s.experts.subarray(0, 15)), Array.from({ length: 15 }, (_, i) => i));
  assert.deepEqual(Array.from(s.experts.subarray(15)), Array.from({ length: 15 }, (_, i) => 18 + i));
  assert.deepEqual(Array.from(s.seqStarts), [0, 9, 15, 19, 30]);
  // Same content as slicing the window by hand.
  assert.deepEqual(Array.from(sliceRoutes(r, 18, 33).experts), Array.from(s.experts.subarray(15)));
});
