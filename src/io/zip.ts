// A minimal, read-only zip reader: enough for torch.save archives (stored entries, 64-byte aligned) and ordinary
// deflated zips, including zip64 sizes/offsets. It trusts nothing: every length and offset is checked against the
// file before it is used, and each entry's CRC is verified, so a damaged archive fails with one sentence.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { UserError } from '../util/errors.js';
import { crc32 } from '../util/crc32.js';

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** Entries larger than this cannot become one Node Buffer anyway; refusing early gives a clear message. */
const MAX_ENTRY_BYTES = 2 ** 32 - 1;

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Random access to the archive bytes: a Buffer in memory, or an open file read piecewise (checkpoints can be GBs). */
interface ByteSource {
  size: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

function bufferSource(buf: Uint8Array): ByteSource {
  return { size: buf.byteLength, read: (o, n) => buf.subarray(o, o + n), close: () => {} };
}

function fileSource(path: string): ByteSource {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new UserError(`Cannot open ${path}: ${(e as Error).message}.`);
  }
  const size = fstatSync(fd).size;
  return {
    size,
    read(offset, length) {
      const out = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, out, got, length - got, offset + got);
        if (n === 0) break; // the file shrank under us; the caller's length checks report it
        got += n;
      }
      return out.subarray(0, got);
    },
    close: () => closeSync(fd),
  };
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();

  private constructor(
    private readonly src: ByteSource,
    readonly label: string,
  ) {
    try {
      this.readCentralDirectory();
    } catch (e) {
      src.close();
      throw e;
    }
  }

  /** Opens a zip from a path (read lazily) or from bytes already in memory; `label` names it in errors. */
  static open(src: string | Uint8Array, label = typeof src === 'string' ? src : '<buffer>'): ZipArchive {
    return new ZipArchive(typeof src === 'string' ? fileSource(src) : bufferSource(src), label);
  }

  close(): void {
    this.src.close();
  }

  private bad(why: string): UserError {
    return new UserError(`${this.label} is not a valid zip archive: ${why}.`);
  }

  /** Reads exactly `length` bytes at `offset`, or fails as a truncated archive. */
  private bytes(offset: number, length: number, what: string): DataView {
    if (offset < 0 || length < 0 || offset + length > this.src.size) throw this.bad(`the ${what} lies outside the file`);
    const b = this.src.read(offset, length);
    if (b.byteLength !== length) throw this.bad(`the ${what} could not be read in full`);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  private findEocd(): number {
    const size = this.src.size;
    if (size < EOCD_SIZE) throw this.bad('it is too short to hold an end-of-central-directory record');
    const tailLen = Math.min(size, EOCD_SIZE + MAX_COMMENT);
    const tail = this.bytes(size - tailLen, tailLen, 'end-of-central-directory search area');
    // Scan backwards: the record is last, followed only by a comment of the length it states.
    for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
      if (tail.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tail.getUint16(i + 20, true) === tailLen) {
        return size - tailLen + i;
      }
    }
    throw this.bad('no end-of-central-directory record was found (truncated or not a zip)');
  }

  private readCentralDirectory(): void {
    const eocdAt = this.findEocd();
    const eocd = this.bytes(eocdAt, EOCD_SIZE, 'end-of-central-directory record');
    let count = eocd.getUint16(10, true);
    let cdSize = eocd.getUint32(12, true);
    let cdOffset = eocd.getUint32(16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // zip64: a locator just before the EOCD points at the 64-bit record with the real values
      const loc = this.bytes(eocdAt - 20, 20, 'zip64 locator');
      if (loc.getUint32(0, true) !== SIG_EOCD64_LOCATOR) throw this.bad('the zip64 locator is missing');
      const recAt = this.safeNumber(loc.getBigUint64(8, true), 'zip64 record offset');
      const rec = this.bytes(recAt, 56, 'zip64 end-of-central-directory record');
      if (rec.getUint32(0, true) !== SIG_EOCD64) throw this.bad('the zip64 end-of-central-directory record is damaged');
      count = this.safeNumber(rec.getBigUint64(32, true), 'entry count');
      cdSize = this.safeNumber(rec.getBigUint64(40, true), 'central directory size');
      cdOffset = this.safeNumber(rec.getBigUint64(48, true), 'central directory offset');
    }
    if (cdOffset + cdSize > eocdAt) throw this.bad('the central directory runs past its end record');
    // Each entry takes at least 46 bytes, so the count cannot make the loop run longer than the directory allows.
    if (count * 46 > cdSize) throw this.bad(`the central directory is too small for ${count} entries`);
    const cd = this.bytes(cdOffset, cdSize, 'central directory');
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || cd.getUint32(p, true) !== SIG_CENTRAL) throw this.bad(`central directory entry ${i} is damaged`);
      const flags = cd.getUint16(p + 8, true);
      const method = cd.getUint16(p + 10, true);
      const crc = cd.getUint32(p + 16, true);
      let compressedSize = cd.getUint32(p + 20, true);
      let size = cd.getUint32(p + 24, true);
      const nameLen = cd.getUint16(p + 28, true);
      const extraLen = cd.getUint16(p + 30, true);
      const commentLen = cd.getUint16(p + 32, true);
      let localHeaderOffset = cd.getUint32(p + 42, true);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cdSize) throw this.bad(`central directory entry ${i} runs past the directory`);
      const nameBytes = new Uint8Array(cd.buffer, cd.byteOffset + p + 46, nameLen);
      const name = new TextDecoder().decode(nameBytes);
      // zip64 extra field (id 1): 64-bit values for exactly those fields saturated at 0xffffffff, in this order
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = cd.getUint16(e, true);
        const len = cd.getUint16(e + 2, true);
        if (e + 4 + len > extraEnd) throw this.bad(`the extra field of "${name}" is damaged`);
        if (id === 1) {
          let q = e + 4;
          const take = (what: string): number => {
            if (q + 8 > e + 4 + len) throw this.bad(`the zip64 field of "${name}" is too short`);
            const v = this.safeNumber(cd.getBigUint64(q, true), what);
            q += 8;
            return v;
          };
          if (size === 0xffffffff) size = take('entry size');
          if (compressedSize === 0xffffffff) compressedSize = take('entry compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('entry offset');
        }
        e += 4 + len;
      }
      if (this.entries.has(name)) throw this.bad(`the entry "${name}" appears twice`);
      this.entries.set(name, { name, method, flags, crc, compressedSize, size, localHeaderOffset });
      p = end;
    }
  }

  private safeNumber(v: bigint, what: string): number {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.bad(`the ${what} is out of range`);
    return Number(v);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The uncompressed bytes of one entry, CRC-checked. */
  read(name: string): Uint8Array {
    const ent = this.entries.get(name);
    if (!ent) throw new UserError(`${this.label} has no entry "${name}".`);
    if (ent.flags & 1) throw this.bad(`the entry "${name}" is encrypted`);
    if (ent.size > MAX_ENTRY_BYTES || ent.compressedSize > MAX_ENTRY_BYTES) throw this.bad(`the entry "${name}" is too large to load`);
    const lh = this.bytes(ent.localHeaderOffset, 30, `local header of "${name}"`);
    if (lh.getUint32(0, true) !== SIG_LOCAL) throw this.bad(`the local header of "${name}" is damaged`);
    // The local header's own name/extra lengths decide where data starts (torch pads entries here to align them).
    const dataAt = ent.localHeaderOffset + 30 + lh.getUint16(26, true) + lh.getUint16(28, true);
    const raw = this.bytes(dataAt, ent.compressedSize, `data of "${name}"`);
    const packed = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    let data: Uint8Array;
    if (ent.method === 0) {
      if (ent.compressedSize !== ent.size) throw this.bad(`the stored entry "${name}" has mismatched sizes`);
      data = packed;
    } else if (ent.method === 8) {
      try {
        // maxOutputLength stops a corrupted stream from inflating without bound
        data = inflateRawSync(packed, { maxOutputLength: Math.max(ent.size, 1) });
      } catch {
        throw this.bad(`the compressed data of "${name}" is corrupt`);
      }
      if (data.byteLength !== ent.size) throw this.bad(`the entry "${name}" inflates to the wrong size`);
    } else {
      throw this.bad(`the entry "${name}" uses unsupported compression method ${ent.method}`);
    }
    if (crc32(data) !== ent.crc) throw this.bad(`the entry "${name}" fails its CRC check`);
    return data;
  }
}
