import { Tensor } from '../tensor/tensor.js';
import { matmul } from '../ops/matmul.js';
import { Module, param } from './module.js';
import { Rng } from '../util/rng.js';
import { truncNormal } from './init.js';

// y = x·Wᵀ + b   x:[.., in], W:[out, in] (PyTorch layout), b:[out] -> y:[.., out]
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    opts: { bias?: boolean; std?: number } = {},
  ) {
    super();
    this.weight = param(truncNormal([outFeatures, inFeatures], opts.std ?? 0.02, rng));
    this.bias = opts.bias === false ? null : param(Tensor.zeros([outFeatures]));
  }

  forward(x: Tensor): Tensor {
    return matmul(x, this.weight, { transB: true, bias: this.bias ?? undefined });
  }
}
