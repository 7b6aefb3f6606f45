/** Flag parsing shared by the CLI commands: bad values are InputErrors naming the flag (exit 2). */
import { InputError } from '../core/errors.ts';

/** Integer flag >= min; undefined when the flag was not given. */
export function intFlag(v: string | undefined, flag: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InputError(flag, '', `expected an integer >= ${min}, got "${v}"`);
  return n;
}

/** Fraction flag in (0, 1) exclusive; undefined when the flag was not given. */
export function fractionFlag(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!(x > 0 && x < 1)) throw new InputError(flag, '', `expected a fraction in (0, 1), got "${v}"`);
  return x;
}
