import { gpu } from '../gpu/runtime.js';
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { needsGrad, record } from '../tensor/tape.js';
import { f, run } from './dispatch.js';

/**
 * Kernel family for attention: 'rows' runs one invocation per (batch, head, row) with serial loops and no shared
 * memory (fast on CPU-emulated adapters such as lavapipe); 'tiled' stages K/V (Q/dO) tiles in workgroup memory behind
 * barriers (the path for real GPUs). 'auto' picks by `gpu().isSoftware`; GROUPVIT_ATTENTION=rows|tiled overrides it.
 */
export type AttentionImpl = 'auto' | 'rows' | 'tiled';

export interface AttentionOptions {
  /** Number of heads H; the channel count must be H·D with D a multiple of 4. */
  heads: number;
  /** Mask key j for query i when j > i (needs Lq == Lk). */
  causal?: boolean;
  /** Multiplier of Q·Kᵀ; defaults to 1/√D. */
  scale?: number;
  impl?: AttentionImpl;
}

/** Largest head dim the kernels keep in registers (arrays of D/4 vec4s per invocation). */
export const ATTENTION_MAX_HEAD_DIM = 256;

interface Shapes {
  batch: number;
  heads: number;
  headDim: number;
  lq: number;
  lk: number;
  causal: boolean;
  scale: number;
  tiled: boolean;
}

function resolveImpl(impl: AttentionImpl | undefined): boolean {
  const env = process.env.GROUPVIT_ATTENTION;
  const choice = impl && impl !== 'auto' ? impl : env === 'rows' || env === 'tiled' ? env : 'auto';
  if (choice === 'auto') return !gpu().isSoftware;
  return choice === 'tiled';
}

function checkShapes(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Shapes {
  const bad = (why: string) =>
    new Error(`attention: ${why} (q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}, heads ${opts.heads})`);
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3) throw bad('q, k and v must be [batch, length, heads·headDim]');
  const [batch, lq, c] = q.shape;
  const lk = k.shape[1];
  if (k.shape[0] !== batch || v.shape[0] !== batch) throw bad('batch sizes differ');
  if (k.shape[2] !== c || v.shape[2] !== c) throw bad('channel counts differ');
  if (v.shape[1] !== lk) throw bad('k and v lengths differ');
  const heads = opts.heads;
  if (!Number.isInteger(heads) || heads < 1 || c % heads !== 0) throw bad('channels are not a multiple of heads');
  const headDim = c / heads;
  if (headDim % 4 !== 0 || headDim > ATTENTION_MAX_HEAD_DIM) throw bad(`head dim ${headDim} must be a multiple of 4 up to ${ATTENTION_MAX_HEAD_DIM}`);
  if (lq < 1 || lk < 1) throw bad('empty sequence');
  const causal = !!opts.causal;
  if (causal && lq !== lk) throw bad('the causal mask needs as many queries as keys');
  return { batch, heads, headDim, lq, lk, causal, scale: opts.scale ?? 1 / Math.sqrt(headDim), tiled: resolveImpl(opts.impl) };
}

// Rows path (lavapipe), measured on the 2-core lavapipe machine at 8×6×260×260×64 (see bench/attention.ts):
// 8 invocations per workgroup (one SIMD group), 4 query rows per invocation (NR = 1 group of 4; 8 rows measured no
// faster), keys 8 at a time (NK = 2; 4 keys at a time was ~5% slower, 16 ~50% slower), head-dim loops kept rolled
// (ROLL: the unrolled forward ran no faster and took ~20–40 s to compile in lavapipe's LLVM instead of ~7–10 s).
const ROWS_WG = 8;
const ROWS_NR = 1;
const ROWS_NK = 2;
const ROWS_ROLL = true;
// Tiled path (real GPUs): 64 rows per workgroup, K/V tiles of up to 32 rows in workgroup memory.
const TILED_WG = 64;
const TILED_BK = 32;

function prefix(s: Shapes): string {
  const d4 = s.headDim / 4;
  // Tiles of BK rows × D floats, two of them in workgroup memory: at most 16 KiB (WebGPU's default limit).
  const bk = Math.max(4, Math.min(TILED_BK, Math.floor(1024 / d4)));
  return [
    `const D4: u32 = ${d4}u;`,
    `const WG: u32 = ${s.tiled ? TILED_WG : ROWS_WG}u;`,
    `const BK: u32 = ${bk}u;`,
    `const ROLL: bool = ${ROWS_ROLL};`,
    `const NR: u32 = ${ROWS_NR}u;`,
    `const NK: u32 = ${ROWS_NK}u;`,
    '',
  ].join('\n');
}

function uniforms(s: Shapes) {
  const row = (s.heads * s.headDim) / 4;
  return [s.batch * s.heads, s.heads, s.lq, s.lk, row, row, s.causal ? 1 : 0, f(s.scale)];
}

/** Workgroups along the rows: the rows kernels give each invocation 4·NR (forward) or 4 (backward) rows. */
function wgCount(rows: number, s: Shapes, perInvocation = 1): number {
  return Math.ceil(rows / (s.tiled ? TILED_WG : ROWS_WG * perInvocation));
}

/** The forward kernel alone: writes out [B, Lq, H·D] and lse [B·H·Lq]. Exposed for benchmarks and the nn layer. */
export function attentionForwardInto(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, s: Shapes): void {
  const sfx = s.tiled ? '_tiled' : '';
  run({
    file: 'attention',
    entry: `attention_forward${sfx}`,
    prefix: prefix(s),
    uniforms: uniforms(s),
    buffers: [q.buffer, k.buffer, v.buffer, null, null, null, out.buffer, null, lse.buffer],
    workgroups: [wgCount(s.lq, s, 4 * ROWS_NR), s.batch * s.heads],
  });
}

/**
 * Multi-head scaled dot-product attention, fused: softmax(Q·Kᵀ·scale + mask)·V.
 * q [B, Lq, H·D], k and v [B, Lk, H·D] (head h = channels h·D .. h·D+D-1, as linear projections produce them);
 * returns [B, Lq, H·D] in the same layout. The Lq×Lk matrix is never materialised, forward or backward; the backward
 * (dq, dk, dv) recomputes probabilities from the saved per-row log-sum-exp.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  const s = checkShapes(q, k, v, opts);
  const out = Tensor.empty(q.shape);
  const lse = Tensor.empty([s.batch * s.heads * s.lq]);
  attentionForwardInto(q, k, v, out, lse, s);
  if (!needsGrad(q, k, v)) {
    lse.release();
    return out;
  }
  record([q, k, v], out, (gOut) => {
    const [dq, dk, dv] = attentionBackward(q, k, v, out, lse, gOut, s);
    lse.release();
    return [q.requiresGrad ? dq : (dq.release(), null), k.requiresGrad ? dk : (dk.release(), null), v.requiresGrad ? dv : (dv.release(), null)];
  });
  return out;
}

/** dq, dk, dv from the saved forward output and log-sum-exp; no Lq×Lk buffer. */
export function attentionBackward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, gOut: Tensor, s: Shapes): [Tensor, Tensor, Tensor] {
  const sfx = s.tiled ? '_tiled' : '';
  const dq = Tensor.empty(q.shape);
  const dk = Tensor.empty(k.shape);
  const dv = Tensor.empty(v.shape);
  const delta = Tensor.empty([s.batch * s.heads * s.lq]);
  const pre = prefix(s);
  const u = uniforms(s);
  // dQ first: it also writes Δ = rowsum(dO∘O), which the key pass reads (dispatches in one pass run in order).
  run({
    file: 'attention',
    entry: `attention_backward_q${sfx}`,
    prefix: pre,
    uniforms: u,
    buffers: [q.buffer, k.buffer, v.buffer, out.buffer, gOut.buffer, lse.buffer, dq.buffer, null, delta.buffer],
    workgroups: [wgCount(s.lq, s, 4), s.batch * s.heads],
  });
  run({
    file: 'attention',
    entry: `attention_backward_kv${sfx}`,
    prefix: pre,
    uniforms: u,
    buffers: [q.buffer, k.buffer, v.buffer, null, gOut.buffer, lse.buffer, dk.buffer, dv.buffer, delta.buffer],
    workgroups: [wgCount(s.lk, s, 4), s.batch * s.heads],
  });
  delta.release();
  return [dq, dk, dv];
}

/** Resolved shapes and flags for the lower-level entry points (attentionForwardInto, attentionBackward). */
export function attentionShapes(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Shapes {
  return checkShapes(q, k, v, opts);
}

export type { Shapes as AttentionShapes };

/** FLOPs of one forward (2 matmuls of Lq·Lk·D per head; half of them under the causal mask). */
export function attentionFlops(batch: number, heads: number, lq: number, lk: number, headDim: number, causal = false): number {
  const pairs = causal ? (lq * (lq + 1)) / 2 : lq * lk;
  return 4 * batch * heads * pairs * headDim;
}
