// The PNG container: an 8-byte signature, then chunks of [length u32 BE][type 4 ASCII][data][crc32 of type+data].
// pngjs cannot write indexed-colour (palette) PNGs, and reading one through it loses the indices, so the palette
// writer and reader speak the chunk layer directly.
import { crc32 } from '../util/crc32.js';

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export interface PngChunk {
  type: string;
  data: Uint8Array;
}

export function encodeChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** All chunks up to IEND, CRCs checked; throws an Error saying what is wrong with the file. */
export function parseChunks(bytes: Uint8Array): PngChunk[] {
  if (bytes.length < 8 || !PNG_SIGNATURE.every((b, i) => bytes[i] === b)) throw new Error('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: PngChunk[] = [];
  let o = 8;
  while (o + 12 <= bytes.length) {
    const len = view.getUint32(o);
    if (o + 12 + len > bytes.length) throw new Error('truncated chunk');
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    const data = bytes.subarray(o + 8, o + 8 + len);
    if (crc32(bytes.subarray(o + 4, o + 8 + len)) !== view.getUint32(o + 8 + len)) {
      throw new Error(`the ${type} chunk fails its CRC check`);
    }
    chunks.push({ type, data });
    o += 12 + len;
    if (type === 'IEND') return chunks;
  }
  throw new Error('truncated file (no IEND chunk)');
}
