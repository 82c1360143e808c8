import { Tensor } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { f, grid1d, run } from './dispatch.js';
import { slice } from './shape.js';

// Training-mode BatchNorm1d   x:[N, C], w:[C], b:[C] -> y:[N, C]; updates runningMean/runningVar in place
export function batchNormTrain(x: Tensor, w: Tensor, b: Tensor, runningMean: Tensor, runningVar: Tensor, eps = 1e-5, momentum = 0.1): Tensor {
  const [n, c] = x.shape;
  const y = Tensor.empty([n, c]);
  const stats = Tensor.empty([c, 2]);
  const u = [n, c, f(eps), f(momentum)];
  run({
    file: 'batchnorm', entry: 'batchnorm_train_forward', uniforms: u,
    buffers: [x.buffer, w.buffer, b.buffer, y.buffer, stats.buffer, runningMean.buffer, runningVar.buffer], workgroups: grid1d(c, 64),
  });
  record([x, w, b], y, (gy) => {
    const gx = Tensor.empty([n, c]);
    const gwb = Tensor.empty([2, c]);
    run({
      file: 'batchnorm', entry: 'batchnorm_train_backward', uniforms: u,
      buffers: [x.buffer, w.buffer, null, null, stats.buffer, null, null, gy.buffer, gx.buffer, gwb.buffer], workgroups: grid1d(c, 64),
    });
    const gw = w.requiresGrad ? slice(gwb, 0, 0, 1).view([c]) : null;
    const gb = b.requiresGrad ? slice(gwb, 0, 1, 1).view([c]) : null;
    gwb.release();
    return [x.requiresGrad ? gx : (gx.release(), null), gw, gb];
  });
  return y;
}
