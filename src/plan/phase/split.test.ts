import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../core/errors.ts';
import { makeLoadTrace } from '../../core/load-trace.ts';
import { makeTokenRoutes } from '../../core/token-routes.ts';
import { measuredDecodePerPrefill, routesForPhase, splitByPhase } from './split.ts';

// 6 tokens, 1 layer, top-1, experts 0..5 in order; sequences [0,3) and [3,6).
// Phases: seq 0 = prefill, prefill, decode; seq 1 = prefill, decode, decode.
function routes(phase?: number[]) {
  return makeTokenRoutes({
    meta: { layerIds: [0], sources: [] },
    numLayers: 1,
    numExperts: 6,
    topK: 1,
    experts: Uint8Array.of(0, 1, 2, 3, 4, 5),
    seqStarts: Uint32Array.of(0, 3, 6),
    phase: phase ? Uint8Array.from(phase) : undefined,
  });
}
const load = makeLoadTrace({ layerIds: [0], sources: [] }, 1, 6, new Float64Array(6).fill(1));

test('splitByPhase keeps each phase\'s tokens in order with their sequence boundaries', () => {
  const s = splitByPhase(load, routes([0, 0, 1, 0, 1, 1]));
  assert.equal(s.recorded, true);
  assert.deepEqual(s.tokens, { prefill: 3, decode: 3 });
  // prefill: tokens 0, 1 (seq 0) and 3 (seq 1) -> experts [0, 1, 3], sequences [0, 2), [2, 3)
  assert.deepEqual(Array.from(s.prefill!.experts), [0, 1, 3]);
  assert.deepEqual(Array.from(s.prefill!.seqStarts), [0, 2, 3]);
  // decode: tokens 2 (seq 0), 4, 5 (seq 1) -> experts [2, 4, 5], sequences [0, 1), [1, 3)
  assert.deepEqual(Array.from(s.decode!.experts), [2, 4, 5]);
  assert.deepEqual(Array.from(s.decode!.seqStarts), [0, 1, 3]);
  assert.equal(s.decode!.meta.phase, 'decode');
});

test('a trace without phase says so, and asking for a phase is an InputError naming the file', () => {
  const s = splitByPhase(load, routes());
  assert.equal(s.recorded, false);
  assert.match(s.note, /does not record prefill\/decode phase/);
  assert.throws(() => routesForPhase(s, 'decode', 't.ballast'), (e) => e instanceof InputError && e.file === 't.ballast' && /does not record/.test(e.message));
  const onlyPrefill = splitByPhase(load, routes([0, 0, 0, 0, 0, 0]));
  assert.throws(() => routesForPhase(onlyPrefill, 'decode', 't.ballast'), (e) => e instanceof InputError && /no decode tokens/.test(e.message));
});

test('measured mix: decode steps per prefill step at the given step sizes', () => {
  // 3 prefill tokens in steps of 3 -> 1 step; 3 decode tokens in steps of 1 -> 3 steps: 3 per prefill.
  assert.equal(measuredDecodePerPrefill(splitByPhase(load, routes([0, 0, 1, 0, 1, 1])), 3, 1), 3);
  assert.equal(measuredDecodePerPrefill(splitByPhase(load, routes()), 3, 1), undefined);
  // From windows when only they record phase: 1 prefill window, 2 decode windows -> 2.
  const w = makeLoadTrace({ layerIds: [0], sources: [] }, 1, 6, new Float64Array(18).fill(1), [{ phase: 'prefill' }, { phase: 'decode' }, { phase: 'decode' }]);
  assert.equal(measuredDecodePerPrefill(splitByPhase(w), 3, 1), 2);
});
