import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the npy reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'npy',
  description: 'npy (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the npy reader is not available in this build');
  },
};
