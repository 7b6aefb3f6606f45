/**
 * Nesting depth of parsed JSON, measured without recursion, so hostile input (200,000 nested arrays
 * parse fine in V8 but overflow the stack in JSON.stringify or any recursive walk) is refused in one
 * line before anything recursive touches it.
 */

/** True when `value` nests arrays/objects deeper than `limit` (a scalar has depth 0, `[]` depth 1). Visits at most `budget` nodes. */
export function nestsDeeperThan(value: unknown, limit: number, budget = 10_000_000): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  let seen = 0;
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > limit) return true;
    if (++seen > budget) return false;
    const kids = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const k of kids) if (k !== null && typeof k === 'object') stack.push([k, d + 1]);
  }
  return false;
}

/** A short description of any JSON value for an error message (never recursive, at most ~60 characters). */
export function describeJson(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return String(v);
}
