// `groupvit eval` on generated scenes: the assignment-margin diagnostic equals the margins recomputed on the host from
// the model's own soft maps of the same scenes, and the objects counted are the scenes' own; with test-time
// augmentation its batched masks are those of the segment pipeline, one image at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useGpu } from '../helpers.js';
import { readConfig } from '../../src/model/config.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { loadWeights } from '../../src/model/load.js';
import { loadTokenizer } from '../../src/data/tokenizer/index.js';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { noGradAsync } from '../../src/tensor/tape.js';
import { normalizeImages } from '../../src/io/normalize-pixels.js';
import { evaluateShapes, isolatedGroupScores, isolatedPredictions } from '../../src/train/eval-shapes.js';
import { classEmbeddings, encodeBatch } from '../../src/train/evaluate.js';
import { groupScores } from '../../src/segment/isolate.js';
import { shiftedViewImage, testViews, ViewAverage } from '../../src/segment/views.js';
import { argmaxChannels } from '../../src/segment/dihedral.js';
import { IoUMeter } from '../../src/segment/iou.js';
import { Segmenter } from '../../src/segment/pipeline.js';
import { SHAPES } from '../../src/data/shapes/world.js';

useGpu();

test('eval diagnostics: per-stage assignment margins match a host recomputation from the soft maps', async () => {
  const dir = join(process.cwd(), 'models', 'shapes-tiny');
  const config = readConfig(join(dir, 'config.json'));
  const model = new GroupViTModel(config);
  await loadWeights(model, dir);
  const tok = loadTokenizer(dir, config);
  const count = 6;
  const rep = await evaluateShapes(model, tok, { seed: 5, count, imageSize: 64, batch: 4 });
  const margins = rep.diagnostics.assignMargins!;
  // every scene holds 1-3 objects, and each counts once in the image-level recall by its number of objects
  const recall = rep.diagnostics.imageClassRecallByObjects!;
  assert.equal(recall.reduce((acc, [n]) => acc + n, 0), count);
  assert.ok(recall.length <= 3 && recall.every(([, v]) => v >= 0 && v <= 1), JSON.stringify(recall));
  assert.equal(margins.length, 2, 'two grouping stages');
  const data = new ShapesDataset({ seed: 5, split: 'eval', imageSize: 64 });
  const images = Array.from({ length: count }, (_, i) => data.sample(i).image);
  // the same batches as eval (4, then 2), so the GPU computes the very same soft maps: a confident model's second-best
  // assignment is ~1e-17, where another batch size's kernel choice would move its logarithm
  const sums = [0, 0];
  const tokens = [0, 0];
  for (const [start, n] of [[0, 4], [4, 2]]) {
    const part = await tidyAsync(async () => {
      const px = Tensor.fromArray(normalizeImages(images.slice(start, start + n)), [n, 3, 64, 64]);
      const out = await noGradAsync(() => model.encodeImage(px));
      return Promise.all(out.assignments.map(async (a) => ({ shape: a.soft.shape, soft: await a.soft.toArray() })));
    });
    part.forEach(({ shape: [b, s, l], soft }, k) => {
      for (let i = 0; i < b; i++)
        for (let t = 0; t < l; t++) {
          const col = Array.from({ length: s }, (_, g) => soft[(i * s + g) * l + t]).sort((x, y) => y - x);
          sums[k] += Math.log(col[0] / Math.max(col[1], 1e-30));
        }
      tokens[k] += b * l;
    });
  }
  const want = sums.map((v, k) => v / tokens[k]);
  for (let k = 0; k < 2; k++) assert.ok(Math.abs(margins[k] - want[k]) < 1e-4 * Math.max(1, want[k]), `stage ${k}: ${margins[k]} vs ${want[k]}`);
  assert.ok(margins.every((m) => m >= 0 && Number.isFinite(m)));
  // objects: every (scene, shape present) pair of the six scenes, counted from their masks
  const present = Array.from({ length: count }, (_, i) => new Set(data.sample(i).mask).size - (data.sample(i).mask.includes(0) ? 1 : 0));
  assert.equal(rep.objects.total, present.reduce((a, b) => a + b, 0));
  assert.ok(rep.objects.found <= rep.objects.total && rep.objects.scenesAllFound <= count);
  model.release();
});

test('eval --augment dihedral and dihedral+shift: the batched views score as the segment pipeline does, image by image', async () => {
  const dir = join(process.cwd(), 'models', 'shapes-tiny');
  const seg = await Segmenter.load({ weights: dir, gpu: {} });
  try {
    const rule = seg.backgroundFor(SHAPES.length);
    const count = 5;
    const rep = await evaluateShapes(seg.model, seg.tokenizer, { seed: 7, count, imageSize: 64, batch: 3, ...rule, augment: 'dihedral' });
    const plain = await evaluateShapes(seg.model, seg.tokenizer, { seed: 7, count, imageSize: 64, batch: 3, ...rule });
    const data = new ShapesDataset({ seed: 7, split: 'eval', imageSize: 64 });
    const meter = new IoUMeter(SHAPES.length + 1);
    for (let i = 0; i < count; i++) {
      const s = data.sample(i);
      meter.add((await seg.segment(s.image, SHAPES, { ...rule, augment: 'dihedral', refine: 'none', isolate: false })).mask, s.mask);
    }
    assert.ok(Math.abs(rep.mIoU - meter.mean()) < 1e-9, `batched ${rep.mIoU} against one by one ${meter.mean()}`);
    assert.ok(rep.mIoU !== plain.mIoU, 'the views change the masks of these scenes');
    assert.deepEqual(rep.diagnostics.assignMargins, plain.diagnostics.assignMargins, 'the diagnostics describe the image as it is');
    // the sixteen views moved by half a patch too, with the refined maps the model's rule was calibrated with
    const shifted = await evaluateShapes(seg.model, seg.tokenizer, { seed: 7, count: 3, imageSize: 64, batch: 2, ...rule, augment: 'dihedral+shift', refine: 'pamr' });
    const each = new IoUMeter(SHAPES.length + 1);
    for (let i = 0; i < 3; i++) {
      const s = data.sample(i);
      each.add((await seg.segment(s.image, SHAPES, { ...rule, augment: 'dihedral+shift', refine: 'pamr', isolate: false })).mask, s.mask);
    }
    assert.ok(Math.abs(shifted.mIoU - each.mean()) < 1e-9, `dihedral+shift: batched ${shifted.mIoU} against one by one ${each.mean()}`);
  } finally {
    seg.release();
  }
});

test('eval --refine pamr: the batched refinement scores as the segment pipeline does, and moves the masks', async () => {
  const dir = join(process.cwd(), 'models', 'shapes-tiny');
  const seg = await Segmenter.load({ weights: dir, gpu: {} });
  try {
    const rule = seg.backgroundFor(SHAPES.length);
    const count = 6;
    const rep = await evaluateShapes(seg.model, seg.tokenizer, { seed: 5, count, imageSize: 64, batch: 4, ...rule, refine: 'pamr' });
    const plain = await evaluateShapes(seg.model, seg.tokenizer, { seed: 5, count, imageSize: 64, batch: 4, ...rule, refine: 'none' });
    const data = new ShapesDataset({ seed: 5, split: 'eval', imageSize: 64 });
    const meter = new IoUMeter(SHAPES.length + 1);
    for (let i = 0; i < count; i++) {
      const s = data.sample(i);
      meter.add((await seg.segment(s.image, SHAPES, { ...rule, refine: 'pamr', augment: 'none', isolate: false })).mask, s.mask);
    }
    assert.ok(Math.abs(rep.mIoU - meter.mean()) < 1e-9, `batched ${rep.mIoU} against one by one ${meter.mean()}`);
    assert.notEqual(rep.mIoU, plain.mIoU, 'the refinement changes the masks of these scenes');
    assert.ok(rep.iou[0] > plain.iou[0], `background follows the objects' edges: IoU ${rep.iou[0]} against ${plain.iou[0]}`);
  } finally {
    seg.release();
  }
});

test('eval --isolate with views: the batched masks equal each view\'s isolated scores averaged by hand and the segment pipeline\'s; without views too', async () => {
  const dir = join(process.cwd(), 'models', 'shapes-tiny');
  const seg = await Segmenter.load({ weights: dir, gpu: {} });
  try {
    const rule = seg.backgroundFor(SHAPES.length);
    const count = 3;
    const rep = await evaluateShapes(seg.model, seg.tokenizer, { seed: 9, count, imageSize: 64, batch: 2, ...rule, augment: 'flip', isolate: true });
    const alone = await evaluateShapes(seg.model, seg.tokenizer, { seed: 9, count, imageSize: 64, batch: 2, ...rule, isolate: true });
    const data = new ShapesDataset({ seed: 9, split: 'eval', imageSize: 64 });
    const emb = await classEmbeddings(seg.model, seg.tokenizer, SHAPES, ['a photo of a {}.']);
    const K = SHAPES.length;
    const withViews = new IoUMeter(K + 1);
    const noViews = new IoUMeter(K + 1);
    for (let i = 0; i < count; i++) {
      const s = data.sample(i);
      const avg = new ViewAverage(K + 1, 64, 64);
      for (const view of testViews('flip', 8)) {
        const img = shiftedViewImage(s.image, view);
        const [r] = await isolatedGroupScores(seg.model, [img], await encodeBatch(seg.model, [img]), null, emb, K, rule.bgBorder);
        avg.add(groupScores(r.groupIndex, r.affinity, K, r.backdrop), view);
      }
      withViews.add(argmaxChannels(avg.decide(rule.bgThresh), K + 1, 64 * 64), s.mask);
      const e = await encodeBatch(seg.model, [s.image]);
      noViews.add((await isolatedPredictions(seg.model, [s.image], e, null, emb, K, rule.bgThresh, rule.bgBorder))[0], s.mask);
    }
    assert.ok(Math.abs(rep.mIoU - withViews.mean()) < 1e-9, `flip: batched ${rep.mIoU} against by hand ${withViews.mean()}`);
    assert.ok(Math.abs(alone.mIoU - noViews.mean()) < 1e-9, `alone: batched ${alone.mIoU} against by hand ${noViews.mean()}`);
    const plain = await evaluateShapes(seg.model, seg.tokenizer, { seed: 9, count, imageSize: 64, batch: 2, ...rule });
    assert.ok(plain.mIoU !== alone.mIoU, 'naming the groups alone changes the masks of these scenes');
    // the segment pipeline, one image at a time, with and without views
    const piped = new IoUMeter(K + 1);
    const pipedAlone = new IoUMeter(K + 1);
    for (let i = 0; i < count; i++) {
      const s = data.sample(i);
      piped.add((await seg.segment(s.image, SHAPES, { ...rule, augment: 'flip', refine: 'none', isolate: true })).mask, s.mask);
      pipedAlone.add((await seg.segment(s.image, SHAPES, { ...rule, augment: 'none', refine: 'none', isolate: true })).mask, s.mask);
    }
    assert.ok(Math.abs(rep.mIoU - piped.mean()) < 1e-9, `flip: eval ${rep.mIoU} against segment ${piped.mean()}`);
    assert.ok(Math.abs(alone.mIoU - pipedAlone.mean()) < 1e-9, `alone: eval ${alone.mIoU} against segment ${pipedAlone.mean()}`);
  } finally {
    seg.release();
  }
});
