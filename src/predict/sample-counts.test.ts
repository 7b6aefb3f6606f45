import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routesToCounts } from '../core/token-routes.ts';
import { inclusionProbabilities, sampleRoutesFromCounts } from './sample-counts.ts';

test('inclusion probabilities: k * share, capped at 1 with the excess spread', () => {
  assert.deepEqual(Array.from(inclusionProbabilities([2, 1, 1], 2)), [1, 0.5, 0.5]);
  // [6, 1, 1] with k = 2: 2 * 6/8 = 1.5 -> capped at 1; the remaining 1 pick splits 1:1 over the others.
  assert.deepEqual(Array.from(inclusionProbabilities([6, 1, 1], 2)), [1, 0.5, 0.5]);
  const pi = inclusionProbabilities([5, 3, 2, 0], 1);
  assert.deepEqual(Array.from(pi), [0.5, 0.3, 0.2, 0]);
});

test('sampled routes: k distinct experts per token, expected counts k * T * share (OLMoE-like skew)', () => {
  // One hot expert with 12% of the picks at top-8 (pi = 0.96), the rest spread unevenly.
  const E = 64;
  const k = 8;
  const c = new Float64Array(E);
  for (let e = 0; e < E; e++) c[e] = e === 0 ? 120 : (880 * ((e % 7) + 1)) / 253;
  const tot = c.reduce((a, b) => a + b, 0);
  const T = 20000;
  const r = sampleRoutesFromCounts(c, 1, E, k, T, 3);
  for (let t = 0; t < T; t++) {
    const s = new Set(Array.from(r.experts.subarray(t * k, (t + 1) * k)));
    assert.equal(s.size, k);
  }
  const got = routesToCounts(r);
  const pi = inclusionProbabilities(c, k);
  for (let e = 0; e < E; e++) {
    const expect = T * pi[e];
    // Binomial sd = sqrt(T pi (1 - pi)) <= 71; allow 5 sd.
    assert.ok(Math.abs(got[e] - expect) <= 5 * Math.sqrt(T * pi[e] * (1 - pi[e])) + 1, `expert ${e}: ${got[e]} vs ${expect}`);
  }
  // Expert 0 is picked in ~ k * 120/tot of the tokens, far more than k draws without replacement would give.
  assert.ok(Math.abs(got[0] / T - (k * 120) / tot) < 0.02);
});
