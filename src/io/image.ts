// The RGB image every part of the project passes around, and how to get one from a PNG or JPEG file.
// Everything decodes to 8-bit RGB, interleaved, row-major: that is what the model's preprocessing (and PIL's
// `Image.convert('RGB')` in the reference code) starts from, whatever the file stored.
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { UserError } from '../util/errors.js';
import { readFileBytes } from './read-file.js';

export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 bytes, R G B per pixel, rows top to bottom. */
  data: Uint8Array;
}

export type ImageFormat = 'png' | 'jpeg';

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format from the first bytes, never from the file name: users rename files, magic bytes do not lie. */
export function detectImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && PNG_MAGIC.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

export function newImage(width: number, height: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3) };
}

/**
 * Decodes PNG (any colour type or depth: grey, grey+alpha, palette, RGB, RGBA, 16-bit) or JPEG (baseline,
 * progressive, greyscale) to 8-bit RGB. Alpha is dropped, not composited, as PIL's convert('RGB') does.
 * `name` only appears in the error sentence.
 */
export function decodeImage(bytes: Uint8Array, name = 'the image'): RgbImage {
  const format = detectImageFormat(bytes);
  if (format === null) throw new UserError(`${name} is not an image: only PNG and JPEG files are supported.`);
  try {
    return format === 'png' ? decodePng(bytes) : decodeJpeg(bytes);
  } catch (e) {
    const why = (e as Error).message?.replace(/\.$/, '') || String(e);
    throw new UserError(`${name} is a damaged or unsupported ${format.toUpperCase()} file (${why}).`);
  }
}

function decodePng(bytes: Uint8Array): RgbImage {
  // pngjs expands every colour type and bit depth to RGBA with 8 bits per channel (16-bit is rescaled, not cut).
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return dropAlpha(png.width, png.height, png.data);
}

function decodeJpeg(bytes: Uint8Array): RgbImage {
  // RGBA output because jpeg-js's RGB path is less tested for greyscale and CMYK files; alpha is always 255.
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: true, maxResolutionInMP: 200 });
  if (img.width <= 0 || img.height <= 0) throw new Error('no image data');
  return dropAlpha(img.width, img.height, img.data);
}

function dropAlpha(width: number, height: number, rgba: Uint8Array): RgbImage {
  const n = width * height;
  if (rgba.length < n * 4) throw new Error('truncated pixel data');
  const out = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    out[i * 3] = rgba[j];
    out[i * 3 + 1] = rgba[j + 1];
    out[i * 3 + 2] = rgba[j + 2];
  }
  return { width, height, data: out };
}

/** Reads and decodes an image file; a missing, unreadable or non-image file is a UserError naming it. */
export function readImage(path: string): RgbImage {
  return decodeImage(readFileBytes(path, 'Image'), path);
}

/** The w×h window whose top-left pixel is (x, y); it must lie inside the image. */
export function cropImage(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > img.width || y + h > img.height) {
    throw new RangeError(`crop ${w}x${h}+${x}+${y} outside a ${img.width}x${img.height} image`);
  }
  const out = newImage(w, h);
  for (let r = 0; r < h; r++) {
    const src = ((y + r) * img.width + x) * 3;
    out.data.set(img.data.subarray(src, src + w * 3), r * w * 3);
  }
  return out;
}

/** Mirror image (left ↔ right). */
export function flipHorizontal(img: RgbImage): RgbImage {
  const { width: w, height: h } = img;
  const out = newImage(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = (y * w + (w - 1 - x)) * 3;
      out.data[d] = img.data[s];
      out.data[d + 1] = img.data[s + 1];
      out.data[d + 2] = img.data[s + 2];
    }
  }
  return out;
}

// One import for callers: the rest of the image toolbox lives in files of its own.
export { resizeBilinear, resizeShortSide, resizeNearestLabels } from './resize.js';
export { normalizeImageNet, normalizeImages, IMAGENET_MEAN, IMAGENET_STD } from './normalize-pixels.js';
export { encodePngRGB, encodePngPalette, writePngRGB, writePngPalette } from './png-write.js';
export { decodePngIndices, readPngIndices } from './png-indexed.js';
