import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the sglang-dump reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'sglang-dump',
  description: 'sglang-dump (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the sglang-dump reader is not available in this build');
  },
};
