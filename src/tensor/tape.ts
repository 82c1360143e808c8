import { Tensor } from './tensor.js';

/** Turns the gradient of an op's output into the gradients of its inputs (null where an input needs none). */
export type BackwardFn = (gradOut: Tensor) => (Tensor | null)[];

interface Entry {
  inputs: Tensor[];
  output: Tensor;
  backward: BackwardFn;
}

let entries: Entry[] = [];
let gradEnabled = true;
/** Adds b into a: out of place when a's buffer is shared. Installed by ops/elementwise to keep this file op-free. */
let accumulate: (a: Tensor, b: Tensor) => Tensor = () => {
  throw new Error('tape: no accumulate op installed');
};
let ones: (like: Tensor) => Tensor = () => {
  throw new Error('tape: no fill op installed');
};

export function installTapeOps(acc: (a: Tensor, b: Tensor) => Tensor, fillOnes: (like: Tensor) => Tensor): void {
  accumulate = acc;
  ones = fillOnes;
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording anything on the tape (inference). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * noGrad across awaits (GPU readbacks inside an inference pass). The flag is global, so only one such pass may be in
 * flight at a time — true of every caller here, which awaits its passes one after another.
 */
export async function noGradAsync<T>(fn: () => Promise<T>): Promise<T> {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return await fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Whether an op with these inputs must record a backward entry. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  return gradEnabled && inputs.some((t) => t?.requiresGrad);
}

/** Called by each op after its forward dispatch. The closure keeps alive exactly what the backward needs. */
export function record(inputs: Tensor[], output: Tensor, backward: BackwardFn): void {
  if (!needsGrad(...inputs)) return;
  output.requiresGrad = true;
  output.hasProducer = true;
  entries.push({ inputs, output, backward });
}

export function tapeLength(): number {
  return entries.length;
}

/** Drops the recorded graph without running it (e.g. after an evaluation forward with grad on). */
export function clearTape(): void {
  entries = [];
}

/**
 * Walks the tape in reverse from `root`, accumulating gradients; leaves (parameters and inputs with requiresGrad)
 * end with `.grad` set (added to any existing grad). Intermediate gradients are released as soon as they are used.
 */
export function backward(root: Tensor, gradRoot?: Tensor): void {
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, gradRoot ?? ones(root));
  const walk = entries;
  entries = [];
  const prev = gradEnabled;
  gradEnabled = false; // backward kernels are not themselves differentiated
  try {
    for (let i = walk.length - 1; i >= 0; i--) {
      const e = walk[i];
      const g = grads.get(e.output);
      if (!g) continue;
      grads.delete(e.output);
      const inGrads = e.backward(g);
      const seen = new Set<Tensor>();
      for (let k = 0; k < e.inputs.length; k++) {
        const x = e.inputs[k];
        let gx = inGrads[k];
        if (!x.requiresGrad || !gx) {
          if (gx && gx !== g && !inGrads.slice(k + 1).includes(gx) && !seen.has(gx)) gx.release();
          continue;
        }
        // An op may pass its gradient through unchanged, or hand one tensor to two inputs: share, never alias.
        if (gx === g || seen.has(gx)) gx = gx.view(gx.shape);
        seen.add(gx);
        if (x.hasProducer) {
          const prevG = grads.get(x);
          grads.set(x, prevG ? accumulate(prevG, gx) : gx);
          if (prevG && prevG !== grads.get(x)) prevG.release();
          if (prevG) gx.release();
        } else {
          const prevG = x.grad;
          if (gx.shape.join() !== x.shape.join()) {
            const v = gx.view(x.shape);
            gx.release();
            gx = v;
          }
          x.grad = prevG ? accumulate(prevG, gx) : gx;
          if (prevG && prevG !== x.grad) prevG.release();
          if (prevG) gx.release();
          x.grad.keep();
        }
      }
      g.release();
    }
  } finally {
    gradEnabled = prev;
    for (const g of grads.values()) if (g !== root) g.release();
  }
}
