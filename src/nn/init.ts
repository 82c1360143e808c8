import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../util/rng.js';

/** Host-side initialisers: values are drawn on the CPU from a seeded generator, then uploaded once. */
export function truncNormal(shape: number[], std: number, rng: Rng): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x: number;
    do x = rng.normal(); while (Math.abs(x) > 2);
    v[i] = x * std;
  }
  return Tensor.fromArray(v, shape);
}

export function normal(shape: number[], std: number, rng: Rng): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * std;
  return Tensor.fromArray(v, shape);
}

/** PyTorch's default Linear/Conv init: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function uniformFanIn(shape: number[], fanIn: number, rng: Rng): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const b = 1 / Math.sqrt(fanIn);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (rng.next() * 2 - 1) * b;
  return Tensor.fromArray(v, shape);
}
