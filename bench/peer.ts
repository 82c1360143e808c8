// The peer: TensorFlow.js's WebGPU backend in the same process, on the same dawn.node GPU object (so the same
// adapter) as ours, timed the same way (warm-up, then submit-and-wait per sample). A development dependency, loaded
// with a dynamic import: when it is missing the peer columns are skipped with a note.
import { gpu } from '../src/gpu/runtime.js';
import { settle, timeBatched, uniformData, type TimeOptions, type Timing } from './harness.js';

// The slice of tfjs-core the benchmark uses (typed loosely so the package stays optional at build and run time).
export interface TfTensor {
  shape: number[];
  dispose(): void;
  data(): Promise<Float32Array | Int32Array | Uint8Array>;
}
interface TfCore {
  setBackend(name: string): Promise<boolean>;
  getBackend(): string;
  backend(): unknown;
  ready(): Promise<void>;
  tensor(values: Float32Array, shape: number[]): TfTensor;
  matMul(a: TfTensor, b: TfTensor, transposeA?: boolean, transposeB?: boolean): TfTensor;
  softmax(x: TfTensor): TfTensor;
  mul(a: TfTensor, b: TfTensor | number): TfTensor;
  add(a: TfTensor, b: TfTensor): TfTensor;
  sum(x: TfTensor): TfTensor;
  tidy<T>(fn: () => T): T;
  grads(f: (...args: TfTensor[]) => TfTensor): (args: TfTensor[], dy?: TfTensor) => TfTensor[];
  env(): { set(flag: string, value: unknown): void };
  sub(a: TfTensor, b: TfTensor): TfTensor;
  getGradient(name: string): unknown;
  registerGradient(config: { kernelName: string; inputsToSave?: string[]; outputsToSave?: boolean[]; gradFunc: GradFunc }): void;
  version_core?: string;
  version?: Record<string, string>;
}
type GradFunc = (dy: TfTensor, saved: TfTensor[], attrs: Record<string, unknown>) => Record<string, () => TfTensor>;

interface TfWebGpuBackend {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

export interface Peer {
  name: string;
  version: string;
  tf: TfCore;
  /** Submits what TF.js has recorded and waits for the device. */
  sync(): Promise<void>;
  tensor(data: Float32Array, shape: number[]): TfTensor;
  /** Times fn (its result disposed each call) like timeGpu times ours. */
  time(fn: () => TfTensor | TfTensor[], opts?: TimeOptions): Promise<Timing>;
  dispose(): void;
}

export type PeerResult = { peer: Peer } | { peer: null; note: string };

/**
 * Loads TF.js's WebGPU backend on our GPU object. It looks for `navigator.gpu` when its module is first imported,
 * so navigator is set before the import.
 */
export async function loadTfjsPeer(): Promise<PeerResult> {
  const g = gpu();
  const nav = (globalThis as { navigator?: Record<string, unknown> }).navigator;
  try {
    if (nav && typeof nav === 'object') {
      if (!('gpu' in nav) || !nav.gpu) Object.defineProperty(nav, 'gpu', { value: g.navigatorGpu, configurable: true, writable: true });
    } else {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu: g.navigatorGpu }, configurable: true, writable: true });
    }
  } catch (e) {
    return { peer: null, note: `TF.js WebGPU skipped: could not set navigator.gpu (${(e as Error).message})` };
  }
  let tf: TfCore;
  try {
    const core = '@tensorflow/tfjs-core';
    const backendPkg = '@tensorflow/tfjs-backend-webgpu';
    tf = (await import(core)) as unknown as TfCore;
    await import(backendPkg);
  } catch (e) {
    return { peer: null, note: `TF.js WebGPU skipped: @tensorflow/tfjs-core and @tensorflow/tfjs-backend-webgpu are not installed (npm install --include=dev) (${(e as Error).message.split('\n')[0]})` };
  }
  let ok = false;
  try {
    // TF.js in Node suggests its native backend on the console: harmless, but stderr only.
    ok = await tf.setBackend('webgpu');
    await tf.ready();
  } catch (e) {
    return { peer: null, note: `TF.js WebGPU skipped: its backend did not start on this adapter (${(e as Error).message.split('\n')[0]})` };
  }
  if (!ok || tf.getBackend() !== 'webgpu') return { peer: null, note: 'TF.js WebGPU skipped: its backend did not start on this adapter' };
  registerAttentionGradients(tf);
  const backend = tf.backend() as TfWebGpuBackend;
  let error: string | null = null;
  backend.device.addEventListener('uncapturederror', (ev) => {
    const e = ev as GPUUncapturedErrorEvent;
    e.preventDefault(); // keep stdout clean
    error ??= e.error.message;
  });
  const sync = async () => {
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
    await settle(backend.device.queue.onSubmittedWorkDone(), g.isSoftware ? 1 : 0.05);
    if (error) throw new Error(`TF.js WebGPU error: ${error}`);
  };
  const version = tf.version_core ?? tf.version?.['tfjs-core'] ?? '?';
  const peer: Peer = {
    name: 'tfjs-webgpu',
    version,
    tf,
    sync,
    tensor: (data, shape) => tf.tensor(data, shape),
    async time(fn, opts = {}) {
      // a sample is `inner` calls and one submit-and-wait, as timeGpu times ours
      return timeBatched(async (inner) => {
        for (let i = 0; i < inner; i++) {
          const out = tf.tidy(fn);
          for (const t of Array.isArray(out) ? out : [out]) t.dispose(); // released by TF.js after its next submit
        }
        await sync();
      }, opts);
    },
    dispose() {
      try {
        backend.device.destroy();
      } catch {
        /* already gone */
      }
    },
  };
  return { peer };
}

/** TF.js tensors of seeded uniform data. */
export function peerTensor(peer: Peer, shape: number[], seed: number): TfTensor {
  return peer.tensor(uniformData(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/**
 * Gradients of the ops in the peer's attention (BatchMatMul, Softmax, Add): tfjs-core registers none by itself (the
 * tfjs umbrella package does, through an ES module Node cannot load from tfjs-core's dist), so tf.grads needs these.
 * The standard rules, as in tfjs-core's src/gradients.
 */
function registerAttentionGradients(tf: TfCore): void {
  const t = tf as unknown as TfCore & {
    sum(x: TfTensor, axis?: number | number[], keepDims?: boolean): TfTensor;
    reshape(x: TfTensor, shape: number[]): TfTensor;
  };
  if (!tf.getGradient('BatchMatMul')) {
    tf.registerGradient({
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, [a, b], attrs) => {
        const ta = !!attrs.transposeA;
        const tb = !!attrs.transposeB;
        const mm = tf.matMul;
        if (!ta && !tb) return { a: () => mm(dy, b, false, true), b: () => mm(a, dy, true, false) };
        if (!ta && tb) return { a: () => mm(dy, b, false, false), b: () => mm(dy, a, true, false) };
        if (ta && !tb) return { a: () => mm(b, dy, false, true), b: () => mm(a, dy, false, false) };
        return { a: () => mm(b, dy, true, true), b: () => mm(dy, a, true, true) };
      },
    });
  }
  if (!tf.getGradient('Softmax')) {
    tf.registerGradient({
      kernelName: 'Softmax',
      outputsToSave: [true],
      gradFunc: (dy, [y], attrs) => {
        const dim = (attrs.dim as number | undefined) ?? -1;
        return { logits: () => tf.mul(tf.sub(dy, t.sum(tf.mul(dy, y), [dim], true)), y) };
      },
    });
  }
  if (!tf.getGradient('Add')) {
    // reduce the gradient over the axes an input was broadcast along
    const unbroadcast = (dy: TfTensor, shape: number[]) => {
      let g = dy;
      const lead = dy.shape.length - shape.length;
      const axes: number[] = [];
      for (let i = 0; i < dy.shape.length; i++) if (i < lead || (shape[i - lead] === 1 && dy.shape[i] !== 1)) axes.push(i);
      if (axes.length) g = t.sum(g, axes);
      return t.reshape(g, shape);
    };
    tf.registerGradient({
      kernelName: 'Add',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, [a, b]) => ({ a: () => unbroadcast(dy, a.shape), b: () => unbroadcast(dy, b.shape) }),
    });
  }
}
