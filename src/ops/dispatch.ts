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

/**
 * Values per invocation of the pointwise kernels (kernels/elementwise.wgsl, activation.wgsl): 4 (vec4f) when every
 * size is a multiple of 4, else 1 (f32). On lavapipe each storage access is a per-lane loop whatever its width.
 */
export function pointwiseLanes(...sizes: number[]): 1 | 4 {
  return sizes.every((n) => n % 4 === 0) ? 4 : 1;
}

/** The element type T those kernels are compiled with. */
export function pointwisePrefix(lanes: 1 | 4): string {
  return lanes === 4 ? 'alias T = vec4f;\n' : 'alias T = f32;\n';
}
