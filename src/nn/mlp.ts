import { Tensor } from '../tensor/tensor.js';
import { activation, type Activation } from '../ops/activation.js';
import { transpose } from '../ops/shape.js';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { Rng } from '../util/rng.js';

// y = fc2(act(fc1(x)))   x:[.., in] -> [.., out]
export class Mlp extends Module {
  fc1: Linear;
  fc2: Linear;

  constructor(inDim: number, hidden: number, outDim: number, readonly act: Activation, rng: Rng) {
    super();
    this.fc1 = new Linear(inDim, hidden, rng);
    this.fc2 = new Linear(hidden, outDim, rng);
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(activation(this.fc1.forward(x), this.act));
  }
}

// The MLP applied along the token axis (GroupViT's group-token mixer)   x:[B, S1, C] -> [B, S2, C]
export class MixerMlp extends Mlp {
  override forward(x: Tensor): Tensor {
    return transpose(super.forward(transpose(x)));
  }
}
