import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the vllm-jsonl reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'vllm-jsonl',
  description: 'vllm-jsonl (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the vllm-jsonl reader is not available in this build');
  },
};
