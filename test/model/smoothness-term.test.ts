// The training loss's smoothness term (like-coloured neighbouring patches in one final group) and the patch affinity
// it reads: float64 reference and finite differences through two grouping stages, then hand-worked values on a
// two-colour image where a cut along the colour edge must cost less than one across it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu } from '../helpers.js';
import { gradCheck } from '../gradcheck.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { compositeAssignment, contrastTerm, smoothnessTerm } from '../../src/model/losses.js';
import { patchAffinity, patchRepulsion } from '../../src/train/patch-affinity.js';

useGpu();

/** Softmax over S of raw[b, :, t] for every token: [L, S]. */
function probs(raw: Float64Array, image: number, s: number, l: number): Float64Array[] {
  return Array.from({ length: l }, (_, t) => {
    const z = Array.from({ length: s }, (_, g) => raw[(image * s + g) * l + t]);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    return Float64Array.from(e, (v) => v / sum);
  });
}

/** Mean over images of Σ_tu w_tu·c_t·c_u, c the composite assignment. */
function agreeRef(stages: Float64Array[], shapes: number[][], affinity: Float64Array): number {
  const b = shapes[0][0];
  const l0 = shapes[0][2];
  let agree = 0;
  for (let i = 0; i < b; i++) {
    // composite map: patch -> final group, the stages' soft maps multiplied
    let c = probs(stages[0], i, shapes[0][1], shapes[0][2]);
    for (let k = 1; k < stages.length; k++) {
      const p = probs(stages[k], i, shapes[k][1], shapes[k][2]);
      c = c.map((row) => Float64Array.from({ length: shapes[k][1] }, (_, g) => row.reduce((a, v, j) => a + v * p[j][g], 0)));
    }
    for (let t = 0; t < l0; t++) {
      for (let u = 0; u < l0; u++) agree += affinity[(i * l0 + t) * l0 + u] * c[t].reduce((a, v, g) => a + v * c[u][g], 0);
    }
  }
  return agree / b;
}

test('smoothness term: stages [2,5,7] and [2,3,5] against float64 and finite differences', async () => {
  const shapes = [[2, 5, 7], [2, 3, 5], [2, 7, 7]];
  const w = new Float64Array(2 * 7 * 7);
  // symmetric non-negative weights with an empty diagonal, like patchAffinity's
  for (let i = 0; i < 2; i++) {
    for (let t = 0; t < 7; t++) {
      for (let u = 0; u < t; u++) {
        const v = ((i * 31 + t * 7 + u * 3) % 11) / 40;
        w[(i * 7 + t) * 7 + u] = v;
        w[(i * 7 + u) * 7 + t] = v;
      }
    }
  }
  await gradCheck({
    name: 'smoothness', shapes: shapes, seed: 5, init: [null, null, w], grad: [true, true, false],
    gpu: (xs) => smoothnessTerm(compositeAssignment([xs[0], xs[1]]), xs[2], 1.5),
    ref: (xs) => Float64Array.of(1.5 - 1.5 * agreeRef([xs[0], xs[1]], shapes.slice(0, 2), xs[2])), atol: 2e-5, gradAtol: 1e-4,
  });
});

test('contrast term: stages [2,4,6] and [2,3,4] against float64 and finite differences', async () => {
  const shapes = [[2, 4, 6], [2, 3, 4], [2, 6, 6]];
  const r = new Float64Array(2 * 6 * 6);
  for (let i = 0; i < 2; i++) for (let t = 0; t < 6; t++) for (let u = 0; u < 6; u++) if (t !== u) r[(i * 6 + t) * 6 + u] = ((i * 5 + t * u + t + u) % 7) / 30;
  await gradCheck({
    name: 'contrast', shapes, seed: 9, init: [null, null, r], grad: [true, true, false],
    gpu: (xs) => contrastTerm(compositeAssignment([xs[0], xs[1]]), xs[2], 0.8),
    ref: (xs) => Float64Array.of(0.8 * agreeRef([xs[0], xs[1]], shapes.slice(0, 2), xs[2])), atol: 2e-5, gradAtol: 1e-4,
  });
});

/** One 4×4 image, 2×2 patches of 2×2 pixels: the left half one colour, the right half another. */
function twoColourImage(scale: number, offset: number): Float32Array {
  const px = new Float32Array(3 * 16);
  const left = [0.9, 0.1, 0.2];
  const right = [0.1, 0.3, 0.8];
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) px[c * 16 + y * 4 + x] = ((x < 2 ? left : right)[c] + offset) * scale;
  }
  return px;
}

test('patch affinity: 8-connected neighbours, symmetric, summing to 1, like colours weighted e^0.75 over unlike', () => {
  const w = patchAffinity(twoColourImage(1, 0), [1, 3, 4, 4], 2, 2);
  // patches 0 1 / 2 3: same colour (0,2) and (1,3); four pairs across the edge, (0,1) (2,3) (0,3) (1,2)
  // mean squared distance over the 6 pairs is 4D/6, so β·D = 3/4
  const e = Math.exp(-0.75);
  const total = 2 * (2 + 4 * e);
  const want = [
    [0, e, 1, e],
    [e, 0, e, 1],
    [1, e, 0, e],
    [e, 1, e, 0],
  ].flat().map((v) => v / total);
  want.forEach((v, i) => assert.ok(Math.abs(w[i] - v) < 1e-6, `w[${i}] ${w[i]} vs ${v}`));
  // the same picture after another normalisation: the same weights (β adapts to the image's contrast)
  const again = patchAffinity(twoColourImage(4.2, -0.45), [1, 3, 4, 4], 2, 2);
  again.forEach((v, i) => assert.ok(Math.abs(v - w[i]) < 1e-6, `rescaled w[${i}]`));
  // a flat image: every neighbour pair alike
  const flat = patchAffinity(new Float32Array(3 * 16).fill(0.3), [1, 3, 4, 4], 2, 2);
  assert.ok(Math.abs(flat[1] - 1 / 12) < 1e-7 && Math.abs(flat[3] - 1 / 12) < 1e-7 && flat[0] === 0);
  assert.throws(() => patchAffinity(new Float32Array(3 * 25), [1, 3, 5, 5], 2, 2), /does not split/);
});

test('smoothness term on the two-colour image: the cut along the colour edge costs 4e/(2+4e), across it (2+2e)/(2+4e)', async () => {
  const w = patchAffinity(twoColourImage(1, 0), [1, 3, 4, 4], 2, 2);
  const e = Math.exp(-0.75);
  // one stage, two groups, hard logits: token t goes to group of[t]
  const cost = async (of: number[]) => tidyAsync(async () => {
    const raw = new Float32Array(2 * 4);
    of.forEach((g, t) => (raw[g * 4 + t] = 40));
    const [v] = await smoothnessTerm(compositeAssignment([Tensor.fromArray(raw, [1, 2, 4])]), Tensor.fromArray(w, [1, 4, 4]), 1).toArray();
    return v;
  });
  const byColour = await cost([0, 1, 0, 1]);
  const byRow = await cost([0, 0, 1, 1]);
  const oneGroup = await cost([1, 1, 1, 1]);
  assert.ok(Math.abs(byColour - (4 * e) / (2 + 4 * e)) < 1e-5, `along the edge ${byColour}`);
  assert.ok(Math.abs(byRow - (2 + 2 * e) / (2 + 4 * e)) < 1e-5, `across it ${byRow}`);
  assert.ok(Math.abs(oneGroup) < 1e-5, `one group ${oneGroup}`);
});

test('contrast term on the two-colour image: 0 when the colours are apart, 1/2 split by rows, 1 in one group', async () => {
  const r = patchRepulsion(twoColourImage(1, 0), [1, 3, 4, 4], 2, 2);
  // only the 8 ordered pairs across the colour edge weigh, equally
  for (let t = 0; t < 4; t++) assert.equal(r[t * 5], 0, 'no weight of a patch with itself');
  for (const [t, u] of [[0, 1], [0, 3], [2, 1], [2, 3]]) {
    assert.ok(Math.abs(r[t * 4 + u] - 1 / 8) < 1e-6 && Math.abs(r[u * 4 + t] - 1 / 8) < 1e-6, `r[${t},${u}]`);
  }
  for (const [t, u] of [[0, 2], [1, 3]]) assert.equal(r[t * 4 + u], 0);
  assert.ok(patchRepulsion(new Float32Array(3 * 16).fill(0.4), [1, 3, 4, 4], 2, 2).every((v) => v === 0), 'a flat image has none');
  const cost = async (of: number[]) => tidyAsync(async () => {
    const raw = new Float32Array(2 * 4);
    of.forEach((g, t) => (raw[g * 4 + t] = 40));
    const [v] = await contrastTerm(compositeAssignment([Tensor.fromArray(raw, [1, 2, 4])]), Tensor.fromArray(r, [1, 4, 4]), 1).toArray();
    return v;
  });
  assert.ok(Math.abs(await cost([0, 1, 0, 1])) < 1e-5);
  assert.ok(Math.abs((await cost([0, 0, 1, 1])) - 0.5) < 1e-5);
  assert.ok(Math.abs((await cost([1, 1, 1, 1])) - 1) < 1e-5);
});
