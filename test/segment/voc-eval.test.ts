// groupvit eval on a VOC-layout folder: JPEG images, palette-index labels with 255 ignored, the split list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { useGpu } from '../helpers.js';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { SHAPES, CLASS_PALETTE } from '../../src/data/shapes/world.js';
import { encodePngPalette } from '../../src/io/image.js';
import { Segmenter } from '../../src/segment/pipeline.js';
import { calibrateVoc, evaluateVoc } from '../../src/segment/voc-eval.js';
import { IoUMeter } from '../../src/segment/iou.js';
import { UserError } from '../../src/util/errors.js';
import { backgroundGrid, describeRule } from '../../src/train/calibrate.js';

useGpu();

// VOC's label files carry a 256-entry palette (255 = the white 'void' border)
const VOC_PALETTE = Array.from({ length: 256 }, (_, i) => (i === 255 ? [224, 224, 192] : CLASS_PALETTE[i % CLASS_PALETTE.length]) as [number, number, number]);

function vocFolder(ignoreAll = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'gv-voc-'));
  for (const d of ['JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation']) mkdirSync(join(dir, d), { recursive: true });
  const data = new ShapesDataset({ seed: 9, split: 'eval' });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const s = data.sample(i);
    const rgba = Buffer.alloc(64 * 64 * 4);
    for (let p = 0; p < 64 * 64; p++) rgba.set([s.image.data[p * 3], s.image.data[p * 3 + 1], s.image.data[p * 3 + 2], 255], p * 4);
    const id = `2026_00000${i}`;
    writeFileSync(join(dir, 'JPEGImages', `${id}.jpg`), jpeg.encode({ data: rgba, width: 64, height: 64 }, 95).data);
    const labels = Uint8Array.from(s.mask, (v, p) => (ignoreAll || p % 64 === 0 ? 255 : v)); // a 255 border column
    writeFileSync(join(dir, 'SegmentationClass', `${id}.png`), encodePngPalette(labels, 64, 64, VOC_PALETTE));
    ids.push(id);
  }
  writeFileSync(join(dir, 'ImageSets', 'Segmentation', 'val.txt'), ids.join('\n') + '\n');
  writeFileSync(join(dir, 'ImageSets', 'Segmentation', 'train.txt'), ids.slice(0, 2).join('\n') + '\n');
  return dir;
}

test('a VOC-layout folder is scored per class with the shipped model; 255 is ignored', async () => {
  const seg = await Segmenter.load({ weights: join(process.cwd(), 'models', 'shapes-tiny') });
  try {
    const rep = await evaluateVoc(seg, vocFolder(), { classes: SHAPES });
    assert.equal(rep.images, 3);
    assert.deepEqual(rep.classes, ['background', ...SHAPES]);
    assert.ok(rep.mIoU >= 0 && rep.mIoU <= 1 && rep.pixelAccuracy >= 0 && rep.pixelAccuracy <= 1);
    const none = await evaluateVoc(seg, vocFolder(true), { classes: SHAPES });
    assert.ok(none.iou.every(Number.isNaN), 'all-ignored labels count no pixel');
    await assert.rejects(evaluateVoc(seg, join(tmpdir(), 'no-such-voc')), (e: Error) => e instanceof UserError && /VOC-layout/.test(e.message));
  } finally {
    seg.model.release();
  }
});

test('calibrate on a VOC folder: each rule scores as eval does on the tuning split, the best is recorded and used', async () => {
  const shipped = join(process.cwd(), 'models', 'shapes-tiny');
  const seg = await Segmenter.load({ weights: shipped });
  const dir = vocFolder();
  const grid = backgroundGrid([0.95, 0.4, 0.2, 0.1, 0.05], [null, 0.35]);
  try {
    const r = await calibrateVoc(seg, dir, grid, { classes: SHAPES });
    assert.equal(r.split, 'train');
    assert.equal(r.images, 2);
    for (const t of r.tried) {
      // the calibration scores the image alone, as the rule it records is used (test-time views 'none')
      const e = await evaluateVoc(seg, dir, { classes: SHAPES, split: 'train', bgThresh: t.bgThresh, bgBorder: t.bgBorder, augment: 'none' });
      assert.equal(t.mIoU, e.mIoU, `threshold ${t.bgThresh}, border ${t.bgBorder}`);
    }
    assert.ok(new Set(r.tried.map((t) => t.mIoU)).size > 1, `the thresholds differ on these images: ${JSON.stringify(r.tried)}`);
    const top = Math.max(...r.tried.map((t) => t.mIoU));
    const first = r.tried.find((t) => t.mIoU === top)!;
    assert.deepEqual([r.bgBorder, r.bgThresh], [first.bgBorder, first.bgThresh], 'the first rule of the grid reaching the best');
    await assert.rejects(calibrateVoc(seg, dir, grid, { classes: SHAPES, split: 'trainval' }), (e: Error) => e instanceof UserError && /'trainval' split/.test(e.message));
  } finally {
    seg.release();
  }
  // the command writes it into a copy of the model, and a list of as many names then uses it
  const model = mkdtempSync(join(tmpdir(), 'gv-voc-model-'));
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(shipped, f), join(model, f));
  const cli = spawnSync(process.execPath, ['bin/groupvit.js', 'calibrate', '--weights', model, '--data', dir, '--classes', SHAPES.join(','), '--json'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const out = JSON.parse(cli.stdout) as { bgThresh: number; bgBorder: number | null; refine: string; written: boolean; images: number; tried: unknown[] };
  assert.equal(out.tried.length, 80, 'every threshold (16) under every border rule (5)');
  assert.ok(out.written && out.images === 2);
  const g = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')).groupvit;
  assert.equal(g.bg_thresh, out.bgThresh);
  assert.equal(g.bg_border, out.bgBorder);
  assert.equal(out.refine, 'pamr', "scored with the model's own refinement");
  assert.equal(g.refine, 'pamr', 'and recorded with the rule');
  assert.equal(g.augment, 'none', 'a rule chosen for the image alone: the views the shapes calibration chose are replaced');
  assert.equal(g.isolate, true, "scored with the model's own isolation (the shipped model names its object groups alone) and recorded with it");
  assert.equal(g.bg_thresh_tuning.classes, SHAPES.length);
  assert.match(g.bg_thresh_tuning.data, /VOC-layout folder .*split train/);
  const bad = spawnSync(process.execPath, ['bin/groupvit.js', 'calibrate', '--weights', model, '--data', join(tmpdir(), 'no-such-voc')], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr.trim().split('\n').pop()!, /^groupvit: .*no-such-voc is not a VOC-layout folder with a 'train' split: .*train\.txt is missing\.$/);
  const ev = spawnSync(process.execPath, ['bin/groupvit.js', 'eval', '--weights', model, '--data', dir, '--classes', SHAPES.join(',')], { encoding: 'utf8' });
  assert.equal(ev.status, 0, ev.stderr);
  const rule = describeRule(out).replace(/[.()]/g, '\\$&');
  assert.match(ev.stdout.split('\n')[0], new RegExp(`^zero-shot segmentation of 3 images of .* \\(${rule}, the model's calibrated rule, pamr refinement\\)$`));
  const again = await Segmenter.load({ weights: model });
  try {
    assert.equal(again.bgThreshFor(SHAPES.length), out.bgThresh);
    assert.equal(again.bgThreshFor(3), 0.95, 'the shapes calibration of other lengths is replaced');
  } finally {
    again.release();
  }
});

test('IoU from the confusion matrix on a hand-counted case', () => {
  const m = new IoUMeter(3);
  m.add([0, 1, 1, 2, 2, 0], [0, 1, 2, 2, 255, 1], 255);
  // pairs (truth, pred): (0,0) (1,1) (2,1) (2,2) (1,0); class 0: 1/(1+1), class 1: 1/(1+1+1), class 2: 1/(1+1)
  assert.deepEqual(m.perClass(), [1 / 2, 1 / 3, 1 / 2]);
  assert.equal(m.pixelAccuracy(), 3 / 5);
});
