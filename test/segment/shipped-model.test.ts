// The shipped model (models/shapes-tiny) through the segment pipeline on held-out scenes with known objects: the
// end-to-end guard of weights, tokenizer, templates, the model's calibrated background threshold and the zero-shot
// pipeline together. The shipped model (the tiny preset of 2026-11-27, seed 0) segments 54 of the 916 objects of 500
// held-out scenes above IoU 0.5 (README, Training), most of them circles: every object of 24 scenes, all of them
// circle scenes, and a few squares and hearts in scenes whose other objects it misses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useGpu } from '../helpers.js';
import { Segmenter } from '../../src/segment/pipeline.js';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { SHAPES } from '../../src/data/shapes/world.js';

useGpu();

function iou(truth: ArrayLike<number>, pred: ArrayLike<number>, label: number): number {
  let inter = 0;
  let union = 0;
  for (let q = 0; q < truth.length; q++) {
    const a = truth[q] === label;
    const b = pred[q] === label;
    if (a && b) inter++;
    if (a || b) union++;
  }
  return inter / union;
}

test('shipped model: held-out scenes with known circles, and a square, segment at IoU above 0.5 among all 8 class names', async () => {
  const seg = await Segmenter.load({ weights: join(process.cwd(), 'models', 'shapes-tiny'), gpu: {} });
  try {
    const data = new ShapesDataset({ seed: 0, split: 'eval', imageSize: 64 });
    // 291: "a green circle over a sage backdrop"; 235: a red and an orange circle on stripes (one label, two objects)
    for (const index of [291, 235]) {
      const scene = data.sample(index);
      assert.deepEqual([...new Set(scene.mask)].filter((c) => c > 0), [SHAPES.indexOf('circle') + 1], `scene ${index} holds circles only`);
      const out = await seg.segment(scene.image, SHAPES);
      const score = iou(scene.mask, out.mask, SHAPES.indexOf('circle') + 1);
      assert.ok(score > 0.5, `scene ${index}: circle IoU ${score.toFixed(3)}`);
      assert.ok(iou(scene.mask, out.mask, 0) > 0.5, `scene ${index}: background IoU`);
    }
    // 479: "a purple square beside a blue ring": the square is segmented (IoU 0.70), the ring is not (called background)
    const scene = data.sample(479);
    const square = SHAPES.indexOf('square') + 1;
    assert.deepEqual([...new Set(scene.mask)].filter((c) => c > 0).sort(), [square, SHAPES.indexOf('ring') + 1].sort());
    const out = await seg.segment(scene.image, SHAPES);
    const score = iou(scene.mask, out.mask, square);
    assert.ok(score > 0.5, `scene 479: square IoU ${score.toFixed(3)}`);
    assert.equal(seg.bgThreshFor(SHAPES.length), 0.2, "the model's calibrated background threshold is in use");
  } finally {
    seg.release();
  }
});
