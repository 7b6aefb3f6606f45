/**
 * The engines' default placements without replicas (P = E slots).
 *   linear:      rank r holds the contiguous block [r*E/G, (r+1)*E/G)  -> phy2log[p] = p
 *   round-robin: expert e lives on rank e mod G                        -> slot r*(E/G)+i holds r + i*G
 * Both need E divisible by G. Shapes: returns Int32Array[E] for one layer.
 */
import { InputError } from './errors.ts';
import type { Plan } from './plan.ts';

export type DefaultPlacement = 'linear' | 'round-robin';

export function linearPhy2log(numExperts: number, numRanks: number): Int32Array {
  checkDivides(numExperts, numRanks);
  return Int32Array.from({ length: numExperts }, (_, p) => p);
}

export function roundRobinPhy2log(numExperts: number, numRanks: number): Int32Array {
  checkDivides(numExperts, numRanks);
  const per = numExperts / numRanks;
  const out = new Int32Array(numExperts);
  for (let r = 0; r < numRanks; r++) for (let i = 0; i < per; i++) out[r * per + i] = r + i * numRanks;
  return out;
}

function checkDivides(E: number, G: number): void {
  if (!(G >= 1) || E % G !== 0) {
    throw new InputError('--ranks', '', `${E} experts do not divide evenly over ${G} ranks; expected a rank count that divides ${E}`);
  }
}

/** A whole plan using a default placement in every layer. */
export function defaultPlan(
  kind: DefaultPlacement,
  numLayers: number,
  numExperts: number,
  numRanks: number,
  layerIds: number[],
  ranksPerNode = numRanks,
): Plan {
  const row = kind === 'linear' ? linearPhy2log(numExperts, numRanks) : roundRobinPhy2log(numExperts, numRanks);
  return {
    version: 1,
    numLayers,
    numExperts,
    numRanks,
    layerIds,
    phy2log: Array.from({ length: numLayers }, () => row.slice()),
    ranksPerNode,
    solver: kind,
  };
}
