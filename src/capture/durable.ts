/**
 * What keeps the live collector from losing data it acknowledged (issue 16, "Data loss"):
 *
 * - `recoverTrace(out)`: on start with an existing `--out`, reopen it for appending instead of
 *   truncating it. Only a trace a ballast collector wrote (META `extra.capture` = COLLECTOR_MARK) is
 *   reopened; any other file is refused with one line naming it. A cut-short last record (kill -9 in
 *   the middle of a write) and the END record of a clean stop are cut off, everything before is kept.
 * - `Journal`: the open merged window lives only in memory until every rank has sent its part, yet the
 *   agents get 200 for each part at once. Before answering, the collector appends a snapshot of the
 *   open window (per-phase sums, as the merger holds them) to `<out>.journal` and fdatasyncs it;
 *   several requests share one write and sync (group commit). Each snapshot carries `base`, the number
 *   of LOAD records the trace had when it was taken. After a merged window is written to the trace the
 *   journal is emptied. On restart the last intact snapshot is replayed into the trace when its base
 *   equals the trace's LOAD count (it was not yet written); a smaller base means the trace already has it.
 *
 * Journal file: records in the trace record layout (src/ingest/ballast/format.ts) with tag "OPEN":
 *   header {base, step?, timeMs, ranks, parts: [{phase?, tokens, dtype}]}, payload = each part's
 *   [L][E] counts (u32 or f64 LE, as `encodeCounts` chose) one after another.
 */
import { closeSync, existsSync, fdatasync, ftruncateSync, openSync, readFileSync, rmSync, statSync, write } from 'node:fs';
import { crc32 } from 'node:zlib';
import { InputError } from '../core/errors.ts';
import type { Phase } from '../core/load-trace.ts';
import { type MetaHeader, MAGIC, Tag, type TagName } from '../ingest/ballast/format.ts';
import { isBallastTrace, readBallastTrace } from '../ingest/ballast/reader.ts';
import { encodeCounts, encodeRecord } from '../ingest/ballast/writer.ts';

/** META `extra.capture` of traces the collector writes (`ballast run` and `ballast collect`). */
export const COLLECTOR_MARK = 'ballast run/collect';

export interface OpenPart {
  phase?: Phase;
  tokens: number;
  /** [L][E]. */
  counts: Float64Array;
}

/** The open merged window as journaled. */
export interface OpenState {
  /** LOAD records in the trace when the snapshot was taken. */
  base: number;
  step?: number;
  timeMs: number;
  ranks: number[];
  parts: OpenPart[];
}

export interface Recovery {
  meta: MetaHeader;
  /** Byte offset to append at (end of the last good record, END excluded). */
  appendAt: number;
  /** LOAD records kept. */
  windows: number;
  tokens: number;
  /** [L][E] sum of the kept windows. */
  totals: Float64Array;
  /** topK of the ROUTES chunks already in the file. */
  routesTopK?: number;
  /** Phase of each kept LOAD record, in file order. */
  phases: (Phase | undefined)[];
  /** Bytes of a cut-short last record that were dropped. */
  cutBytes: number;
  /** The file ended with END (a clean stop). */
  ended: boolean;
  /** The acknowledged open window found in the journal (already appended by the caller). */
  open?: OpenState;
}

export function journalPath(out: string): string {
  return `${out}.journal`;
}

function refuse(out: string, why: string): never {
  throw new InputError(out, '', `${why}; the collector appends only to traces it wrote, so it will not touch this file (move it or pick another --out)`);
}

/** Byte offset after the last whole record before END (or the file's end), and whether END was seen. */
function scanRecords(buf: Buffer): { goodEnd: number; ended: boolean; loads: number } {
  let pos = MAGIC.length;
  let goodEnd = pos;
  let loads = 0;
  while (pos + 16 <= buf.length) {
    const tag = buf.toString('latin1', pos, pos + 4);
    const end = pos + 16 + buf.readUInt32LE(pos + 4) + buf.readUInt32LE(pos + 8) + buf.readUInt32LE(pos + 12) * 0x100000000 + 4;
    if (end > buf.length) break;
    if (tag === Tag.END) return { goodEnd, ended: true, loads };
    if (tag === Tag.LOAD) loads++;
    pos = end;
    goodEnd = end;
  }
  return { goodEnd, ended: false, loads };
}

/**
 * Reopen an existing collector trace. Returns undefined when `out` does not exist or is empty.
 * @throws InputError naming `out` when it is not a trace a ballast collector wrote, or is corrupt before its last record.
 */
export function recoverTrace(out: string): Recovery | undefined {
  if (!existsSync(out)) return undefined;
  const st = statSync(out);
  if (!st.isFile()) return undefined; // a device or pipe (/dev/null, /dev/full): written as before, nothing to append to
  if (st.size === 0) return undefined;
  const buf = readFileSync(out);
  if (!isBallastTrace(buf.subarray(0, MAGIC.length))) refuse(out, 'exists and is not a ballast trace');
  let read;
  try {
    read = readBallastTrace(out, { warn: () => {} });
  } catch (e) {
    if (e instanceof InputError) refuse(out, `exists but cannot be read (${e.where ? `${e.where}: ` : ''}${e.message})`);
    throw e;
  }
  const hLen = buf.readUInt32LE(MAGIC.length + 4);
  const meta = JSON.parse(buf.toString('utf8', MAGIC.length + 16, MAGIC.length + 16 + hLen)) as MetaHeader;
  if (meta.extra?.capture !== COLLECTOR_MARK) refuse(out, 'exists and was not written by a ballast collector');
  const { goodEnd, ended, loads } = scanRecords(buf);
  const L = meta.layerIds.length;
  const E = meta.numExperts;
  const totals = new Float64Array(L * E);
  let tokens = 0;
  const load = read.load;
  if (load) {
    for (let w = 0; w < load.numWindows; w++) {
      const o = w * L * E;
      for (let i = 0; i < L * E; i++) totals[i] += load.counts[o + i];
      tokens += load.windows[w].tokens ?? 0;
    }
  }
  if ((load?.numWindows ?? 0) !== loads) refuse(out, `holds ${loads} LOAD records but ${load?.numWindows ?? 0} read back`);
  return { meta, appendAt: goodEnd, windows: loads, tokens, totals, phases: load ? load.windows.map((w) => w.phase) : [], routesTopK: read.routes?.topK, cutBytes: ended ? 0 : buf.length - goodEnd, ended };
}

/**
 * The parts of a journaled open window that the trace lacks. A snapshot whose base is below the
 * trace's LOAD count was (at least partly) flushed: the records from `base` on are that flush, one
 * per phase, so only phases not among them are missing (a crash between two records of one flush).
 */
export function missingParts(open: OpenState, phases: (Phase | undefined)[]): OpenPart[] {
  if (open.base >= phases.length) return open.parts;
  const written = new Set(phases.slice(open.base).map((p) => p ?? ''));
  return open.parts.filter((p) => !written.has(p.phase ?? ''));
}

/** Encode one journal snapshot. */
export function encodeOpenState(s: OpenState): Buffer {
  const enc = s.parts.map((p) => encodeCounts(p.counts));
  const header = {
    base: s.base,
    ...(s.step !== undefined ? { step: s.step } : {}),
    timeMs: s.timeMs,
    ranks: s.ranks,
    parts: s.parts.map((p, i) => ({ ...(p.phase ? { phase: p.phase } : {}), tokens: p.tokens, dtype: enc[i].dtype })),
  };
  return encodeRecord('OPEN' as TagName, header, Buffer.concat(enc.map((e) => e.bytes)));
}

/** The last intact snapshot in a journal file of windows of `size` = L*E counts (undefined when none). */
export function readJournal(path: string, size: number): OpenState | undefined {
  if (!existsSync(path)) return undefined;
  const buf = readFileSync(path);
  let last: OpenState | undefined;
  let pos = 0;
  while (pos + 16 <= buf.length) {
    if (buf.toString('latin1', pos, pos + 4) !== 'OPEN') break;
    const hLen = buf.readUInt32LE(pos + 4);
    const pLen = buf.readUInt32LE(pos + 8) + buf.readUInt32LE(pos + 12) * 0x100000000;
    const end = pos + 16 + hLen + pLen + 4;
    if (end > buf.length) break;
    const hb = buf.subarray(pos + 16, pos + 16 + hLen);
    const payload = buf.subarray(pos + 16 + hLen, pos + 16 + hLen + pLen);
    if ((crc32(payload, crc32(hb)) >>> 0) !== buf.readUInt32LE(end - 4)) break;
    let h: { base: number; step?: number; timeMs: number; ranks: number[]; parts: { phase?: Phase; tokens: number; dtype: 'u32' | 'f64' }[] };
    try {
      h = JSON.parse(hb.toString('utf8'));
    } catch {
      break;
    }
    const parts: OpenPart[] = [];
    let off = 0;
    let ok = Array.isArray(h.parts);
    for (const p of ok ? h.parts : []) {
      const elem = p.dtype === 'u32' ? 4 : 8;
      if (off + size * elem > payload.length) {
        ok = false;
        break;
      }
      const dv = new DataView(payload.buffer, payload.byteOffset + off, size * elem);
      const counts = new Float64Array(size);
      for (let i = 0; i < size; i++) counts[i] = elem === 4 ? dv.getUint32(i * 4, true) : dv.getFloat64(i * 8, true);
      off += size * elem;
      parts.push({ phase: p.phase, tokens: p.tokens, counts });
    }
    if (!ok || off !== payload.length) break;
    last = { base: h.base, step: h.step, timeMs: h.timeMs, ranks: h.ranks, parts };
    pos = end;
  }
  return last;
}

/**
 * Group-committed journal of the open window. `commit()` resolves once a snapshot taken after the
 * call is on disk (or at once when no window is open: everything acknowledged is then in the trace).
 */
export class Journal {
  readonly path: string;
  private fd: number;
  private readonly snapshot: () => OpenState | undefined;
  private readonly onError: (e: unknown) => void;
  private waiting: (() => void)[] = [];
  private running = false;
  private closed = false;

  constructor(path: string, snapshot: () => OpenState | undefined, onError: (e: unknown) => void) {
    this.path = path;
    this.snapshot = snapshot;
    this.onError = onError;
    this.fd = openSync(path, 'a');
    ftruncateSync(this.fd, 0);
  }

  commit(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0 && !this.closed) {
      const batch = this.waiting;
      this.waiting = [];
      const s = this.snapshot();
      if (s && s.parts.length > 0) {
        try {
          const buf = encodeOpenState(s);
          await new Promise<void>((res, rej) => write(this.fd, buf, 0, buf.length, null, (e) => (e ? rej(e) : res())));
          await new Promise<void>((res, rej) => fdatasync(this.fd, (e) => (e ? rej(e) : res())));
        } catch (e) {
          this.onError(e);
        }
      }
      for (const r of batch) r();
    }
    for (const r of this.waiting.splice(0)) r();
    this.running = false;
  }

  /** The open window was written to the trace: drop the snapshots (later ones carry a larger base anyway). */
  reset(): void {
    if (this.closed) return;
    try {
      ftruncateSync(this.fd, 0);
    } catch (e) {
      this.onError(e);
    }
  }

  /** Stop journaling and remove the file (call once the trace holds everything). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
      rmSync(this.path, { force: true });
    } catch {
      /* best effort */
    }
    for (const r of this.waiting.splice(0)) r();
  }
}
