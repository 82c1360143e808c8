import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { encodePngRGB, type RgbImage } from '../../src/io/image.js';
import { buildTar, listTarMembers } from '../../src/io/tar.js';
import { openCaptionsJsonl } from '../../src/data/captions-jsonl.js';
import { openWebDataset, splitKey } from '../../src/data/webdataset.js';
import { openImageTextDataset } from '../../src/data/open-dataset.js';
import { SkipLog, loadRecordImage, tryLoadRecord } from '../../src/data/records.js';
import { augmentImage, centerCropResize, sampleCropBox } from '../../src/data/augment.js';
import { UserError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

function solid(w: number, h: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, i * 3);
  return { width: w, height: h, data };
}

function jpegBytes(w: number, h: number): Uint8Array {
  const rgba = new Uint8Array(w * h * 4).fill(200);
  return jpeg.encode({ width: w, height: h, data: rgba }, 90).data;
}

function withTmp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'groupvit-data-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const isUserError = (pattern: RegExp) => (e: Error) => e instanceof UserError && pattern.test(e.message);

test('captions.jsonl: good records load, bad ones are skipped and counted', () => {
  withTmp((dir) => {
    mkdirSync(join(dir, 'img'));
    writeFileSync(join(dir, 'img/a.png'), encodePngRGB(solid(8, 6, [255, 0, 0])));
    writeFileSync(join(dir, 'img/b.jpg'), jpegBytes(5, 7));
    writeFileSync(join(dir, 'img/bad.png'), 'not really a png');
    const lines = [
      { image: 'img/a.png', caption: '  a red square ' },
      { image: 'img/b.jpg', caption: 'a grey card' },
      { image: 'img/bad.png', caption: 'looks fine, is not' },
      { image: 'img/missing.png', caption: 'gone' },
      { image: 'img/a.png', caption: '   ' },
      { caption: 'no image key' },
    ].map((o) => JSON.stringify(o));
    lines.splice(2, 0, '{broken json', '');
    writeFileSync(join(dir, 'captions.jsonl'), lines.join('\n') + '\n');

    const idx = openCaptionsJsonl(dir);
    assert.equal(idx.records.length, 3);
    assert.deepEqual(idx.records.map((r) => r.caption), ['a red square', 'a grey card', 'looks fine, is not']);
    assert.equal(idx.skipped.total, 4);
    assert.deepEqual(idx.skipped.counts, { 'line is not JSON': 1, 'image file missing': 1, 'empty caption': 1, 'no "image" path': 1 });
    assert.match(idx.skipped.summary(), /^skipped 4 records/);

    const a = loadRecordImage(idx.records[0]);
    assert.deepEqual([a.width, a.height, a.data[0], a.data[1]], [8, 6, 255, 0]);
    const b = loadRecordImage(idx.records[1]);
    assert.deepEqual([b.width, b.height], [5, 7]);
    // The undecodable image is found at load time: skipped and counted, not fatal.
    const log = new SkipLog();
    assert.equal(tryLoadRecord(idx.records[2], log), null);
    assert.deepEqual(log.counts, { 'unreadable image': 1 });
    // The same index through the dispatcher.
    assert.equal(openImageTextDataset(dir).records.length, 3);
  });
});

test('captions.jsonl: a missing, empty or unusable dataset is one clear sentence', () => {
  withTmp((dir) => {
    assert.throws(() => openImageTextDataset(join(dir, 'nothing')), isUserError(/^Dataset .*nothing does not exist\.$/));
    assert.throws(() => openImageTextDataset(dir), isUserError(/neither captions\.jsonl nor any \.tar shards\.$/));
    writeFileSync(join(dir, 'captions.jsonl'), '{"image": "x.png", "caption": ""}\n');
    assert.throws(() => openImageTextDataset(dir), isUserError(/has no usable image–caption pairs \(skipped 1 record \(1 empty caption\)/));
  });
});

test('tar reader lists members with offsets; webdataset keys follow the first-dot rule', () => {
  withTmp((dir) => {
    const files = [
      { name: 'a/0001.jpg', data: Uint8Array.of(1, 2, 3) },
      { name: 'a/0001.txt', data: Buffer.from('hello') },
      { name: 'x'.repeat(90) + '.seg.png', data: new Uint8Array(1000).fill(7) },
    ];
    writeFileSync(join(dir, 's.tar'), buildTar(files));
    const m = listTarMembers(join(dir, 's.tar'));
    assert.deepEqual(m.map((x) => [x.name, x.size]), files.map((f) => [f.name, f.data.length]));
    assert.equal(m[0].offset, 512);
    assert.equal(m[1].offset, 512 * 3);
    assert.deepEqual(splitKey('dir.v1/abc.seg.JPG'), { key: 'dir.v1/abc', ext: 'seg.jpg' });
  });
});

test('webdataset shards: pairs grouped by key across a folder of shards; bad records skipped and counted', () => {
  withTmp((dir) => {
    const red = encodePngRGB(solid(4, 4, [255, 0, 0]));
    writeFileSync(
      join(dir, 'shard-000.tar'),
      buildTar([
        { name: 's0.png', data: red },
        { name: 's0.txt', data: Buffer.from('a red square\n') },
        { name: 's1.txt', data: Buffer.from('caption first') }, // members of a sample need not be in order
        { name: 's1.jpg', data: jpegBytes(6, 3) },
        { name: 's2.jpg', data: jpegBytes(2, 2) }, // no caption
        { name: 's3.txt', data: Buffer.from('no image') },
        { name: 's4.png', data: red },
        { name: 's4.txt', data: Buffer.from('  \n') }, // empty caption
        { name: 's5.png', data: Buffer.from('garbage') },
        { name: 's5.txt', data: Buffer.from('undecodable') },
      ]),
    );
    writeFileSync(join(dir, 'shard-001.tar'), buildTar([{ name: 'k/t0.jpeg', data: jpegBytes(3, 3) }, { name: 'k/t0.txt', data: Buffer.from('second shard') }]));
    writeFileSync(join(dir, 'shard-002.tar'), Buffer.from('this is not a tar file at all'.repeat(30)));
    writeFileSync(join(dir, 'notes.md'), 'ignored');

    const idx = openWebDataset(dir);
    assert.deepEqual(idx.records.map((r) => r.caption), ['a red square', 'caption first', 'undecodable', 'second shard']);
    assert.equal(idx.skipped.counts['no caption'], 1);
    assert.equal(idx.skipped.counts['no image'], 1);
    assert.equal(idx.skipped.counts['empty caption'], 1);
    assert.equal(Object.keys(idx.skipped.counts).filter((k) => k.startsWith('unreadable shard')).length, 1);
    assert.equal(idx.skipped.total, 4);

    const first = loadRecordImage(idx.records[0]);
    assert.deepEqual([first.width, first.height, ...first.data.subarray(0, 3)], [4, 4, 255, 0, 0]);
    const second = loadRecordImage(idx.records[1]);
    assert.deepEqual([second.width, second.height], [6, 3]);
    assert.equal(idx.records[3].key, `${join(dir, 'shard-001.tar')}:k/t0`);
    const log = new SkipLog();
    assert.equal(tryLoadRecord(idx.records[2], log), null);
    assert.equal(log.total, 1);

    // A single shard, and dispatch by path.
    assert.equal(openImageTextDataset(join(dir, 'shard-001.tar')).records.length, 1);
    assert.equal(openImageTextDataset(dir).records.length, 4);
  });
});

test('augmentation: deterministic in the seed, right size, crops within the scale range, flips', () => {
  const img: RgbImage = { width: 40, height: 30, data: new Uint8Array(40 * 30 * 3).map((_, i) => i % 251) };
  const a = augmentImage(img, new Random(3), { size: 16 });
  const b = augmentImage(img, new Random(3), { size: 16 });
  assert.deepEqual(a, b);
  assert.equal(a.width, 16);
  assert.equal(a.data.length, 16 * 16 * 3);
  assert.notDeepEqual(augmentImage(img, new Random(4), { size: 16 }).data, a.data);
  const rng = new Random(1);
  for (let i = 0; i < 200; i++) {
    const box = sampleCropBox(40, 30, rng, [0.5, 1]);
    assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.w <= 40 && box.y + box.h <= 30);
    assert.ok(box.w * box.h >= 0.45 * 1200, `crop ${box.w}x${box.h} too small`);
  }
  // With a full-image crop and flip probability 1, the output is the mirrored resize.
  const mirrored = augmentImage(img, new Random(0), { size: 8, scale: [1, 1], ratio: [4 / 3, 4 / 3], flip: 1 });
  const plain = augmentImage(img, new Random(0), { size: 8, scale: [1, 1], ratio: [4 / 3, 4 / 3], flip: 0 });
  for (let x = 0; x < 8; x++) assert.deepEqual([...mirrored.data.subarray(x * 3, x * 3 + 3)], [...plain.data.subarray((7 - x) * 3, (7 - x) * 3 + 3)]);
  const c = centerCropResize(img, 12);
  assert.deepEqual([c.width, c.height], [12, 12]);
});
