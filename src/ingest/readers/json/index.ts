import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the json reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'json',
  description: 'json (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the json reader is not available in this build');
  },
};
