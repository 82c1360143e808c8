import { Tensor } from '../tensor/tensor.js';
import { layerNorm } from '../ops/layernorm.js';
import { Module, param } from './module.js';

// y = LN(x)·weight + bias over the last axis   x:[.., C]
export class LayerNorm extends Module {
  weight: Tensor;
  bias: Tensor;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = param(Tensor.full([dim], 1));
    this.bias = param(Tensor.zeros([dim]));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}
