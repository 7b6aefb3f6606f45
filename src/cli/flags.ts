/** Flag parsing shared by the CLI commands: bad values are InputErrors naming the flag (exit 2). */
import { InputError } from '../core/errors.ts';

/** Integer flag >= min; undefined when the flag was not given. */
export function intFlag(v: string | undefined, flag: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InputError(flag, '', `expected an integer >= ${min}, got "${v}"`);
  return n;
}
