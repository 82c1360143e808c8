import { Tensor } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { grid1d, run } from './dispatch.js';

// y = softmax(x) over the last axis   x:[.., n] -> y:[.., n]; the backward keeps y
export function softmax(x: Tensor): Tensor {
  const n = x.dim(-1);
  const rows = x.size / n;
  const y = Tensor.empty(x.shape);
  run({ file: 'softmax', entry: 'softmax_forward', uniforms: [rows, n], buffers: [x.buffer, null, y.buffer], workgroups: grid1d(rows, 64) });
  record([x], y, (gy) => {
    const gx = Tensor.empty(x.shape);
    run({ file: 'softmax', entry: 'softmax_backward', uniforms: [rows, n], buffers: [y.buffer, gy.buffer, gx.buffer], workgroups: grid1d(rows, 64) });
    return [gx];
  });
  return y;
}
