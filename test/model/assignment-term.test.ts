// The training loss's assignment term over grouping stages, per image or per batch (BalanceScope), against float64 and
// finite differences; the two scopes differ exactly where they should: images each collapsed onto different groups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu } from '../helpers.js';
import { gradCheck } from '../gradcheck.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { assignmentTerm, type BalanceScope } from '../../src/model/losses.js';

useGpu();

/** −H(p̄) + mean_t H(p_t) over the given tokens, each as its S logits. */
function miRef(columns: Float64Array[][]): number {
  const s = columns[0].length;
  const pbar = new Float64Array(s);
  let h = 0;
  for (const z of columns) {
    const zs = z.map((v) => v[0]);
    const m = Math.max(...zs);
    const e = zs.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((v, i) => {
      const q = v / sum;
      pbar[i] += q / columns.length;
      h -= (q * Math.log(q)) / columns.length;
    });
  }
  let negH = 0;
  for (const q of pbar) negH += q * Math.log(q);
  return negH + h;
}

/** Token t of image b of a stage [B, S, L] as its S logits. */
function tokens(raw: Float64Array, b: number, s: number, l: number, image: number): Float64Array[][] {
  return Array.from({ length: l }, (_, t) => Array.from({ length: s }, (_, g) => Float64Array.of(raw[(image * s + g) * l + t])));
}

function termRef(stages: Float64Array[], shapes: number[][], weight: number, scope: BalanceScope): number {
  let total = 0;
  stages.forEach((raw, k) => {
    const [b, s, l] = shapes[k];
    const overBatch = scope === 'batch' || (scope === 'image-then-batch' && k > 0);
    if (overBatch) {
      total += miRef(Array.from({ length: b }, (_, i) => tokens(raw, b, s, l, i)).flat());
    } else {
      for (let i = 0; i < b; i++) total += miRef(tokens(raw, b, s, l, i)) / b;
    }
  });
  return (weight * total) / stages.length;
}

const shapes = [[3, 5, 7], [3, 2, 5]];
for (const scope of ['image', 'batch', 'image-then-batch'] as const) {
  test(`assignment term, scope ${scope}: two stages [3,5,7] and [3,2,5] against float64 and finite differences`, async () => {
    await gradCheck({
      name: `term-${scope}`, shapes, seed: 7,
      gpu: (xs) => assignmentTerm(xs, 0.7, scope),
      ref: (xs) => Float64Array.of(termRef(xs, shapes, 0.7, scope)), atol: 2e-5, gradAtol: 1e-4,
    });
  });
}

test('assignment term: images each collapsed onto a group of their own score 0 per image, −log 2 per batch', async () => {
  const [s, l] = [2, 6];
  const raw = new Float32Array(2 * s * l);
  for (let t = 0; t < l; t++) {
    raw[t] = 40; // image 0: group 0 takes every token
    raw[(s + 1) * l + t] = 40; // image 1: group 1 takes every token
  }
  await tidyAsync(async () => {
    const x = Tensor.fromArray(raw, [2, s, l]);
    const [perImage] = await assignmentTerm([x], 1, 'image').toArray();
    const [perBatch] = await assignmentTerm([x], 1, 'batch').toArray();
    assert.ok(Math.abs(perImage) < 1e-5, `per image ${perImage}`);
    assert.ok(Math.abs(perBatch + Math.log(2)) < 1e-5, `per batch ${perBatch}`);
  });
});
