import { Tensor } from '../tensor/tensor.js';

/**
 * A module owns parameters (tensors marked `param`) and sub-modules in its fields. Field names are the checkpoint's
 * names (Hugging Face layout: `layer_norm1`, `self_attn`, `q_proj`), so a state dict maps onto the tree by walking it.
 */
export abstract class Module {
  /** Walks fields: tensors that are parameters, modules, and arrays of modules (numbered like nn.ModuleList). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const visit = (name: string, v: unknown) => {
      if (v instanceof Tensor) {
        if (isParam(v)) out.push([name, v]);
      } else if (v instanceof Module) {
        out.push(...v.namedParameters(`${name}.`));
      } else if (Array.isArray(v)) {
        v.forEach((x, i) => visit(`${name}.${i}`, x));
      }
    };
    for (const [k, v] of Object.entries(this)) {
      if (k.startsWith('_')) continue;
      visit(`${prefix}${k}`, v);
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Non-trainable state saved with the weights (BatchNorm running statistics). */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const visit = (name: string, v: unknown) => {
      if (v instanceof Tensor) {
        if (isBuffer(v)) out.push([name, v]);
      } else if (v instanceof Module) out.push(...v.namedBuffers(`${name}.`));
      else if (Array.isArray(v)) v.forEach((x, i) => visit(`${name}.${i}`, x));
    };
    for (const [k, v] of Object.entries(this)) if (!k.startsWith('_')) visit(`${prefix}${k}`, v);
    return out;
  }

  /** Sets training mode here and in every sub-module (BatchNorm, drop-path and the Gumbel assignment read it). */
  train(on = true): this {
    const visit = (v: unknown) => {
      if (v instanceof Module) v.train(on);
      else if (Array.isArray(v)) v.forEach(visit);
    };
    (this as { training?: boolean }).training = on;
    for (const [k, v] of Object.entries(this)) if (!k.startsWith('_')) visit(v);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Releases every parameter and buffer (and their gradients). */
  release(): void {
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
      t.grad?.release();
      t.release();
    }
  }
}

const PARAM = Symbol('param');
const BUFFER = Symbol('buffer');

function isParam(t: Tensor): boolean {
  return (t as unknown as Record<symbol, boolean>)[PARAM] === true;
}

function isBuffer(t: Tensor): boolean {
  return (t as unknown as Record<symbol, boolean>)[BUFFER] === true;
}

/** A trainable tensor: requires grad, outlives every tidy scope. */
export function param(t: Tensor): Tensor {
  (t as unknown as Record<symbol, boolean>)[PARAM] = true;
  t.requiresGrad = true;
  return t.keep();
}

/** A saved, non-trainable tensor (running statistics). */
export function buffer(t: Tensor): Tensor {
  (t as unknown as Record<symbol, boolean>)[BUFFER] = true;
  return t.keep();
}
