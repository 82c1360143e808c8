import { Tensor } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { grid1d, pointwiseLanes, pointwisePrefix, run } from './dispatch.js';

export type Activation = 'gelu' | 'quick_gelu' | 'relu';

function pointwise(entry: string, x: Tensor, gy: Tensor | null): Tensor {
  const out = Tensor.empty(x.shape);
  const l = pointwiseLanes(x.size);
  run({ file: 'activation', entry, prefix: pointwisePrefix(l), uniforms: [x.size / l], buffers: [x.buffer, gy ? gy.buffer : null, out.buffer], workgroups: grid1d(x.size / l) });
  return out;
}

// y = act(x)   x:[..] -> y:[..]; the backward keeps x
export function activation(x: Tensor, act: Activation): Tensor {
  const out = pointwise(`${act}_forward`, x, null);
  record([x], out, (g) => [pointwise(`${act}_backward`, x, g)]);
  return out;
}

export const gelu = (x: Tensor) => activation(x, 'gelu');
export const quickGelu = (x: Tensor) => activation(x, 'quick_gelu');
export const relu = (x: Tensor) => activation(x, 'relu');
