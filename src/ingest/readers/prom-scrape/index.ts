import { InputError } from '../../../core/errors.ts';
import type { TraceReader } from '../../reader.ts';

/** Placeholder for the prom-scrape reader until it is built: never detected. */
export const reader: TraceReader = {
  name: 'prom-scrape',
  description: 'prom-scrape (not available in this build)',
  detect: () => 0,
  read: (path) => {
    throw new InputError(path, '', 'the prom-scrape reader is not available in this build');
  },
};
