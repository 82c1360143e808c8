import { Tensor } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { f, grid1d, run } from './dispatch.js';

export interface AssignOptions {
  /** One-hot of the arg-max with a straight-through gradient (GroupViT's default); false: the soft assignment. */
  hard: boolean;
  /** Add Gumbel(0,1) noise from hash(seed, step, index) before the softmax (training). */
  gumbel: boolean;
  seed?: number;
  step?: number;
  tau?: number;
  /** Added to each group's token count before normalising (assign_eps, 1 in GroupViT). */
  eps: number;
}

export interface Assignment {
  /** The normalised assignment a[b,s,l] = y / (Σ_l y + eps) that averages tokens into groups. Differentiable. */
  attn: Tensor;
  /** The noise-free softmax over groups (what zero-shot segmentation multiplies across stages). */
  soft: Tensor;
  /** The un-normalised assignment: one-hot when hard. */
  hardMap: Tensor;
}

// raw:[B, S, L] -> attn, soft, hardMap: [B, S, L]
export function assign(raw: Tensor, o: AssignOptions): Assignment {
  const [b, s, l] = raw.shape;
  const u = [b, s, l, o.hard ? 1 : 0, o.gumbel ? 1 : 0, o.seed ?? 0, o.step ?? 0, f(o.tau ?? 1), f(o.eps)];
  const soft = Tensor.empty(raw.shape);
  const ysoft = Tensor.empty(raw.shape);
  const y = Tensor.empty(raw.shape);
  const attn = Tensor.empty(raw.shape);
  const denom = Tensor.empty([b, s]);
  run({ file: 'grouping', entry: 'grouping_assign', uniforms: u, buffers: [raw.buffer, soft.buffer, ysoft.buffer, y.buffer], workgroups: grid1d(b * l, 64) });
  run({ file: 'grouping', entry: 'grouping_normalize', uniforms: u, buffers: [null, null, null, y.buffer, attn.buffer, denom.buffer], workgroups: grid1d(b * s, 64) });
  record([raw], attn, (ga) => {
    const coef = Tensor.empty([b, s]);
    const graw = Tensor.empty(raw.shape);
    run({
      file: 'grouping', entry: 'grouping_backward_coef', uniforms: u,
      buffers: [null, null, null, y.buffer, null, denom.buffer, ga.buffer, coef.buffer], workgroups: grid1d(b * s, 64),
    });
    run({
      file: 'grouping', entry: 'grouping_backward_raw', uniforms: u,
      buffers: [null, null, ysoft.buffer, null, null, denom.buffer, ga.buffer, coef.buffer, graw.buffer], workgroups: grid1d(b * l, 64),
    });
    coef.release();
    return [graw];
  });
  return { attn, soft, hardMap: y };
}
