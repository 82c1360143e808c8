// Test-time augmentation through the whole segment pipeline with the shipped model: averaged over all eight views, the
// segmentation of a turned or mirrored scene is the same turn or mirror of the scene's segmentation (the views of a
// view are the same eight views), which no single pass of the model guarantees; so with the views also moved by half a
// patch (dihedral+shift: the shift is made in each view's own frame); a non-square image keeps its size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useGpu } from '../helpers.js';
import { Segmenter } from '../../src/segment/pipeline.js';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { SHAPES } from '../../src/data/shapes/world.js';
import { symmetries, viewImage, viewIndex } from '../../src/segment/dihedral.js';
import { cropImage } from '../../src/io/image.js';

useGpu();

test('augment dihedral and dihedral+shift: segmentations commute with the views; flip and a non-square image keep the image size', async () => {
  const seg = await Segmenter.load({ weights: join(process.cwd(), 'models', 'shapes-tiny'), gpu: {} });
  try {
    const data = new ShapesDataset({ seed: 0, split: 'eval', imageSize: 64 });
    let plainDiffers = 0;
    const plain1 = (await seg.segment(data.sample(1).image, SHAPES, { augment: 'none' })).mask;
    for (const index of [0, 1, 2]) {
      const image = data.sample(index).image;
      const whole = (await seg.segment(image, SHAPES, { augment: 'dihedral' })).mask;
      const plain = (await seg.segment(image, SHAPES, { augment: 'none' })).mask;
      for (const view of [symmetries('dihedral')[1], symmetries('dihedral')[6]]) {
        const seen = await seg.segment(viewImage(image, view), SHAPES, { augment: 'dihedral' });
        const seenPlain = await seg.segment(viewImage(image, view), SHAPES, { augment: 'none' });
        const at = viewIndex(view, 64, 64);
        let same = 0;
        for (let p = 0; p < at.length; p++) {
          if (seen.mask[at[p]] === whole[p]) same++;
          if (seenPlain.mask[at[p]] !== plain[p]) plainDiffers++;
        }
        assert.equal(same, at.length, `scene ${index}, view ${JSON.stringify(view)}: every pixel keeps its class`);
      }
    }
    assert.ok(plainDiffers > 0, 'a single pass of the model is not itself invariant to the views');
    // the shifted views are moved in each view's own frame, so the sixteen views of a turned scene are the same sixteen
    const image = data.sample(1).image;
    const whole = (await seg.segment(image, SHAPES, { augment: 'dihedral+shift' })).mask;
    const view = symmetries('dihedral')[5];
    const seen = (await seg.segment(viewImage(image, view), SHAPES, { augment: 'dihedral+shift' })).mask;
    const at = viewIndex(view, 64, 64);
    assert.equal(at.filter((q, p) => seen[q] === whole[p]).length, at.length, 'dihedral+shift: every pixel keeps its class');
    assert.ok(whole.some((c, p) => c !== plain1[p]), 'the sixteen views change the segmentation of the image alone');
    const wide = cropImage(data.sample(3).image, 0, 8, 64, 40);
    for (const augment of ['flip', 'dihedral', 'flip+shift'] as const) {
      const out = await seg.segment(wide, SHAPES, { augment });
      assert.deepEqual([out.width, out.height, out.mask.length], [64, 40, 64 * 40]);
      assert.ok(Math.max(...out.mask) <= SHAPES.length);
      assert.ok(Math.abs(out.stats.reduce((a, s) => a + s.share, 0) - 1) < 1e-9);
    }
  } finally {
    seg.release();
  }
});
