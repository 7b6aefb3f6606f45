/**
 * Minimal random-access ZIP reader for torch.save archives: reads the central directory (ZIP64
 * aware) and gives each member's bytes on demand with positioned reads, so a large dump is never
 * read whole. torch.save stores members uncompressed (method 0); deflated members (method 8) are
 * inflated with fflate.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { inflateSync } from 'fflate';
import { InputError } from '../../core/errors.ts';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** CRC-32 of the uncompressed bytes, from the central directory. */
  crc: number;
}

export class ZipFile {
  readonly path: string;
  readonly entries = new Map<string, ZipEntry>();
  private fd: number;
  private fileSize: number;

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'r');
    try {
      this.fileSize = fstatSync(this.fd).size;
      this.readDirectory();
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private readAt(pos: number, len: number): Buffer {
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd, buf, got, len - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    if (got < len) throw new InputError(this.path, `byte ${pos + got}`, `file ends early; expected ${len} bytes at byte ${pos}`);
    return buf;
  }

  private readDirectory(): void {
    const tailLen = Math.min(this.fileSize, 65536 + 22);
    const tailPos = this.fileSize - tailLen;
    const tail = this.readAt(tailPos, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new InputError(this.path, '', 'not a zip archive (no end-of-central-directory record); the file may be truncated');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || tail.readUInt32LE(loc) !== 0x07064b50) {
        throw new InputError(this.path, `byte ${tailPos + eocd}`, 'ZIP64 archive without a ZIP64 locator');
      }
      const z64Pos = Number(tail.readBigUInt64LE(loc + 8));
      const z = this.readAt(z64Pos, 56);
      if (z.readUInt32LE(0) !== 0x06064b50) throw new InputError(this.path, `byte ${z64Pos}`, 'bad ZIP64 end-of-central-directory record');
      count = Number(z.readBigUInt64LE(32));
      cdSize = Number(z.readBigUInt64LE(40));
      cdOffset = Number(z.readBigUInt64LE(48));
    }
    if (cdOffset + cdSize > this.fileSize) {
      throw new InputError(this.path, `byte ${cdOffset}`, 'central directory lies past the end of the file; the file is truncated');
    }
    const cd = this.readAt(cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) {
        throw new InputError(this.path, `byte ${cdOffset + p}`, `bad central directory entry ${i}`);
      }
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let compressedSize = cd.readUInt32LE(p + 20);
      let size = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localHeaderOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // ZIP64 extended information extra field (id 1): the 0xFFFFFFFF fields, in order.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 1) {
          let q = e + 4;
          if (size === 0xffffffff) {
            size = Number(cd.readBigUInt64LE(q));
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = Number(cd.readBigUInt64LE(q));
            q += 8;
          }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = Number(cd.readBigUInt64LE(q));
        }
        e += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize, size, localHeaderOffset, crc });
      p = eEnd + commentLen;
    }
  }

  /** Names of all members. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Absolute byte offset of a member's data, for error messages. */
  dataOffset(entry: ZipEntry): number {
    const h = this.readAt(entry.localHeaderOffset, 30);
    if (h.readUInt32LE(0) !== 0x04034b50) throw new InputError(this.path, `byte ${entry.localHeaderOffset}`, `bad local header for ${entry.name}`);
    return entry.localHeaderOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
  }

  /** The member's bytes (whole), inflated when deflated, checked against the size and CRC-32 the directory gives. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw new InputError(this.path, `member ${name}`, 'missing from the archive');
    const start = this.dataOffset(entry);
    if (start + entry.compressedSize > this.fileSize) {
      throw new InputError(this.path, `member ${name}`, `data runs past the end of the file (needs ${entry.compressedSize} bytes at byte ${start}); the file is truncated`);
    }
    const raw = this.readAt(start, entry.compressedSize);
    let data: Uint8Array;
    if (entry.method === 0) data = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    else if (entry.method === 8) {
      // The output buffer is the directory's size: a stream that inflates to more cannot grow it.
      let out: Uint8Array;
      try {
        out = inflateSync(raw, { out: new Uint8Array(entry.size) });
      } catch (e) {
        throw new InputError(this.path, `member ${name}`, `corrupt deflate data (${(e as Error).message ?? String(e)})`);
      }
      if (out.length !== entry.size) throw new InputError(this.path, `member ${name}`, `inflates to ${out.length} bytes; the directory says ${entry.size}`);
      data = out;
    } else throw new InputError(this.path, `member ${name}`, `unsupported zip compression method ${entry.method}`);
    if (data.length !== entry.size) throw new InputError(this.path, `member ${name}`, `holds ${data.length} bytes; the directory says ${entry.size}`);
    if ((crc32(data) >>> 0) !== entry.crc) {
      throw new InputError(this.path, `member ${name}`, `fails its CRC-32 check (stored ${entry.crc.toString(16).padStart(8, '0')}, computed ${(crc32(data) >>> 0).toString(16).padStart(8, '0')}); the file is corrupt`);
    }
    return data;
  }
}

/** True when `head` starts with a zip local-file header. */
export function isZipHead(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}
