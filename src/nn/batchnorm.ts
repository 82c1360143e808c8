import { Tensor } from '../tensor/tensor.js';
import { Module, buffer, param } from './module.js';
import { add, mul } from '../ops/elementwise.js';
import { batchNormTrain } from '../ops/batchnorm.js';

/**
 * BatchNorm1d over [N, C]. Eval mode uses the running statistics: y = (x - mean)·w/sqrt(var + eps) + b, computed as
 * one scale and one shift per channel (host-folded when the statistics are loaded). Training mode normalises with
 * the batch statistics and moves the running ones (momentum 0.1, as PyTorch).
 */
export class BatchNorm1d extends Module {
  weight: Tensor;
  bias: Tensor;
  running_mean: Tensor;
  running_var: Tensor;
  training = false;
  private _scale: Tensor | null = null;
  private _shift: Tensor | null = null;

  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = param(Tensor.full([dim], 1));
    this.bias = param(Tensor.zeros([dim]));
    this.running_mean = buffer(Tensor.zeros([dim]));
    this.running_var = buffer(Tensor.full([dim], 1));
  }

  /** Recomputes the eval-mode affine from the current statistics (call after loading weights). */
  async fold(): Promise<void> {
    const [w, b, m, v] = await Promise.all([this.weight, this.bias, this.running_mean, this.running_var].map((t) => t.toArray()));
    const s = new Float32Array(this.dim);
    const t = new Float32Array(this.dim);
    for (let i = 0; i < this.dim; i++) {
      s[i] = w[i] / Math.sqrt(v[i] + this.eps);
      t[i] = b[i] - m[i] * s[i];
    }
    this._scale?.release();
    this._shift?.release();
    this._scale = Tensor.fromArray(s, [this.dim]).keep();
    this._shift = Tensor.fromArray(t, [this.dim]).keep();
  }

  forward(x: Tensor): Tensor {
    if (this.training) return batchNormTrain(x, this.weight, this.bias, this.running_mean, this.running_var, this.eps);
    if (!this._scale || !this._shift) throw new Error('BatchNorm1d: call fold() after loading the statistics');
    return add(mul(x, this._scale), this._shift);
  }
}
