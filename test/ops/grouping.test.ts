// The grouping assignment: softmax over the GROUP axis, hard one-hot with a straight-through gradient, Gumbel noise
// from a counter hash, and the normalisation by (Σ_tokens + eps).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu, randn, assertClose, numericGrad, weightedSum } from '../helpers.js';
import { gradCheck } from '../gradcheck.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { backward } from '../../src/tensor/tape.js';
import { mul } from '../../src/ops/elementwise.js';
import { sumAll } from '../../src/ops/reduce.js';
import { assign } from '../../src/ops/grouping.js';

useGpu();

// The kernel's hash, in TypeScript u32 arithmetic, to reproduce the exact noise on the host.
function hash3(a: number, b: number, c: number): number {
  const step = (h: number) => (Math.imul(h, 747796405) + 2891336453) >>> 0;
  let h = step(a >>> 0);
  h = step((h ^ Math.imul(b, 2654435761)) >>> 0);
  h = step((h ^ Math.imul(c, 2246822519)) >>> 0);
  const w = Math.imul(((h >>> ((h >>> 28) + 4)) ^ h) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

function gumbel(seed: number, step: number, i: number): number {
  const u = (Math.fround(hash3(seed, step, i) >>> 9) + 0.5) / 8388608;
  return -Math.log(-Math.log(u));
}

/** float64 reference: y = softmax_S((raw + noise)/tau) (or its one-hot), a = y / (Σ_L y + eps). */
function assignRef(raw: Float64Array, b: number, s: number, l: number, o: { hard: boolean; noise?: (i: number) => number; tau?: number; eps: number }) {
  const tau = o.tau ?? 1;
  const ysoft = new Float64Array(raw.length);
  const y = new Float64Array(raw.length);
  for (let bi = 0; bi < b; bi++)
    for (let li = 0; li < l; li++) {
      const idx = (si: number) => (bi * s + si) * l + li;
      const v = Array.from({ length: s }, (_, si) => (raw[idx(si)] + (o.noise ? o.noise(idx(si)) : 0)) / tau);
      const m = Math.max(...v);
      const e = v.map((x) => Math.exp(x - m));
      const z = e.reduce((p, q) => p + q, 0);
      const best = v.indexOf(m);
      for (let si = 0; si < s; si++) {
        ysoft[idx(si)] = e[si] / z;
        y[idx(si)] = o.hard ? (si === best ? 1 : 0) : e[si] / z;
      }
    }
  const a = new Float64Array(raw.length);
  const denom = new Float64Array(b * s);
  for (let r = 0; r < b * s; r++) {
    let d = o.eps;
    for (let li = 0; li < l; li++) d += y[r * l + li];
    denom[r] = d;
    for (let li = 0; li < l; li++) a[r * l + li] = y[r * l + li] / d;
  }
  return { ysoft, y, a, denom };
}

for (const [b, s, l] of [[1, 1, 7], [2, 8, 33], [3, 5, 65]] as const) {
  test(`soft assignment [${b},${s},${l}]: forward and backward against float64 and finite differences`, async () => {
    await gradCheck({
      name: 'assign soft', shapes: [[b, s, l]],
      gpu: ([raw]) => assign(raw, { hard: false, gumbel: false, eps: 1 }).attn,
      ref: ([raw]) => assignRef(raw, b, s, l, { hard: false, eps: 1 }).a, atol: 1e-6,
    });
    await gradCheck({
      name: 'assign soft, tau 0.5, eps 0.1', shapes: [[b, s, l]],
      gpu: ([raw]) => assign(raw, { hard: false, gumbel: false, eps: 0.1, tau: 0.5 }).attn,
      ref: ([raw]) => assignRef(raw, b, s, l, { hard: false, eps: 0.1, tau: 0.5 }).a, atol: 1e-5,
    });
  });
}

test('soft assignment with fixed Gumbel noise reproduces the hashed noise and its gradient', async () => {
  const [b, s, l] = [2, 6, 17];
  const noise = (i: number) => gumbel(42, 7, i);
  await gradCheck({
    name: 'assign gumbel', shapes: [[b, s, l]],
    gpu: ([raw]) => assign(raw, { hard: false, gumbel: true, seed: 42, step: 7, eps: 1 }).attn,
    ref: ([raw]) => assignRef(raw, b, s, l, { hard: false, noise, eps: 1 }).a, atol: 2e-6,
  });
});

test('hard assignment: exactly one-hot before normalisation, straight-through gradient = the soft path', async () => {
  const [b, s, l] = [2, 8, 65];
  const raw = randn(b * s * l, 5, 2);
  const w = randn(b * s * l, 6);
  for (const noisy of [false, true]) {
    const noise = noisy ? (i: number) => gumbel(3, 11, i) : undefined;
    const ref = assignRef(raw, b, s, l, { hard: true, noise, eps: 1 });
    await tidyAsync(async () => {
      const t = Tensor.fromArray(raw, [b, s, l]);
      t.requiresGrad = true;
      const r = assign(t, { hard: true, gumbel: noisy, seed: 3, step: 11, eps: 1 });
      const hard = await r.hardMap.toArray();
      assert.deepEqual([...hard], [...ref.y], 'one-hot exactly');
      for (let bi = 0; bi < b; bi++)
        for (let li = 0; li < l; li++) {
          let col = 0;
          for (let si = 0; si < s; si++) col += hard[(bi * s + si) * l + li];
          assert.equal(col, 1, 'each token belongs to exactly one group');
        }
      assertClose(await r.attn.toArray(), ref.a, 1e-6, 1e-6, 'normalised');
      backward(sumAll(mul(r.attn, Tensor.fromArray(w, [b, s, l]))));
      // straight-through: dL/dy by the quotient rule at y = one-hot, then through the (noisy) softmax over groups
      const gy = new Float64Array(raw.length);
      for (let row = 0; row < b * s; row++) {
        let c = 0;
        for (let li = 0; li < l; li++) c += w[row * l + li] * ref.y[row * l + li];
        c /= ref.denom[row] ** 2;
        for (let li = 0; li < l; li++) gy[row * l + li] = w[row * l + li] / ref.denom[row] - c;
      }
      const want = new Float64Array(raw.length);
      for (let bi = 0; bi < b; bi++)
        for (let li = 0; li < l; li++) {
          let dot = 0;
          for (let si = 0; si < s; si++) dot += gy[(bi * s + si) * l + li] * ref.ysoft[(bi * s + si) * l + li];
          for (let si = 0; si < s; si++) {
            const i = (bi * s + si) * l + li;
            want[i] = ref.ysoft[i] * (gy[i] - dot);
          }
        }
      assertClose(await t.grad!.toArray(), want, 1e-5, 1e-4, `straight-through gradient (noise ${noisy})`);
      // and the soft path's gradient (through the soft softmax, at the hard forward value) is not the zero of argmax
      const num = numericGrad((x) => weightedSum(assignRef(x, b, s, l, { hard: true, noise, eps: 1 }).a, w), Float64Array.from(raw), 1e-4, [0, 1, 2]);
      assert.ok([0, 1, 2].every((i) => num[i] === 0), 'the hard forward alone has a zero derivative almost everywhere');
      t.grad!.release();
    });
  }
});

test('soft map is the noise-free softmax even when training with noise', async () => {
  const [b, s, l] = [1, 4, 9];
  const raw = randn(b * s * l, 9);
  const ref = assignRef(raw, b, s, l, { hard: false, eps: 1 });
  await tidyAsync(async () => {
    const r = assign(Tensor.fromArray(raw, [b, s, l]), { hard: true, gumbel: true, seed: 1, step: 2, eps: 1 });
    assertClose(await r.soft.toArray(), ref.ysoft, 1e-6, 1e-5, 'soft');
  });
});

test('Gumbel noise stays finite at the extremes of the hash (u never rounds to 0 or 1 in float32)', async () => {
  // The largest and smallest 23-bit draws, computed as the kernel does in float32
  for (const h of [0xffffffff, 0]) {
    const u = Math.fround((Math.fround(h >>> 9) + 0.5) / 8388608);
    assert.ok(u > 0 && u < 1, `u = ${u}`);
    assert.ok(Number.isFinite(-Math.log(-Math.log(u))));
  }
  // and on the GPU: a large sample of noisy hard assignments has a finite straight-through gradient
  const [b, s, l] = [4, 16, 257];
  await tidyAsync(async () => {
    const t = Tensor.fromArray(randn(b * s * l, 21), [b, s, l]);
    t.requiresGrad = true;
    for (let step = 0; step < 3; step++) {
      const r = assign(t, { hard: true, gumbel: true, seed: 7, step, eps: 1 });
      backward(sumAll(r.attn));
    }
    const g = await t.grad!.toArray();
    assert.ok(g.every(Number.isFinite));
    t.grad!.release();
  });
});
