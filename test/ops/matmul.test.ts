// Every matmul kernel (kernels/matmul.wgsl, and kernels/matmul-texture.wgsl for the 'texture' variant) against a float64
// reference on shapes that are not multiples of any tile, forward and backward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, numericGrad, randn, rng, useGpu, weightedSum } from '../helpers.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { backward } from '../../src/tensor/tape.js';
import { gemm, matmul, type MatmulVariant } from '../../src/ops/matmul.js';
import { gpu } from '../../src/gpu/runtime.js';
import '../../src/ops/elementwise.js'; // installs the tape's gradient accumulation

useGpu();

// ------------------------------------------------------------------ float64 reference

interface Case {
  batch: number[]; // a's batch dims
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  bBatched: boolean;
  bias: boolean;
}

function aShape(c: Case): number[] {
  return [...c.batch, ...(c.transA ? [c.K, c.M] : [c.M, c.K])];
}
function bShape(c: Case): number[] {
  return [...(c.bBatched ? c.batch : []), ...(c.transB ? [c.N, c.K] : [c.K, c.N])];
}
const prod = (s: number[]) => s.reduce((x, y) => x * y, 1);

/** C[z,m,n] = Σ_k op(A)[z,m,k]·op(B)[z,k,n] + bias[n], in float64 with plain loops. */
function reference(c: Case, a: Float64Array, b: Float64Array, bias: Float64Array | null): Float64Array {
  const { M, K, N } = c;
  const Z = prod(c.batch);
  const out = new Float64Array(Z * M * N);
  for (let z = 0; z < Z; z++) {
    const ao = z * M * K;
    const bo = c.bBatched ? z * K * N : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = bias ? bias[n] : 0;
        for (let k = 0; k < K; k++) {
          const av = c.transA ? a[ao + k * M + m] : a[ao + m * K + k];
          const bv = c.transB ? b[bo + n * K + k] : b[bo + k * N + n];
          s += av * bv;
        }
        out[(z * M + m) * N + n] = s;
      }
    }
  }
  return out;
}

function inputs(c: Case, seed: number) {
  const a = randn(prod(aShape(c)), seed);
  const b = randn(prod(bShape(c)), seed + 1);
  const bias = c.bias ? randn(c.N, seed + 2) : null;
  return { a, b, bias };
}

function label(c: Case, v: string): string {
  return `${v} [${c.batch}]${c.M}x${c.K}x${c.N} ${c.transA ? 'T' : 'N'}${c.transB ? 'T' : 'N'}${c.bBatched ? ' batchedB' : ''}${c.bias ? ' +bias' : ''}`;
}

async function forward(c: Case, variant: MatmulVariant, seed: number): Promise<void> {
  const { a, b, bias } = inputs(c, seed);
  const ta = Tensor.fromArray(a, aShape(c));
  const tb = Tensor.fromArray(b, bShape(c));
  const tbias = bias ? Tensor.fromArray(bias, [c.N]) : undefined;
  const out = matmul(ta, tb, { transA: c.transA, transB: c.transB, bias: tbias, variant });
  assert.deepEqual(out.shape, [...c.batch, c.M, c.N]);
  const got = await out.toArray();
  const want = reference(c, a, b, bias);
  // f32 accumulation of K products of N(0,1) values: error grows like sqrt(K)·eps·|terms|.
  assertClose(got, want, 2e-5 * Math.sqrt(c.K) * 4, 1e-5, label(c, variant));
  for (const t of [ta, tb, tbias, out]) t?.release();
}

const combos: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

// Shapes: odd sizes (no vec4 path, scalar register kernel), multiples of 4 that are not multiples of any tile (vec4
// path with edge clamping), K not a multiple of 4 with M,N multiples of 4 (vec4 path's K tail for Aᵀ·B), and 1s.
const shapes: [number, number, number][] = [
  [1, 7, 33],
  [33, 65, 7],
  [65, 130, 33],
  [36, 64, 20],
  [12, 7, 20],
  [130, 33, 68],
  [4, 1, 4],
];

for (const variant of ['texture', 'register', 'tiled', 'naive'] as const) {
  test(`matmul forward (${variant}): 4 transpose combos × odd shapes, bias`, async () => {
    let seed = 1;
    for (const [transA, transB] of combos) {
      for (const [M, K, N] of shapes) {
        const bias = (M + K + N) % 2 === 0;
        await forward({ batch: [], M, K, N, transA, transB, bBatched: false, bias }, variant, seed++);
      }
    }
  });

  test(`matmul forward (${variant}): batched and broadcast b`, async () => {
    let seed = 100;
    for (const [transA, transB] of combos) {
      await forward({ batch: [3], M: 33, K: 20, N: 36, transA, transB, bBatched: true, bias: false }, variant, seed++);
      await forward({ batch: [2, 3], M: 12, K: 9, N: 8, transA, transB, bBatched: true, bias: true }, variant, seed++);
      await forward({ batch: [2, 3], M: 7, K: 24, N: 40, transA, transB, bBatched: false, bias: true }, variant, seed++);
      await forward({ batch: [5], M: 13, K: 5, N: 3, transA, transB, bBatched: false, bias: false }, variant, seed++);
    }
  });
}

test('matmul forward: default variant and a Linear layer shape', async () => {
  // auto picks the register kernel on lavapipe and the tiled one on real GPUs
  await forward({ batch: [2], M: 50, K: 64, N: 96, transA: false, transB: true, bBatched: false, bias: true }, 'auto', 7);
});

test('matmul forward: larger than several workgroups in every direction', async () => {
  await forward({ batch: [2], M: 200, K: 132, N: 260, transA: false, transB: false, bBatched: true, bias: true }, 'register', 8);
  await forward({ batch: [], M: 257, K: 96, N: 131, transA: true, transB: true, bBatched: false, bias: false }, 'tiled', 9);
  await forward({ batch: [3], M: 300, K: 70, N: 270, transA: false, transB: true, bBatched: false, bias: true }, 'texture', 10);
  await forward({ batch: [2], M: 131, K: 45, N: 263, transA: true, transB: false, bBatched: true, bias: false }, 'texture', 11);
});

/** Runs fn with GROUPVIT_MATMUL_COPY set (which operands the texture kernel copies rather than packs), then restores it. */
async function withCopyMode<T>(mode: string, fn: () => Promise<T>): Promise<T> {
  const prev = process.env.GROUPVIT_MATMUL_COPY;
  process.env.GROUPVIT_MATMUL_COPY = mode;
  try {
    return await fn();
  } finally {
    if (prev === undefined) delete process.env.GROUPVIT_MATMUL_COPY;
    else process.env.GROUPVIT_MATMUL_COPY = prev;
  }
}

test('matmul texture: operands copied as stored (rows past a texture row, batches, broadcast) against float64, and packed ones', async () => {
  // K and N multiples of 4 with op(X) = X take copyBufferToTexture (A_ROWS/B_ROWS); 2100·16/4 texels span more than one
  // 8192-texel texture row; the transposed operands of the same cases are packed.
  let seed = 300;
  for (const [transA, transB] of combos) {
    await forward({ batch: [], M: 2100, K: 16, N: 20, transA, transB, bBatched: false, bias: true }, 'texture', seed++);
    await forward({ batch: [3], M: 37, K: 44, N: 52, transA, transB, bBatched: true, bias: false }, 'texture', seed++);
    await forward({ batch: [2], M: 19, K: 8, N: 132, transA, transB, bBatched: false, bias: true }, 'texture', seed++);
  }
  await withCopyMode('0', async () => {
    for (const [M, K, N] of shapes) await forward({ batch: [2], M, K, N, transA: false, transB: false, bBatched: true, bias: false }, 'texture', seed++);
  });
});

test('matmul texture: a copied operand gives the packed result bit for bit, with one dispatch instead of three', async () => {
  const M = 70;
  const K = 36;
  const N = 44;
  const a = Tensor.fromArray(randn(M * K, 41), [M, K]);
  const b = Tensor.fromArray(randn(K * N, 42), [K, N]);
  const runWith = (copy: string) =>
    withCopyMode(copy, async () => {
      const before = gpu().dispatchCount;
      const out = matmul(a, b, { variant: 'texture' });
      const dispatches = gpu().dispatchCount - before;
      const values = await out.toArray();
      out.release();
      return { dispatches, values };
    });
  const copied = await runWith('AB');
  const packed = await runWith('0');
  assert.equal(copied.dispatches, 1);
  assert.equal(packed.dispatches, 3);
  assert.deepEqual([...copied.values], [...packed.values]);
  a.release();
  b.release();
});

test('matmul: an empty contraction gives the bias', async () => {
  const a = Tensor.zeros([3, 0]);
  const b = Tensor.zeros([0, 5]);
  const bias = Tensor.fromArray([1, 2, 3, 4, 5], [5]);
  const out = await matmul(a, b, { bias }).toArray();
  assert.deepEqual([...out], [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
});

test('matmul: shape errors', () => {
  const a = Tensor.zeros([3, 4]);
  const b = Tensor.zeros([5, 6]);
  assert.throws(() => matmul(a, b), /inner dims/);
  assert.throws(() => matmul(a, Tensor.zeros([2, 4, 6])), /batch dims/);
  assert.throws(() => matmul(a, Tensor.zeros([4, 6]), { bias: Tensor.zeros([5]) }), /bias/);
});

test('gemm: every kernel leaves memory outside C untouched', async () => {
  // C lives inside a larger buffer filled with a sentinel: a store past a bound would overwrite it.
  const M = 33;
  const N = 36;
  const K = 20;
  const a = Tensor.fromArray(randn(M * K, 3), [M, K]);
  const b = Tensor.fromArray(randn(K * N, 4), [K, N]);
  for (const variant of ['texture', 'register', 'tiled', 'naive'] as const) {
    const c = Tensor.full([M * N + 64], 7);
    gemm({ a: a.buffer, b: b.buffer, c: c.buffer, M, N, K, batch: 1, strideA: 0, strideB: 0, strideC: 0, transA: false, transB: false, variant });
    const got = await c.toArray();
    for (let i = M * N; i < got.length; i++) assert.equal(got[i], 7, `${variant}: wrote past C at ${i}`);
    c.release();
  }
});

// ------------------------------------------------------------------ backward

async function gradCheck(c: Case, variant: MatmulVariant, seed: number): Promise<void> {
  const { a, b, bias } = inputs(c, seed);
  const outShape = [...c.batch, c.M, c.N];
  const w = randn(prod(outShape), seed + 3);
  const ta = Tensor.fromArray(a, aShape(c));
  const tb = Tensor.fromArray(b, bShape(c));
  const tbias = bias ? Tensor.fromArray(bias, [c.N]) : undefined;
  ta.requiresGrad = true;
  tb.requiresGrad = true;
  if (tbias) tbias.requiresGrad = true;
  const out = matmul(ta, tb, { transA: c.transA, transB: c.transB, bias: tbias, variant });
  // d(Σ w·C)/dC = w: seed the walk with it
  backward(out, Tensor.fromArray(w, outShape));
  const grads = [await ta.grad!.toArray(), await tb.grad!.toArray(), tbias ? await tbias.grad!.toArray() : null];

  const loss = (x: Float64Array, which: number) => {
    const args = [a, b, bias];
    args[which] = x;
    return weightedSum(reference(c, args[0]!, args[1]!, args[2]), w);
  };
  const r = rng(seed);
  const targets = [a, b, bias];
  for (let which = 0; which < 3; which++) {
    const x = targets[which];
    if (!x) continue;
    const got = grads[which]!;
    assert.equal(got.length, x.length);
    // a few sampled coordinates, always including the first and the last
    const idx = [0, x.length - 1, ...Array.from({ length: 6 }, () => Math.floor(r() * x.length))];
    const num = numericGrad((v) => loss(v, which), x, 1e-3, idx);
    const gotAt = idx.map((i) => got[i]);
    const numAt = idx.map((i) => num[i]);
    const rows = prod(c.batch) * (which === 0 ? 1 : c.M);
    assertClose(gotAt, numAt, 1e-4 * Math.sqrt(rows * Math.max(c.N, c.M)) + 1e-4, 1e-4, `${label(c, variant)} d${['A', 'B', 'bias'][which]}`);
  }
  for (const t of [ta, tb, tbias, out]) {
    t?.grad?.release();
    t?.release();
  }
}

for (const variant of ['texture', 'register', 'tiled'] as const) {
  test(`matmul backward (${variant}): dA, dB, dbias vs finite differences`, async () => {
    let seed = 500;
    for (const [transA, transB] of combos) {
      // broadcast weight over a batch (the Linear case), batched b, and odd plain 2-D shapes
      await gradCheck({ batch: [2, 3], M: 7, K: 12, N: 20, transA, transB, bBatched: false, bias: true }, variant, seed++);
      await gradCheck({ batch: [3], M: 12, K: 8, N: 9, transA, transB, bBatched: true, bias: false }, variant, seed++);
      await gradCheck({ batch: [], M: 33, K: 7, N: 65, transA, transB, bBatched: false, bias: true }, variant, seed++);
    }
  });
}

test('matmul backward: gradients accumulate when a weight is used twice', async () => {
  const c: Case = { batch: [], M: 5, K: 8, N: 4, transA: false, transB: true, bBatched: false, bias: false };
  const { a, b } = inputs(c, 900);
  const ta = Tensor.fromArray(a, [5, 8]);
  const tw = Tensor.fromArray(b, [4, 8]);
  tw.requiresGrad = true;
  const y1 = matmul(ta, tw, { transB: true });
  const y2 = matmul(y1, tw); // [5,4]·[4,8]
  const w = randn(5 * 8, 901);
  backward(y2, Tensor.fromArray(w, [5, 8]));
  const got = await tw.grad!.toArray();
  const f = (W: Float64Array) => {
    const y = reference(c, a, W, null);
    const c2: Case = { batch: [], M: 5, K: 4, N: 8, transA: false, transB: false, bBatched: false, bias: false };
    return weightedSum(reference(c2, y, W, null), w);
  };
  const num = numericGrad(f, Float64Array.from(b), 1e-4);
  assertClose(got, num, 1e-3, 1e-3, 'dW');
  assert.ok(gpu().dispatchCount > 0);
});
