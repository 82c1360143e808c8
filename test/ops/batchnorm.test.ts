// BatchNorm1d in training mode: batch statistics, the running-average update, and the backward for x, w, b.
import { test } from 'node:test';
import { useGpu, assertClose, randn } from '../helpers.js';
import { gradCheck } from '../gradcheck.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { noGrad } from '../../src/tensor/tape.js';
import { batchNormTrain } from '../../src/ops/batchnorm.js';

useGpu();

function bnRef(x: Float64Array, w: Float64Array, b: Float64Array, n: number, c: number, eps: number) {
  const y = new Float64Array(x.length);
  const mean = new Float64Array(c);
  const unbiased = new Float64Array(c);
  for (let k = 0; k < c; k++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i * c + k];
    m /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[i * c + k] - m) ** 2;
    mean[k] = m;
    unbiased[k] = n > 1 ? v / (n - 1) : v;
    const rstd = 1 / Math.sqrt(v / n + eps);
    for (let i = 0; i < n; i++) y[i * c + k] = (x[i * c + k] - m) * rstd * w[k] + b[k];
  }
  return { y, mean, unbiased };
}

for (const [n, c] of [[2, 7], [17, 33], [65, 5]] as const) {
  test(`batchnorm train [${n},${c}]: forward, backward for x, w, b`, async () => {
    await gradCheck({
      name: 'batchnorm', shapes: [[n, c], [c], [c]],
      gpu: ([x, w, b]) => batchNormTrain(x, w, b, Tensor.zeros([c]), Tensor.full([c], 1)),
      ref: ([x, w, b]) => bnRef(x, w, b, n, c, 1e-5).y, atol: 2e-5, gradAtol: 3e-3,
    });
  });
}

test('batchnorm running statistics move by momentum 0.1 with the unbiased variance', async () => {
  const [n, c] = [9, 4];
  const x = randn(n * c, 3, 2);
  const ref = bnRef(x, new Float64Array(c).fill(1), new Float64Array(c), n, c, 1e-5);
  await tidyAsync(async () => {
    const rm = Tensor.fromArray([1, 2, 3, 4], [c]);
    const rv = Tensor.fromArray([1, 1, 2, 2], [c]);
    noGrad(() => batchNormTrain(Tensor.fromArray(x, [n, c]), Tensor.full([c], 1), Tensor.zeros([c]), rm, rv));
    assertClose(await rm.toArray(), [1, 2, 3, 4].map((v, k) => 0.9 * v + 0.1 * ref.mean[k]), 1e-6, 1e-6, 'running mean');
    assertClose(await rv.toArray(), [1, 1, 2, 2].map((v, k) => 0.9 * v + 0.1 * ref.unbiased[k]), 1e-6, 1e-6, 'running var');
  });
});
