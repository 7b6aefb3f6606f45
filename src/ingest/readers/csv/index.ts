import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the csv reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'csv',
  description: 'csv (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the csv reader is not available in this build');
  },
};
