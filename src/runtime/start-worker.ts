/**
 * Start a worker thread running a TypeScript module (through worker-boot.mjs, which registers tsx in
 * the new thread). `entry` is the module's file: URL; `data` is passed as workerData (with `entry`).
 */
import { Worker } from 'node:worker_threads';

export function startWorker(entry: URL, data: Record<string, unknown>, transfer: Transferable[] = []): Worker {
  return new Worker(new URL('./worker-boot.mjs', import.meta.url), {
    workerData: { ...data, entry: entry.href },
    transferList: transfer as never,
  });
}
