// Naming a group from an image of it alone (segment/isolate.ts): the grown mask and the cut-out images by hand, the
// class probabilities and the combined scores against direct formulas, and eval's batched isolated predictions
// against the same steps taken one image at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smallPresetConfig, useGpu } from '../helpers.js';
import { classProbabilities, groupScores, grownGroupMask, isolatedGroupImages, withIsolatedNames } from '../../src/segment/isolate.js';
import type { RgbImage } from '../../src/io/image.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { SHAPES } from '../../src/data/shapes/world.js';
import { encodeBatch, segmentEncoded } from '../../src/train/evaluate.js';
import { isolatedPredictions } from '../../src/train/eval-shapes.js';
import { borderGroups, predictAt } from '../../src/segment/zero-shot.js';

useGpu();

const GREY = [100, 100, 100];
const RED = [220, 30, 30];

/** A 6×6 grey image with a red 3×3 square at rows and columns 1–3 (pixel 2·6+2 a little darker red). */
function redSquare(): RgbImage {
  const data = new Uint8Array(36 * 3);
  for (let p = 0; p < 36; p++) {
    const y = Math.floor(p / 6);
    const x = p % 6;
    const c = y >= 1 && y <= 3 && x >= 1 && x <= 3 ? RED : GREY;
    data.set(p === 14 ? [200, 40, 30] : c, p * 3);
  }
  return { width: 6, height: 6, data };
}

test('grownGroupMask: a group holding part of a shape and a backdrop pixel grows to the whole shape and drops the backdrop pixel', () => {
  const img = redSquare();
  // group 1: the square's top row (pixels 7, 8, 9) and the backdrop pixel 10 beside it; the rest group 0
  const groups = new Int32Array(36);
  for (const p of [7, 8, 9, 10]) groups[p] = 1;
  const mask = grownGroupMask(img, groups, 1, GREY);
  const square = [7, 8, 9, 13, 14, 15, 19, 20, 21];
  for (let p = 0; p < 36; p++) assert.equal(mask[p], square.includes(p) ? 1 : 0, `pixel ${p}`);
});

test('isolatedGroupImages: one image per object group, other pixels painted the backdrop groups\' mean colour', () => {
  const img = redSquare();
  // group 2 the square, groups 0 and 1 the backdrop (1 flagged backdrop), group 3 owns nothing
  const groups = new Int32Array(36);
  for (let p = 0; p < 36; p++) groups[p] = [7, 8, 9, 13, 14, 15, 19, 20, 21].includes(p) ? 2 : p < 18 ? 0 : 1;
  // group 0 is not flagged backdrop, so it is cut out too
  const { groups: cut, images } = isolatedGroupImages(img, groups, [false, true, false, false]);
  assert.deepEqual(cut, [0, 2]);
  const square = images[1];
  for (let p = 0; p < 36; p++) {
    const want = groups[p] === 2 ? Array.from(img.data.subarray(p * 3, p * 3 + 3)) : GREY;
    assert.deepEqual(Array.from(square.data.subarray(p * 3, p * 3 + 3)), want, `pixel ${p}`);
  }
  // group 0 has the backdrop's own colour: none of its pixels is nearer its mean than the backdrop's, so its image is the fill alone
  assert.ok(images[0].data.every((v, i) => v === GREY[i % 3]));
});

test('classProbabilities and withIsolatedNames: softmax of scaled cosines; the geometric mean on the isolated rows only', () => {
  const emb = Float32Array.of(1, 0, 0, 1, Math.SQRT1_2, Math.SQRT1_2);
  const p = classProbabilities(Float32Array.of(3, 4), emb, 3, 10);
  const raw = [0.6, 0.8, 0.7 * Math.SQRT2].map((v) => 10 * v);
  const z = raw.reduce((a, v) => a + Math.exp(v), 0);
  // (the class rows are float32)
  raw.forEach((v, k) => assert.ok(Math.abs(p[k] - Math.exp(v) / z) < 1e-6, `class ${k}: ${p[k]} against ${Math.exp(v) / z}`));
  assert.ok(Math.abs(p.reduce((a, v) => a + v, 0) - 1) < 1e-12);
  const aff = Float64Array.of(0.1, 0.2, 0.3, 0.4, 0.5, 0.6);
  const out = withIsolatedNames(aff, 3, [1], [Float64Array.of(0.4, 0.5, 0.6)]);
  assert.deepEqual(Array.from(out.subarray(0, 3)), [0.1, 0.2, 0.3]);
  [0.4, 0.5, 0.6].forEach((v, k) => assert.ok(Math.abs(out[3 + k] - v) < 1e-12));
});

test('groupScores: the background channel on the backdrop groups\' pixels, each class its pixel\'s group\'s score', () => {
  const out = groupScores(Int32Array.of(0, 1, 1), Float64Array.of(0.1, 0.2, 0.3, 0.4), 2, [true, false]);
  assert.deepEqual(Array.from(out), [1, 0, 0, 0.1, 0.3, 0.3, 0.2, 0.4, 0.4]);
  assert.deepEqual(Array.from(groupScores(Int32Array.of(1), Float64Array.of(0.1, 0.2, 0.3, 0.4), 2, null)), [0, 0.3, 0.4]);
});

test('isolatedPredictions: a batch of scenes equals the same steps one scene at a time', async () => {
  const config = smallPresetConfig(64, [8, 4]);
  const model = new GroupViTModel(config, 3);
  // groups that follow content, so that some are object groups
  for (const stage of model.vision_model.encoder.stages) await stage.downsample?.assign.scaleInit(30);
  model.eval();
  await model.prepareInference();
  const data = new ShapesDataset({ seed: 3, split: 'eval', imageSize: 64 });
  const images = [0, 1, 2].map((i) => data.sample(i).image);
  const K = SHAPES.length;
  const emb = new Float32Array(K * 16);
  for (let i = 0; i < emb.length; i++) emb[i] = Math.sin(i * 1.7);
  const batch = await isolatedPredictions(model, images, await encodeBatch(model, images), null, emb, K, 0.05, 0.25);
  let objectGroups = 0;
  for (const [i, img] of images.entries()) {
    const e = await encodeBatch(model, [img]);
    const r = segmentEncoded(e, 0, emb, K, 0.05, 0.25);
    const bd = borderGroups(r.groupIndex, 64, 64, 4, 0.25);
    const owned = [...new Set(r.groupIndex)].filter((g) => !bd[g]).sort((a, b) => a - b);
    const { images: cut } = isolatedGroupImages(img, r.groupIndex, bd);
    assert.equal(cut.length, owned.length);
    const probs = [];
    for (const c of cut) {
      const ce = await encodeBatch(model, [c]);
      probs.push(classProbabilities(ce.embeds, emb, K, ce.logitScale));
    }
    const want = predictAt(r.groupIndex, withIsolatedNames(r.affinity, K, owned, probs), K, 0.05, bd);
    let diff = 0;
    for (let p = 0; p < want.length; p++) if (want[p] !== batch[i][p]) diff++;
    // one image at a time or 64 in a batch, the encoder's sums may round apart on a rare near-tie
    assert.ok(diff <= 4, `image ${i}: ${diff} pixels differ`);
    objectGroups += owned.length;
  }
  assert.ok(objectGroups > 0, 'some scene has object groups to name alone');
  model.release();
});
