// A reader for POSIX tar archives (ustar, with the GNU long-name and pax path extensions), enough for webdataset
// shards. It reads headers only and records where each member's bytes sit, so a shard of many gigabytes is indexed
// without being loaded, and a member is read later by offset (in any process: the index is plain data).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export interface TarMember {
  /** Path inside the archive. */
  name: string;
  /** Byte offset of the member's data in the archive file. */
  offset: number;
  size: number;
}

const BLOCK = 512;

function cString(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return Buffer.from(b.subarray(start, end)).toString('utf8');
}

/** Numeric header fields are octal text, or big-endian base-256 when the first byte's top bit is set (GNU). */
function numberField(b: Uint8Array, start: number, len: number): number {
  if (b[start] & 0x80) {
    let v = b[start] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i];
    return v;
  }
  const s = cString(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`bad octal field "${s}"`);
  return parseInt(s, 8);
}

function checksumOk(h: Uint8Array): boolean {
  const stored = numberField(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return sum === stored;
}

/** The `path` record of a pax extended header ("LEN key=value\n" records). */
function paxPath(data: Uint8Array): string | null {
  const text = Buffer.from(data).toString('utf8');
  let o = 0;
  while (o < text.length) {
    const sp = text.indexOf(' ', o);
    if (sp < 0) break;
    const len = parseInt(text.slice(o, sp), 10);
    if (!(len > 0)) break;
    const rec = text.slice(sp + 1, o + len - 1);
    const eq = rec.indexOf('=');
    if (rec.slice(0, eq) === 'path') return rec.slice(eq + 1);
    o += len;
  }
  return null;
}

/**
 * The regular files of a tar archive, in archive order. Throws an Error describing the first structural problem
 * (bad checksum, member running past the end): a damaged shard is reported, not half-read silently.
 */
export function listTarMembers(path: string): TarMember[] {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    const members: TarMember[] = [];
    const header = new Uint8Array(BLOCK);
    let pos = 0;
    let longName: string | null = null;
    const readAt = (buf: Uint8Array, at: number): number => readSync(fd, buf, 0, buf.length, at);
    while (pos + BLOCK <= fileSize) {
      if (readAt(header, pos) < BLOCK) throw new Error(`truncated header at byte ${pos}`);
      if (header.every((b) => b === 0)) break; // end-of-archive marker
      if (!checksumOk(header)) throw new Error(`bad header checksum at byte ${pos}`);
      const size = numberField(header, 124, 12);
      const type = String.fromCharCode(header[156] || 0x30);
      const dataAt = pos + BLOCK;
      if (dataAt + size > fileSize) throw new Error(`member at byte ${pos} runs past the end of the file`);
      const next = dataAt + Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'L' || type === 'x') {
        // GNU long name or pax header: its data names the next member.
        const data = new Uint8Array(size);
        readAt(data, dataAt);
        longName = type === 'L' ? cString(data, 0, size) : (paxPath(data) ?? longName);
      } else if (type === '0' || type === '7') {
        let name = cString(header, 0, 100);
        const magic = cString(header, 257, 6);
        if (magic.startsWith('ustar')) {
          const prefix = cString(header, 345, 155);
          if (prefix) name = `${prefix}/${name}`;
        }
        members.push({ name: longName ?? name, offset: dataAt, size });
        longName = null;
      } else {
        longName = null; // directories, links, devices: nothing to read
      }
      pos = next;
    }
    return members;
  } finally {
    closeSync(fd);
  }
}

/** The bytes of a member (or any byte range) of a file. */
export function readFileRange(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new Error(`unexpected end of ${path}`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** A tar archive of the given files, for tests and small exports (ustar, names up to 100 bytes). */
export function buildTar(files: readonly { name: string; data: Uint8Array }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    const nameBytes = Buffer.from(f.name, 'utf8');
    if (nameBytes.length > 100) throw new RangeError(`tar member name longer than 100 bytes: ${f.name}`);
    const h = new Uint8Array(BLOCK);
    h.set(nameBytes, 0);
    const field = (at: number, len: number, v: number): void => h.set(Buffer.from(v.toString(8).padStart(len - 1, '0') + '\0'), at);
    field(100, 8, 0o644);
    field(108, 8, 0);
    field(116, 8, 0);
    field(124, 12, f.data.length);
    field(136, 12, 0);
    h[156] = 0x30;
    h.set(Buffer.from('ustar\x0000'), 257);
    h.fill(0x20, 148, 156);
    const sum = h.reduce((a, b) => a + b, 0);
    h.set(Buffer.from(sum.toString(8).padStart(6, '0') + '\0 '), 148);
    parts.push(h, f.data, new Uint8Array((BLOCK - (f.data.length % BLOCK)) % BLOCK));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  return Buffer.concat(parts);
}
