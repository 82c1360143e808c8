import { Tensor } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { f, grid1d, pointwiseLanes, pointwisePrefix, run } from './dispatch.js';

function axisSplit(shape: readonly number[], axis: number): [number, number, number] {
  const ax = axis < 0 ? shape.length + axis : axis;
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < ax; i++) outer *= shape[i];
  for (let i = ax + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, shape[ax], inner];
}

function sumKernel(x: Tensor, outer: number, n: number, inner: number, alpha: number, outShape: number[]): Tensor {
  const out = Tensor.empty(outShape);
  const l = pointwiseLanes(inner);
  run({ file: 'reduce', entry: 'sum_forward', prefix: pointwisePrefix(l), uniforms: [outer, n, inner / l, f(alpha)], buffers: [x.buffer, out.buffer], workgroups: grid1d((outer * inner) / l) });
  return out;
}

function broadcastKernel(g: Tensor, outer: number, n: number, inner: number, alpha: number, outShape: readonly number[]): Tensor {
  const out = Tensor.empty(outShape);
  run({ file: 'reduce', entry: 'sum_backward', prefix: pointwisePrefix(1), uniforms: [outer, n, inner, f(alpha)], buffers: [g.buffer, out.buffer], workgroups: grid1d(outer * n * inner) });
  return out;
}

// [.., n, ..] -> [.., ..] (keepDim keeps a 1 in its place), scaled by alpha (1/n for the mean)
function reduceAxis(x: Tensor, axis: number, keepDim: boolean, mean: boolean): Tensor {
  const ax = axis < 0 ? x.rank + axis : axis;
  const [outer, n, inner] = axisSplit(x.shape, ax);
  const alpha = mean ? 1 / n : 1;
  const outShape = x.shape.slice();
  if (keepDim) outShape[ax] = 1;
  else outShape.splice(ax, 1);
  const out = sumKernel(x, outer, n, inner, alpha, outShape);
  record([x], out, (g) => [broadcastKernel(g, outer, n, inner, alpha, x.shape)]);
  return out;
}

export function sum(x: Tensor, axis: number, keepDim = false): Tensor {
  return reduceAxis(x, axis, keepDim, false);
}

export function mean(x: Tensor, axis: number, keepDim = false): Tensor {
  return reduceAxis(x, axis, keepDim, true);
}

/**
 * Maximum over one axis: [.., n, ..] -> [.., ..]; the gradient goes to the first maximal element only (torch.max).
 * The multiple-instance pooling of the per-group multi-label loss: a noun scores by its best-matching group.
 */
export function maxAxis(x: Tensor, axis: number): Tensor {
  const ax = axis < 0 ? x.rank + axis : axis;
  const [outer, n, inner] = axisSplit(x.shape, ax);
  const outShape = x.shape.slice();
  outShape.splice(ax, 1);
  const out = Tensor.empty(outShape);
  const arg = Tensor.empty(outShape);
  run({ file: 'reduce', entry: 'max_forward', prefix: pointwisePrefix(1), uniforms: [outer, n, inner, f(1)], buffers: [x.buffer, out.buffer, arg.buffer], workgroups: grid1d(outer * inner) });
  if (!x.requiresGrad) {
    arg.release();
    return out;
  }
  record([x], out, (g) => {
    const gx = Tensor.empty(x.shape);
    run({ file: 'reduce', entry: 'max_backward', prefix: pointwisePrefix(1), uniforms: [outer, n, inner, f(1)], buffers: [g.buffer, gx.buffer, arg.buffer], workgroups: grid1d(outer * n * inner) });
    return [gx];
  });
  return out;
}

/** Sum of every element: [..] -> [1]. */
export function sumAll(x: Tensor): Tensor {
  return sum(x.view([x.size]), 0, true);
}

/** [R, C] -> [C], not recorded: the broadcast-gradient reduction used inside backward closures. */
export function sumRows(x: Tensor): Tensor {
  return sumKernel(x, 1, x.shape[0], x.shape[1], 1, [x.shape[1]]);
}
