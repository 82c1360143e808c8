// The assignment's mutual-information term: −H(p̄) + beta·mean_t H(p_t) per image, against float64 and finite
// differences on shapes that are not multiples of the 64-wide workgroups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu } from '../helpers.js';
import { gradCheck } from '../gradcheck.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { assignmentBalance } from '../../src/ops/grouping-balance.js';

useGpu();

function balanceRef(raw: Float64Array, b: number, s: number, l: number, beta: number): Float64Array {
  const out = new Float64Array(b);
  for (let bi = 0; bi < b; bi++) {
    const pbar = new Float64Array(s);
    let tokenEntropy = 0;
    for (let t = 0; t < l; t++) {
      const z = Array.from({ length: s }, (_, si) => raw[(bi * s + si) * l + t]);
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const sum = e.reduce((x, y) => x + y, 0);
      e.forEach((v, si) => {
        const q = v / sum;
        pbar[si] += q / l;
        tokenEntropy -= q * Math.log(q);
      });
    }
    let negH = 0;
    for (const q of pbar) negH += q * Math.log(q);
    out[bi] = negH + (beta * tokenEntropy) / l;
  }
  return out;
}

for (const [b, s, l, beta] of [[1, 1, 5, 1], [2, 7, 33, 1], [3, 16, 65, 0.5], [2, 4, 130, 2]] as const) {
  test(`assignment balance [${b},${s},${l}], beta ${beta}: forward and backward against float64 and finite differences`, async () => {
    await gradCheck({
      name: 'balance', shapes: [[b, s, l]], seed: b * 100 + s,
      gpu: ([raw]) => assignmentBalance(raw, beta),
      ref: ([raw]) => balanceRef(raw, b, s, l, beta), atol: 2e-5, gradAtol: 1e-4,
    });
  });
}

test('assignment balance: one group taking every token scores 0, tokens spread evenly and confidently score −log S', async () => {
  const [s, l] = [4, 8];
  const collapsed = new Float32Array(s * l);
  const spread = new Float32Array(s * l);
  for (let t = 0; t < l; t++) {
    collapsed[t] = 40; // group 0 wins every token
    spread[(t % s) * l + t] = 40; // token t goes to group t mod S
  }
  await tidyAsync(async () => {
    const got = await assignmentBalance(Tensor.fromArray([...collapsed, ...spread], [2, s, l]), 1).toArray();
    assert.ok(Math.abs(got[0]) < 1e-5, `collapsed ${got[0]}`);
    assert.ok(Math.abs(got[1] + Math.log(s)) < 1e-5, `spread ${got[1]}`);
  });
});
