// Plain-JS entry for the exact solver's worker thread: registers tsx in this thread (a worker does not
// inherit loader hooks registered at run time, as bin/ballast.js does), then loads the TypeScript worker.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
