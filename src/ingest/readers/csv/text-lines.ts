/**
 * Helpers shared by the text readers (csv, vllm-jsonl, esft): streaming line iteration that never
 * holds the whole file, and the default memory ceiling.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { InputError } from '../../../core/errors.ts';

/** Default ceiling on bytes a reader may allocate: 80% of total memory (at least the free memory). */
export function defaultMaxBytes(): number {
  return Math.floor(Math.max(totalmem() * 0.8, freemem()));
}

const CHUNK = 1 << 20;
/** Longest line accepted (V8 strings top out near 512 MiB). */
export const MAX_LINE_CHARS = 1 << 28;

/**
 * Call `onLine(line, lineNo)` for every line of the file at `path` (1-based line numbers, '\n' or
 * '\r\n' endings, the trailing line included when the file does not end with a newline). Reads in
 * 1 MiB chunks, so memory stays bounded by the longest line.
 */
export function forEachLine(path: string, onLine: (line: string, lineNo: number) => void): void {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    const dec = new StringDecoder('utf8');
    let carry = '';
    let lineNo = 0;
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) break;
      pos += n;
      const text = carry + dec.write(buf.subarray(0, n));
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        let end = nl;
        if (end > start && text.charCodeAt(end - 1) === 13) end--;
        onLine(text.slice(start, end), ++lineNo);
        start = nl + 1;
      }
      carry = text.slice(start);
      if (carry.length > MAX_LINE_CHARS) {
        throw new InputError(path, `line ${lineNo + 1}`, `line longer than ${MAX_LINE_CHARS} characters; expected line-oriented text`);
      }
    }
    carry += dec.end();
    if (carry.length > 0) {
      if (carry.charCodeAt(carry.length - 1) === 13) carry = carry.slice(0, -1);
      onLine(carry, ++lineNo);
    }
  } finally {
    closeSync(fd);
  }
}

/** Call `onLine` for every line of an in-memory buffer (same numbering rules as forEachLine). */
export function forEachLineOf(text: string, onLine: (line: string, lineNo: number) => void): void {
  let start = 0;
  let lineNo = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const last = nl < 0;
    if (last && start >= text.length) break;
    let end = last ? text.length : nl;
    if (end > start && text.charCodeAt(end - 1) === 13) end--;
    onLine(text.slice(start, end), ++lineNo);
    if (last) break;
    start = nl + 1;
  }
}

/** Text of the probe head when it looks like text (no NUL bytes, mostly printable), else undefined. */
export function headText(head: Uint8Array): string | undefined {
  if (head.length === 0) return undefined;
  let bad = 0;
  for (let i = 0; i < head.length; i++) {
    const b = head[i];
    if (b === 0) return undefined;
    if (b < 9 || (b > 13 && b < 32)) bad++;
  }
  if (bad > head.length / 100) return undefined;
  return Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('utf8');
}

/** A field or line for an error message: quoted and cut to 60 characters, or "binary data" when not printable text. */
export function showText(s: string): string {
  if (!/^[\x20-\x7e\t\u00a0-\u024f]*$/.test(s)) return 'binary data (not text)';
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);
}
