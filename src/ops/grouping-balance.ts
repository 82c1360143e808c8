import { Tensor } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { f, grid1d, run } from './dispatch.js';

// raw:[B, S, L] -> [B]: −H(mean_t p_t) + beta · mean_t H(p_t), p_t = softmax over S of raw[b, :, t] (kernels/grouping-balance.wgsl)
export function assignmentBalance(raw: Tensor, beta: number): Tensor {
  const [b, s, l] = raw.shape;
  const u = [b, s, l, f(beta)];
  const prob = Tensor.empty(raw.shape);
  const ent = Tensor.empty([b, l]);
  const logpbar = Tensor.empty([b, s]);
  const loss = Tensor.empty([b]);
  run({ file: 'grouping-balance', entry: 'balance_probs', uniforms: u, buffers: [raw.buffer, prob.buffer, ent.buffer], workgroups: grid1d(b * l, 64) });
  run({ file: 'grouping-balance', entry: 'balance_reduce', uniforms: u, buffers: [null, prob.buffer, ent.buffer, logpbar.buffer, loss.buffer], workgroups: grid1d(b, 64) });
  ent.release();
  if (!raw.requiresGrad) {
    prob.release();
    logpbar.release();
    return loss;
  }
  record([raw], loss, (gl) => {
    const graw = Tensor.empty(raw.shape);
    run({
      file: 'grouping-balance', entry: 'balance_backward', uniforms: u,
      buffers: [null, prob.buffer, null, logpbar.buffer, null, gl.buffer, graw.buffer], workgroups: grid1d(b * l, 64),
    });
    return [graw];
  });
  return loss;
}
