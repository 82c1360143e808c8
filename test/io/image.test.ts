import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import {
  cropImage,
  decodeImage,
  detectImageFormat,
  encodePngPalette,
  encodePngRGB,
  flipHorizontal,
  normalizeImageNet,
  readImage,
  readPngIndices,
  resizeBilinear,
  resizeNearestLabels,
  resizeShortSide,
  writePngPalette,
  writePngRGB,
  type RgbImage,
} from '../../src/io/image.js';
import { PNG_SIGNATURE, concatBytes, encodeChunk } from '../../src/io/png-chunks.js';
import { decodePngIndices } from '../../src/io/png-indexed.js';
import { drawText, glyphColumns, textWidth } from '../../src/io/font.js';
import { UserError } from '../../src/util/errors.js';

const FIXTURE = '/work/shared/fixtures/groupvit-tiny';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'groupvit-image-'));
}

function patternImage(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set([(i * 7) & 255, (i * 13 + 5) & 255, (i * 29 + 11) & 255], i * 3);
  return { width: w, height: h, data };
}

/** A PNG with any IHDR, written chunk by chunk (filter 0 rows), to exercise decoders on formats pngjs cannot write. */
function rawPng(w: number, h: number, depth: number, colorType: number, rows: Uint8Array[], extra: { type: string; data: Uint8Array }[] = []): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, w);
  v.setUint32(4, h);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const raw = concatBytes(rows.map((r) => concatBytes([Uint8Array.of(0), r])));
  return concatBytes([
    PNG_SIGNATURE,
    encodeChunk('IHDR', ihdr),
    ...extra.map((c) => encodeChunk(c.type, c.data)),
    encodeChunk('IDAT', deflateSync(raw)),
    encodeChunk('IEND', new Uint8Array(0)),
  ]);
}

test('format detection uses magic bytes', () => {
  assert.equal(detectImageFormat(encodePngRGB(patternImage(2, 2))), 'png');
  assert.equal(detectImageFormat(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0)), 'jpeg');
  assert.equal(detectImageFormat(Buffer.from('GIF89a')), null);
});

test('RGB PNG encode → decode round trip (ours and pngjs agree)', () => {
  const img = patternImage(17, 9);
  const bytes = encodePngRGB(img);
  assert.deepEqual(decodeImage(bytes), img);
  const viaPngjs = PNG.sync.read(Buffer.from(bytes));
  assert.equal(viaPngjs.width, 17);
  for (let i = 0; i < 17 * 9; i++) {
    assert.deepEqual([...viaPngjs.data.subarray(i * 4, i * 4 + 3)], [...img.data.subarray(i * 3, i * 3 + 3)]);
  }
});

test('RGBA, grey, grey+alpha, 16-bit and palette PNGs decode to RGB', () => {
  // RGBA written by pngjs: alpha is dropped, colour kept.
  const rgba = new PNG({ width: 2, height: 1 });
  rgba.data.set([10, 20, 30, 0, 200, 100, 50, 255]);
  assert.deepEqual([...decodeImage(PNG.sync.write(rgba)).data], [10, 20, 30, 200, 100, 50]);
  // 8-bit grey.
  const grey = rawPng(3, 1, 8, 0, [Uint8Array.of(0, 128, 255)]);
  assert.deepEqual([...decodeImage(grey).data], [0, 0, 0, 128, 128, 128, 255, 255, 255]);
  // Grey + alpha.
  const ga = rawPng(1, 1, 8, 4, [Uint8Array.of(77, 3)]);
  assert.deepEqual([...decodeImage(ga).data], [77, 77, 77]);
  // 16-bit RGB: rescaled to 8 bits (0xffff → 255, 0x8080 → 128).
  const rgb16 = rawPng(1, 1, 16, 2, [Uint8Array.of(0xff, 0xff, 0x80, 0x80, 0, 0)]);
  assert.deepEqual([...decodeImage(rgb16).data], [255, 128, 0]);
  // Palette: the decoded pixels are the palette colours.
  const pal = encodePngPalette(Uint8Array.of(0, 1, 1, 2), 2, 2, [[1, 2, 3], [40, 50, 60], [250, 0, 9]]);
  assert.deepEqual([...decodeImage(pal).data], [1, 2, 3, 40, 50, 60, 40, 50, 60, 250, 0, 9]);
});

test('palette PNG round trip keeps indices, sizes and palette; it is a real colour-type-3 file', () => {
  const w = 13;
  const h = 5;
  const idx = new Uint8Array(w * h).map((_, i) => (i * 5) % 9);
  const palette: [number, number, number][] = Array.from({ length: 9 }, (_, k) => [k * 20, 255 - k * 20, k * 3]);
  const bytes = encodePngPalette(idx, w, h, palette);
  assert.equal(bytes[8 + 8 + 9], 3, 'IHDR colour type');
  const back = decodePngIndices(bytes);
  assert.equal(back.width, w);
  assert.equal(back.height, h);
  assert.deepEqual(back.indices, idx);
  assert.deepEqual(back.palette, palette);
  // pngjs (an independent reader) accepts it and sees the palette colours.
  const viaPngjs = PNG.sync.read(Buffer.from(bytes));
  assert.deepEqual([...viaPngjs.data.subarray(4, 7)], palette[idx[1]]);
  assert.throws(() => encodePngPalette(Uint8Array.of(3), 1, 1, [[0, 0, 0]]), RangeError);
});

test('indices are read from 4-bit palette PNGs (packed, filtered) too', () => {
  // Two pixels per byte, high nibble first.
  const bytes = rawPng(3, 2, 4, 3, [Uint8Array.of(0x12, 0x30), Uint8Array.of(0x45, 0x60)], [{ type: 'PLTE', data: new Uint8Array(7 * 3) }]);
  assert.deepEqual([...decodePngIndices(bytes).indices], [1, 2, 3, 4, 5, 6]);
});

test('files: atomic writes leave no temporary, and errors are one sentence naming the file', () => {
  const dir = tmp();
  try {
    const img = patternImage(8, 6);
    writePngRGB(join(dir, 'a.png'), img);
    writePngPalette(join(dir, 'm.png'), new Uint8Array(48).fill(1), 8, 6, [[0, 0, 0], [255, 0, 0]]);
    assert.deepEqual(readdirSync(dir).sort(), ['a.png', 'm.png']);
    assert.deepEqual(readImage(join(dir, 'a.png')), img);
    assert.deepEqual([...readPngIndices(join(dir, 'm.png')).indices], new Array(48).fill(1));

    const missing = join(dir, 'nope.png');
    assert.throws(() => readImage(missing), (e: Error) => e instanceof UserError && e.message.includes(missing) && /does not exist\.$/.test(e.message));
    writeFileSync(join(dir, 'text.png'), 'hello, not an image');
    assert.throws(() => readImage(join(dir, 'text.png')), (e: Error) => e instanceof UserError && e.message.includes('text.png') && e.message.includes('not an image'));
    const broken = encodePngRGB(img).subarray(0, 40);
    writeFileSync(join(dir, 'broken.png'), broken);
    assert.throws(() => readImage(join(dir, 'broken.png')), (e: Error) => e instanceof UserError && e.message.includes('broken.png'));
    writeFileSync(join(dir, 'broken.jpg'), Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3));
    assert.throws(() => readImage(join(dir, 'broken.jpg')), (e: Error) => e instanceof UserError && e.message.includes('broken.jpg'));
    assert.throws(() => readImage(dir), (e: Error) => e instanceof UserError && e.message.includes('directory'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JPEG made by jpeg-js decodes back close to the original', () => {
  const w = 16;
  const h = 16;
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) rgba.set([x * 16, y * 16, 128, 255], (y * w + x) * 4);
  }
  const enc = jpeg.encode({ width: w, height: h, data: rgba }, 95);
  const img = decodeImage(enc.data, 'test.jpg');
  assert.equal(img.width, w);
  assert.equal(img.height, h);
  let worst = 0;
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(img.data[i * 3 + c] - rgba[i * 4 + c]));
  assert.ok(worst < 20, `max JPEG error ${worst}`);
});

test('bilinear resize samples at half-pixel centres like cv2 INTER_LINEAR', () => {
  // 2×1 → 4×1: source coordinates −0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
  const row = { width: 2, height: 1, data: Uint8Array.of(0, 0, 0, 100, 200, 40) };
  assert.deepEqual([...resizeBilinear(row, 4, 1).data], [0, 0, 0, 25, 50, 10, 75, 150, 30, 100, 200, 40]);
  // 4×1 → 2×1 halves: each output is the mean of two neighbours.
  const four = { width: 4, height: 1, data: Uint8Array.of(0, 0, 0, 10, 10, 10, 100, 100, 100, 200, 200, 200) };
  assert.deepEqual([...resizeBilinear(four, 2, 1).data], [5, 5, 5, 150, 150, 150]);
  // 2×2 → 3×3 centre pixel is the mean of all four.
  const sq = { width: 2, height: 2, data: Uint8Array.of(0, 0, 0, 40, 40, 40, 80, 80, 80, 120, 120, 120) };
  assert.equal(resizeBilinear(sq, 3, 3).data[4 * 3], 60);
  const r = resizeShortSide(patternImage(640, 480), 224);
  assert.deepEqual([r.width, r.height], [298, 224]);
  assert.deepEqual([...resizeNearestLabels(Uint8Array.of(1, 2, 3, 4), 2, 2, 4, 4)], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
});

test('crop and flip', () => {
  const img = patternImage(5, 4);
  const c = cropImage(img, 1, 2, 3, 2);
  assert.deepEqual([...c.data.subarray(0, 3)], [...img.data.subarray((2 * 5 + 1) * 3, (2 * 5 + 1) * 3 + 3)]);
  const f = flipHorizontal(img);
  assert.deepEqual([...f.data.subarray(0, 3)], [...img.data.subarray(4 * 3, 5 * 3)]);
  assert.deepEqual(flipHorizontal(f), img);
  assert.throws(() => cropImage(img, 3, 0, 3, 1), RangeError);
});

/** Minimal safetensors reader: u64 LE header length, JSON header, raw little-endian data. */
function readTensors(path: string): Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = new Map();
  for (const [name, info] of Object.entries<any>(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = info.data_offsets;
    out.set(name, { dtype: info.dtype, shape: info.shape, bytes: new Uint8Array(buf.subarray(8 + n + a, 8 + n + b)) });
  }
  return out;
}

test('fixture input.png decodes to image_u8 and normalises to pixel_values bit for bit', { skip: !existsSync(`${FIXTURE}/inputs.safetensors`) }, () => {
  const t = readTensors(`${FIXTURE}/inputs.safetensors`);
  const img = readImage(`${FIXTURE}/input.png`);
  assert.deepEqual(t.get('image_u8')!.shape, [img.height, img.width, 3]);
  assert.deepEqual(img.data, t.get('image_u8')!.bytes);
  const pv = t.get('pixel_values')!;
  assert.deepEqual(pv.shape, [1, 3, img.height, img.width]);
  const want = new Float32Array(pv.bytes.buffer.slice(pv.bytes.byteOffset, pv.bytes.byteOffset + pv.bytes.byteLength));
  const got = normalizeImageNet(img);
  assert.equal(got.length, want.length);
  let mismatches = 0;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) mismatches++;
  assert.equal(mismatches, 0);
});

test('the bitmap font covers printable ASCII and draws clipped text', () => {
  for (let c = 32; c <= 126; c++) {
    const cols = glyphColumns(String.fromCharCode(c));
    assert.equal(cols.length, 5);
    assert.ok(cols.every((b) => b < 128), `glyph ${c} fits 7 rows`);
    if (c > 32) assert.ok(cols.some((b) => b !== 0), `glyph ${c} is not blank`);
  }
  assert.equal(textWidth('ab', 2), 22);
  const img = { width: 20, height: 10, data: new Uint8Array(600) };
  const end = drawText(img, 1, 1, 'Hi', [255, 0, 0], 1);
  assert.equal(end, 12);
  // 'H' has its full left column lit: rows 1..7 at x = 1.
  for (let y = 1; y <= 7; y++) assert.equal(img.data[(y * 20 + 1) * 3], 255);
  assert.equal(img.data[(0 * 20 + 1) * 3], 0);
  drawText(img, 15, 5, 'WWW', [9, 9, 9], 3); // runs off the edge without throwing
});
