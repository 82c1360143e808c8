// What a user hands `groupvit segment`, checked before the model loads: class names, prompt templates and the image
// files (present, readable, PNG or JPEG, not absurdly large), each failure one sentence.
import { closeSync, openSync, readSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { detectImageFormat, type ImageFormat } from '../io/image.js';
import { fileError, readFileBytes } from '../io/read-file.js';
import { UserError } from '../util/errors.js';
import { MAX_CLASSES } from './pipeline.js';

/** Images above this many pixels are refused before decoding (the outputs are written at the image's own size). */
export const MAX_IMAGE_PIXELS = 100e6;

/** "a, b ,c" → ['a', 'b', 'c']; empty names, duplicates (ignoring case), 'background' and too many are UserErrors. */
export function parseClasses(spec: string | readonly string[]): string[] {
  const raw = (typeof spec === 'string' ? [spec] : spec).flatMap((s) => s.split(','));
  const names = raw.map((s) => s.trim().replace(/\s+/g, ' '));
  if (names.length === 1 && names[0] === '') throw new UserError('--classes is empty: give the class names separated by commas, e.g. --classes cat,dog,grass.');
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    if (n === '') throw new UserError(`Class name ${i + 1} of ${names.length} in --classes is empty: remove the extra comma.`);
    const key = n.toLowerCase();
    if (key === 'background') throw new UserError("'background' is always class 0 of the mask: leave it out of --classes (tune it with --bg-thresh).");
    if (seen.has(key)) throw new UserError(`The class '${n}' is given twice in --classes: each class must be named once.`);
    seen.set(key, i);
  });
  if (names.length > MAX_CLASSES) throw new UserError(`${names.length} classes were given but a mask holds at most ${MAX_CLASSES}: split them over several runs.`);
  return names;
}

/** Templates from repeated --template options, each of which may hold several separated by ';'. */
export function parseTemplates(specs: readonly string[] | undefined, fallback: readonly string[]): string[] {
  if (!specs || specs.length === 0) return [...fallback];
  const out = specs.flatMap((s) => s.split(';')).map((s) => s.trim()).filter((s) => s.length > 0);
  if (out.length === 0) throw new UserError('--template is empty: give a prompt with {} where the class name goes (the default is "a photo of a {}.").');
  for (const t of out) if (!t.includes('{}')) throw new UserError(`The template "${t}" has no {} where the class name goes.`);
  return out;
}

/** Width and height from a PNG's IHDR or a JPEG's first start-of-frame marker, without decoding; null if not found. */
export function peekImageSize(bytes: Uint8Array, format: ImageFormat): { width: number; height: number } | null {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'png') {
    if (bytes.length < 24) return null;
    return { width: v.getUint32(16), height: v.getUint32(20) };
  }
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    const len = v.getUint16(i + 2);
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof) {
      if (i + 9 > bytes.length) return null;
      return { width: v.getUint16(i + 7), height: v.getUint16(i + 5) };
    }
    if (marker === 0xda || marker === 0xd9) return null;
    i += 2 + len;
  }
  return null;
}

export interface ImageInput {
  path: string;
  /** The file name without its extension: outputs are NAME.mask.png and friends. */
  name: string;
  width: number;
  height: number;
}

/** The first `n` bytes of a file (fewer if it is shorter); failures are the same sentences as readFileBytes'. */
function readHead(path: string, n: number): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fileError(e, path, 'Image');
  }
  try {
    const buf = new Uint8Array(n);
    let got = 0;
    for (let k = 1; got < n && k > 0; got += k) k = readSync(fd, buf, got, n - got, got);
    return buf.subarray(0, got);
  } catch (e) {
    throw fileError(e, path, 'Image');
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks one image file from its header alone (the pixels are read when the image's turn comes): missing,
 * unreadable, not an image, or far too large → UserError.
 */
export function checkImageFile(path: string): ImageInput {
  let bytes = readHead(path, 1 << 18);
  const format = detectImageFormat(bytes);
  if (format === null) throw new UserError(`${path} is not an image: only PNG and JPEG files are supported.`);
  let size = peekImageSize(bytes, format);
  if (!size && bytes.length === 1 << 18) {
    bytes = readFileBytes(path, 'Image'); // a JPEG whose frame header lies behind large metadata
    size = peekImageSize(bytes, format);
  }
  if (!size || size.width <= 0 || size.height <= 0) throw new UserError(`${path} is a damaged ${format.toUpperCase()} file (no readable image size).`);
  const mp = size.width * size.height;
  if (mp > MAX_IMAGE_PIXELS) {
    const k = Math.sqrt(MAX_IMAGE_PIXELS / mp);
    throw new UserError(
      `${path} is ${size.width}x${size.height} (${(mp / 1e6).toFixed(0)} MP), far above the ${MAX_IMAGE_PIXELS / 1e6} MP this command handles: downscale it to ${Math.floor(size.width * k)}x${Math.floor(size.height * k)} or less.`,
    );
  }
  return { path, name: basename(path, extname(path)), ...size };
}
