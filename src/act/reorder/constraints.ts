/**
 * Does a layer's permutation keep the model's function under its routing (model-routing.ts)?
 * Shapes: newToOld Int32Array/number[] [E] (slot s holds old expert newToOld[s]).
 *   topk           any permutation
 *   group-limited  every block of E/g slots holds exactly one old group (whole groups move between
 *                  group blocks; experts move freely inside their group's block)
 *   hash           identity only
 * Returns a one-line reason to refuse, or undefined.
 */
import type { LayerRouting } from './model-routing.ts';

export function isIdentity(p: ArrayLike<number>): boolean {
  for (let i = 0; i < p.length; i++) if (p[i] !== i) return false;
  return true;
}

export function permutationProblem(layerId: number, newToOld: ArrayLike<number>, lr: LayerRouting): string | undefined {
  const E = newToOld.length;
  if (lr.kind === 'hash') {
    return isIdentity(newToOld) ? undefined : `layer ${layerId} routes by a token-id hash table (num_hash_layers): its expert ids are fixed by the table, so the plan may not move its experts`;
  }
  if (lr.kind !== 'group-limited') return undefined;
  const g = lr.numGroups!;
  const size = E / g;
  for (let b = 0; b < g; b++) {
    const groups = new Set<number>();
    for (let s = b * size; s < (b + 1) * size; s++) groups.add(Math.floor(newToOld[s] / size));
    if (groups.size > 1) {
      const gl = [...groups].sort((x, y) => x - y);
      return `layer ${layerId}: slots ${b * size}-${(b + 1) * size - 1} (group block ${b}) would hold experts of groups ${gl.join(', ')}; group-limited routing (${g} groups of ${size}, top ${lr.topkGroup} groups) ties each expert to its group. Make the plan with \`ballast plan --for reorder --model <checkpoint>\``;
    }
  }
  return undefined;
}
