import { Tensor, shapeStr } from '../tensor/tensor.js';
import { installTapeOps, record } from '../tensor/tape.js';
import { f, grid1d, pointwiseLanes, pointwisePrefix, run } from './dispatch.js';
import { sumRows } from './reduce.js';

// Binary ops whose second operand broadcasts over leading dimensions (a bias [C] against [.., C], a scalar [1]).
function checkBroadcast(op: string, a: Tensor, b: Tensor): void {
  if (b.size === 0 || a.size % b.size !== 0) throw new Error(`${op}: cannot broadcast ${shapeStr(b.shape)} against ${shapeStr(a.shape)}`);
}

function binary(entry: 'add_forward' | 'mul_forward', a: Tensor, b: Tensor, alpha: number, beta: number): Tensor {
  const out = Tensor.empty(a.shape);
  const l = pointwiseLanes(a.size, b.size);
  run({
    file: 'elementwise',
    entry,
    prefix: pointwisePrefix(l),
    uniforms: [a.size / l, b.size / l, f(alpha), f(beta)],
    buffers: [a.buffer, b.buffer, out.buffer],
    workgroups: grid1d(a.size / l),
  });
  return out;
}

/** Reduces a gradient of a's shape to b's broadcast shape (sum over the leading repeats). */
function reduceTo(g: Tensor, b: Tensor): Tensor {
  if (b.size === g.size) return g;
  return sumRows(g.view([g.size / b.size, b.size])).view(b.shape);
}

// out = alpha·a + beta·b   a:[..], b:[..] or a trailing part of it
export function axpby(a: Tensor, b: Tensor, alpha = 1, beta = 1): Tensor {
  checkBroadcast('add', a, b);
  const out = binary('add_forward', a, b, alpha, beta);
  record([a, b], out, (g) => [
    a.requiresGrad ? (alpha === 1 ? g : scale(g, alpha)) : null,
    b.requiresGrad ? reduceTo(beta === 1 ? g : scale(g, beta), b) : null,
  ]);
  return out;
}

export function add(a: Tensor, b: Tensor): Tensor {
  return axpby(a, b, 1, 1);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return axpby(a, b, 1, -1);
}

// out = a·b   (b broadcast)
export function mul(a: Tensor, b: Tensor): Tensor {
  checkBroadcast('mul', a, b);
  const out = binary('mul_forward', a, b, 1, 0);
  record([a, b], out, (g) => [
    a.requiresGrad ? binary('mul_forward', g, b, 1, 0) : null,
    b.requiresGrad ? reduceTo(binary('mul_forward', g, a, 1, 0), b) : null,
  ]);
  return out;
}

// out = s·a
export function scale(a: Tensor, s: number): Tensor {
  const out = binary('add_forward', a, a, s, 0);
  record([a], out, (g) => [scale(g, s)]);
  return out;
}

/** Gradient accumulation for the tape: in place when the destination's buffer is not shared. */
function accumulate(dst: Tensor, src: Tensor): Tensor {
  if (dst.exclusive) {
    addInPlace(dst, src);
    return dst;
  }
  return binary('add_forward', dst, src, 1, 1);
}

/** dst += beta·src (src broadcast). Not recorded on the tape: for gradients and optimizer state. */
export function addInPlace(dst: Tensor, src: Tensor, beta = 1): void {
  const l = pointwiseLanes(dst.size, src.size);
  run({
    file: 'elementwise',
    entry: 'add_inplace',
    prefix: pointwisePrefix(l),
    uniforms: [dst.size / l, src.size / l, f(1), f(beta)],
    buffers: [null, src.buffer, dst.buffer],
    workgroups: grid1d(dst.size / l),
  });
}

/** A new tensor filled with value, on the GPU (no upload). */
export function fill(shape: readonly number[], value: number): Tensor {
  const out = Tensor.empty(shape);
  const l = pointwiseLanes(out.size);
  run({ file: 'elementwise', entry: 'fill', prefix: pointwisePrefix(l), uniforms: [out.size / l, 1, f(value), f(0)], buffers: [null, null, out.buffer], workgroups: grid1d(out.size / l) });
  return out;
}

installTapeOps(accumulate, (like) => fill(like.shape, 1));

// y = min(exp(x), max)   the clamped logit scale; no gradient where clamped
export function expClamp(x: Tensor, max: number): Tensor {
  const out = Tensor.empty(x.shape);
  run({ file: 'elementwise', entry: 'exp_clamp_forward', prefix: pointwisePrefix(1), uniforms: [x.size, x.size, f(max), f(0)], buffers: [x.buffer, null, out.buffer], workgroups: grid1d(x.size) });
  record([x], out, (g) => {
    const gx = Tensor.empty(x.shape);
    run({ file: 'elementwise', entry: 'exp_clamp_backward', prefix: pointwisePrefix(1), uniforms: [x.size, x.size, f(max), f(0)], buffers: [x.buffer, g.buffer, gx.buffer], workgroups: grid1d(x.size) });
    return [gx];
  });
  return out;
}

// y[r, ..] = x[r, ..] · m[r]   x:[R, ..], m:[R] (a constant, e.g. drop-path's per-sample keep mask / keep prob)
export function scaleRows(x: Tensor, m: Tensor): Tensor {
  const rows = m.size;
  if (x.size % rows !== 0) throw new Error(`scaleRows: ${rows} factors for ${shapeStr(x.shape)}`);
  const k = (t: Tensor) => {
    const out = Tensor.empty(t.shape);
    run({ file: 'elementwise', entry: 'rowscale_forward', prefix: pointwisePrefix(1), uniforms: [t.size, rows, f(0), f(0)], buffers: [t.buffer, m.buffer, out.buffer], workgroups: grid1d(t.size) });
    return out;
  };
  const out = k(x);
  record([x], out, (g) => [k(g)]);
  return out;
}
