import { Tensor, tidyAsync } from '../src/tensor/tensor.js';
import { backward } from '../src/tensor/tape.js';
import { mul } from '../src/ops/elementwise.js';
import { sumAll } from '../src/ops/reduce.js';
import { assertClose, numericGrad, randn, weightedSum } from './helpers.js';

export interface GradCase {
  name: string;
  /** Input shapes; inputs are random normal unless `init` gives values. */
  shapes: number[][];
  init?: (Float64Array | null)[];
  /** Which inputs get a gradient check (default: all). */
  grad?: boolean[];
  gpu: (xs: Tensor[]) => Tensor | Promise<Tensor>;
  ref: (xs: Float64Array[]) => Float64Array;
  atol?: number;
  rtol?: number;
  gradAtol?: number;
  gradRtol?: number;
  /** At most this many coordinates per input are finite-differenced (spread over the input). */
  samples?: number;
  seed?: number;
}

/**
 * Checks an op end to end: forward against the float64 reference, then the tape's gradient of L = Σ w·y (fixed random
 * w) against central finite differences of the reference.
 */
export async function gradCheck(c: GradCase): Promise<void> {
  const seed = c.seed ?? 1;
  const xs = c.shapes.map((s, k) => c.init?.[k] ?? randn(s.reduce((a, b) => a * b, 1), seed + 17 * k));
  const want = c.ref(xs);
  const w = randn(want.length, seed + 1000);
  await tidyAsync(async () => {
    const ts = xs.map((x, k) => {
      const t = Tensor.fromArray(x, c.shapes[k]);
      t.requiresGrad = c.grad ? c.grad[k] : true;
      return t;
    });
    const y = await c.gpu(ts);
    const got = await y.toArray();
    assertClose(got, want, c.atol ?? 1e-5, c.rtol ?? 1e-4, `${c.name} forward`);
    const loss = sumAll(mul(y, Tensor.fromArray(w, y.shape)));
    backward(loss);
    for (let k = 0; k < xs.length; k++) {
      if (!ts[k].requiresGrad) continue;
      const n = xs[k].length;
      const samples = Math.min(n, c.samples ?? 24);
      const idx = [...new Set([...Array(samples).keys()].map((i) => Math.floor((i * n) / samples)))];
      const num = numericGrad((x) => weightedSum(c.ref(xs.map((v, j) => (j === k ? x : v))), w), xs[k], 1e-4, idx);
      const g = ts[k].grad;
      if (!g) throw new Error(`${c.name}: input ${k} got no gradient`);
      const gotG = await g.toArray();
      assertClose(idx.map((i) => gotG[i]), idx.map((i) => num[i]), c.gradAtol ?? 2e-3, c.gradRtol ?? 2e-3, `${c.name} grad input ${k}`);
      g.release();
      ts[k].grad = null;
    }
  });
}
