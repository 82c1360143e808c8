import { create, globals } from 'webgpu';
import { UserError } from '../util/errors.js';

export interface AdapterOptions {
  /** Substring of the adapter's name or description to force (also GROUPVIT_ADAPTER). */
  adapter?: string;
  /** Dawn backend: vulkan, metal, d3d12, d3d11, opengl, opengles, null (also GROUPVIT_BACKEND). */
  backend?: string;
}

export interface AdapterHandle {
  /** The object dawn.node returned from create(): it must stay reachable while the device lives (WEBGPU-NOTES trap 1). */
  gpu: GPU;
  adapter: GPUAdapter;
  info: AdapterDescription;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isSoftware: boolean;
}

// GPUBufferUsage, GPUMapMode and friends are globals in a browser; dawn.node hands them over as an object.
Object.assign(globalThis, globals);

const BACKENDS = ['vulkan', 'metal', 'd3d12', 'd3d11', 'opengl', 'opengles', 'null'];

export function describeAdapter(adapter: GPUAdapter, backend: string): AdapterDescription {
  const info = adapter.info;
  const description = info.description ?? '';
  const architecture = info.architecture ?? '';
  const isSoftware = /llvmpipe|lavapipe|swiftshader|software/i.test(`${description} ${architecture} ${info.device}`);
  return {
    vendor: info.vendor ?? '',
    architecture,
    device: info.device ?? '',
    description,
    backend,
    isSoftware,
  };
}

/** Finds an adapter: a real GPU over a software one, unless the user forces one by name. */
export async function requestAdapter(opts: AdapterOptions = {}): Promise<AdapterHandle> {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp'; // Mesa warns without it
  const backend = (opts.backend ?? process.env.GROUPVIT_BACKEND ?? '').toLowerCase();
  const forced = opts.adapter ?? process.env.GROUPVIT_ADAPTER ?? '';
  if (backend && !BACKENDS.includes(backend)) {
    throw new UserError(`Unknown backend '${backend}': choose one of ${BACKENDS.join(', ')}.`);
  }
  const flags: string[] = [];
  if (backend) flags.push(`backend=${backend}`);
  if (forced) flags.push(`adapter=${forced}`);
  let gpu: GPU;
  try {
    gpu = create(flags);
  } catch (e) {
    throw new UserError(`Could not load Dawn's WebGPU bindings (${(e as Error).message.split('\n')[0]}).`);
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    const detail = (e as Error).message.replace(/\s+/g, ' ').trim();
    throw new UserError(`No WebGPU adapter ${forced ? `matching '${forced}' ` : ''}could be opened (Dawn says: ${detail}).`);
  }
  if (adapter && !forced && describeAdapter(adapter, backend).isSoftware) {
    // A software adapter came first; a real one, when present, is worth asking for explicitly.
    const other = await gpu.requestAdapter({ powerPreference: 'low-power' });
    if (other && !describeAdapter(other, backend).isSoftware) adapter = other;
  }
  if (!adapter) {
    const what = forced ? `matching '${forced}'` : backend ? `on the ${backend} backend` : '';
    throw new UserError(
      `No WebGPU adapter ${what}found: run 'npm run setup' (it installs Mesa's lavapipe on Debian) or install your GPU's Vulkan driver.`.replace('  ', ' '),
    );
  }
  return { gpu, adapter, info: describeAdapter(adapter, backend || 'default') };
}
