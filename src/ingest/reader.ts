/**
 * The file-reader interface. Each reader lives in its own folder under src/ingest/readers/<name>/
 * (ballast's own format in src/ingest/ballast/) and is listed in src/ingest/readers.ts. One shared
 * conformance test (src/ingest/readers/common.case.test.ts) runs against every reader.
 */
import type { LoadTrace } from '../core/load-trace.ts';
import type { TokenRoutes } from '../core/token-routes.ts';

/** What a reader sees when asked whether a path is its format. */
export interface Probe {
  path: string;
  isDirectory: boolean;
  /** First bytes of the file (up to 64 KiB); empty for directories. */
  head: Uint8Array;
  /** File names in the directory (not recursive), for directories. */
  entries: string[];
}

export interface ReadOptions {
  /** Where warnings go (default: stderr). */
  warn?: (line: string) => void;
  /** Refuse inputs that need more than this many bytes in memory. */
  maxBytes?: number;
  /** Logical expert count E, for formats that do not carry it (esft); default max id + 1. */
  numExperts?: number;
  /** Experts per token k, for formats that do not carry it (esft); default inferred. */
  topK?: number;
  /** The table picked with FILE#NAME, for files that hold several (count-tables). */
  table?: string;
}

/** What a reader returns: a load trace, token routes, or both. */
export interface RawRead {
  load?: LoadTrace;
  routes?: TokenRoutes;
  warnings?: string[];
}

export interface TraceReader {
  /** Format name, as given to --format. */
  readonly name: string;
  readonly description: string;
  /** Confidence in [0, 1] that the probed path is this format (0 = no). Content first, extension second. */
  detect(probe: Probe): number;
  read(path: string, opts: ReadOptions): RawRead | Promise<RawRead>;
}
