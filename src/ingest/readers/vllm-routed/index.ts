import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the vllm-routed reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'vllm-routed',
  description: 'vllm-routed (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the vllm-routed reader is not available in this build');
  },
};
