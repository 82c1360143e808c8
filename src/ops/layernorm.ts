import { Tensor } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { f, grid1d, run } from './dispatch.js';

// y = LayerNorm(x)·w + b over the last axis   x:[.., C], w:[C], b:[C] -> y:[.., C]
export function layerNorm(x: Tensor, w: Tensor, b: Tensor, eps = 1e-5): Tensor {
  const c = x.dim(-1);
  const rows = x.size / c;
  const y = Tensor.empty(x.shape);
  const stats = Tensor.empty([rows, 2]);
  const u = [rows, c, f(eps)];
  run({ file: 'layernorm', entry: 'layernorm_forward', uniforms: u, buffers: [x.buffer, w.buffer, b.buffer, y.buffer, stats.buffer], workgroups: grid1d(rows, 64) });
  if (!x.requiresGrad && !w.requiresGrad && !b.requiresGrad) {
    stats.release();
    return y;
  }
  record([x, w, b], y, (gy) => {
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    let gb: Tensor | null = null;
    if (x.requiresGrad) {
      gx = Tensor.empty(x.shape);
      run({
        file: 'layernorm', entry: 'layernorm_backward_input', uniforms: u,
        buffers: [x.buffer, w.buffer, null, null, stats.buffer, gy.buffer, gx.buffer], workgroups: grid1d(rows, 64),
      });
    }
    if (w.requiresGrad || b.requiresGrad) {
      gw = Tensor.empty(w.shape);
      gb = Tensor.empty(b.shape);
      run({
        file: 'layernorm', entry: 'layernorm_backward_params', uniforms: u,
        buffers: [x.buffer, null, null, null, stats.buffer, gy.buffer, null, gw.buffer, gb.buffer], workgroups: grid1d(c, 64),
      });
    }
    return [gx, gw, gb];
  });
  return y;
}
