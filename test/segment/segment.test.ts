// `groupvit segment` on the groupvit-tiny fixture (random weights, so formats and mechanics, not quality): the output
// files' formats and sizes, the JSON report, slide mode, the class-embedding cache, and every user error as one
// sentence with a non-zero exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { useGpu } from '../helpers.js';
import { segmentCommand, type SegmentCommandOptions, type SegmentReport } from '../../src/cli/segment.js';
import { Segmenter } from '../../src/segment/pipeline.js';
import { checkImageFile, parseClasses, parseTemplates, peekImageSize } from '../../src/segment/inputs.js';
import { classColor, maskPalette, vocColor } from '../../src/segment/render.js';
import { encodePngRGB, readImage, type RgbImage } from '../../src/io/image.js';
import { readPngIndices } from '../../src/io/png-indexed.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { PNG_SIGNATURE, concatBytes, encodeChunk } from '../../src/io/png-chunks.js';
import { UserError } from '../../src/util/errors.js';

useGpu();

const FIXTURE = join(process.cwd(), '..', 'shared', 'fixtures', 'groupvit-tiny');
const BIN = join(process.cwd(), 'bin', 'groupvit.js');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'groupvit-segment-'));
}

function picture(w: number, h: number): RgbImage {
  // a sky, a ground and a red disc: enough structure for the groups to differ
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const disc = (x - w * 0.6) ** 2 + (y - h * 0.4) ** 2 < (Math.min(w, h) * 0.25) ** 2;
    data.set(disc ? [220, 30, 40] : y > h * 0.6 ? [40, 140, 50] : [120, 170, 230], (y * w + x) * 3);
  }
  return { width: w, height: h, data };
}

function rgbaPng(img: RgbImage): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  for (let i = 0; i < img.width * img.height; i++) png.data.set([...img.data.subarray(i * 3, i * 3 + 3), 128], i * 4);
  return PNG.sync.write(png);
}

function greyJpeg(img: RgbImage): Uint8Array {
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    const v = Math.round((img.data[i * 3] + img.data[i * 3 + 1] + img.data[i * 3 + 2]) / 3);
    rgba.set([v, v, v, 255], i * 4);
  }
  return jpeg.encode({ width: img.width, height: img.height, data: rgba }, 90).data;
}

class Sink {
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

async function run(images: string[], opts: Partial<SegmentCommandOptions>): Promise<{ report: SegmentReport; stdout: string; stderr: string }> {
  const out = new Sink();
  const err = new Sink();
  const report = await segmentCommand(images, { classes: 'sky,grass,disc', weights: FIXTURE, ...opts }, { stdout: out, stderr: err });
  return { report, stdout: out.text, stderr: err.text };
}

async function userError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UserError, `a UserError, got ${(e as Error)?.stack}`);
    assert.match(e.message, pattern);
    // one sentence: a single line that ends with a full stop
    assert.ok(!e.message.includes('\n') && /\.$/.test(e.message), `one sentence: ${e.message}`);
    return true;
  });
}

test('outputs: an indexed mask with the class palette, overlay and groups, at the original size, any input format', async () => {
  const dir = tmp();
  const img = picture(50, 37);
  writeFileSync(join(dir, 'rgb.png'), encodePngRGB(img));
  writeFileSync(join(dir, 'rgba.png'), rgbaPng(img));
  writeFileSync(join(dir, 'grey.jpg'), greyJpeg(img));
  const out = join(dir, 'out');
  const { report, stdout, stderr } = await run([join(dir, 'rgb.png'), join(dir, 'rgba.png'), join(dir, 'grey.jpg')], { out });
  assert.equal(report.images.length, 3);
  assert.equal(report.protocol, 'fast');
  assert.equal(report.mode, 'whole');
  assert.equal(report.size, 64);
  for (const [i, name] of ['rgb', 'rgba', 'grey'].entries()) {
    const r = report.images[i];
    assert.deepEqual([r.width, r.height], [50, 37]);
    assert.deepEqual(r.resized, [86, 64]); // short side 37 → 64, long int(50·64/37 + 0.5) = 86
    assert.equal(r.outputs.mask, join(out, `${name}.mask.png`));
    const mask = readPngIndices(r.outputs.mask);
    assert.deepEqual([mask.width, mask.height], [50, 37]);
    assert.deepEqual(mask.palette, maskPalette(3));
    assert.ok(mask.indices.every((k) => k <= 3), 'indices are 0 (background) or a class');
    // the report's pixel counts are the mask's
    for (const c of r.classes) assert.equal(c.pixels, mask.indices.filter((k) => k === c.index).length, c.name);
    assert.deepEqual(r.classes.map((c) => c.name), ['background', 'sky', 'grass', 'disc']);
    assert.ok(Math.abs(r.classes.reduce((a, c) => a + c.share, 0) - 1) < 1e-9);
    for (const c of r.classes) assert.ok(c.meanScore >= 0 && c.meanScore <= 1 + 1e-6);
    const groups = readImage(r.outputs.groups);
    assert.deepEqual([groups.width, groups.height], [50, 37]);
    const overlay = readImage(r.outputs.overlay);
    assert.ok(overlay.width >= 50 && overlay.height > 37, 'the picture plus a legend strip below');
    // background pixels are the image untouched in the overlay
    const rgbOriginal = readImage(join(dir, 'rgb.png'));
    if (name === 'rgb') {
      for (let p = 0; p < 50 * 37; p++) {
        if (mask.indices[p] !== 0) continue;
        const [x, y] = [p % 50, Math.floor(p / 50)];
        const edge = (x + 1 < 50 && mask.indices[p + 1] !== 0) || (y + 1 < 37 && mask.indices[p + 50] !== 0);
        if (edge) continue;
        assert.deepEqual([...overlay.data.subarray((y * overlay.width + x) * 3, (y * overlay.width + x) * 3 + 3)], [...rgbOriginal.data.subarray(p * 3, p * 3 + 3)]);
      }
    }
  }
  assert.match(stdout, /rgb\.png\s+50x37/);
  assert.match(stdout, /class\s+pixels\s+mean score/);
  assert.match(stderr, /^start-up \d+\.\d+ s .*3 images at \d+\.\d+ s each/m);
  assert.ok(report.startupMs > 0 && report.perImageMs > 0 && report.totalMs >= report.startupMs);
  // default --out: beside the image
  const beside = await run([join(dir, 'rgb.png')], {});
  assert.equal(beside.report.images[0].outputs.mask, join(dir, 'rgb.mask.png'));
  assert.ok(existsSync(join(dir, 'rgb.overlay.png')) && existsSync(join(dir, 'rgb.groups.png')));
});

test('palettes: fixed, distinct colours for all 256 indices, background black', () => {
  const all = Array.from({ length: 256 }, (_, i) => classColor(i).join(','));
  assert.equal(new Set(all).size, 256);
  assert.deepEqual(classColor(0), [0, 0, 0]);
  assert.deepEqual(maskPalette(2), [classColor(0), classColor(1), classColor(2)]);
  assert.deepEqual([vocColor(1), vocColor(2), vocColor(3), vocColor(15)], [[128, 0, 0], [0, 128, 0], [128, 128, 0], [192, 128, 128]]);
});

test('slide mode averages windows and still writes the original size; --json has every image', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'wide.png'), encodePngRGB(picture(100, 70)));
  const { report, stdout } = await run([join(dir, 'wide.png')], { mode: 'slide', size: '64', stride: '32', json: true, template: ['a photo of a {}.;a drawing of a {}.', 'itap of a {}.'] });
  const parsed = JSON.parse(stdout);
  assert.deepEqual(parsed.images[0].classes, JSON.parse(JSON.stringify(report.images[0].classes)));
  assert.deepEqual(parsed.templates, ['a photo of a {}.', 'a drawing of a {}.', 'itap of a {}.']);
  assert.equal(parsed.mode, 'slide');
  assert.deepEqual(report.images[0].resized, [91, 64]);
  assert.equal(report.images[0].windows, 2); // (91-64+31)//32 + 1 across, 1 down
  const mask = readPngIndices(report.images[0].outputs.mask);
  assert.deepEqual([mask.width, mask.height], [100, 70]);
  assert.ok(typeof parsed.startupMs === 'number' && typeof parsed.perImageMs === 'number' && typeof parsed.images[0].ms === 'number');
  assert.equal(parsed.augment, 'none');
  assert.equal(parsed.refine, 'none', 'a model without a calibration is not refined');
  const refined = await run([join(dir, 'wide.png')], { mode: 'slide', size: '64', stride: '32', json: true, refine: 'pamr', out: join(dir, 'refined') });
  assert.equal(JSON.parse(refined.stdout).refine, 'pamr');
  assert.notDeepEqual(readPngIndices(refined.report.images[0].outputs.mask).indices, mask.indices, 'the refinement, window by window, moves the mask');
  // the mirror image slides its own windows (91×64, two of them) and its scores land back on the image's pixels
  const flipped = await run([join(dir, 'wide.png')], { mode: 'slide', size: '64', stride: '32', json: true, augment: 'flip', out: join(dir, 'flip') });
  assert.equal(JSON.parse(flipped.stdout).augment, 'flip');
  const flippedMask = readPngIndices(flipped.report.images[0].outputs.mask);
  assert.deepEqual([flippedMask.width, flippedMask.height], [100, 70]);
});

test('Segmenter: class embeddings are unit rows, averaged over templates, cached per list', async () => {
  const seg = await Segmenter.load({ weights: FIXTURE });
  try {
    const a = await seg.classEmbeddings(['cat', 'dog'], ['a photo of a {}.', 'a {}.']);
    assert.equal(a.length, 2 * 32);
    for (let k = 0; k < 2; k++) assert.ok(Math.abs(Math.hypot(...a.subarray(k * 32, k * 32 + 32)) - 1) < 1e-5);
    assert.equal(await seg.classEmbeddings(['cat', 'dog'], ['a photo of a {}.', 'a {}.']), a, 'the same array from the cache');
    const one = await seg.classEmbeddings(['cat'], ['a photo of a {}.']);
    const two = await seg.classEmbeddings(['cat'], ['a {}.']);
    // normalize(mean of the unnormalised) lies in the plane of the two single-template directions
    const mid = one.map((v, i) => v + two[i]);
    const cos = a.subarray(0, 32).reduce((s, v, i) => s + v * mid[i], 0) / Math.hypot(...mid);
    assert.ok(cos > 0.9, `the averaged embedding points between the single ones (cos ${cos})`);
    // the whole-image result is the same as the command's, and grads are never recorded
    const img = picture(64, 64);
    const r = await seg.segment(img, ['sky', 'grass'], {});
    assert.equal(r.mask.length, 64 * 64);
    assert.ok(seg.model.parameters().every((p) => p.requiresGrad), 'parameters ask for gradients again afterwards');
  } finally {
    seg.release();
  }
});

test('errors: classes, templates and options are one sentence each', async () => {
  const dir = tmp();
  const img = join(dir, 'a.png');
  writeFileSync(img, encodePngRGB(picture(20, 20)));
  await userError(run([img], { classes: '' }), /--classes is empty/);
  await userError(run([img], { classes: 'cat,,dog' }), /Class name 2 of 3 .* is empty/);
  await userError(run([img], { classes: 'cat, ' }), /is empty/);
  await userError(run([img], { classes: 'cat,dog,Cat' }), /'Cat' is given twice/);
  await userError(run([img], { classes: 'cat,background' }), /'background' is always class 0/);
  await userError(run([img], { template: ['a photo'] }), /has no \{\}/);
  await userError(run([img], { template: [' ; '] }), /--template is empty/);
  await userError(run([img], { mode: 'tiles' }), /--mode must be one of whole, slide/);
  await userError(run([img], { size: 'big' }), /--size must be a whole number/);
  await userError(run([img], { bgThresh: '2' }), /background threshold must lie between 0 and 1/);
  await userError(run([img], { bgBorder: '0' }), /--bg-border must be 'none' or a share of the border above 0 and at most 1 \(got '0'\)/);
  await userError(run([img], { bgBorder: 'edge' }), /--bg-border must be 'none' or a share/);
  await userError(run([img], { augment: 'rotate' }), /--augment must be none, flip, dihedral, flip\+shift, dihedral\+shift, not 'rotate'/);
  await userError(run([img], { refine: 'crf' }), /--refine must be one of none, pamr \(got 'crf'\)/);
  await userError(run([], {}), /at least one image/);
  assert.deepEqual(parseClasses(' red  car , tree '), ['red car', 'tree']);
  assert.deepEqual(parseTemplates(undefined, ['x {}']), ['x {}']);
  assert.throws(() => parseClasses(Array.from({ length: 256 }, (_, i) => `c${i}`).join(',')), /at most 255/);
});

test('errors: images missing, unreadable, not images, damaged, far too large; output name clashes', async () => {
  const dir = tmp();
  const good = join(dir, 'a.png');
  writeFileSync(good, encodePngRGB(picture(20, 20)));
  await userError(run([good, join(dir, 'nope.png')], {}), /Image .*nope\.png does not exist/);
  await userError(run([dir], {}), /is a directory/);
  writeFileSync(join(dir, 'notes.png'), 'just some text');
  await userError(run([join(dir, 'notes.png')], {}), /notes\.png is not an image: only PNG and JPEG/);
  const truncated = encodePngRGB(picture(30, 30)).subarray(0, 60);
  writeFileSync(join(dir, 'cut.png'), truncated);
  await userError(run([join(dir, 'cut.png')], {}), /cut\.png is a damaged or unsupported PNG/);
  writeFileSync(join(dir, 'cut.jpg'), greyJpeg(picture(30, 30)).subarray(0, 200));
  await userError(run([join(dir, 'cut.jpg')], {}), /cut\.jpg is a damaged/);
  // a header that claims 20000×20000 pixels is refused before anything is decoded, with a size that works
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, 20000);
  new DataView(ihdr.buffer).setUint32(4, 20000);
  ihdr.set([8, 2], 8);
  writeFileSync(join(dir, 'huge.png'), concatBytes([PNG_SIGNATURE, encodeChunk('IHDR', ihdr)]));
  await userError(run([join(dir, 'huge.png')], {}), /huge\.png is 20000x20000 \(400 MP\), far above .* downscale it to 10000x10000 or less/);
  // a pass the adapter cannot hold: the error names a --size that works, and that size does work
  let msg = '';
  await userError(
    run([good], { size: '20000' }).catch((e) => {
      msg = e.message;
      throw e;
    }),
    /far too large for this adapter: .* --size \d+ or less works, or use --mode slide\./,
  );
  const works = Number(/--size (\d+) or less/.exec(msg)![1]);
  assert.ok(works >= 64 && works < 20000);
  await userError(run([good], { size: String(works + 1) }), /far too large/);
  // two images with one name into one folder
  mkdirSync(join(dir, 'b'));
  copyFileSync(good, join(dir, 'b', 'a.png'));
  await userError(run([good, join(dir, 'b', 'a.png')], { out: join(dir, 'o') }), /would both write .*a\.mask\.png/);
  assert.deepEqual(peekImageSize(greyJpeg(picture(33, 21)), 'jpeg'), { width: 33, height: 21 });
  assert.deepEqual({ width: checkImageFile(good).width, name: checkImageFile(good).name }, { width: 20, name: 'a' });
});

test('errors: weights missing or incomplete', async () => {
  const dir = tmp();
  const img = join(dir, 'a.png');
  writeFileSync(img, encodePngRGB(picture(20, 20)));
  await userError(run([img], { weights: join(dir, 'no-model') }), /The weights .*no-model do not exist/);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  await userError(run([img], { weights: empty }), /has no config\.json/);
  copyFileSync(join(FIXTURE, 'config.json'), join(empty, 'config.json'));
  await userError(run([img], { weights: empty }), /holds neither model\.safetensors nor pytorch_model\.bin/);
  const state = readSafetensors(join(FIXTURE, 'model.safetensors'));
  state.delete([...state.keys()].find((k) => k.startsWith('vision_model.'))!);
  writeSafetensors(join(empty, 'model.safetensors'), Object.fromEntries(state));
  await userError(run([img], { weights: empty }), /do not fit the model's configuration: missing/);
  writeFileSync(join(empty, 'model.safetensors'), readFileSync(join(FIXTURE, 'model.safetensors')).subarray(0, 5000));
  await assert.rejects(run([img], { weights: empty }), UserError);
});

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the command: --json is the only thing on stdout; errors exit 1 with one line', () => {
  const dir = tmp();
  const img = join(dir, 'a.png');
  writeFileSync(img, encodePngRGB(picture(64, 64)));
  const ok = cli(['segment', img, '--classes', 'sky,grass', '--weights', FIXTURE, '--out', join(dir, 'o'), '--json']);
  assert.equal(ok.status, 0, ok.stderr);
  const report = JSON.parse(ok.stdout);
  assert.equal(report.images[0].outputs.mask, join(dir, 'o', 'a.mask.png'));
  assert.match(ok.stderr, /start-up .* 1 image at/);

  const missing = cli(['segment', join(dir, 'missing.png'), '--classes', 'a,b', '--weights', FIXTURE]);
  assert.equal(missing.status, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /^groupvit: Image .*missing\.png does not exist\.\n$/);

  const dup = cli(['segment', img, '--classes', 'a,a', '--weights', FIXTURE]);
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /^groupvit: The class 'a' is given twice/);

  // with no --weights the shipped model (models/shapes-tiny) is used: the README's command works on a fresh clone
  const shipped = cli(['segment', join(process.cwd(), 'examples', 'shapes-1.png'), '--classes', 'heart,star,circle', '--out', mkdtempSync(join(tmpdir(), 'gv-seg-')), '--json']);
  assert.equal(shipped.status, 0, shipped.stderr);
  const summary = JSON.parse(shipped.stdout);
  assert.ok(JSON.stringify(summary).includes('shapes-1'), 'the summary names the image');
});

test('an NVlabs .pth alone segments with --config, and without one falls back to gcc-yfcc (named-tensor error here)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gv-pth-'));
  copyFileSync(join(FIXTURE, 'nvlabs_checkpoint.pth'), join(dir, 'model.pth'));
  const img = join(process.cwd(), 'examples', 'shapes-1.png');
  const { report } = await run([img], { weights: join(dir, 'model.pth'), config: join(FIXTURE, 'config.json'), out: dir });
  assert.equal(report.images.length, 1);
  assert.ok(existsSync(join(dir, 'shapes-1.mask.png')));
  await userError(run([img], { weights: join(dir, 'model.pth'), out: dir }), /do not fit the model's configuration: .*wrong shape/);
  await userError(run([img], { weights: join(dir, 'model.pth'), preset: 'no-such-preset', out: dir }), /preset/i);
});

test('the border rule: the group holding most of the border is background, every other group keeps its class at threshold 0', async () => {
  const seg = await Segmenter.load({ weights: FIXTURE });
  try {
    const img = picture(64, 64);
    const classes = ['sky', 'grass', 'disc'];
    const plain = await seg.segment(img, classes, { bgThresh: 0, bgBorder: null });
    assert.ok(plain.mask.every((v) => v > 0), 'threshold 0 alone calls nothing background');
    const out = await seg.segment(img, classes, { bgThresh: 0, bgBorder: 1 });
    assert.equal(out.settings.bgBorder, 1);
    const ring = new Map<number, number>();
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) {
      if (y === 0 || y === 63 || x === 0 || x === 63) ring.set(out.groups[y * 64 + x], (ring.get(out.groups[y * 64 + x]) ?? 0) + 1);
    }
    const top = [...ring.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    assert.ok(new Set(out.groups).size > 1, 'the fixture makes more than one group here');
    out.groups.forEach((g, q) => assert.equal(out.mask[q] === 0, g === top, `pixel ${q} of group ${g}`));
  } finally {
    seg.release();
  }
});
