/**
 * NUMA group per GPU for a discovered node.
 *
 * numaGroups(known[G], linked(a, b)) -> dense[G]: where any GPU's NUMA node is unknown, the groups are
 * the connected components of `linked` (GPUs joined by fast links share a socket); otherwise the
 * known ids. Either way renumbered densely 0.. in order of first appearance.
 */
export function numaGroups(known: (number | undefined)[], linked: (a: number, b: number) => boolean): number[] {
  const G = known.length;
  let numa = known;
  if (numa.some((v) => v === undefined)) {
    const comp = new Array<number>(G).fill(-1);
    let next = 0;
    for (let s = 0; s < G; s++) {
      if (comp[s] >= 0) continue;
      const stack = [s];
      comp[s] = next;
      while (stack.length) {
        const a = stack.pop()!;
        for (let b = 0; b < G; b++) if (comp[b] < 0 && linked(a, b)) { comp[b] = next; stack.push(b); }
      }
      next++;
    }
    numa = comp;
  }
  const ids = new Map<number, number>();
  return numa.map((v) => {
    if (!ids.has(v!)) ids.set(v!, ids.size);
    return ids.get(v!)!;
  });
}
