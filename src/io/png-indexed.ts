// Reading a label PNG as indices: VOC's SegmentationClass files, and our own NAME.mask.png, store the class as the
// palette index. pngjs would expand them to colours, so this small decoder returns the raw indices instead.
// It handles non-interlaced colour type 3 (palette, 1/2/4/8 bits) and 0 (grey, 8 bits, value = label).
import { inflateSync } from 'node:zlib';
import { UserError } from '../util/errors.js';
import { readFileBytes } from './read-file.js';
import { concatBytes, parseChunks } from './png-chunks.js';
import type { Rgb } from './png-write.js';

export interface IndexedImage {
  width: number;
  height: number;
  /** One label per pixel, row-major. */
  indices: Uint8Array;
  /** The PLTE colours (empty for a grey label map). */
  palette: Rgb[];
}

function unfilter(raw: Uint8Array, rowBytes: number, height: number, bpp: number): Uint8Array {
  const out = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (rowBytes + 1)];
    const src = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    const row = out.subarray(y * rowBytes, (y + 1) * rowBytes);
    const prev = y > 0 ? out.subarray((y - 1) * rowBytes, y * rowBytes) : null;
    for (let i = 0; i < rowBytes; i++) {
      const a = i >= bpp ? row[i - bpp] : 0;
      const b = prev ? prev[i] : 0;
      const c = prev && i >= bpp ? prev[i - bpp] : 0;
      let pred: number;
      if (f === 0) pred = 0;
      else if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new Error(`unknown row filter ${f}`);
      row[i] = (src[i] + pred) & 0xff;
    }
  }
  return out;
}

export function decodePngIndices(bytes: Uint8Array): IndexedImage {
  const chunks = parseChunks(bytes);
  const head = chunks[0];
  if (head?.type !== 'IHDR' || head.data.length !== 13) throw new Error('the file does not start with an IHDR chunk');
  const v = new DataView(head.data.buffer, head.data.byteOffset, 13);
  const width = v.getUint32(0);
  const height = v.getUint32(4);
  const depth = head.data[8];
  const colorType = head.data[9];
  if (head.data[12] !== 0) throw new Error('interlaced label PNGs are not supported');
  const palette: Rgb[] = [];
  if (colorType === 3) {
    if (![1, 2, 4, 8].includes(depth)) throw new Error(`bad palette bit depth ${depth}`);
    const plte = chunks.find((c) => c.type === 'PLTE');
    if (!plte) throw new Error('a palette PNG without a PLTE chunk');
    for (let i = 0; i + 2 < plte.data.length; i += 3) palette.push([plte.data[i], plte.data[i + 1], plte.data[i + 2]]);
  } else if (!(colorType === 0 && depth === 8)) {
    throw new Error(`colour type ${colorType} at ${depth} bits is not a label map (palette or 8-bit grey expected)`);
  }
  const raw = inflateSync(concatBytes(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  const rowBytes = Math.ceil((width * depth) / 8);
  if (raw.length < (rowBytes + 1) * height) throw new Error('the image data is shorter than its size says');
  const packed = unfilter(raw, rowBytes, height, 1);
  const indices = new Uint8Array(width * height);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = packed[y * rowBytes + Math.floor(x / perByte)];
      // Sub-byte pixels are packed most significant bits first.
      const shift = 8 - depth * ((x % perByte) + 1);
      indices[y * width + x] = (byte >> shift) & mask;
    }
  }
  return { width, height, indices, palette };
}

/** Reads a label PNG from a file; any problem is a UserError naming the file. */
export function readPngIndices(path: string): IndexedImage {
  const bytes = readFileBytes(path, 'Label image');
  try {
    return decodePngIndices(bytes);
  } catch (e) {
    throw new UserError(`${path} is not a readable label PNG (${(e as Error).message}).`);
  }
}
