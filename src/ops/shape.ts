import { Tensor, shapeStr } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { grid1d, run } from './dispatch.js';
import { fill } from './elementwise.js';

function split3(shape: readonly number[], axis: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, shape[axis], inner];
}

/** Copies `len` rows along the axis from src (starting at srcOff) into dst (starting at dstOff). */
function copyRows(src: Tensor, srcOff: number, dst: Tensor, dstOff: number, len: number, axis: number): void {
  const [outer, srcLen, inner] = split3(src.shape, axis);
  const dstLen = dst.shape[axis];
  const n = outer * len * inner;
  if (n === 0) return;
  run({
    file: 'copy', entry: 'copy_rows', uniforms: [outer, len, inner, srcLen, srcOff, dstLen, dstOff],
    buffers: [src.buffer, dst.buffer], workgroups: grid1d(n),
  });
}

function normAxis(rank: number, axis: number): number {
  return axis < 0 ? rank + axis : axis;
}

// out = concat(xs) along axis   xs[k]: [.., L_k, ..] -> [.., ΣL_k, ..]
export function concat(xs: Tensor[], axis: number): Tensor {
  const ax = normAxis(xs[0].rank, axis);
  const shape = xs[0].shape.slice();
  shape[ax] = 0;
  for (const x of xs) {
    const ok = x.rank === shape.length && x.shape.every((d, i) => i === ax || d === xs[0].shape[i]);
    if (!ok) throw new Error(`concat: ${shapeStr(x.shape)} does not match ${shapeStr(xs[0].shape)} off axis ${ax}`);
    shape[ax] += x.shape[ax];
  }
  const out = Tensor.empty(shape);
  const offsets: number[] = [];
  let off = 0;
  for (const x of xs) {
    offsets.push(off);
    copyRows(x, 0, out, off, x.shape[ax], ax);
    off += x.shape[ax];
  }
  record(xs, out, (g) =>
    xs.map((x, k) => {
      if (!x.requiresGrad) return null;
      const gx = Tensor.empty(x.shape);
      copyRows(g, offsets[k], gx, 0, x.shape[ax], ax);
      return gx;
    }),
  );
  return out;
}

// out = x[.., start:start+len, ..] along axis
export function slice(x: Tensor, axis: number, start: number, len: number): Tensor {
  const ax = normAxis(x.rank, axis);
  if (start < 0 || start + len > x.shape[ax]) throw new Error(`slice: [${start}, ${start + len}) out of ${x.shape[ax]}`);
  const shape = x.shape.slice();
  shape[ax] = len;
  const out = Tensor.empty(shape);
  copyRows(x, start, out, 0, len, ax);
  record([x], out, (g) => {
    const gx = fill(x.shape, 0);
    copyRows(g, 0, gx, start, len, ax);
    return [gx];
  });
  return out;
}

function transposeKernel(x: Tensor): Tensor {
  const m = x.dim(-2);
  const n = x.dim(-1);
  const outer = x.size / (m * n);
  const shape = x.shape.slice();
  shape[shape.length - 2] = n;
  shape[shape.length - 1] = m;
  const out = Tensor.empty(shape);
  run({ file: 'copy', entry: 'transpose_last2', uniforms: [outer, m, n, 0, 0, 0, 0], buffers: [x.buffer, out.buffer], workgroups: grid1d(x.size) });
  return out;
}

// out = xᵀ over the last two axes   [.., M, N] -> [.., N, M]
export function transpose(x: Tensor): Tensor {
  const out = transposeKernel(x);
  record([x], out, (g) => [transposeKernel(g)]);
  return out;
}
