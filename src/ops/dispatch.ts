import { gpu } from '../gpu/runtime.js';
import type { DispatchSpec, Workgroups } from '../gpu/context.js';

/** Workgroup grid for one invocation per element, folded into 2-D when it exceeds the 65535 per-dimension limit. */
export function grid1d(n: number, perGroup = 256): Workgroups {
  const groups = Math.max(1, Math.ceil(n / perGroup));
  const max = 65535;
  if (groups <= max) return [groups, 1];
  return [max, Math.ceil(groups / max)];
}

export function run(spec: DispatchSpec): void {
  gpu().dispatch(spec);
}

export const f = (x: number) => ({ f: x });
export const i32 = (x: number) => ({ i: x });
