// Plain-JS entry for ballast's worker threads: registers tsx in this thread (a worker does not inherit
// loader hooks registered at run time, as bin/ballast.js does), then loads the TypeScript module named
// by workerData.entry (a file: URL).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
