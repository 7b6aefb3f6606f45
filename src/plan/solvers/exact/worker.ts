/**
 * Worker thread for the exact solver: HiGHS (wasm) blocks its thread while it solves, so it runs here,
 * off the main event loop. Receives { models: string[], timeLimit }, posts back
 * { results: { status, objective, columns }[] } or { error }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as highsModule from 'highs';

type Loader = () => Promise<{ solve(m: string, o?: object): { Status: string; ObjectiveValue: number; Columns: Record<string, unknown> } }>;

/** The package's loader, whether the ESM default or the CommonJS interop shape. */
function highsLoader(): Loader {
  const m = highsModule as unknown as { default: Loader | { default: Loader } };
  return typeof m.default === 'function' ? m.default : m.default.default;
}

interface Job {
  models: string[];
  timeLimit: number;
}

async function main(): Promise<void> {
  const job = workerData as Job;
  try {
    const highs = await highsLoader()();
    const results = job.models.map((m) => {
      const sol = highs.solve(m, { time_limit: job.timeLimit, output_flag: false, mip_rel_gap: 1e-9 });
      const columns: Record<string, { Primal: number }> = {};
      for (const [k, v] of Object.entries(sol.Columns ?? {})) columns[k] = { Primal: (v as { Primal?: number }).Primal ?? 0 };
      return { status: sol.Status as string, objective: sol.ObjectiveValue, columns };
    });
    parentPort!.postMessage({ results });
  } catch (err) {
    parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
}
void main();
