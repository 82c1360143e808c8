// CRC-32 (IEEE 802.3, the zlib/zip polynomial). Used to verify zip entries and by the fixture's word tokenizer,
// whose ids are crc32(word) based. Node >= 20.15 has a native zlib.crc32 (about 20x faster, which matters for
// checking a 200 MB checkpoint); older releases fall back to the table version below.
import * as zlib from 'node:zlib';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32Js(bytes: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** Same value as Python's zlib.crc32(bytes): unsigned 32-bit. */
export function crc32(bytes: Uint8Array, seed = 0): number {
  return native ? native(bytes, seed) >>> 0 : crc32Js(bytes, seed);
}
