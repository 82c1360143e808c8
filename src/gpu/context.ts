import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requestAdapter, type AdapterDescription, type AdapterHandle, type AdapterOptions } from './adapter.js';
import { BufferPool } from './buffer-pool.js';
import { Profiler } from './profiler.js';
import { DeviceLostError, UserError } from '../util/errors.js';

/** Where the .wgsl files live: <package root>/kernels, from dist/src/gpu or src/gpu alike. */
function findKernelDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'kernels');
    try {
      readFileSync(join(candidate, 'elementwise.wgsl'));
      return candidate;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('kernels/ directory not found next to the package');
}

export type Workgroups = [number, number?, number?];
/** Uniform values: integers are written as u32 unless listed in the kernel's float slots; see `Gpu.dispatch`. */
export type UniformValue = { u: number } | { i: number } | { f: number };

export interface DispatchSpec {
  /** kernels/<file>.wgsl */
  file: string;
  entry: string;
  /** Pipeline-overridable constants (tile sizes, flags). Part of the pipeline cache key. */
  constants?: Record<string, number>;
  /**
   * Bound in order at @group(0) @binding(1..n); binding 0 is the uniform block when `uniforms` is given. A null
   * skips its binding number: an entry point that does not use a binding must not get it with layout 'auto'.
   */
  buffers: (GPUBuffer | GPUTexture | null)[];
  /** Uniform block at @binding(0), as 32-bit words: numbers are u32 unless wrapped as {f}, {i}. */
  uniforms?: (number | UniformValue)[];
  workgroups: Workgroups;
  /** Text prefixed to the WGSL source (compile-time variants); part of the cache key. */
  prefix?: string;
  /** What this call works on (a product's shape): appended to the profiler's label when `profileDetail` is set. */
  detail?: string;
}

/** Width in texels of the scratch textures (scratchTexture): kernels that read them use the same (TEX_W). */
export const TEXEL_ROW = 8192;

export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * The device and everything that makes dispatching cheap: a pipeline cache, a buffer pool, and one command encoder
 * (one compute pass) that collects dispatches until a sync point (readback or an explicit flush) submits them.
 */
export class Gpu {
  readonly device: GPUDevice;
  readonly info: AdapterDescription;
  readonly limits: GPUSupportedLimits;
  readonly pool: BufferPool;
  private handle: AdapterHandle | null;
  private uniformPool: BufferPool;
  private pipelines = new Map<string, GPUComputePipeline>();
  private sources = new Map<string, string>();
  private kernelDir = findKernelDir();
  private encoder: GPUCommandEncoder | null = null;
  private textures = new Map<string, GPUTexture>();
  private pass: GPUComputePassEncoder | null = null;
  /** The profiler's label of one dispatch. */
  profileLabel(kernel: string, detail?: string): string {
    return this.profileDetail && detail ? `${kernel} ${detail}` : kernel;
  }

  /** Set by enableProfiling(): every dispatch is timed on the device (see profiler.ts). */
  profiler: Profiler | null = null;
  /** Profile per call shape, not only per kernel (bench/profile-step.js --shapes). */
  profileDetail = false;
  private pendingUniforms: GPUBuffer[] = [];
  private error: Error | null = null;
  private lost: string | null = null;
  private spin = new Int32Array(new SharedArrayBuffer(4));
  /** Dispatches recorded since creation; benchmarks and tests read it. */
  dispatchCount = 0;
  submitCount = 0;

  private constructor(handle: AdapterHandle, device: GPUDevice) {
    this.handle = handle;
    this.device = device;
    this.info = handle.info;
    this.limits = device.limits;
    this.pool = new BufferPool(device, STORAGE_USAGE);
    this.uniformPool = new BufferPool(device, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    device.addEventListener('uncapturederror', (ev) => {
      const e = ev as GPUUncapturedErrorEvent;
      e.preventDefault(); // keep stdout clean; the error surfaces as an exception at the next sync point
      if (!this.error) this.error = new Error(`WebGPU error: ${e.error.message}`);
    });
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lost = info.message || String(info.reason);
    });
  }

  static async create(opts: AdapterOptions = {}): Promise<Gpu> {
    const handle = await requestAdapter(opts);
    const a = handle.adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
      maxBufferSize: a.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(a.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    };
    let device: GPUDevice;
    try {
      // timestamp queries only when offered: they serve the profiler and cost nothing unused
      const requiredFeatures: GPUFeatureName[] = handle.adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
      device = await handle.adapter.requestDevice({ requiredLimits, requiredFeatures });
    } catch (e) {
      throw new UserError(`The WebGPU adapter '${handle.info.description}' refused a device (${(e as Error).message}).`);
    }
    return new Gpu(handle, device);
  }

  /** dawn.node's GPU object (navigator.gpu's equivalent) behind this device: a peer library may open its own device on it. */
  get navigatorGpu(): GPU {
    if (!this.handle) throw new Error('GPU released');
    return this.handle.gpu;
  }

  /** True on CPU-emulated adapters (lavapipe): kernels pick one-invocation-per-row variants there. */
  get isSoftware(): boolean {
    return this.info.isSoftware;
  }

  // ---------------------------------------------------------------- buffers

  createBuffer(bytes: number): GPUBuffer {
    this.checkError();
    return this.pool.acquire(bytes);
  }

  releaseBuffer(buf: GPUBuffer): void {
    this.pool.release(buf);
  }

  write(buf: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    this.device.queue.writeBuffer(buf, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  // ---------------------------------------------------------------- pipelines

  private source(file: string): string {
    let src = this.sources.get(file);
    if (src === undefined) {
      src = readFileSync(join(this.kernelDir, `${file}.wgsl`), 'utf8');
      this.sources.set(file, src);
    }
    return src;
  }

  pipeline(file: string, entry: string, constants?: Record<string, number>, prefix = ''): GPUComputePipeline {
    const key = `${file}|${entry}|${prefix}|${constants ? JSON.stringify(constants) : ''}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    const code = prefix + this.source(file);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label: `${file}.wgsl` });
    p = this.device.createComputePipeline({
      layout: 'auto',
      label: `${file}:${entry}`,
      compute: { module, entryPoint: entry, constants },
    });
    // The scope's promise resolves at the next sync point; remember its message for that moment.
    this.device.popErrorScope().then((err) => {
      if (err && !this.error) this.error = new Error(`WGSL ${file}.wgsl entry '${entry}': ${err.message}`);
    });
    this.pipelines.set(key, p);
    return p;
  }

  // ---------------------------------------------------------------- dispatch

  private currentPass(): GPUComputePassEncoder {
    if (!this.pass) {
      this.encoder = this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    return this.pass;
  }

  dispatch(spec: DispatchSpec): void {
    if (this.lost) throw new DeviceLostError(this.lost);
    const pipeline = this.pipeline(spec.file, spec.entry, spec.constants, spec.prefix);
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (spec.uniforms) {
      const words = new Uint32Array(Math.max(4, Math.ceil(spec.uniforms.length / 4) * 4));
      const f = new Float32Array(words.buffer);
      const i = new Int32Array(words.buffer);
      spec.uniforms.forEach((v, k) => {
        if (typeof v === 'number') words[k] = v >>> 0;
        else if ('f' in v) f[k] = v.f;
        else if ('i' in v) i[k] = v.i;
        else words[k] = v.u >>> 0;
      });
      const ub = this.uniformPool.acquire(words.byteLength);
      this.device.queue.writeBuffer(ub, 0, words);
      this.pendingUniforms.push(ub);
      entries.push({ binding: binding++, resource: { buffer: ub, size: words.byteLength } });
    } else {
      binding = 1;
    }
    for (const b of spec.buffers) {
      if (b) entries.push({ binding, resource: 'createView' in b ? b.createView() : { buffer: b } });
      binding++;
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    if (this.profiler) {
      if (this.profiler.full) this.flush();
      this.currentPass();
      this.pass!.end();
      this.pass = this.encoder!.beginComputePass({ timestampWrites: this.profiler.next(this.profileLabel(`${spec.file}:${spec.entry}`, spec.detail ?? `grid ${spec.workgroups.join('x')}`)) });
    }
    const pass = this.currentPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = spec.workgroups;
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new Error(`dispatch ${spec.file}:${spec.entry} of ${x}x${y}x${z} workgroups exceeds the limit ${max}`);
    }
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
  }

  /** Records a buffer-to-buffer copy (ends the current compute pass; the next dispatch opens a new one). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.currentPass();
    this.pass!.end();
    this.pass = null;
    this.encoder!.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.pass = this.encoder!.beginComputePass();
  }

  /**
   * A scratch rgba32float texture TEXEL_ROW texels wide with at least `texels` texels, one per role (grown, never
   * shrunk): kernels read a tensor from it as a flat run of texels, texel i at (i % TEXEL_ROW, i / TEXEL_ROW). On
   * lavapipe a read-only storage-texture load is a short branch-free function where a storage-buffer load is a per-lane
   * loop with bounds checks.
   */
  scratchTexture(role: string, texels: number): GPUTexture {
    const height = Math.max(1, Math.ceil(texels / TEXEL_ROW));
    const have = this.textures.get(role);
    if (have && have.height >= height) return have;
    // Grown in steps of 64 rows (8 MiB). The old texture is dropped, not destroyed: work already recorded may still
    // use it, and Dawn frees it once that work is done.
    const h = Math.min(this.limits.maxTextureDimension2D, Math.max(height, Math.ceil(height / 64) * 64, have?.height ?? 0));
    if (h < height) throw new Error(`scratch texture '${role}' of ${texels} texels exceeds the texture size limit`);
    const tex = this.device.createTexture({
      label: role,
      size: [TEXEL_ROW, h],
      format: 'rgba32float',
      usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST,
    });
    this.textures.set(role, tex);
    return tex;
  }

  /**
   * Records a copy of the first `texels`·16 bytes of a buffer into a scratch texture's flat run of texels (a memcpy on
   * lavapipe), on the given encoder or the shared one (ending its compute pass; the next dispatch opens a new one).
   */
  copyToTexture(src: GPUBuffer, dst: GPUTexture, texels: number, encoder?: GPUCommandEncoder): void {
    let enc = encoder;
    if (!enc) {
      this.currentPass();
      this.pass!.end();
      this.pass = null;
      enc = this.encoder!;
    }
    const full = Math.floor(texels / TEXEL_ROW);
    const rest = texels - full * TEXEL_ROW;
    if (full) enc.copyBufferToTexture({ buffer: src, bytesPerRow: TEXEL_ROW * 16, rowsPerImage: full }, { texture: dst }, [TEXEL_ROW, full, 1]);
    if (rest) enc.copyBufferToTexture({ buffer: src, offset: full * TEXEL_ROW * 16, bytesPerRow: TEXEL_ROW * 16 }, { texture: dst, origin: [0, full, 0] }, [rest, 1, 1]);
    if (!encoder) this.pass = enc.beginComputePass();
  }

  /** Submits everything recorded so far. Buffers released before this point become reusable. */
  flush(): void {
    if (this.pass) {
      this.pass.end();
      this.profiler?.encodeResolve(this.encoder!);
      this.device.queue.submit([this.encoder!.finish()]);
      this.submitCount++;
      this.pass = null;
      this.encoder = null;
    }
    for (const ub of this.pendingUniforms) this.uniformPool.release(ub);
    this.pendingUniforms.length = 0;
    this.uniformPool.recycle();
    this.pool.recycle();
  }

  /**
   * Waits for a GPU promise without spinning a core: dawn.node busy-polls while a promise is pending, so we block in
   * short Atomics.wait naps between event-loop turns, which hands the CPU back to lavapipe's threads.
   */
  private async settle<T>(p: Promise<T>): Promise<T> {
    let done = false;
    p.then(
      () => (done = true),
      () => (done = true),
    );
    while (!done) {
      Atomics.wait(this.spin, 0, 0, this.isSoftware ? 1 : 0.05);
      await new Promise((r) => setImmediate(r));
    }
    return p;
  }

  /** Starts timing every dispatch on the device; false when the adapter offers no timestamp queries. */
  enableProfiling(): boolean {
    if (!this.device.features.has('timestamp-query')) return false;
    this.flush();
    this.profiler ??= new Profiler(this.device);
    return true;
  }

  /** Waits for the work so far and returns device time per kernel (file:entry), then stops profiling. */
  async stopProfiling(): Promise<Map<string, { ns: number; count: number }>> {
    if (!this.profiler) return new Map();
    await this.sync();
    await this.profiler.collect((p) => this.settle(p));
    const totals = new Map(this.profiler.totals);
    this.profiler.destroy();
    this.profiler = null;
    return totals;
  }

  /** Submits and waits for all work to finish; throws the first uncaptured GPU error. */
  async sync(): Promise<void> {
    this.flush();
    await this.settle(this.device.queue.onSubmittedWorkDone());
    this.checkError();
  }

  private checkError(): void {
    if (this.lost) throw new DeviceLostError(this.lost);
    if (this.error) {
      const e = this.error;
      this.error = null;
      throw e;
    }
  }

  /** Copies `bytes` from a storage buffer into host memory (a sync point). */
  async read(buf: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.currentPass();
    this.pass!.end();
    this.profiler?.encodeResolve(this.encoder!);
    this.encoder!.copyBufferToBuffer(buf, offset, staging, 0, size);
    this.device.queue.submit([this.encoder!.finish()]);
    this.submitCount++;
    this.pass = null;
    this.encoder = null;
    this.flush();
    await this.settle(staging.mapAsync(GPUMapMode.READ));
    this.checkError();
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Releases the device and dawn.node's GPU object so that Node can exit. */
  destroy(): void {
    if (!this.handle) return;
    try {
      this.flush();
    } catch {
      /* the device may already be lost */
    }
    this.pool.destroy();
    this.uniformPool.destroy();
    for (const t of this.textures.values()) t.destroy();
    this.textures.clear();
    this.pipelines.clear();
    this.device.destroy();
    this.handle = null;
  }
}
