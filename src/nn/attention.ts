import { Tensor } from '../tensor/tensor.js';
import { attention } from '../ops/attention.js';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { Rng } from '../util/rng.js';

/**
 * Multi-head attention with separate q/k/v/out projections (Hugging Face's GroupViT layout). Self-attention passes
 * the same tensor as query and context; cross-attention (group tokens attending to image tokens) passes both.
 *   query:[B, Lq, C], context:[B, Lk, C] -> [B, Lq, C]
 */
export class MultiHeadAttention extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  out_proj: Linear;
  readonly headDim: number;

  constructor(readonly dim: number, readonly heads: number, rng: Rng, readonly causal = false) {
    super();
    if (dim % heads !== 0) throw new Error(`attention: width ${dim} is not divisible by ${heads} heads`);
    this.headDim = dim / heads;
    this.q_proj = new Linear(dim, dim, rng);
    this.k_proj = new Linear(dim, dim, rng);
    this.v_proj = new Linear(dim, dim, rng);
    this.out_proj = new Linear(dim, dim, rng);
  }

  forward(query: Tensor, context: Tensor = query): Tensor {
    const q = this.q_proj.forward(query);
    const k = this.k_proj.forward(context);
    const v = this.v_proj.forward(context);
    const o = attention(q, k, v, { heads: this.heads, causal: this.causal, scale: this.headDim ** -0.5 });
    return this.out_proj.forward(o);
  }
}
