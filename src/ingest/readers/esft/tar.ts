/**
 * Minimal tar (ustar / GNU / pax) member listing, written from the POSIX ustar layout:
 * 512-byte header blocks (name[0..100), size octal [124..136), typeflag [156], magic "ustar" [257..263),
 * prefix [345..500)), each followed by the member data padded to 512 bytes; two zero blocks end it.
 * GNU 'L' long-name and pax 'x' path records are honoured.
 */
import { constants, gunzipSync } from 'node:zlib';
import { InputError } from '../../../core/errors.ts';

export interface TarMember {
  name: string;
  /** Regular file contents (a view into the archive). */
  data: Uint8Array;
}

function cstr(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
}

function octal(b: Uint8Array, start: number, len: number, file: string, where: string): number {
  // GNU base-256 for large sizes: high bit of the first byte set.
  if (b[start] & 0x80) {
    let v = b[start] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i];
    return v;
  }
  const s = cstr(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new InputError(file, where, `bad tar header: expected an octal size, got "${s}"`);
  return parseInt(s, 8);
}

/** True when `b` starts with a plausible tar header block (ustar magic or a valid checksum). */
export function looksLikeTar(b: Uint8Array): boolean {
  if (b.length < 512) return false;
  if (cstr(b, 257, 5) === 'ustar') return true;
  const stored = cstr(b, 148, 8).trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  return sum === parseInt(stored, 8);
}

/** Regular-file members of a tar archive held in memory, in archive order. */
export function listTar(tar: Uint8Array, file: string): TarMember[] {
  const out: TarMember[] = [];
  let pos = 0;
  let longName: string | undefined;
  while (pos + 512 <= tar.length) {
    let zero = true;
    for (let i = pos; i < pos + 512; i++) {
      if (tar[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return out;
    const where = `byte ${pos}`;
    if (!looksLikeTar(tar.subarray(pos, pos + 512))) throw new InputError(file, where, 'bad tar header block (checksum mismatch)');
    const size = octal(tar, pos + 124, 12, file, where);
    const type = String.fromCharCode(tar[pos + 156] || 48);
    const prefix = cstr(tar, pos + 345, 155);
    let name = cstr(tar, pos + 0, 100);
    if (prefix) name = `${prefix}/${name}`;
    const dataStart = pos + 512;
    if (dataStart + size > tar.length) {
      throw new InputError(file, where, `tar member "${name}" needs ${size} bytes, archive has ${tar.length - dataStart}`);
    }
    const data = tar.subarray(dataStart, dataStart + size);
    if (type === 'L') {
      longName = cstr(data, 0, data.length);
    } else if (type === 'x') {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(Buffer.from(data).toString('utf8'));
      if (m) longName = m[1];
    } else {
      if (type === '0' || type === '7') out.push({ name: longName ?? name, data });
      longName = undefined;
    }
    pos = dataStart + Math.ceil(size / 512) * 512;
  }
  return out;
}

/**
 * Gunzip when the bytes start with the gzip magic, else return them unchanged. Inflation stops at
 * `maxOut` bytes (a gzip bomb is refused in one line without taking the memory).
 */
export function maybeGunzip(b: Uint8Array, file: string, maxOut = 1 << 30): Uint8Array {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    try {
      return gunzipSync(b, { maxOutputLength: maxOut });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        throw new InputError(file, '', `inflates to more than ${maxOut} bytes, more than routing text of this archive's size needs (or memory allows); refusing it`);
      }
      throw new InputError(file, '', `corrupt gzip data (${err.message})`);
    }
  }
  return b;
}

/** Decompress as much of a (possibly cut-off) gzip prefix as possible; for detection only. */
export function gunzipPrefix(b: Uint8Array): Uint8Array {
  try {
    return gunzipSync(b, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 8 << 20 });
  } catch {
    return new Uint8Array(0);
  }
}
