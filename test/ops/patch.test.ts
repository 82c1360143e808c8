// im2col for the patch embedding: the order (c, ky, kx) of a Conv2d weight, pixels past the last whole patch dropped
// as Conv2d floors them (a non-square image whose sides are not multiples of the patch). The same gather with a
// 3×3 stride-2 padded window (the convolutional stem's first layer), the stem's 2×2 token merge, and overlapping
// windows of a token grid (the stem's later layers with patch_embed 'conv3').
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu, randn } from '../helpers.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { noGrad } from '../../src/tensor/tape.js';
import { im2col, patchify, spaceToDepth, tokenWindows } from '../../src/ops/patch.js';
import { gradCheck } from '../gradcheck.js';

useGpu();

test('patchify [2,3,19,21] with 4-pixel patches equals the plain-loop reference (4x5 patches, remainders dropped)', async () => {
  const [b, ch, h, w, p] = [2, 3, 19, 21, 4];
  const img = randn(b * ch * h * w, 3);
  const gh = Math.floor(h / p);
  const gw = Math.floor(w / p);
  const want = new Float64Array(b * gh * gw * ch * p * p);
  let k = 0;
  for (let n = 0; n < b; n++)
    for (let ty = 0; ty < gh; ty++)
      for (let tx = 0; tx < gw; tx++)
        for (let c = 0; c < ch; c++)
          for (let ky = 0; ky < p; ky++) for (let kx = 0; kx < p; kx++) want[k++] = img[((n * ch + c) * h + ty * p + ky) * w + tx * p + kx];
  await tidyAsync(async () => {
    const r = noGrad(() => patchify(Tensor.fromArray(img, [b, ch, h, w]), p));
    assert.deepEqual([r.gh, r.gw], [4, 5]);
    assert.deepEqual(r.patches.shape, [2, 20, 48]);
    assert.deepEqual([...(await r.patches.toArray())], [...Float32Array.from(want)]);
  });
});

// Float64 reference of a k×k window sliding by s over the first eh×ew pixels, zero outside them.
function im2colRef(img: Float64Array, [b, ch, h, w]: number[], k: number, s: number, pad: number, eh: number, ew: number) {
  const gh = Math.floor((eh + 2 * pad - k) / s) + 1;
  const gw = Math.floor((ew + 2 * pad - k) / s) + 1;
  const out = new Float64Array(b * gh * gw * ch * k * k);
  let i = 0;
  for (let n = 0; n < b; n++)
    for (let ty = 0; ty < gh; ty++)
      for (let tx = 0; tx < gw; tx++)
        for (let c = 0; c < ch; c++)
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const y = ty * s + ky - pad;
              const x = tx * s + kx - pad;
              out[i++] = y >= 0 && y < eh && x >= 0 && x < ew ? img[((n * ch + c) * h + y) * w + x] : 0;
            }
  return { out, gh, gw };
}

test('im2col 3x3, stride 2, padding 1 on [2,3,9,11] equals the plain-loop reference, whole and cropped to 8x8', async () => {
  const shape = [2, 3, 9, 11];
  const img = randn(shape.reduce((a, b) => a * b, 1), 5);
  for (const [eh, ew, gh, gw] of [
    [9, 11, 5, 6],
    [8, 8, 4, 4],
  ]) {
    const want = im2colRef(img, shape, 3, 2, 1, eh, ew);
    assert.deepEqual([want.gh, want.gw], [gh, gw]);
    await tidyAsync(async () => {
      const r = noGrad(() => im2col(Tensor.fromArray(img, shape), { k: 3, s: 2, pad: 1 }, [eh, ew]));
      assert.deepEqual([r.gh, r.gw], [gh, gw]);
      assert.deepEqual(r.patches.shape, [2, gh * gw, 27]);
      assert.deepEqual([...(await r.patches.toArray())], [...Float32Array.from(want.out)], `extent ${eh}x${ew}`);
    });
  }
});

// Float64 reference: 2×2 neighbours of a channels-last grid merged in the order (c, dy, dx); odd remainders dropped.
function spaceToDepthRef(x: Float64Array, b: number, h: number, w: number, c: number): Float64Array {
  const gh = Math.floor(h / 2);
  const gw = Math.floor(w / 2);
  const out = new Float64Array(b * gh * gw * 4 * c);
  let i = 0;
  for (let n = 0; n < b; n++)
    for (let ty = 0; ty < gh; ty++)
      for (let tx = 0; tx < gw; tx++)
        for (let ch = 0; ch < c; ch++)
          for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) out[i++] = x[((n * h + 2 * ty + dy) * w + 2 * tx + dx) * c + ch];
  return out;
}

for (const [b, h, w, c] of [[2, 5, 7, 3], [2, 5, 7, 8], [3, 6, 4, 4]]) test(`spaceToDepth [${b}, ${h}·${w}, ${c}]${c % 4 ? '' : ' (vec4 kernels)'}: forward and backward (a gather; zero for a dropped row and column)`, async () => {
  await tidyAsync(async () => {
    const r = noGrad(() => spaceToDepth(Tensor.fromArray(randn(b * h * w * c, 9), [b, h * w, c]), h, w));
    const [gh, gw] = [Math.floor(h / 2), Math.floor(w / 2)];
    assert.deepEqual([r.gh, r.gw], [gh, gw]);
    assert.deepEqual(r.x.shape, [b, gh * gw, 4 * c]);
  });
  await gradCheck({
    name: 'spaceToDepth',
    shapes: [[b, h * w, c]],
    // f32-representable inputs, so a permutation must reproduce them exactly
    init: [Float64Array.from(Float32Array.from(randn(b * h * w * c, 9)))],
    gpu: ([x]) => spaceToDepth(x, h, w).x,
    ref: ([x]) => spaceToDepthRef(x, b, h, w, c),
    atol: 0,
    rtol: 0,
    // every coordinate, the dropped ones included; the gradient is a copy of the f32 loss weights
    gradAtol: 1e-6,
    gradRtol: 0,
    samples: b * h * w * c,
  });
});

// Float64 reference of k×k windows sliding by s over a channels-last grid [b, h·w, c] with zero padding pad, each
// window in (ky, kx, c) order.
function tokenWindowsRef(x: Float64Array, [b, h, w, c]: number[], k: number, s: number, pad: number): Float64Array {
  const gh = Math.floor((h + 2 * pad - k) / s) + 1;
  const gw = Math.floor((w + 2 * pad - k) / s) + 1;
  const out = new Float64Array(b * gh * gw * c * k * k);
  let i = 0;
  for (let n = 0; n < b; n++)
    for (let ty = 0; ty < gh; ty++)
      for (let tx = 0; tx < gw; tx++)
        for (let ky = 0; ky < k; ky++)
          for (let kx = 0; kx < k; kx++)
            for (let ch = 0; ch < c; ch++) {
              const [y, xx] = [ty * s - pad + ky, tx * s - pad + kx];
              out[i++] = y >= 0 && y < h && xx >= 0 && xx < w ? x[((n * h + y) * w + xx) * c + ch] : 0;
            }
  return out;
}

for (const [b, h, w, c, k, s, pad] of [[2, 7, 5, 4, 3, 2, 1], [1, 6, 8, 8, 3, 2, 1], [2, 5, 6, 4, 3, 1, 1], [1, 9, 7, 4, 4, 3, 2]]) test(`tokenWindows [${b}, ${h}·${w}, ${c}], ${k}x${k} stride ${s} padding ${pad}: forward and backward against float64`, async () => {
  const gh = Math.floor((h + 2 * pad - k) / s) + 1;
  const gw = Math.floor((w + 2 * pad - k) / s) + 1;
  await tidyAsync(async () => {
    const r = noGrad(() => tokenWindows(Tensor.fromArray(randn(b * h * w * c, 4), [b, h * w, c]), h, w, { k, s, pad }));
    assert.deepEqual([r.gh, r.gw], [gh, gw]);
    assert.deepEqual(r.x.shape, [b, gh * gw, c * k * k]);
  });
  assert.throws(() => noGrad(() => tokenWindows(Tensor.zeros([b, h * w, 6]), h, w, { k, s, pad })), /6 channels are not a multiple of 4/);
  await gradCheck({
    name: 'tokenWindows',
    shapes: [[b, h * w, c]],
    init: [Float64Array.from(Float32Array.from(randn(b * h * w * c, 5)))],
    gpu: ([x]) => tokenWindows(x, h, w, { k, s, pad }).x,
    ref: ([x]) => tokenWindowsRef(x, [b, h, w, c], k, s, pad),
    atol: 0,
    rtol: 0,
    // a value read by several windows sums their loss weights, a few f32 additions
    gradAtol: 1e-5,
    gradRtol: 1e-5,
    samples: b * h * w * c,
  });
});
