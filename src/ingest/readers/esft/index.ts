import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the esft reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'esft',
  description: 'esft (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the esft reader is not available in this build');
  },
};
