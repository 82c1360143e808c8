import { Gpu } from './context.js';
import type { AdapterOptions } from './adapter.js';

// One device per process: tensors and ops reach it through here instead of threading it through every call.
let current: Gpu | null = null;

export async function initGpu(opts: AdapterOptions = {}): Promise<Gpu> {
  if (!current) current = await Gpu.create(opts);
  return current;
}

export function gpu(): Gpu {
  if (!current) throw new Error('GPU not initialised: call initGpu() first');
  return current;
}

export function hasGpu(): boolean {
  return current !== null;
}

/** Destroys the device so the process can exit (dawn.node keeps Node alive while its GPU object lives). */
export function releaseGpu(): void {
  current?.destroy();
  current = null;
}
