// AdamW on the GPU against PyTorch's update rule in float64, with global-norm clipping computed on the GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu, assertClose, randn } from '../helpers.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { AdamW, cosineLr, decays } from '../../src/train/adamw.js';
import { param } from '../../src/nn/module.js';

useGpu();

test('AdamW matches the float64 reference over 3 steps, with clipping and the decay exclusions', async () => {
  const shapes: [string, number[]][] = [['blocks.0.fc1.weight', [7, 33]], ['blocks.0.fc1.bias', [7]], ['logit_scale', []], ['stages.0.group_token', [1, 5, 3]]];
  const params: [string, Tensor][] = shapes.map(([n, s], k) => [n, param(Tensor.fromArray(randn(s.reduce((a, b) => a * b, 1), k + 1), s))]);
  const ref = params.map(([, p], k) => Float64Array.from(randn(p.size, k + 1)));
  const m = ref.map((r) => new Float64Array(r.length));
  const v = ref.map((r) => new Float64Array(r.length));
  const maxNorm = 1.5;
  const opt = new AdamW(params, { weightDecay: 0.05, maxNorm });
  for (let step = 1; step <= 3; step++) {
    const grads = params.map(([, p], k) => randn(p.size, 100 * step + k, 3));
    params.forEach(([, p], k) => {
      p.grad?.release();
      p.grad = Tensor.fromArray(grads[k], p.shape).keep();
    });
    const lr = 0.01 * step;
    opt.update(lr);
    const norm = Math.sqrt(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
    const clip = Math.min(1, maxNorm / (norm + 1e-6));
    params.forEach(([name, p], k) => {
      const wd = decays(name, p) ? 0.05 : 0;
      for (let i = 0; i < p.size; i++) {
        const g = grads[k][i] * clip;
        m[k][i] = 0.9 * m[k][i] + 0.1 * g;
        v[k][i] = 0.999 * v[k][i] + 0.001 * g * g;
        ref[k][i] *= 1 - lr * wd;
        ref[k][i] -= (lr / (1 - 0.9 ** step)) * m[k][i] / (Math.sqrt(v[k][i]) / Math.sqrt(1 - 0.999 ** step) + 1e-8);
      }
    });
    const [gotNorm] = await opt.scalars.toArray();
    assertClose([gotNorm], [norm], 1e-4, 1e-5, `grad norm step ${step}`);
  }
  for (let k = 0; k < params.length; k++) assertClose(await params[k][1].toArray(), ref[k], 1e-5, 1e-5, params[k][0]);
  assert.equal(decays('blocks.0.fc1.bias', params[1][1]), false);
  assert.equal(decays('logit_scale', params[2][1]), true, '0-dim logit scale is decayed, as NVlabs');
  opt.release();
});

test('AdamW: the gradient norm is the same to the bit from per-invocation partials (lavapipe) and per-workgroup ones', async () => {
  // 70000 values: 18 workgroups of partials, enough to tell a different summation order
  const shapes: number[][] = [[70000], [7, 33], [5]];
  const norms: number[] = [];
  for (const normLanes of [64, 1] as const) {
    const params: [string, Tensor][] = shapes.map((s, k) => [`p${k}.weight`, param(Tensor.fromArray(randn(s.reduce((a, b) => a * b, 1), k + 1), s))]);
    params.forEach(([, p], k) => (p.grad = Tensor.fromArray(randn(p.size, 50 + k, 3), p.shape).keep()));
    const opt = new AdamW(params, { maxNorm: 1, normLanes });
    opt.update(1e-3);
    norms.push((await opt.scalars.toArray())[0]);
    opt.release();
    for (const [, p] of params) {
      p.grad?.release();
      p.release();
    }
  }
  const want = Math.sqrt(shapes.reduce((s, sh, k) => s + randn(sh.reduce((a, b) => a * b, 1), 50 + k, 3).reduce((a, x) => a + x * x, 0), 0));
  assertClose([norms[0]], [want], 1e-3, 1e-6, 'norm');
  assert.equal(norms[0], norms[1]);
});

test('cosine schedule with linear warm-up', () => {
  assert.equal(cosineLr(0, 100, 10, 1, 0.1, 0), 0);
  assertClose([cosineLr(5, 100, 10, 1, 0.1, 0)], [0.5], 1e-12, 0, 'mid warm-up');
  assertClose([cosineLr(10, 100, 10, 1, 0.1)], [1], 1e-12, 0, 'peak');
  assertClose([cosineLr(55, 100, 10, 1, 0.1)], [0.55], 1e-12, 0, 'half way');
  assertClose([cosineLr(100, 100, 10, 1, 0.1)], [0.1], 1e-12, 0, 'end');
});
