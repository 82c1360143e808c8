// PNG encoding: 8-bit RGB for pictures (overlays, group maps) and 8-bit indexed colour for masks. A mask is stored
// as colour type 3 so that any palette-aware reader (PIL's mode "P", VOC tooling) gets the class index back as the
// pixel value, while ordinary viewers show the palette colours.
import { deflateSync } from 'node:zlib';
import type { RgbImage } from './image.js';
import { writeFileAtomic } from './atomic-write.js';
import { PNG_SIGNATURE, concatBytes, encodeChunk } from './png-chunks.js';

export type Rgb = readonly [number, number, number];

function ihdr(width: number, height: number, colorType: 2 | 3): Uint8Array {
  const d = new Uint8Array(13);
  const v = new DataView(d.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  d[8] = 8; // bit depth
  d[9] = colorType;
  // compression 0 (deflate), filter method 0 (adaptive), interlace 0 (none): bytes 10..12 stay zero
  return d;
}

function checkSize(width: number, height: number): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`bad PNG size ${width}x${height}`);
  }
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Filters each row with whichever of the five PNG filters gives the smallest sum of |signed byte| (the heuristic
 * libpng uses): it makes natural images compress well without a search.
 */
function filterRows(pixels: Uint8Array, rowBytes: number, height: number, bpp: number): Uint8Array {
  const out = new Uint8Array(height * (rowBytes + 1));
  const cand = Array.from({ length: 5 }, () => new Uint8Array(rowBytes));
  for (let y = 0; y < height; y++) {
    const row = pixels.subarray(y * rowBytes, (y + 1) * rowBytes);
    const prev = y > 0 ? pixels.subarray((y - 1) * rowBytes, y * rowBytes) : null;
    let best = 0;
    let bestCost = Infinity;
    for (let f = 0; f < 5; f++) {
      const c = cand[f];
      let cost = 0;
      for (let i = 0; i < rowBytes; i++) {
        const a = i >= bpp ? row[i - bpp] : 0;
        const b = prev ? prev[i] : 0;
        const cc = prev && i >= bpp ? prev[i - bpp] : 0;
        const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, cc);
        const v = (row[i] - pred) & 0xff;
        c[i] = v;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < bestCost) {
        bestCost = cost;
        best = f;
      }
    }
    out[y * (rowBytes + 1)] = best;
    out.set(cand[best], y * (rowBytes + 1) + 1);
  }
  return out;
}

export function encodePngRGB(img: RgbImage): Uint8Array {
  checkSize(img.width, img.height);
  if (img.data.length !== img.width * img.height * 3) throw new RangeError('RGB data length does not match the size');
  const raw = filterRows(img.data, img.width * 3, img.height, 3);
  return concatBytes([
    PNG_SIGNATURE,
    encodeChunk('IHDR', ihdr(img.width, img.height, 2)),
    encodeChunk('IDAT', deflateSync(raw, { level: 9 })),
    encodeChunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * An indexed-colour PNG: pixel i has palette entry indices[i]. Every index must have a palette entry (a PNG with
 * out-of-range indices is invalid), and the palette holds at most 256 colours.
 */
export function encodePngPalette(indices: Uint8Array, width: number, height: number, palette: readonly Rgb[]): Uint8Array {
  checkSize(width, height);
  if (indices.length !== width * height) throw new RangeError(`${indices.length} indices for a ${width}x${height} image`);
  if (palette.length < 1 || palette.length > 256) throw new RangeError(`a PNG palette holds 1–256 colours, not ${palette.length}`);
  for (let i = 0; i < indices.length; i++) {
    if (indices[i] >= palette.length) throw new RangeError(`index ${indices[i]} at pixel ${i} has no palette entry`);
  }
  const plte = new Uint8Array(palette.length * 3);
  palette.forEach(([r, g, b], i) => plte.set([r, g, b], i * 3));
  // Filter "None" on every row: the PNG specification's advice for indexed images, where prediction means little.
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(indices.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return concatBytes([
    PNG_SIGNATURE,
    encodeChunk('IHDR', ihdr(width, height, 3)),
    encodeChunk('PLTE', plte),
    encodeChunk('IDAT', deflateSync(raw, { level: 9 })),
    encodeChunk('IEND', new Uint8Array(0)),
  ]);
}

/** Writes via a temporary file and rename, so a crash never leaves a half-written picture under the real name. */
export function writePngRGB(path: string, img: RgbImage): void {
  writeFileAtomic(path, encodePngRGB(img));
}

export function writePngPalette(path: string, indices: Uint8Array, width: number, height: number, palette: readonly Rgb[]): void {
  writeFileAtomic(path, encodePngPalette(indices, width, height, palette));
}
