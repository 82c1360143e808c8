// The shipped model (models/shapes-tiny) through the segment pipeline on held-out scenes with known objects: the
// end-to-end guard of weights, tokenizer, templates, the model's calibrated background rule and the zero-shot
// pipeline together. The shipped model (the tiny preset of 2026-11-29 with the overlapping conv3 stem and the grounded
// noun loss from step 300, 1200 steps, seed 1), its group maps refined on the image's colour edges (PAMR, chosen with
// its background rule) and 16 test-time views averaged (chosen by the same calibration), segments 414 of the 916
// objects of 500 held-out scenes above IoU 0.5 and every object of 191 scenes (README, Training); of the first 150 scenes, those it segments whole hold one kind of shape each, of every kind.
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

test('shipped model: held-out scenes of all eight kinds of shape segment at IoU above 0.85 among all 8 class names', async () => {
  const seg = await Segmenter.load({ weights: join(process.cwd(), 'models', 'shapes-tiny'), gpu: {} });
  try {
    const data = new ShapesDataset({ seed: 0, split: 'eval', imageSize: 64 });
    // scene: its one kind of shape (IoU when this test was written)
    const scenes: [number, (typeof SHAPES)[number]][] = [
      [4, 'circle'], // 0.98: a green circle to the left of an orange circle (one label, two objects)
      [25, 'square'], // 0.99
      [36, 'star'], // 0.99
      [17, 'triangle'], // 0.97
      [73, 'ring'], // 0.99
      [53, 'moon'], // 0.98: a red moon next to an orange moon
      [93, 'cross'], // 0.99
      [21, 'heart'], // 0.99
    ];
    for (const [index, shape] of scenes) {
      const scene = data.sample(index);
      const label = SHAPES.indexOf(shape) + 1;
      assert.deepEqual([...new Set(scene.mask)].filter((c) => c > 0), [label], `scene ${index} holds ${shape}s only`);
      const out = await seg.segment(scene.image, SHAPES);
      const score = iou(scene.mask, out.mask, label);
      assert.ok(score > 0.85, `scene ${index}: ${shape} IoU ${score.toFixed(3)}`);
      assert.ok(iou(scene.mask, out.mask, 0) > 0.95, `scene ${index}: background IoU`);
      // the group maps as the paper leaves them (bilinear from the 8×8 grid) blur every edge across a patch
      const coarse = await seg.segment(scene.image, SHAPES, { refine: 'none' });
      assert.ok(iou(scene.mask, coarse.mask, label) < score, `scene ${index}: refined ${score.toFixed(3)}, not ${iou(scene.mask, coarse.mask, label).toFixed(3)}`);
    }
    assert.deepEqual(seg.backgroundFor(SHAPES.length), { bgThresh: 0.15, bgBorder: 0.25 }, "the model's calibrated background rule is in use");
    assert.equal(seg.refineDefault, 'pamr', 'with the refinement it was calibrated with');
    assert.equal(seg.augmentDefault, 'dihedral+shift', 'and the test-time views');
  } finally {
    seg.release();
  }
});
