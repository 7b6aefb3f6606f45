import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeTokenRoutes } from '../../../core/token-routes.ts';
import { packScratch } from './pack.ts';
import { batchCountCovariance, reduceRankVariance } from './rank-variance.ts';

const close = (a: number, b: number, msg: string) => assert.ok(Math.abs(a - b) < 1e-12, `${msg}: ${a} vs ${b}`);

// One layer, 3 experts, top-1, two 2-token sequences: [e0, e0] and [e1, e2]; batches of b = 2 tokens.
// Worked by hand from the model in rank-variance.ts:
//   p = (0.5, 0.25, 0.25); Tok = diag p(1-p) = (0.25, 0.1875, 0.1875), off-diagonal -p_a p_c:
//   (0,1) = (0,2) = -0.125, (1,2) = -0.0625.
//   z_0 = (0.5, -0.25, -0.25), z_1 = -z_0; terms z_a z_c - Tok_ac / 2 are equal in both sequences, so
//   U^ = mean / (1 - mean 1/l) = 2 * term: U00 = 0.25, U11 = U22 = -0.0625 -> clamped to 0,
//   U01 = U02 = -0.125, U12 = 0.1875; per-entry variance 0 -> lambda = 0.
//   h = b * sum l min(l, b) / T = 2 * 8 / 4 = 4, so V = 2 Tok + (4 - 2) U.
// (Exact batch covariance for comparison: a batch is one sequence, [2,0,0] or [0,1,1] with
//  probability 1/2: Var c0 = 1, Cov(c0,c1) = -0.5, Cov(c1,c2) = 0.25, Var c1 = 0.25; the model matches
//  all but Var c1, where the clamp of U11 at 0 leaves 2 * 0.1875.)
function tinyRoutes() {
  return makeTokenRoutes({
    meta: { layerIds: [0], sources: [] },
    numLayers: 1,
    numExperts: 3,
    topK: 1,
    experts: Uint8Array.of(0, 0, 1, 2),
    seqStarts: Uint32Array.of(0, 2, 4),
  });
}

test('batchCountCovariance: hand-worked random-effects covariance of 2-token batches', () => {
  const m = batchCountCovariance(tinyRoutes(), 2);
  const V = (a: number, c: number) => m.V[a * 3 + c];
  close(m.lambda[0], 0, 'lambda');
  assert.equal(m.sequences, 2);
  assert.deepEqual(Array.from(m.mean), [1, 0.5, 0.5]);
  close(V(0, 0), 1, 'V00');
  close(V(1, 1), 0.375, 'V11');
  close(V(2, 2), 0.375, 'V22');
  close(V(0, 1), -0.5, 'V01');
  close(V(1, 0), -0.5, 'V10');
  close(V(0, 2), -0.5, 'V02');
  close(V(1, 2), 0.25, 'V12');
});

test('batchCountCovariance: Schafer-Strimmer shrinkage of the topic covariance, worked by hand', () => {
  // 2 experts, top-1, eight 2-token sequences: 3 x [0,0], 3 x [1,1], [0,1], [1,0]. p = (1/2, 1/2),
  // Tok00 = 1/4, Tok01 = -1/4. Per-sequence terms for (0,1): z0 z1 - Tok01 / 2 = -1/8 for the six
  // one-expert sequences, +1/8 for the two mixed ones: mean -1/16, U01 = -1/16 / (1 - 1/2) = -1/8.
  // Var^ = (mean of squares - mean^2) / (n - 1) = (1/64 - 1/256) / 7 = 3/1792; over (1 - 1/2)^2 that is
  // 3/448, and lambda = (3/448) / (1/8)^2 = 3/7. h = 2 * 32 / 16 = 4, so
  // V01 = 2 * (-1/4) + 2 * (1 - 3/7) * (-1/8) = -9/14 and V00 = 2 * 1/4 + 2 * 1/8 = 3/4 (U00 = 1/8).
  const routes = makeTokenRoutes({
    meta: { layerIds: [0], sources: [] },
    numLayers: 1,
    numExperts: 2,
    topK: 1,
    experts: Uint8Array.of(0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0),
    seqStarts: Uint32Array.of(0, 2, 4, 6, 8, 10, 12, 14, 16),
  });
  const m = batchCountCovariance(routes, 2);
  close(m.lambda[0], 3 / 7, 'lambda');
  close(m.V[1], -9 / 14, 'V01');
  close(m.V[0], 3 / 4, 'V00');
  close(batchCountCovariance(routes, 2, { shrink: false }).V[1], -0.75, 'V01 unshrunk = -1/2 + 2 * -1/8');
});

test('batchCountCovariance parts: without topic it is b Tok; without co-activation the off-diagonal keeps only topic terms', () => {
  const noTopic = batchCountCovariance(tinyRoutes(), 2, { topic: false });
  close(noTopic.V[0], 0.5, 'V00 = 2 * 0.25');
  close(noTopic.V[1], -0.25, 'V01 = 2 * -0.125');
  close(noTopic.V[1 * 3 + 2], -0.125, 'V12 = 2 * -0.0625');
  const noCo = batchCountCovariance(tinyRoutes(), 2, { coactivation: false });
  close(noCo.V[0], 1, 'V00 unchanged');
  close(noCo.V[1], -0.25, 'V01 = 2 * U01');
  close(noCo.V[1 * 3 + 2], 0.375, 'V12 = 2 * U12');
});

// Two ranks x two slots, four experts of equal load 1; experts 0,1 covary (0.9) and so do 2,3.
// Per-batch means = loads (mu = w). Rank variance of {0,1} is 1 + 1 + 2 * 0.9 = 3.8, of {0,2} 2.
function pairs(): Float64Array {
  const V = new Float64Array(16);
  for (let e = 0; e < 4; e++) V[e * 4 + e] = 1;
  V[0 * 4 + 1] = V[1 * 4 + 0] = 0.9;
  V[2 * 4 + 3] = V[3 * 4 + 2] = 0.9;
  return V;
}

test('reduceRankVariance: separates covarying experts at equal in-sample loads', () => {
  const w = Float64Array.of(1, 1, 1, 1);
  const ps = packScratch(4, 2, 4);
  // first improving swap in scan order: slot 0 of rank 0 (expert 0) with slot 0 of rank 1 (expert 2)
  // -> ranks {2,1} and {0,3}, variance 2 each; no later swap is strictly better.
  const row = reduceRankVariance(Int32Array.of(0, 1, 2, 3), w, pairs(), w, 2, 2, ps);
  assert.deepEqual(Array.from(row), [2, 1, 0, 3]);
});

test('reduceRankVariance: never takes a swap above the cap; trades mean for variance within it', () => {
  // loads 3,1 | 2,2 (4 | 4). Every swap that splits the covarying pairs makes one rank 5.
  const w = Float64Array.of(3, 1, 2, 2);
  const start = Int32Array.of(0, 1, 2, 3);
  const atCap4 = reduceRankVariance(start, w, pairs(), w, 2, 4, packScratch(4, 2, 4));
  assert.deepEqual(Array.from(atCap4), [0, 1, 2, 3]);
  // cap 5: beta = sqrt(2 ln 2) / sqrt(3.8) = 0.604; before F = 2 exp(beta^2 3.8 / 2) = 4.00, after
  // swapping experts 0 and 2: exp(-beta + beta^2) + exp(beta + beta^2) = 0.79 + 2.64 = 3.42 < 4.00.
  const atCap5 = reduceRankVariance(start, w, pairs(), w, 2, 5, packScratch(4, 2, 4));
  assert.deepEqual(Array.from(atCap5), [2, 1, 0, 3]);
});
