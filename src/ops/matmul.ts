import { gpu } from '../gpu/runtime.js';
import { TEXEL_ROW } from '../gpu/context.js';
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { run } from './dispatch.js';
import { sum, sumRows } from './reduce.js';

/**
 * Which kernel of kernels/matmul.wgsl (matmul-texture.wgsl for 'texture') runs:
 *  - 'texture': both operands in storage textures (copied as stored where their rows are whole texels, else packed by
 *    matmul_pack), then a 16×16 register-blocked product
 *    reading them (matmul_texture): lavapipe, where a texture load costs a fraction of a storage-buffer load; 3–6× the
 *    'register' kernel from a few million multiply-adds up. Falls back to 'register' where a shape exceeds the
 *    texture limits.
 *  - 'register': register-blocked, no shared memory (vec4 loads where the shape allows, else scalar loads): lavapipe,
 *    small products (no packing passes, smaller tiles).
 *  - 'tiled': shared-memory tiles with barriers: real GPUs.
 *  - 'naive': one invocation per output (benchmark baseline).
 * 'auto' picks 'texture' or 'register' (by size) on software adapters and 'tiled' elsewhere. GROUPVIT_MATMUL
 * overrides 'auto' (tests use it to run every variant on lavapipe).
 */
export type MatmulVariant = 'auto' | 'texture' | 'register' | 'tiled' | 'naive';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** [N], added in the kernel's epilogue. */
  bias?: Tensor;
  variant?: MatmulVariant;
}

/** Register-blocking of the 'register' kernels: TM×TN outputs per invocation in WG_X×WG_Y workgroups. */
export interface MatmulTuning {
  tm: number;
  tn: number;
  wgX: number;
  wgY: number;
  /** Workgroup edge of the shared-memory kernel (TILE×TILE invocations, 4×4 outputs each). */
  tile: number;
  /** The same blocking for the 'texture' kernel (texWgX the widest: narrow products use fewer lanes along N). */
  texTm: number;
  texTn: number;
  texWgX: number;
  texWgY: number;
  /**
   * 'auto' on a software adapter uses the 'texture' kernel from this many multiply-adds (M·N·K·batch) and outputs per
   * batch entry (M·N) up: below, the packing passes, the fixed cost of 256 outputs per invocation and idle lanes
   * in partly filled blocks outweigh the cheaper loads. Since operands stored as op(X) are copied, not packed, a
   * 64×64 output over a long K (a weight's gradient: 64×5120×64 2.0–2.7 ms against 5.5–6.3) takes it too; fewer than
   * 8 blocks of 16×16 leave the threads idle (64×5120×16: 1.9–2.7 against 1.8; 4×65536×16: 14 against 2.5).
   */
  texMinMacs: number;
  texMinOutputs: number;
}

const tuning: MatmulTuning = { tm: 4, tn: 4, wgX: 8, wgY: 8, tile: 16, texTm: 16, texTn: 16, texWgX: 8, texWgY: 8, texMinMacs: 2 ** 22, texMinOutputs: 2 ** 11 };

/** Benchmarks and tuning experiments adjust the blocking; returns the previous setting. */
export function setMatmulTuning(t: Partial<MatmulTuning>): MatmulTuning {
  const prev = { ...tuning };
  Object.assign(tuning, t);
  const pow2 = (x: number) => x >= 1 && Number.isInteger(Math.log2(x));
  if (tuning.tn % 4 !== 0 || tuning.tm % 4 !== 0 || tuning.texTn % 4 !== 0 || !pow2(tuning.texTm) || !pow2((tuning.texTn / 4) * tuning.texWgX)) {
    Object.assign(tuning, prev);
    throw new Error('matmul tuning: tm, tn and texTn must be multiples of 4; texTm and texWgX·texTn/4 powers of two (packed blocks)');
  }
  return prev;
}

export function getMatmulTuning(): MatmulTuning {
  return { ...tuning };
}

const VARIANTS: readonly string[] = ['texture', 'register', 'tiled', 'naive'];

/** The variant a spec runs: 'auto' resolved, and 'texture' replaced by 'register' where its textures would not fit. */
function resolveVariant(s: Pick<GemmSpec, 'M' | 'N' | 'K' | 'batch' | 'strideA' | 'strideB' | 'variant'>): Exclude<MatmulVariant, 'auto'> {
  let choice = s.variant ?? 'auto';
  if (choice === 'auto') {
    const env = process.env.GROUPVIT_MATMUL;
    if (env && VARIANTS.includes(env)) choice = env as MatmulVariant;
  }
  if (choice === 'auto') {
    if (!gpu().isSoftware) return 'tiled';
    const big = s.M * s.N * s.K * s.batch >= tuning.texMinMacs && s.M * s.N >= tuning.texMinOutputs;
    choice = big ? 'texture' : 'register';
  }
  if (choice === 'texture' && !texturePlan(s as GemmSpec)) return 'register';
  return choice;
}

/** One product on raw buffers: C[z] = op(A[z])·op(B[z]) (+ bias) for z < batch, with element strides per operand. */
export interface GemmSpec {
  a: GPUBuffer;
  b: GPUBuffer;
  c: GPUBuffer;
  bias?: GPUBuffer | null;
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Element offsets between consecutive batch entries; 0 broadcasts the operand. */
  strideA: number;
  strideB: number;
  strideC: number;
  transA: boolean;
  transB: boolean;
  variant?: MatmulVariant;
}

/** True when the vec4 kernel may run: every vec4 load and store is aligned and never straddles a row. */
function vec4Ok(s: GemmSpec): boolean {
  if (s.N % 4 !== 0) return false;
  if (s.transA ? s.M % 4 !== 0 : s.K % 4 !== 0) return false;
  if (s.transB && s.K % 4 !== 0) return false;
  return s.strideA % 4 === 0 && s.strideB % 4 === 0 && s.strideC % 4 === 0;
}

/** The variant `gemm` runs for this spec ('auto' resolved): benchmarks check the error of the kernel they time. */
export function gemmVariant(s: Pick<GemmSpec, 'M' | 'N' | 'K' | 'batch' | 'strideA' | 'strideB' | 'variant'>): Exclude<MatmulVariant, 'auto'> {
  return resolveVariant(s);
}

/** The entry point of kernels/matmul.wgsl (or matmul-texture.wgsl) that `gemm` runs for this spec, with its blocking (benchmarks print it). */
export function gemmKernel(s: Pick<GemmSpec, 'M' | 'N' | 'K' | 'batch' | 'strideA' | 'strideB' | 'strideC' | 'transA' | 'transB' | 'variant'>): string {
  const variant = resolveVariant(s);
  const t = tuning;
  if (variant === 'naive' || s.K === 0) return 'naive';
  if (variant === 'tiled') return `tiled ${t.tile}x${t.tile}x(4x4)`;
  if (variant === 'texture') {
    const p = texturePlan(s)!;
    return `texture ${p.wgX}x${p.wgY}x(${t.texTm}x${t.texTn})`;
  }
  return `${vec4Ok(s as GemmSpec) ? 'vec4' : 'scalar'} ${t.wgX}x${t.wgY}x(${t.tm}x${t.tn})`;
}

// ------------------------------------------------------------------------------------------------ texture operands

/** Width of the packing textures in texels (kernels/matmul-texture.wgsl TEX_W): a packed operand is a flat run of texels. */
const TEX_W = TEXEL_ROW;
const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment

interface TexturePlan {
  K4: number;
  /** op(A) rows padded to whole TM blocks; op(B) texels per row padded to whole PW panels. */
  Mp: number;
  N4p: number;
  /** Workgroup shape, and the texels of op(B) one workgroup's columns span (a packed panel). */
  wgX: number;
  wgY: number;
  PW: number;
  /** Batch entries packed per operand: 1 when the operand is broadcast. */
  batchA: number;
  batchB: number;
  /** Texels per packed batch entry, and the texture rows (of TEX_W texels) each operand needs. */
  texelsA: number;
  texelsB: number;
  heightA: number;
  heightB: number;
}

/** Sizes of the packed operands, or null where a texture, a dispatch or an index would exceed the device's limits. */
function texturePlan(s: Pick<GemmSpec, 'M' | 'N' | 'K' | 'batch' | 'strideA' | 'strideB'>): TexturePlan | null {
  const lim = gpu().limits;
  const t = tuning;
  const K4 = Math.ceil(s.K / 4);
  // Lanes along N that would fall past it still occupy their SIMD group: narrow products use fewer of them per row
  // (down to 2) and more rows, the same invocations per workgroup.
  let wgX = t.texWgX;
  while (wgX > 2 && s.N <= (wgX / 2) * t.texTn) wgX /= 2;
  const PW = (wgX * t.texTn) / 4;
  const Mp = Math.ceil(s.M / t.texTm) * t.texTm;
  const N4p = Math.ceil(s.N / 4 / PW) * PW;
  // lavapipe runs a workgroup's SIMD groups one after another on one thread: a product with few workgroups gets
  // smaller ones (down to one 8-lane group) so that both threads have work.
  let wgY = Math.max(1, (t.texWgX * t.texWgY) / wgX);
  const groups = (y: number) => Math.ceil(s.M / (t.texTm * y)) * (N4p / PW) * s.batch;
  while (wgY > 1 && wgX * wgY > 8 && groups(wgY) < 8) wgY /= 2;
  const batchA = s.strideA ? s.batch : 1;
  const batchB = s.strideB ? s.batch : 1;
  const texelsA = Mp * K4;
  const texelsB = 4 * K4 * N4p;
  const heightA = Math.ceil((batchA * texelsA) / TEX_W);
  const heightB = Math.ceil((batchB * texelsB) / TEX_W);
  const maxGroups = lim.maxComputeWorkgroupsPerDimension;
  const ok =
    K4 > 0 &&
    lim.maxTextureDimension2D >= TEX_W &&
    Math.max(heightA, heightB) <= lim.maxTextureDimension2D &&
    Math.ceil(Math.max(Mp, 4 * K4, K4, N4p) / 8) <= maxGroups &&
    Math.ceil(s.M / (t.texTm * wgY)) <= maxGroups &&
    s.batch <= maxGroups;
  return ok ? { K4, Mp, N4p, wgX, wgY, PW, batchA, batchB, texelsA, texelsB, heightA, heightB } : null;
}

/** Per device: the uniform blocks (the packing textures are the Gpu's scratch textures 'matmul A' and 'matmul B'). */
interface TextureState {
  uniforms: GPUBuffer;
}
const textureStates = new WeakMap<GPUDevice, TextureState>();

/**
 * The 'texture' variant: copy or pack op(A) and op(B) into textures, then the product, in a command buffer of its own
 * (its uniform blocks are rewritten per call by queue.writeBuffer, which is ordered only against submits). What was
 * recorded before is submitted first, so queue order keeps every dependency.
 */
function gemmTexture(s: GemmSpec, plan: TexturePlan, prefix: string): void {
  const g = gpu();
  const dev = g.device;
  const t = tuning;
  let st = textureStates.get(dev);
  if (!st) {
    st = { uniforms: dev.createBuffer({ size: 3 * UNIFORM_SLOT, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }) };
    textureStates.set(dev, st);
  }
  const { M, N, K } = s;
  // Operands stored as op(X) with whole-texel rows, one run per batch entry, are copied as stored (see A_ROWS in
  // kernels/matmul-texture.wgsl); the rest are packed. GROUPVIT_MATMUL_COPY=0 packs every operand, =A or =B copies only that one (benchmarks).
  const mode = process.env.GROUPVIT_MATMUL_COPY ?? 'AB';
  const copyOk = mode !== '0' && K % 4 === 0;
  const rowsA = copyOk && mode.includes('A') && !s.transA && (s.strideA === 0 || s.strideA === M * K || s.batch === 1);
  const rowsB = copyOk && mode.includes('B') && !s.transB && N % 4 === 0 && (s.strideB === 0 || s.strideB === K * N || s.batch === 1);
  const entryTexels = (rows: boolean, packed: number, stored: number) => (rows ? stored / 4 : packed);
  const texelsA = entryTexels(rowsA, plan.texelsA, M * K);
  const texelsB = entryTexels(rowsB, plan.texelsB, K * N);
  const texA = g.scratchTexture('matmul A', rowsA ? plan.batchA * texelsA : plan.heightA * TEX_W);
  const texB = g.scratchTexture('matmul B', rowsB ? plan.batchB * texelsB : plan.heightB * TEX_W);
  const { K4, Mp, N4p, PW } = plan;
  const Kp = 4 * K4;
  const NONE = 31; // a shift that leaves no block index (see PackParams)
  // The uniform blocks are rewritten per call: a write is ordered after the submits before it, so one buffer serves.
  const words = new Uint32Array((3 * UNIFORM_SLOT) / 4);
  const slot = UNIFORM_SLOT / 4;
  // op(A) [M, K] in blocks of TM rows, k-major within a block; op(B) [K, N] in panels of PW texels, row-major within
  words.set([M, K, Mp, K4, s.strideA, plan.texelsA, Math.log2(t.texTm), K4 * t.texTm, 1, NONE, 0, t.texTm], 0);
  words.set([K, N, Kp, N4p, s.strideB, plan.texelsB, NONE, 0, PW, Math.log2(PW), Kp * PW, 1], slot);
  words.set([M, N, K4, s.strideA ? texelsA : 0, s.strideB ? texelsB : 0, s.strideC, s.bias ? 1 : 0], 2 * slot);
  g.flush();
  dev.queue.writeBuffer(st.uniforms, 0, words);

  const uniform = (i: number) => ({ buffer: st!.uniforms, offset: i * UNIFORM_SLOT, size: 48 });
  const enc = dev.createCommandEncoder({ label: 'matmul texture' });
  // Profiling (see Gpu.enableProfiling) wants a timestamped pass per dispatch, as the shared pass gives them.
  const profiler = g.profiler;
  let pass: GPUComputePassEncoder | null = null;
  const shape = `${s.batch}x${M}x${K}x${N} ${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;
  const passFor = (entry: string, operand = '') => {
    if (profiler) {
      pass?.end();
      pass = enc.beginComputePass({ timestampWrites: profiler.next(g.profileLabel(`matmul:${entry}`, operand + shape)) });
    }
    pass ??= enc.beginComputePass();
    return pass;
  };
  // R × C is op(X); stored X is [R, C], or [C, R] when trans. Rows that are whole texels take the vec4 kernel.
  const pack = (i: number, src: GPUBuffer, trans: boolean, tex: GPUTexture, R: number, C: number, stride: number, C4: number, rows: number, batch: number) => {
    const vec4 = (trans ? R : C) % 4 === 0 && stride % 4 === 0;
    const entry = vec4 ? 'matmul_pack_vec4' : 'matmul_pack';
    const pipe = g.pipeline('matmul-texture', entry, { TRANS_A: trans ? 1 : 0 }, prefix);
    const pass = passFor(entry, i ? 'B of ' : 'A of ');
    pass.setPipeline(pipe);
    pass.setBindGroup(0, dev.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [
      { binding: 0, resource: uniform(i) },
      { binding: 1, resource: { buffer: src } },
      { binding: 2, resource: tex.createView() },
    ] }));
    pass.dispatchWorkgroups(Math.ceil(C4 / 8), Math.ceil(rows / (vec4 ? 32 : 8)), batch);
  };
  if (rowsA) g.copyToTexture(s.a, texA, plan.batchA * texelsA, enc);
  if (rowsB) g.copyToTexture(s.b, texB, plan.batchB * texelsB, enc);
  // A stored [K, M] (transA) is op(A) transposed; B stored [K, N] is op(B) as is.
  if (!rowsA) pack(0, s.a, s.transA, texA, M, K, s.strideA, K4, Mp, plan.batchA);
  if (!rowsB) pack(1, s.b, s.transB, texB, K, N, s.strideB, N4p, Kp, plan.batchB);
  const pipe = g.pipeline('matmul-texture', 'matmul_texture', { WG_X: plan.wgX, WG_Y: plan.wgY, A_ROWS: rowsA ? 1 : 0, B_ROWS: rowsB ? 1 : 0 }, prefix);
  const last = passFor('matmul_texture');
  last.setPipeline(pipe);
  last.setBindGroup(0, dev.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [
    { binding: 0, resource: uniform(2) },
    { binding: 1, resource: texA.createView() },
    { binding: 2, resource: texB.createView() },
    // the bias binding is part of the layout; without a bias it gets A (read-only, never read)
    { binding: 3, resource: { buffer: s.bias ?? s.a } },
    { binding: 4, resource: { buffer: s.c } },
  ] }));
  last.dispatchWorkgroups(N4p / PW, Math.ceil(M / (t.texTm * plan.wgY)), s.batch);
  last.end();
  profiler?.encodeResolve(enc);
  dev.queue.submit([enc.finish()]);
  g.dispatchCount += 1 + (rowsA ? 0 : 1) + (rowsB ? 0 : 1);
  g.submitCount++;
}

/** Records one dispatch of the chosen matmul kernel (no tape). */
export function gemm(s: GemmSpec): void {
  const { M, N, K, batch } = s;
  if (M === 0 || N === 0 || batch === 0) return;
  const variant = resolveVariant(s);
  const t = tuning;
  if (variant === 'texture' && K > 0) {
    gemmTexture(s, texturePlan(s)!, `const TM: u32 = ${t.texTm}u;\nconst TN: u32 = ${t.texTn}u;\nconst TILE: u32 = ${t.tile}u;\n`);
    return;
  }
  const prefix = `const TM: u32 = ${t.tm}u;\nconst TN: u32 = ${t.tn}u;\nconst TILE: u32 = ${t.tile}u;\n`;
  const constants: Record<string, number> = {
    TRANS_A: s.transA ? 1 : 0,
    TRANS_B: s.transB ? 1 : 0,
  };
  // The bias binding is part of every entry point's layout; without a bias it gets A (read-only, never read).
  const buffers = [s.a, s.b, s.bias ?? s.a, s.c];
  const uniforms = [M, N, K, s.strideA, s.strideB, s.strideC, s.bias ? 1 : 0];
  if (K === 0) {
    // An empty contraction: C = bias (or 0). The naive kernel's loop simply does not run.
    run({ file: 'matmul', entry: 'matmul_naive', prefix, constants: { ...constants, WG_X: 8, WG_Y: 8 }, buffers, uniforms, workgroups: [Math.ceil(N / 8), Math.ceil(M / 8), batch] });
    return;
  }
  if (variant === 'naive') {
    run({ file: 'matmul', entry: 'matmul_naive', prefix, constants: { ...constants, WG_X: 8, WG_Y: 8 }, buffers, uniforms, workgroups: [Math.ceil(N / 8), Math.ceil(M / 8), batch] });
  } else if (variant === 'tiled') {
    const bt = t.tile * 4;
    run({ file: 'matmul', entry: 'matmul_tiled', prefix, constants, buffers, uniforms, workgroups: [Math.ceil(N / bt), Math.ceil(M / bt), batch] });
  } else {
    const entry = vec4Ok(s) ? 'matmul_vec4' : 'matmul_scalar';
    run({
      file: 'matmul',
      entry,
      prefix,
      constants: { ...constants, WG_X: t.wgX, WG_Y: t.wgY },
      buffers,
      uniforms,
      workgroups: [Math.ceil(N / (t.tn * t.wgX)), Math.ceil(M / (t.tm * t.wgY)), batch],
      detail: `${batch}x${M}x${K}x${N} ${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`,
    });
  }
}

interface Operand {
  t: Tensor;
  /** Element offset between batch entries (0 = broadcast). */
  stride: number;
}

/** Product of op(A) and op(B) as tensors, with strides (0 = broadcast) and an output shape; not recorded. */
function product(
  a: Operand,
  b: Operand,
  M: number,
  N: number,
  K: number,
  batch: number,
  transA: boolean,
  transB: boolean,
  outShape: readonly number[],
  variant: MatmulVariant | undefined,
  bias?: Tensor,
): Tensor {
  const c = Tensor.empty(outShape);
  gemm({ a: a.t.buffer, b: b.t.buffer, c: c.buffer, bias: bias?.buffer, M, N, K, batch, strideA: a.stride, strideB: b.stride, strideC: M * N, transA, transB, variant });
  return c;
}

/**
 * C = op(a)·op(b) (+ bias).
 * a: [...batch, M, K] ([...batch, K, M] with transA). b: [K, N] ([N, K] with transB), broadcast over a's batch, or
 * [...batch, K, N] with the same batch dims. Out: [...batch, M, N]. The Linear layer y = x·Wᵀ + b with W [out, in]
 * is `matmul(x, W, { transB: true, bias })`.
 * Backward: dA = dC·op(B)ᵀ and dB = op(A)ᵀ·dC (summed over the batch when b was broadcast), both with the same kernel
 * and transpose flags; dbias = column sums of dC.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const variant = opts.variant;
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: operands need rank >= 2, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  const batchShape = a.shape.slice(0, -2);
  const batch = batchShape.reduce((x, y) => x * y, 1);
  const M = transA ? a.dim(-1) : a.dim(-2);
  const Ka = transA ? a.dim(-2) : a.dim(-1);
  const bBatched = b.rank > 2;
  if (bBatched && b.shape.slice(0, -2).join() !== batchShape.join()) {
    throw new Error(`matmul: batch dims of ${shapeStr(b.shape)} do not match ${shapeStr(a.shape)}`);
  }
  const K = transB ? b.dim(-1) : b.dim(-2);
  const N = transB ? b.dim(-2) : b.dim(-1);
  if (K !== Ka) throw new Error(`matmul: inner dims differ: ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} · ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''}`);
  const bias = opts.bias;
  if (bias && (bias.size !== N || bias.rank !== 1)) throw new Error(`matmul: bias ${shapeStr(bias.shape)} does not match N = ${N}`);
  const outShape = [...batchShape, M, N];

  // A broadcast weight with an untransposed, batched a: one product over the flattened batch (bigger M, one dispatch).
  const flat = !bBatched && !transA;
  const c = flat
    ? product({ t: a, stride: 0 }, { t: b, stride: 0 }, batch * M, N, K, 1, false, transB, outShape, variant, bias)
    : product({ t: a, stride: M * K }, { t: b, stride: bBatched ? K * N : 0 }, M, N, K, batch, transA, transB, outShape, variant, bias);

  const inputs = bias ? [a, b, bias] : [a, b];
  record(inputs, c, (dc) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    let dbias: Tensor | null = null;
    const sB = bBatched ? K * N : 0;
    if (a.requiresGrad) {
      if (!transA) {
        // dA [M,K] = dC·op(B)ᵀ
        da = flat
          ? product({ t: dc, stride: 0 }, { t: b, stride: 0 }, batch * M, K, N, 1, false, !transB, a.shape, variant)
          : product({ t: dc, stride: M * N }, { t: b, stride: sB }, M, K, N, batch, false, !transB, a.shape, variant);
      } else {
        // dA stored [K,M] = (dC·op(B)ᵀ)ᵀ = op(B)·dCᵀ
        da = product({ t: b, stride: sB }, { t: dc, stride: M * N }, K, M, N, batch, transB, true, a.shape, variant);
      }
    }
    if (b.requiresGrad) {
      const bShape = b.shape;
      if (bBatched) {
        // op(B) grad = op(A)ᵀ·dC per batch entry
        db = transB
          ? product({ t: dc, stride: M * N }, { t: a, stride: M * K }, N, K, M, batch, true, transA, bShape, variant)
          : product({ t: a, stride: M * K }, { t: dc, stride: M * N }, K, N, M, batch, !transA, false, bShape, variant);
      } else if (!transA) {
        // Summed over the batch: one product contracting over the flattened batch·M rows.
        const R = batch * M;
        db = transB
          ? product({ t: dc, stride: 0 }, { t: a, stride: 0 }, N, K, R, 1, true, false, bShape, variant)
          : product({ t: a, stride: 0 }, { t: dc, stride: 0 }, K, N, R, 1, true, false, bShape, variant);
      } else {
        // Aᵀ with a broadcast b: per-batch products, then a sum over the batch axis.
        const per = transB
          ? product({ t: dc, stride: M * N }, { t: a, stride: M * K }, N, K, M, batch, true, true, [batch, N, K], variant)
          : product({ t: a, stride: M * K }, { t: dc, stride: M * N }, K, N, M, batch, false, false, [batch, K, N], variant);
        const s = sum(per, 0);
        per.release();
        db = s.view(bShape);
        s.release();
      }
    }
    if (bias?.requiresGrad) {
      const rows = dc.view([batch * M, N]);
      dbias = sumRows(rows);
      rows.release();
    }
    return bias ? [da, db, dbias] : [da, db];
  });
  return c;
}

/** Naive-kernel matmul (one invocation per output), same contract as `matmul`: the benchmark's baseline. */
export function matmulNaive(a: Tensor, b: Tensor, opts: Omit<MatmulOptions, 'variant'> = {}): Tensor {
  return matmul(a, b, { ...opts, variant: 'naive' });
}
