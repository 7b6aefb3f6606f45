/**
 * Optional parts of ballast that the report uses when this build has them (solvers, replay, gate,
 * Prometheus text). They are loaded by path at run time, so the report works — and says what it
 * could not compute — while those parts are absent or unfinished.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cache = new Map<string, Promise<unknown>>();

/** Import `rel` (relative to src/show/report/) if the file exists and loads; undefined otherwise. */
export function optionalModule<T>(rel: string): Promise<T | undefined> {
  let p = cache.get(rel) as Promise<T | undefined> | undefined;
  if (!p) {
    p = (async () => {
      const url = new URL(rel, import.meta.url);
      if (!existsSync(fileURLToPath(url))) return undefined;
      try {
        return (await import(url.href)) as T;
      } catch {
        return undefined;
      }
    })();
    cache.set(rel, p);
  }
  return p;
}
