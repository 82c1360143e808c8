import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, numericGrad, randn, rng, useGpu, weightedSum } from '../helpers.js';
import { gpu } from '../../src/gpu/runtime.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { backward, noGrad } from '../../src/tensor/tape.js';
import { attention, type AttentionImpl } from '../../src/ops/attention.js';
import { mul } from '../../src/ops/elementwise.js';
import { sumAll } from '../../src/ops/reduce.js';

useGpu();

// ------------------------------------------------------------------ float64 reference (plain loops)

interface Case {
  b: number;
  lq: number;
  lk: number;
  h: number;
  d: number;
  causal?: boolean;
  scale?: number;
}

/** O = softmax(Q·Kᵀ·scale + mask)·V per batch and head; layouts [B, L, H·D]. Returns O and the probabilities. */
function refForward(c: Case, q: Float64Array, k: Float64Array, v: Float64Array): { o: Float64Array; p: Float64Array } {
  const { b: B, lq, lk, h: H, d: D } = c;
  const C = H * D;
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const o = new Float64Array(B * lq * C);
  const p = new Float64Array(B * H * lq * lk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < lq; i++) {
        const row = ((b * H + h) * lq + i) * lk;
        let m = -Infinity;
        for (let j = 0; j < lk; j++) {
          let s = 0;
          for (let e = 0; e < D; e++) s += q[(b * lq + i) * C + h * D + e] * k[(b * lk + j) * C + h * D + e];
          s = c.causal && j > i ? -Infinity : s * scale;
          p[row + j] = s;
          m = Math.max(m, s);
        }
        let z = 0;
        for (let j = 0; j < lk; j++) z += p[row + j] = Math.exp(p[row + j] - m);
        for (let j = 0; j < lk; j++) p[row + j] /= z;
        for (let e = 0; e < D; e++) {
          let acc = 0;
          for (let j = 0; j < lk; j++) acc += p[row + j] * v[(b * lk + j) * C + h * D + e];
          o[(b * lq + i) * C + h * D + e] = acc;
        }
      }
  return { o, p };
}

/** Analytic gradients of Σ w∘O in float64 (dP = dO·Vᵀ, dS = P∘(dP − rowsum(P∘dP)), dQ = dS·K·scale, ...). */
function refBackward(c: Case, q: Float64Array, k: Float64Array, v: Float64Array, w: Float64Array) {
  const { b: B, lq, lk, h: H, d: D } = c;
  const C = H * D;
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const { p } = refForward(c, q, k, v);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const dp = new Float64Array(lk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < lq; i++) {
        const row = ((b * H + h) * lq + i) * lk;
        const oi = (b * lq + i) * C + h * D;
        let dot = 0;
        for (let j = 0; j < lk; j++) {
          let s = 0;
          for (let e = 0; e < D; e++) {
            s += w[oi + e] * v[(b * lk + j) * C + h * D + e];
            dv[(b * lk + j) * C + h * D + e] += p[row + j] * w[oi + e];
          }
          dp[j] = s;
          dot += p[row + j] * s;
        }
        for (let j = 0; j < lk; j++) {
          const ds = p[row + j] * (dp[j] - dot) * scale;
          for (let e = 0; e < D; e++) {
            dq[oi + e] += ds * k[(b * lk + j) * C + h * D + e];
            dk[(b * lk + j) * C + h * D + e] += ds * q[oi + e];
          }
        }
      }
  return { dq, dk, dv };
}

// ------------------------------------------------------------------ helpers

function inputs(c: Case, seed: number, amp = 1) {
  const C = c.h * c.d;
  return {
    q: randn(c.b * c.lq * C, seed, amp),
    k: randn(c.b * c.lk * C, seed + 1, amp),
    v: randn(c.b * c.lk * C, seed + 2),
    w: randn(c.b * c.lq * C, seed + 3),
  };
}

function label(c: Case): string {
  return `B${c.b} ${c.lq}x${c.lk} H${c.h} D${c.d}${c.causal ? ' causal' : ''}${c.scale !== undefined ? ` scale ${c.scale}` : ''}`;
}

async function gpuForward(c: Case, q: Float64Array, k: Float64Array, v: Float64Array, impl: AttentionImpl = 'auto'): Promise<Float32Array> {
  const C = c.h * c.d;
  return noGrad(() => {
    const tq = Tensor.fromArray(q, [c.b, c.lq, C]);
    const tk = Tensor.fromArray(k, [c.b, c.lk, C]);
    const tv = Tensor.fromArray(v, [c.b, c.lk, C]);
    const o = attention(tq, tk, tv, { heads: c.h, causal: c.causal, scale: c.scale, impl });
    const r = o.toArray();
    r.finally(() => [tq, tk, tv, o].forEach((t) => t.release()));
    return r;
  });
}

async function gpuGrads(c: Case, q: Float64Array, k: Float64Array, v: Float64Array, w: Float64Array, impl: AttentionImpl = 'auto') {
  const C = c.h * c.d;
  const tq = Tensor.fromArray(q, [c.b, c.lq, C]);
  const tk = Tensor.fromArray(k, [c.b, c.lk, C]);
  const tv = Tensor.fromArray(v, [c.b, c.lk, C]);
  const tw = Tensor.fromArray(w, [c.b, c.lq, C]);
  for (const t of [tq, tk, tv]) t.requiresGrad = true;
  const o = attention(tq, tk, tv, { heads: c.h, causal: c.causal, scale: c.scale, impl });
  const loss = sumAll(mul(o, tw));
  backward(loss);
  const out = {
    o: await o.toArray(),
    dq: await tq.grad!.toArray(),
    dk: await tk.grad!.toArray(),
    dv: await tv.grad!.toArray(),
  };
  for (const t of [tq, tk, tv]) t.grad!.release();
  for (const t of [tq, tk, tv, tw, o, loss]) t.release();
  return out;
}

/** Forward and all three gradients against the float64 reference, plus finite differences at a few coordinates. */
async function checkCase(c: Case, seed: number, impl: AttentionImpl = 'auto', fdPoints = 4): Promise<void> {
  const { q, k, v, w } = inputs(c, seed);
  const got = await gpuGrads(c, q, k, v, w, impl);
  const want = refForward(c, q, k, v).o;
  assertClose(got.o, want, 2e-5, 1e-4, `${label(c)} forward`);
  const g = refBackward(c, q, k, v, w);
  assertClose(got.dq, g.dq, 1e-4, 1e-3, `${label(c)} dq`);
  assertClose(got.dk, g.dk, 1e-4, 1e-3, `${label(c)} dk`);
  assertClose(got.dv, g.dv, 1e-4, 1e-3, `${label(c)} dv`);
  // Finite differences of the float64 loss (judges the reference and the kernels alike).
  const r = rng(seed + 99);
  for (const [name, x, gx] of [
    ['dq', q, got.dq],
    ['dk', k, got.dk],
    ['dv', v, got.dv],
  ] as const) {
    const idx = Array.from({ length: fdPoints }, () => Math.floor(r() * x.length));
    const num = numericGrad((xx) => weightedSum(refForward(c, name === 'dq' ? xx : q, name === 'dk' ? xx : k, name === 'dv' ? xx : v).o, w), x, 1e-5, idx);
    assertClose(
      idx.map((i) => gx[i]),
      idx.map((i) => num[i]),
      2e-4,
      2e-3,
      `${label(c)} ${name} vs finite differences`,
    );
  }
}

// ------------------------------------------------------------------ forward + backward at odd lengths

const selfCases: Case[] = [
  { b: 2, lq: 7, lk: 7, h: 3, d: 16 },
  { b: 1, lq: 65, lk: 65, h: 2, d: 64 },
  { b: 1, lq: 260, lk: 260, h: 1, d: 64 },
  { b: 1, lq: 1, lk: 1, h: 6, d: 16 },
];
const causalCases: Case[] = [
  { b: 2, lq: 8, lk: 8, h: 1, d: 64, causal: true },
  { b: 1, lq: 77, lk: 77, h: 4, d: 16, causal: true },
  { b: 2, lq: 65, lk: 65, h: 2, d: 64, causal: true },
];
const crossCases: Case[] = [
  { b: 2, lq: 1, lk: 77, h: 6, d: 16 },
  { b: 1, lq: 65, lk: 8, h: 1, d: 64 },
  { b: 1, lq: 7, lk: 260, h: 2, d: 16 },
  { b: 1, lq: 64, lk: 196, h: 6, d: 16, scale: 0.37 },
];

for (const [kind, cases] of [
  ['self', selfCases],
  ['causal', causalCases],
  ['cross', crossCases],
] as const) {
  test(`attention ${kind}: forward, dq, dk, dv vs float64 reference and finite differences`, async () => {
    let seed = 10;
    for (const c of cases) await checkCase(c, (seed += 10));
  });
}

test('attention: the tiled (real-GPU) kernels agree with the reference on lavapipe too', async () => {
  await checkCase({ b: 1, lq: 65, lk: 77, h: 2, d: 16 }, 501, 'tiled', 2);
  await checkCase({ b: 1, lq: 33, lk: 33, h: 1, d: 64, causal: true }, 502, 'tiled', 2);
  await checkCase({ b: 2, lq: 1, lk: 8, h: 3, d: 16 }, 503, 'tiled', 2);
});

test('attention: rows kernels on texture copies past one texture row, and on the buffers themselves', async () => {
  // 2·200·128 floats are 12800 texels: the copy spans a whole 8192-texel row and part of the next
  await checkCase({ b: 2, lq: 200, lk: 200, h: 2, d: 64 }, 601, 'rows', 2);
  const prev = process.env.GROUPVIT_ATTENTION_TEX;
  process.env.GROUPVIT_ATTENTION_TEX = '0';
  try {
    await checkCase({ b: 1, lq: 65, lk: 77, h: 2, d: 16 }, 602, 'rows', 2);
    await checkCase({ b: 2, lq: 33, lk: 33, h: 1, d: 64, causal: true }, 603, 'rows', 2);
  } finally {
    if (prev === undefined) delete process.env.GROUPVIT_ATTENTION_TEX;
    else process.env.GROUPVIT_ATTENTION_TEX = prev;
  }
});

// ------------------------------------------------------------------ the scale, the mask and the softmax

test('attention: explicit scale and large logits (online softmax rescaling across blocks stays exact)', async () => {
  // Scores grow along the keys so the running max changes in every block; amplitude 4 gives logits of ~±100.
  const c: Case = { b: 1, lq: 33, lk: 72, h: 2, d: 16, scale: 0.5 };
  const { q, k, v } = inputs(c, 7, 2);
  for (let j = 0; j < c.lk; j++) for (let e = 0; e < c.h * c.d; e++) k[j * c.h * c.d + e] += (j / c.lk) * 0.5;
  const got = await gpuForward(c, q, k, v);
  assertClose(got, refForward(c, q, k, v).o, 1e-4, 1e-3, 'large logits');
  // A different scale gives a different answer: the kernel must not ignore the option.
  const other = refForward({ ...c, scale: 0.25 }, q, k, v).o;
  assert.ok(Math.max(...got.map((x, i) => Math.abs(x - other[i]))) > 1e-2, 'scale option ignored');
  // And the default is 1/sqrt(D).
  const def = { ...c, scale: undefined };
  assertClose(await gpuForward(def, q, k, v), refForward({ ...c, scale: 1 / Math.sqrt(c.d) }, q, k, v).o, 2e-5, 1e-4, 'default scale');
});

test('attention: causal mask does not leak (perturbing a later token leaves earlier outputs bit-identical)', async () => {
  const c: Case = { b: 2, lq: 77, lk: 77, h: 4, d: 16, causal: true };
  const { q, k, v } = inputs(c, 33);
  const before = await gpuForward(c, q, k, v);
  const C = c.h * c.d;
  for (const t of [1, 40, 76]) {
    const q2 = q.slice();
    const k2 = k.slice();
    const v2 = v.slice();
    for (let b = 0; b < c.b; b++)
      for (let e = 0; e < C; e++) {
        const at = (b * c.lq + t) * C + e;
        q2[at] += 3;
        k2[at] += 5; // a large key would dominate every softmax it leaked into
        v2[at] -= 7;
      }
    const after = await gpuForward(c, q2, k2, v2);
    for (let b = 0; b < c.b; b++) {
      for (let i = 0; i < t; i++)
        for (let e = 0; e < C; e++) {
          const at = (b * c.lq + i) * C + e;
          assert.equal(after[at], before[at], `token ${t} leaked into output ${i} (batch ${b}, channel ${e})`);
        }
      let changed = 0;
      for (let e = 0; e < C; e++) changed += after[(b * c.lq + t) * C + e] !== before[(b * c.lq + t) * C + e] ? 1 : 0;
      assert.ok(changed > 0, `perturbing token ${t} did not change its own output`);
    }
  }
  // Without the mask the same perturbation does reach earlier rows (the test can see a leak).
  const nc = { ...c, causal: false };
  const o1 = await gpuForward(nc, q, k, v);
  const k3 = k.slice();
  for (let e = 0; e < C; e++) k3[40 * C + e] += 5;
  const o2 = await gpuForward(nc, q, k3, v);
  assert.notEqual(o1[0], o2[0]);
});

test('attention: rows of the softmax sum to one (constant V gives constant output)', async () => {
  const c: Case = { b: 1, lq: 65, lk: 77, h: 2, d: 16 };
  const { q, k } = inputs(c, 77, 3);
  const v = new Float64Array(c.b * c.lk * c.h * c.d).fill(1.5);
  const got = await gpuForward(c, q, k, v);
  assertClose(got, new Float64Array(got.length).fill(1.5), 1e-5, 1e-5, 'normalisation');
});

// ------------------------------------------------------------------ memory: no Lq×Lk buffer

test('attention: no Lq×Lk buffer is allocated, forward (noGrad) or backward', async () => {
  const c: Case = { b: 2, lq: 260, lk: 260, h: 6, d: 64 };
  const C = c.h * c.d;
  const nn = c.b * c.h * c.lq * c.lk * 4; // bytes of one probability matrix
  const act = c.b * c.lq * C * 4; // bytes of one activation
  const pool = gpu().pool;
  const q = Tensor.fromArray(randn(c.b * c.lq * C, 1), [c.b, c.lq, C]);
  const k = Tensor.fromArray(randn(c.b * c.lk * C, 2), [c.b, c.lk, C]);
  const v = Tensor.fromArray(randn(c.b * c.lk * C, 3), [c.b, c.lk, C]);
  await gpu().sync();
  pool.resetPeak();
  const base = pool.liveBytes;
  const o = noGrad(() => attention(q, k, v, { heads: c.h }));
  await gpu().sync();
  const fwdExtra = pool.peakBytes - base;
  assert.ok(fwdExtra <= act * 1.25 + 65536, `forward allocated ${fwdExtra} B (one output is ${act} B)`);
  assert.ok(fwdExtra < nn, 'forward allocated an Lq×Lk buffer');
  o.release();

  for (const t of [q, k, v]) t.requiresGrad = true;
  const g = Tensor.fromArray(randn(c.b * c.lq * C, 4), [c.b, c.lq, C]);
  await gpu().sync();
  pool.resetPeak();
  const base2 = pool.liveBytes;
  const o2 = attention(q, k, v, { heads: c.h });
  backward(o2, g);
  await gpu().sync();
  const extra = pool.peakBytes - base2;
  // out + dq + dk + dv (+ lse and Δ, tiny): 4 activations
  assert.ok(extra <= 4 * act * 1.25 + 65536 * 4, `forward+backward allocated ${extra} B`);
  for (const t of [q, k, v]) t.grad?.release();
  for (const t of [q, k, v, o2]) t.release();
});

test('attention: shape errors are reported', () => {
  const q = Tensor.empty([1, 4, 32]);
  const k = Tensor.empty([1, 5, 32]);
  assert.throws(() => attention(q, k, k, { heads: 3 }), /multiple of heads/);
  assert.throws(() => attention(q, k, k, { heads: 2, causal: true }), /causal/);
  assert.throws(() => attention(q, k, Tensor.empty([1, 6, 32]), { heads: 2 }), /lengths differ/);
  assert.throws(() => attention(q, k, k, { heads: 16 }), /head dim/);
});
