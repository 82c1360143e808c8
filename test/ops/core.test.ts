// Forward and backward of the elementwise, activation, layernorm, softmax, reduce, shape and embedding kernels
// against float64 references, on shapes that are not multiples of any workgroup size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu, randn, assertClose } from '../helpers.js';
import { gradCheck } from '../gradcheck.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { backward, noGrad, tapeLength } from '../../src/tensor/tape.js';
import { add, axpby, mul, scale } from '../../src/ops/elementwise.js';
import { gelu, quickGelu, relu } from '../../src/ops/activation.js';
import { layerNorm } from '../../src/ops/layernorm.js';
import { softmax } from '../../src/ops/softmax.js';
import { maxAxis, mean, sum, sumAll } from '../../src/ops/reduce.js';
import { concat, slice, transpose } from '../../src/ops/shape.js';
import { embedding } from '../../src/ops/embedding.js';

useGpu();

const map = (x: Float64Array, f: (v: number, i: number) => number) => Float64Array.from(x, f);

function erf(x: number): number {
  // float64 reference: series for small |x|, continued fraction otherwise (both < 1e-14)
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = x;
    let s = x;
    for (let n = 1; n < 100; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      s += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return (2 / Math.sqrt(Math.PI)) * s;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

// [5, 12] and [9, 36] run the vec4 kernels (every size a multiple of 4), [3, 6] the scalar ones (a: 18 values)
for (const [r, c] of [[1, 7], [7, 33], [65, 130], [5, 12], [9, 36], [3, 6]] as const) {
  test(`add/sub/mul broadcast a trailing bias [${r},${c}]`, async () => {
    await gradCheck({
      name: 'add', shapes: [[r, c], [c]],
      gpu: ([a, b]) => add(a, b),
      ref: ([a, b]) => map(a, (v, i) => v + b[i % c]),
    });
    await gradCheck({
      name: 'axpby', shapes: [[r, c], [r, c]],
      gpu: ([a, b]) => axpby(a, b, 0.5, -2),
      ref: ([a, b]) => map(a, (v, i) => 0.5 * v - 2 * b[i]),
    });
    await gradCheck({
      name: 'mul', shapes: [[r, c], [c]],
      gpu: ([a, b]) => mul(a, b),
      ref: ([a, b]) => map(a, (v, i) => v * b[i % c]),
    });
    await gradCheck({
      name: 'scale', shapes: [[r, c]],
      gpu: ([a]) => scale(a, -1.5),
      ref: ([a]) => map(a, (v) => -1.5 * v),
    });
  });
}

test('gelu (exact erf), quick_gelu, relu on 1, 33, 130 values, and 4 and 132 (the vec4 kernels)', async () => {
  for (const n of [1, 33, 130, 4, 132]) {
    await gradCheck({
      name: `gelu ${n}`, shapes: [[n]], gpu: ([x]) => gelu(x),
      ref: ([x]) => map(x, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))), atol: 2e-6,
    });
    await gradCheck({
      name: `quick_gelu ${n}`, shapes: [[n]], gpu: ([x]) => quickGelu(x),
      ref: ([x]) => map(x, (v) => v / (1 + Math.exp(-1.702 * v))), atol: 2e-6,
    });
    await gradCheck({
      name: `relu ${n}`, shapes: [[n]], gpu: ([x]) => relu(x),
      ref: ([x]) => map(x, (v) => Math.max(v, 0)),
    });
  }
});

function layerNormRef(x: Float64Array, w: Float64Array, b: Float64Array, c: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / c; r++) {
    let m = 0;
    for (let i = 0; i < c; i++) m += x[r * c + i];
    m /= c;
    let v = 0;
    for (let i = 0; i < c; i++) v += (x[r * c + i] - m) ** 2;
    const rstd = 1 / Math.sqrt(v / c + eps);
    for (let i = 0; i < c; i++) y[r * c + i] = (x[r * c + i] - m) * rstd * w[i] + b[i];
  }
  return y;
}

for (const [r, c] of [[1, 7], [7, 33], [33, 130]] as const) {
  test(`layernorm [${r},${c}] forward and backward for x, w, b`, async () => {
    await gradCheck({
      name: 'layernorm', shapes: [[r, c], [c], [c]],
      gpu: ([x, w, b]) => layerNorm(x, w, b, 1e-5),
      ref: ([x, w, b]) => layerNormRef(x, w, b, c, 1e-5), atol: 2e-5,
    });
  });
}

test('layernorm eps is honoured (a constant row maps to b)', async () => {
  const y = noGrad(() => layerNorm(Tensor.fromArray([3, 3, 3], [1, 3]), Tensor.fromArray([1, 1, 1], [3]), Tensor.fromArray([0.5, -1, 2], [3]), 0.1));
  assertClose(await y.toArray(), [0.5, -1, 2], 1e-6, 0, 'constant row');
  const x = randn(5, 3);
  const want = layerNormRef(x, new Float64Array(5).fill(1), new Float64Array(5), 5, 0.5);
  const got = noGrad(() => layerNorm(Tensor.fromArray(x, [1, 5]), Tensor.fromArray([1, 1, 1, 1, 1], [5]), Tensor.fromArray([0, 0, 0, 0, 0], [5]), 0.5));
  assertClose(await got.toArray(), want, 1e-5, 1e-5, 'eps 0.5');
});

function softmaxRef(x: Float64Array, n: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, x[r * n + i]);
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(x[r * n + i] - m);
    for (let i = 0; i < n; i++) y[r * n + i] = Math.exp(x[r * n + i] - m) / s;
  }
  return y;
}

for (const [r, n] of [[1, 1], [7, 33], [65, 130]] as const) {
  test(`softmax over the last axis [${r},${n}]`, async () => {
    await gradCheck({ name: 'softmax', shapes: [[r, n]], gpu: ([x]) => softmax(x), ref: ([x]) => softmaxRef(x, n), atol: 1e-6 });
  });
}

test('softmax stays finite for large logits', async () => {
  const y = noGrad(() => softmax(Tensor.fromArray([1000, 1001, -1000], [1, 3])));
  assertClose(await y.toArray(), softmaxRef(Float64Array.from([1000, 1001, -1000]), 3), 1e-6, 1e-5, 'large');
});

function sumAxisRef(x: Float64Array, shape: number[], axis: number, alpha: number): Float64Array {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  const n = shape[axis];
  const y = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) for (let j = 0; j < n; j++) for (let i = 0; i < inner; i++) y[o * inner + i] += alpha * x[(o * n + j) * inner + i];
  return y;
}

test('sum and mean over each axis of [3,7,33] and [3,5,12] (axes 0 and 1 of the second sum vec4 columns)', async () => {
  for (const shape of [[3, 7, 33], [3, 5, 12]]) {
    for (const axis of [0, 1, 2]) {
      await gradCheck({ name: `sum axis ${axis}`, shapes: [shape], gpu: ([x]) => sum(x, axis), ref: ([x]) => sumAxisRef(x, shape, axis, 1), atol: 1e-5 });
      await gradCheck({ name: `mean axis ${axis}`, shapes: [shape], gpu: ([x]) => mean(x, axis, true), ref: ([x]) => sumAxisRef(x, shape, axis, 1 / shape[axis]) });
    }
  }
  await gradCheck({ name: 'sumAll', shapes: [[65, 2]], gpu: ([x]) => sumAll(x), ref: ([x]) => Float64Array.of(x.reduce((a, b) => a + b, 0)), atol: 1e-4 });
});

function maxAxisRef(x: Float64Array, shape: number[], axis: number): Float64Array {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  const n = shape[axis];
  const y = new Float64Array(outer * inner).fill(-Infinity);
  for (let o = 0; o < outer; o++) for (let j = 0; j < n; j++) for (let i = 0; i < inner; i++) y[o * inner + i] = Math.max(y[o * inner + i], x[(o * n + j) * inner + i]);
  return y;
}

test('max over each axis of [3,7,33] (gradient to the winner only)', async () => {
  const shape = [3, 7, 33];
  for (const axis of [0, 1, 2]) {
    await gradCheck({ name: `max axis ${axis}`, shapes: [shape], gpu: ([x]) => maxAxis(x, axis), ref: ([x]) => maxAxisRef(x, shape, axis), atol: 0 });
  }
  // a tie: the first of the equal elements takes the whole gradient
  await tidyAsync(async () => {
    const x = Tensor.fromArray([1, 5, 5, 2], [1, 4]);
    x.requiresGrad = true;
    const y = maxAxis(x, 1);
    backward(sumAll(y));
    assert.deepEqual(Array.from(await y.toArray()), [5]);
    assert.deepEqual(Array.from(await x.grad!.toArray()), [0, 1, 0, 0]);
  });
});

test('concat and slice along the token axis (forward, backward)', async () => {
  // [B, L, C] with image tokens first and group tokens last, as the vision stages do
  await gradCheck({
    name: 'concat', shapes: [[2, 7, 5], [2, 3, 5]],
    gpu: ([a, b]) => concat([a, b], 1),
    ref: ([a, b]) => {
      const y = new Float64Array(2 * 10 * 5);
      for (let o = 0; o < 2; o++) {
        y.set(a.subarray(o * 35, o * 35 + 35), o * 50);
        y.set(b.subarray(o * 15, o * 15 + 15), o * 50 + 35);
      }
      return y;
    },
  });
  await gradCheck({
    name: 'slice', shapes: [[3, 65, 4]],
    gpu: ([x]) => slice(x, 1, 60, 5),
    ref: ([x]) => {
      const y = new Float64Array(3 * 5 * 4);
      for (let o = 0; o < 3; o++) y.set(x.subarray((o * 65 + 60) * 4, (o * 65 + 65) * 4), o * 20);
      return y;
    },
  });
  await gradCheck({
    name: 'concat last axis', shapes: [[4, 1], [4, 6]],
    gpu: ([a, b]) => concat([a, b], -1),
    ref: ([a, b]) => {
      const y = new Float64Array(28);
      for (let r = 0; r < 4; r++) {
        y[r * 7] = a[r];
        y.set(b.subarray(r * 6, r * 6 + 6), r * 7 + 1);
      }
      return y;
    },
  });
});

test('transpose of the last two axes [2,7,33]', async () => {
  await gradCheck({
    name: 'transpose', shapes: [[2, 7, 33]], gpu: ([x]) => transpose(x),
    ref: ([x]) => {
      const y = new Float64Array(x.length);
      for (let b = 0; b < 2; b++) for (let m = 0; m < 7; m++) for (let n = 0; n < 33; n++) y[(b * 33 + n) * 7 + m] = x[(b * 7 + m) * 33 + n];
      return y;
    },
  });
});

test('embedding gather and scatter-add backward with repeated ids', async () => {
  const ids = [4, 0, 4, 6, 1, 4, 0];
  await gradCheck({
    name: 'embedding', shapes: [[7, 5]],
    gpu: ([t]) => embedding(t, ids, [7]),
    ref: ([t]) => {
      const y = new Float64Array(7 * 5);
      ids.forEach((id, r) => y.set(t.subarray(id * 5, id * 5 + 5), r * 5));
      return y;
    },
    samples: 35,
  });
  assert.throws(() => noGrad(() => embedding(Tensor.zeros([3, 2]), [3], [1])), /outside/);
});

test('tape: a two-layer MLP matches a hand-derived float64 gradient, and intermediates are released', async () => {
  // y = relu(x·w1 + b1)·w2 summed; written with elementwise ops only so this test does not depend on matmul
  const x = randn(3, 1);
  const w1 = randn(3, 2);
  const b1 = randn(1, 3)[0];
  const w2 = randn(3, 4);
  await tidyAsync(async () => {
    const tw1 = Tensor.fromArray(w1, [3]);
    const tb1 = Tensor.fromArray([b1], [1]);
    const tw2 = Tensor.fromArray(w2, [3]);
    for (const t of [tw1, tb1, tw2]) t.requiresGrad = true;
    const h = relu(add(mul(Tensor.fromArray(x, [3]), tw1), tb1));
    const loss = sumAll(mul(h, tw2));
    assert.ok(tapeLength() > 0);
    backward(loss);
    assert.equal(tapeLength(), 0);
    const pre = [...x].map((v, i) => v * w1[i] + b1);
    const want = pre.reduce((s, p, i) => s + Math.max(p, 0) * w2[i], 0);
    assertClose([await loss.item()], [want], 1e-5, 1e-5, 'loss');
    const act: number[] = pre.map((p) => (p > 0 ? 1 : 0));
    assertClose(await tw2.grad!.toArray(), pre.map((p) => Math.max(p, 0)), 1e-5, 1e-5, 'dw2');
    assertClose(await tw1.grad!.toArray(), [...x].map((v, i) => v * act[i] * w2[i]), 1e-5, 1e-5, 'dw1');
    assertClose(await tb1.grad!.toArray(), [act.reduce((s, a, i) => s + a * w2[i], 0)], 1e-5, 1e-5, 'db1');
    for (const t of [tw1, tb1, tw2]) t.grad!.release();
  });
});

test('noGrad records nothing', () => {
  const a = Tensor.fromArray([1, 2], [2]);
  a.requiresGrad = true;
  noGrad(() => add(a, a));
  assert.equal(tapeLength(), 0);
  a.release();
});
