/**
 * Deterministic synthetic traces for tests, benchmarks and `ballast simulate --synthetic`.
 *
 *   mulberry32(seed)        a small seeded PRNG returning floats in [0, 1)
 *   skewedTop1Routes()      the seed scenario: 128 experts, top-1, 10,000 tokens, 60% of tokens on 20
 *                           hot experts (each token: with probability 0.6 a uniform hot expert, else a
 *                           uniform cold one); hot ids drawn by the PRNG
 *   zipfRoutes()            T tokens x L layers x top-k distinct experts drawn from a Zipf(s) popularity
 *                           over E experts, the popularity order permuted per layer
 */
import { mulberry32 } from '../core/random.ts';
import { allocExpertIds, makeTokenRoutes, type TokenRoutes } from '../core/token-routes.ts';

export interface SkewedTop1 {
  routes: TokenRoutes;
  hotExperts: number[];
}

/**
 * The seed scenario (issue 4 §6). Shapes: routes [10000][1][1] over 128 experts; sequences of 500
 * tokens (20 of them) so held-out splits have boundaries to cut at.
 */
export function skewedTop1Routes(seed = 1, opts: { tokens?: number; experts?: number; hot?: number; hotShare?: number } = {}): SkewedTop1 {
  const T = opts.tokens ?? 10000;
  const E = opts.experts ?? 128;
  const H = opts.hot ?? 20;
  const share = opts.hotShare ?? 0.6;
  const rnd = mulberry32(seed);
  const ids = Array.from({ length: E }, (_, i) => i);
  for (let i = E - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const hot = ids.slice(0, H).sort((a, b) => a - b);
  const cold = ids.slice(H).sort((a, b) => a - b);
  const experts = allocExpertIds(E, T);
  for (let t = 0; t < T; t++) {
    experts[t] = rnd() < share ? hot[Math.floor(rnd() * H)] : cold[Math.floor(rnd() * cold.length)];
  }
  const seqLen = 500;
  const starts: number[] = [];
  for (let s = 0; s < T; s += seqLen) starts.push(s);
  starts.push(T);
  const routes = makeTokenRoutes({
    meta: {
      model: 'synthetic skewed-top1',
      layerIds: [0],
      topK: 1,
      sources: [{ path: `synthetic:skewed-top1 seed=${seed}`, format: 'synthetic' }],
      phase: 'prefill',
    },
    numLayers: 1,
    numExperts: E,
    topK: 1,
    experts,
    seqStarts: Uint32Array.from(starts),
  });
  return { routes, hotExperts: hot };
}

/**
 * Zipf-skewed routes: expert popularity p(rank i) ~ 1 / (i + 1)^s, permuted per layer; each token
 * picks k distinct experts (rejection of repeats). Sampling uses a 4096-bucket inverse-CDF table.
 * Shapes: returns TokenRoutes [T][L][k]; sequences of `seqLen` tokens.
 */
export function zipfRoutes(opts: { tokens: number; layers: number; experts: number; topK: number; s?: number; seed?: number; seqLen?: number }): TokenRoutes {
  const { tokens: T, layers: L, experts: E, topK: k } = opts;
  const s = opts.s ?? 0.8;
  const rnd = mulberry32(opts.seed ?? 1);
  const BUCKETS = 4096;
  const tables: Uint16Array[] = [];
  for (let l = 0; l < L; l++) {
    const perm = Array.from({ length: E }, (_, i) => i);
    for (let i = E - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const w = perm.map((_, i) => 1 / Math.pow(i + 1, s));
    const tot = w.reduce((a, b) => a + b, 0);
    const tab = new Uint16Array(BUCKETS);
    let acc = 0;
    let i = 0;
    for (let bkt = 0; bkt < BUCKETS; bkt++) {
      const u = (bkt + 0.5) / BUCKETS;
      while (i < E - 1 && acc + w[i] / tot < u) {
        acc += w[i] / tot;
        i++;
      }
      tab[bkt] = perm[i];
    }
    tables.push(tab);
  }
  const experts = allocExpertIds(E, T * L * k);
  // xorshift32 inline for speed (the table lookup needs 12 bits per draw).
  let x = (opts.seed ?? 1) * 2654435761 || 1;
  for (let t = 0; t < T; t++) {
    for (let l = 0; l < L; l++) {
      const tab = tables[l];
      const o = (t * L + l) * k;
      let n = 0;
      while (n < k) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const e = tab[(x >>> 20) & (BUCKETS - 1)];
        let dup = false;
        for (let j = 0; j < n; j++) if (experts[o + j] === e) dup = true;
        if (!dup) experts[o + n++] = e;
      }
    }
  }
  const seqLen = opts.seqLen ?? 2048;
  const starts: number[] = [];
  for (let q = 0; q < T; q += seqLen) starts.push(q);
  starts.push(T);
  return makeTokenRoutes({
    meta: { model: 'synthetic zipf', layerIds: Array.from({ length: L }, (_, i) => i), topK: k, sources: [{ path: 'synthetic:zipf', format: 'synthetic' }] },
    numLayers: L,
    numExperts: E,
    topK: k,
    experts,
    seqStarts: Uint32Array.from(starts),
  });
}
