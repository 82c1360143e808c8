import { Tensor } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { grid1d, run } from './dispatch.js';

// y = x / max(‖x‖₂, 1e-12) over the last axis   x:[.., n] -> y:[.., n]
export function l2Normalize(x: Tensor): Tensor {
  const n = x.dim(-1);
  const rows = x.size / n;
  const y = Tensor.empty(x.shape);
  run({ file: 'normalize', entry: 'normalize_forward', uniforms: [rows, n], buffers: [x.buffer, null, null, y.buffer], workgroups: grid1d(rows, 64) });
  record([x], y, (gy) => {
    const gx = Tensor.empty(x.shape);
    run({ file: 'normalize', entry: 'normalize_backward', uniforms: [rows, n], buffers: [x.buffer, y.buffer, gy.buffer, gx.buffer], workgroups: grid1d(rows, 64) });
    return [gx];
  });
  return y;
}
