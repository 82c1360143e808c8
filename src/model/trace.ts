import type { Tensor } from '../tensor/tensor.js';

/** Named intermediates a forward pass hands out when asked (parity checks, segmentation maps). */
export type Trace = Map<string, Tensor>;

export function traceSet(trace: Trace | undefined, name: string, t: Tensor): void {
  if (trace) trace.set(name, t);
}
