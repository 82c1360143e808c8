// The host geometry of zero-shot segmentation, against hand counts: mmseg's windows, the canvas average, the final
// resize + argmax, the group canvas, the resize rule and the protocol defaults. No GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCanvas, rescaleSize, resizeArgmax, resizeNearest, resizeScores, slideInference, slideWindows, type Window } from '../../src/segment/slide.js';
import { bilinear } from '../../src/segment/zero-shot.js';
import { largestBufferBytes, plan, resolveSettings } from '../../src/segment/pipeline.js';
import type { GroupViTConfig } from '../../src/model/config.js';
import { UserError } from '../../src/util/errors.js';
import { assertClose, rng } from '../helpers.js';

test('slideWindows follows mmseg: grid count, clamped last window, one window for a small image', () => {
  // 600×448 with 448/224: ny = (600-448+223)//224 + 1 = 2, the second window clamped to end at 600
  assert.deepEqual(slideWindows(600, 448, [448, 448], [224, 224]), [
    { y1: 0, y2: 448, x1: 0, x2: 448 },
    { y1: 152, y2: 600, x1: 0, x2: 448 },
  ]);
  // smaller than the crop: one window, the whole image
  assert.deepEqual(slideWindows(100, 300, [448, 448], [224, 224]), [{ y1: 0, y2: 100, x1: 0, x2: 300 }]);
  // 448×1000: nx = (1000-448+223)//224 + 1 = 4 → x1 = 0, 224, 448, then 672 clamped to 552
  assert.deepEqual(
    slideWindows(448, 1000, [448, 448], [224, 224]).map((w) => [w.x1, w.x2]),
    [
      [0, 448],
      [224, 672],
      [448, 896],
      [552, 1000],
    ],
  );
  for (const w of slideWindows(97, 131, [32, 32], [13, 13])) {
    assert.ok(w.y1 >= 0 && w.x1 >= 0 && w.y2 <= 97 && w.x2 <= 131 && w.y2 - w.y1 === 32 && w.x2 - w.x1 === 32);
  }
});

test('slideInference sums window scores into a canvas and divides by the windows covering each pixel', async () => {
  const [H, W, C] = [7, 9, 2];
  const windows = slideWindows(H, W, [4, 5], [2, 3]);
  assert.ok(windows.length > 2);
  // a stub scorer: channel 0 = the window's number + 1 everywhere, channel 1 = the pixel's image row·10 + column
  const seen: number[] = [];
  const canvas = await slideInference(H, W, C, windows, async (win, i) => {
    seen.push(i);
    const h = win.y2 - win.y1;
    const w = win.x2 - win.x1;
    const s = new Float64Array(C * h * w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      s[y * w + x] = i + 1;
      s[h * w + y * w + x] = (win.y1 + y) * 10 + win.x1 + x;
    }
    return s;
  });
  assert.deepEqual(seen, windows.map((_, i) => i));
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const covering = windows.map((w, i) => [w, i] as const).filter(([w]) => y >= w.y1 && y < w.y2 && x >= w.x1 && x < w.x2);
    assert.ok(covering.length > 0);
    const mean = covering.reduce((a, [, i]) => a + i + 1, 0) / covering.length;
    assert.ok(Math.abs(canvas[y * W + x] - mean) < 1e-5, `channel 0 at ${y},${x}`);
    assert.ok(Math.abs(canvas[H * W + y * W + x] - (y * 10 + x)) < 1e-4, `channel 1 at ${y},${x}: one value seen by every window stays itself`);
  }
  await assert.rejects(slideInference(4, 4, 1, [{ y1: 0, y2: 2, x1: 0, x2: 4 }], async () => new Float64Array(8)), /covered by no window/);
  await assert.rejects(slideInference(4, 4, 1, [{ y1: 0, y2: 4, x1: 0, x2: 4 }], async () => new Float64Array(3)), /scored 3 values/);
});

test('resizeArgmax equals a full bilinear resize then argmax, and counts pixels and score sums per channel', () => {
  const r = rng(3);
  const [C, h, w, oh, ow] = [4, 5, 6, 13, 11];
  const scores = Float32Array.from({ length: C * h * w }, () => r());
  const full = resizeScores(scores, C, h, w, oh, ow);
  const { pred, pixels, scoreSum } = resizeArgmax(scores, C, h, w, oh, ow);
  const wantPixels = new Float64Array(C);
  const wantSum = new Float64Array(C);
  for (let p = 0; p < oh * ow; p++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (full[c * oh * ow + p] > full[best * oh * ow + p]) best = c;
    assert.equal(pred[p], best, `pixel ${p}`);
    wantPixels[best]++;
    wantSum[best] += full[best * oh * ow + p];
  }
  assert.deepEqual([...pixels], [...wantPixels]);
  assertClose(scoreSum, wantSum, 1e-5, 1e-5, 'score sums');
  // the same sampling as the zero-shot core's bilinear (channel-last), which follows F.interpolate
  const hwc = new Float64Array(h * w * C);
  for (let c = 0; c < C; c++) for (let p = 0; p < h * w; p++) hwc[p * C + c] = scores[c * h * w + p];
  const ref = bilinear(hwc, h, w, C, oh, ow);
  for (let c = 0; c < C; c++) for (let p = 0; p < oh * ow; p++) assert.ok(Math.abs(full[c * oh * ow + p] - ref[p * C + c]) < 1e-5);
  // ties go to the first channel, as torch.argmax
  assert.deepEqual([...resizeArgmax(new Float32Array(2 * 4), 2, 2, 2, 2, 2).pred], [0, 0, 0, 0]);
  // same size: a plain argmax
  const same = resizeArgmax(Float32Array.of(0, 1, 0.5, 0.5, 1, 0, 0.4, 0.6), 2, 2, 2, 2, 2);
  assert.deepEqual([...same.pred], [1, 0, 0, 1]);
});

test('GroupCanvas gives each pixel the group of the window whose centre is nearest', () => {
  const canvas = new GroupCanvas(1, 10);
  const a: Window = { y1: 0, y2: 1, x1: 0, x2: 6 };
  const b: Window = { y1: 0, y2: 1, x1: 4, x2: 10 };
  canvas.add(a, 0, 8, new Int32Array(6).fill(3));
  canvas.add(b, 1, 8, new Int32Array(6).fill(5));
  // a's centre is 2.5, b's 6.5: pixels 0–4 are nearer a (4 ties at distance 1.5 → a, the first), 5–9 nearer b
  assert.deepEqual([...canvas.labels], [3, 3, 3, 3, 3, 13, 13, 13, 13, 13]);
  assert.deepEqual([...resizeNearest(Int32Array.of(1, 2, 3, 4), 2, 2, 4, 4)], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
});

const tinyConfig = (imageSize: number, patch: number) =>
  ({
    projection_dim: 32,
    vision_config: { image_size: imageSize, patch_size: patch, hidden_size: 64, intermediate_size: 256, num_group_tokens: [8, 4, 0] },
  }) as unknown as GroupViTConfig;

test('the resize rule (mmcv keep_ratio with the long side capped) and the protocols', () => {
  assert.deepEqual(rescaleSize(640, 480, 448, 2048), [597, 448]); // int(640·448/480 + 0.5) = 597
  assert.deepEqual(rescaleSize(500, 375, 448, 2048), [597, 448]);
  assert.deepEqual(rescaleSize(100, 5000, 448, 2048), [41, 2048]); // the long side caps the scale
  assert.deepEqual(rescaleSize(1, 1000, 64, 292, 8), [8, 292]); // never thinner than a patch

  const official = resolveSettings(tinyConfig(224, 16));
  assert.deepEqual(official, { protocol: 'paper', mode: 'slide', size: 448, stride: 224, bgThresh: 0.95, bgBorder: null, topk: 5, refine: 'none', isolate: false });
  const tiny = resolveSettings(tinyConfig(64, 8));
  assert.deepEqual(tiny, { protocol: 'fast', mode: 'whole', size: 64, stride: 32, bgThresh: 0.95, bgBorder: null, topk: 5, refine: 'none', isolate: false });
  assert.equal(resolveSettings(tinyConfig(64, 8), { protocol: 'paper' }).size, 448);
  assert.deepEqual(resolveSettings(tinyConfig(224, 16), { protocol: 'fast', mode: 'slide', size: 96, bgThresh: 0.35 }), {
    protocol: 'fast', mode: 'slide', size: 96, stride: 48, bgThresh: 0.35, bgBorder: null, topk: 5, refine: 'none', isolate: false,
  });
  // a model's calibrated rule is the default; an explicit null is the paper's rule
  assert.equal(resolveSettings(tinyConfig(64, 8), {}, { bgThresh: 0.1, bgBorder: 0.25 }).bgBorder, 0.25);
  assert.equal(resolveSettings(tinyConfig(64, 8), { bgBorder: null }, { bgThresh: 0.1, bgBorder: 0.25 }).bgBorder, null);
  // and so is the refinement it was calibrated with; an explicit one wins
  assert.equal(resolveSettings(tinyConfig(64, 8), {}, { bgThresh: 0.1, bgBorder: 0.25 }, 'pamr').refine, 'pamr');
  assert.equal(resolveSettings(tinyConfig(64, 8), { refine: 'none' }, { bgThresh: 0.1, bgBorder: 0.25 }, 'pamr').refine, 'none');
  assert.throws(() => resolveSettings(tinyConfig(64, 8), { bgBorder: 0 }), UserError);
  assert.throws(() => resolveSettings(tinyConfig(64, 8), { size: 4 }), UserError);
  assert.throws(() => resolveSettings(tinyConfig(64, 8), { size: 64, stride: 65 }), UserError);
  assert.throws(() => resolveSettings(tinyConfig(64, 8), { bgThresh: 1.5 }), UserError);

  // a slide pass never sees more than the window; a whole pass sees the resized image
  const cfg = tinyConfig(224, 16);
  assert.deepEqual(plan(cfg, official, 1000, 500), { resized: [896, 448], pass: [448, 448] });
  assert.deepEqual(plan(cfg, { ...official, mode: 'whole' }, 1000, 500).pass, [896, 448]);
  // here the pixels (= the patch matrix) are the largest buffer; at a narrow patch the MLP activations are
  assert.equal(largestBufferBytes(cfg, 448, 448), 3 * 448 * 448 * 4);
  assert.equal(largestBufferBytes(tinyConfig(64, 4), 448, 448), (112 * 112 + 8) * 256 * 4);
});
