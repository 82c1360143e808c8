import { gpu } from '../gpu/runtime.js';
import { TEXEL_ROW } from '../gpu/context.js';
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
  /** The rows kernels read q, k, v (o, dO) from texture copies (lavapipe); else from the buffers. */
  tex: boolean;
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
  const tiled = resolveImpl(opts.impl);
  const tex = !tiled && gpu().isSoftware && process.env.GROUPVIT_ATTENTION_TEX !== '0';
  return { batch, heads, headDim, lq, lk, causal, scale: opts.scale ?? 1 / Math.sqrt(headDim), tiled, tex };
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

function prefix(s: Shapes, entry: Entry): string {
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
    ...bindings(s.tex ? STREAMED[entry] : []),
    '',
  ].join('\n');
}

type Entry = 'forward' | 'backward_q' | 'backward_kv';

/**
 * With textures (s.tex), the operands each rows entry point reads inside its loop over the other sequence: those
 * loads are its cost. The rest stay buffers (read once per invocation), which keeps within WebGPU's default of 4
 * storage textures per stage.
 */
const STREAMED: Record<Entry, readonly string[]> = {
  forward: ['k', 'v'],
  backward_q: ['k', 'v'],
  backward_kv: ['q', 'dout', 'lse', 'delta'],
};

/** Bindings 1-5 of kernels/attention.wgsl, in order. */
const OPERANDS = ['q', 'k', 'v', 'o', 'dout'] as const;

/** Declarations of bindings 1-6 (and 10: Δ as a texture) and their loads ld_q .. ld_dout, ld_lse, ld_delta. */
function bindings(textures: readonly string[]): string[] {
  const texel = (name: string, i: string) => `textureLoad(${name}, vec2u((${i}) % ${TEXEL_ROW}u, (${i}) / ${TEXEL_ROW}u))`;
  const lines = OPERANDS.flatMap((name, i) =>
    textures.includes(name)
      ? [`@group(0) @binding(${i + 1}) var ${name}: texture_storage_2d<rgba32float, read>;`, `fn ld_${name}(i: u32) -> vec4f { return ${texel(name, 'i')}; }`]
      : [`@group(0) @binding(${i + 1}) var<storage, read> ${name}: array<vec4f>;`, `fn ld_${name}(i: u32) -> vec4f { return ${name}[i]; }`],
  );
  // lse and Δ are f32 per row: as textures, four rows to a texel
  if (textures.includes('lse')) {
    lines.push('@group(0) @binding(6) var lse: texture_storage_2d<rgba32float, read>;', `fn ld_lse(i: u32) -> f32 { return ${texel('lse', 'i / 4u')}[i % 4u]; }`);
  } else {
    lines.push('@group(0) @binding(6) var<storage, read> lse: array<f32>;', 'fn ld_lse(i: u32) -> f32 { return lse[i]; }');
  }
  if (textures.includes('delta')) {
    lines.push('@group(0) @binding(10) var dl: texture_storage_2d<rgba32float, read>;', `fn ld_delta(i: u32) -> f32 { return ${texel('dl', 'i / 4u')}[i % 4u]; }`);
  } else {
    lines.push('fn ld_delta(i: u32) -> f32 { return stat[i]; }');
  }
  return lines;
}

interface Bound {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  o?: Tensor;
  dout?: Tensor;
  lse: Tensor;
  out0: Tensor;
  out1?: Tensor;
  stat: Tensor;
}

/**
 * The bindings of an entry point, 1-10: with s.tex, the ones it streams copied into scratch textures of their own role
 * (a memcpy on lavapipe; texture loads there cost a fraction of buffer loads), else buffers. Δ (binding 10) is given
 * only to backward_kv with textures; else it is read from stat (binding 9).
 */
function bind(s: Shapes, entry: Entry, ts: Bound): (GPUBuffer | GPUTexture | null)[] {
  const g = gpu();
  const streamed = s.tex ? STREAMED[entry] : [];
  const tex = (role: string, t: Tensor) => {
    const texels = Math.ceil(t.size / 4); // pool buffers are whole multiples of 256 bytes: the last texel is there
    const x = g.scratchTexture(`attention ${role}`, texels);
    g.copyToTexture(t.buffer, x, texels);
    return x;
  };
  const operand = (role: string, t: Tensor | undefined) => (t ? (streamed.includes(role) ? tex(role, t) : t.buffer) : null);
  const out = [
    operand('q', ts.q),
    operand('k', ts.k),
    operand('v', ts.v),
    operand('o', ts.o),
    operand('dout', ts.dout),
    entry === 'forward' ? null : operand('lse', ts.lse),
    ts.out0.buffer,
    ts.out1?.buffer ?? null,
  ];
  if (streamed.includes('delta')) return [...out, null, tex('delta', ts.stat)];
  return [...out, ts.stat.buffer];
}

function uniforms(s: Shapes) {
  const row = (s.heads * s.headDim) / 4;
  return [s.batch * s.heads, s.heads, s.lq, s.lk, row, row, s.causal ? 1 : 0, f(s.scale)];
}

/** The profiler's shape of a call: batch×heads×Lq×Lk×D. */
function detail(s: Shapes): string {
  return `${s.batch}x${s.heads}x${s.lq}x${s.lk}x${s.headDim}${s.causal ? ' causal' : ''}`;
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
    prefix: prefix(s, 'forward'),
    uniforms: uniforms(s),
    buffers: bind(s, 'forward', { q, k, v, lse, out0: out, stat: lse }),
    workgroups: [wgCount(s.lq, s, 4 * ROWS_NR), s.batch * s.heads],
    detail: detail(s),
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
  const u = uniforms(s);
  // dQ first: it also writes Δ = rowsum(dO∘O), which the key pass reads (dispatches in one pass run in order).
  run({
    file: 'attention',
    entry: `attention_backward_q${sfx}`,
    prefix: prefix(s, 'backward_q'),
    uniforms: u,
    buffers: bind(s, 'backward_q', { q, k, v, o: out, dout: gOut, lse, out0: dq, stat: delta }),
    workgroups: [wgCount(s.lq, s, 4), s.batch * s.heads],
    detail: detail(s),
  });
  run({
    file: 'attention',
    entry: `attention_backward_kv${sfx}`,
    prefix: prefix(s, 'backward_kv'),
    uniforms: u,
    buffers: bind(s, 'backward_kv', { q, k, v, dout: gOut, lse, out0: dk, out1: dv, stat: delta }),
    workgroups: [wgCount(s.lk, s, 4), s.batch * s.heads],
    detail: detail(s),
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
