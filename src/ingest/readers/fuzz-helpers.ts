/** Test helpers shared by the reader property tests: temp files and the "only InputError" check. */
import assert from 'node:assert/strict';
import { InputError } from '../../core/errors.ts';
import { readInput } from '../readers.ts';

/** Read `path` with `format` forced; pass when it succeeds or throws InputError, fail on anything else. */
export async function readsOrInputError(path: string, format: string): Promise<'ok' | 'input-error'> {
  try {
    await readInput(path, { format, warn: () => {} });
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof InputError, `${format} reader threw ${(e as Error)?.stack ?? String(e)}`);
    return 'input-error';
  }
}
