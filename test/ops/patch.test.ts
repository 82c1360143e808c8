// im2col for the patch embedding: the order (c, ky, kx) of a Conv2d weight, pixels past the last whole patch dropped
// as Conv2d floors them (a non-square image whose sides are not multiples of the patch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu, randn } from '../helpers.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { noGrad } from '../../src/tensor/tape.js';
import { patchify } from '../../src/ops/patch.js';

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
