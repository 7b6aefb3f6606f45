/**
 * Seeded pseudo-random numbers for deterministic synthetic workloads, tests and solver restarts.
 */

/** mulberry32: a 32-bit-state PRNG. Returns a function giving floats in [0, 1); same seed, same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
