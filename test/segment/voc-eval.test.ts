// groupvit eval on a VOC-layout folder: JPEG images, palette-index labels with 255 ignored, the split list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { useGpu } from '../helpers.js';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { SHAPES, CLASS_PALETTE } from '../../src/data/shapes/world.js';
import { encodePngPalette } from '../../src/io/image.js';
import { Segmenter } from '../../src/segment/pipeline.js';
import { evaluateVoc } from '../../src/segment/voc-eval.js';
import { IoUMeter } from '../../src/segment/iou.js';
import { UserError } from '../../src/util/errors.js';

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

test('IoU from the confusion matrix on a hand-counted case', () => {
  const m = new IoUMeter(3);
  m.add([0, 1, 1, 2, 2, 0], [0, 1, 2, 2, 255, 1], 255);
  // pairs (truth, pred): (0,0) (1,1) (2,1) (2,2) (1,0); class 0: 1/(1+1), class 1: 1/(1+1+1), class 2: 1/(1+1)
  assert.deepEqual(m.perClass(), [1 / 2, 1 / 3, 1 / 2]);
  assert.equal(m.pixelAccuracy(), 3 / 5);
});
