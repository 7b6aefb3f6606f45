import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the sglang-log reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'sglang-log',
  description: 'sglang-log (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the sglang-log reader is not available in this build');
  },
};
