import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the vllm-log reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'vllm-log',
  description: 'vllm-log (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the vllm-log reader is not available in this build');
  },
};
