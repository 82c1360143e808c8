import { gpu } from '../gpu/runtime.js';
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { run } from './dispatch.js';
import { sum, sumRows } from './reduce.js';

/**
 * Which kernel of kernels/matmul.wgsl runs:
 *  - 'register': register-blocked, no shared memory (vec4 loads where the shape allows, else scalar loads): lavapipe.
 *  - 'tiled': shared-memory tiles with barriers: real GPUs.
 *  - 'naive': one invocation per output (benchmark baseline).
 * 'auto' picks 'register' on software adapters and 'tiled' elsewhere. GROUPVIT_MATMUL overrides 'auto' (tests use it
 * to run every variant on lavapipe).
 */
export type MatmulVariant = 'auto' | 'register' | 'tiled' | 'naive';

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
}

const tuning: MatmulTuning = { tm: 4, tn: 4, wgX: 8, wgY: 8, tile: 16 };

/** Benchmarks and tuning experiments adjust the blocking; returns the previous setting. */
export function setMatmulTuning(t: Partial<MatmulTuning>): MatmulTuning {
  const prev = { ...tuning };
  Object.assign(tuning, t);
  if (tuning.tn % 4 !== 0 || tuning.tm % 4 !== 0) {
    Object.assign(tuning, prev);
    throw new Error('matmul tuning: tm and tn must be multiples of 4');
  }
  return prev;
}

export function getMatmulTuning(): MatmulTuning {
  return { ...tuning };
}

function resolveVariant(v: MatmulVariant | undefined): Exclude<MatmulVariant, 'auto'> {
  let choice = v ?? 'auto';
  if (choice === 'auto') {
    const env = process.env.GROUPVIT_MATMUL;
    if (env === 'register' || env === 'tiled' || env === 'naive') choice = env;
  }
  if (choice === 'auto') return gpu().isSoftware ? 'register' : 'tiled';
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

/** The entry point of kernels/matmul.wgsl that `gemm` runs for this spec, with its blocking (benchmarks print it). */
export function gemmKernel(s: Pick<GemmSpec, 'M' | 'N' | 'K' | 'strideA' | 'strideB' | 'strideC' | 'transA' | 'transB' | 'variant'>): string {
  const variant = resolveVariant(s.variant);
  const t = tuning;
  if (variant === 'naive' || s.K === 0) return 'naive';
  if (variant === 'tiled') return `tiled ${t.tile}x${t.tile}x(4x4)`;
  return `${vec4Ok(s as GemmSpec) ? 'vec4' : 'scalar'} ${t.wgX}x${t.wgY}x(${t.tm}x${t.tn})`;
}

/** Records one dispatch of the chosen matmul kernel (no tape). */
export function gemm(s: GemmSpec): void {
  const { M, N, K, batch } = s;
  if (M === 0 || N === 0 || batch === 0) return;
  const variant = resolveVariant(s.variant);
  const t = tuning;
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
