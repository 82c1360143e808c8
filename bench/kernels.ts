// The kernel suite of `groupvit bench`: our kernels at the paper's shapes (GROUPVIT.md §1.1, §2.1: 224-px training
// crops give 196 image + 64 group tokens, 448-px windows 784 + 64) and at the tiny preset's, each timed (p50/p90),
// rated against the adapter's ceiling (fma peak or copy bandwidth), checked against a float64 CPU reference on a
// smaller instance, and compared with our own baseline (naive matmul, unfused attention) and with TF.js's WebGPU
// backend on the same adapter.
import { gpu } from '../src/gpu/runtime.js';
import { Tensor, tidy, tidyAsync } from '../src/tensor/tensor.js';
import { backward, noGrad } from '../src/tensor/tape.js';
import { attention, attentionFlops } from '../src/ops/attention.js';
import { matmul } from '../src/ops/matmul.js';
import { softmax } from '../src/ops/softmax.js';
import { add } from '../src/ops/elementwise.js';
import { assign } from '../src/ops/grouping.js';
import { assignmentBalance } from '../src/ops/grouping-balance.js';
import { diagonalTargets, multiLabelTargets, softCrossEntropy2d } from '../src/ops/contrastive.js';
import { layerNorm } from '../src/ops/layernorm.js';
import { gelu } from '../src/ops/activation.js';
import { spaceToDepth, tokenWindows } from '../src/ops/patch.js';
import { grid1d } from '../src/ops/dispatch.js';
import { AdamW, decays } from '../src/train/adamw.js';
import { PAMR_DEFAULTS, PAMR_MAX_DILATIONS, pamrRefine, pamrRefineGpu } from '../src/segment/pamr.js';
import { runMatmulBench, type MatmulCase } from './matmul.js';
import { fmt, timeGpu as timeRaw, uniformData, type Bandwidth, type Peak, type TimeOptions, type Timing } from './harness.js';
import type { Peer, TfTensor } from './peer.js';
import { adamwRef, assignRef, attentionRef, geluRef, layerNormRef, maxAbs, softCrossEntropyRef } from './reference.js';
import type { BenchRecord, Skipped } from './report.js';

export type Level = 'full' | 'quick' | 'smoke';

export interface SuiteContext {
  level: Level;
  peak: Peak;
  bw: Bandwidth;
  peer: Peer | null;
  log: (s: string) => void;
  records: BenchRecord[];
  skipped: Skipped[];
  notes: string[];
}

/** Repetitions per level: quick and smoke keep the whole run short on lavapipe. */
export function repsFor(level: Level, heavy = false): TimeOptions {
  if (level === 'smoke') return { warmup: 1, minReps: 2, maxReps: 2 };
  if (level === 'quick') return heavy ? { warmup: 1, minReps: 2, maxReps: 2 } : { warmup: 1, minReps: 3, maxReps: 3 };
  return { warmup: 2, minReps: 5, maxReps: 20, budgetMs: 5000 };
}

/** GFLOP/s or GB/s: both are 1e9 units per second. */
const rate = (work: number, ms: number) => work / (ms * 1e6);

function push(ctx: SuiteContext, r: Omit<BenchRecord, 'suite' | 'rate' | 'ofCeiling'> & { unit: 'GFLOP/s' | 'GB/s' }): BenchRecord {
  const value = rate(r.work, r.p50Ms);
  const ceil = r.ceiling === 'fma' ? ctx.peak.gflops : r.ceiling === 'bandwidth' ? ctx.bw.gbps : null;
  const rec: BenchRecord = { suite: 'kernels', ...r, rate: value, ofCeiling: ceil ? value / ceil : null };
  ctx.records.push(rec);
  ctx.log(
    `  ${rec.case} [${rec.shape}]: ${fmt(rec.p50Ms, 2)} ms, ${fmt(value, 2)} ${rec.unit}` +
      (rec.baseline ? `, ${rec.baseline.name} ${fmt(rec.baseline.p50Ms, 1)} ms (x${fmt(rec.baseline.speedup, 2)})` : '') +
      (rec.peer ? `, ${rec.peer.name} ${fmt(rec.peer.p50Ms, 1)} ms (x${fmt(rec.peer.ratio, 2)})` : '') +
      (rec.maxAbsErr !== null ? `, err ${rec.maxAbsErr.toExponential(1)}` : ''),
  );
  return rec;
}

function peerField(peer: Peer, t: Timing, work: number, ours: number): NonNullable<BenchRecord['peer']> {
  return { name: peer.name, p50Ms: t.p50, p90Ms: t.p90, rate: work / (t.p50 * 1e6), ratio: t.p50 / ours };
}

/**
 * timeGpu with each call in a tidy scope: ops leave their saved intermediates to the enclosing scope (as a training
 * step's tidyAsync does), so without one every repetition would keep its buffers.
 */
function timeGpu(record: () => void, opts: TimeOptions): Promise<Timing> {
  return timeRaw(() => tidy(record), opts);
}

/** Peak bytes the pool handed out while `fn` ran (and its work completed), above what was live before. */
async function peakOf(fn: () => void): Promise<number> {
  const pool = gpu().pool;
  await gpu().sync();
  pool.resetPeak();
  const base = pool.liveBytes;
  tidy(fn);
  await gpu().sync();
  return pool.peakBytes - base;
}

// ------------------------------------------------------------------------------------------------------ matmul

interface MmCase extends MatmulCase {
  /** Also run in --quick. */
  quick?: boolean;
  /** Compare with TF.js (in --quick only where quick is set too). */
  peer?: boolean;
}

// Rows: the paper's 224-px training batch as 32 images × 256 ≈ 260 tokens → 8192 rows, width 384, MLP 1536, fused
// qkv 1152; the tiny preset's batch of 64 images × 80 tokens → 5120 rows, width 64, MLP 256. The Linear y = x·Wᵀ is
// NT, its backward NN (dX = dY·W) and TN (dW = dYᵀ·X).
const MATMUL: MmCase[] = [
  { name: 'matmul paper mlp-up NN', M: 8192, K: 384, N: 1536, transA: false, transB: false, quick: true, peer: true },
  { name: 'matmul paper mlp-up x·Wᵀ NT', M: 8192, K: 384, N: 1536, transA: false, transB: true, quick: true, peer: true },
  { name: 'matmul paper mlp-up dW TN', M: 1536, K: 8192, N: 384, transA: true, transB: false, quick: true },
  { name: 'matmul paper mlp-down x·Wᵀ NT', M: 8192, K: 1536, N: 384, transA: false, transB: true, peer: true },
  { name: 'matmul paper qkv x·Wᵀ NT', M: 8192, K: 384, N: 1152, transA: false, transB: true },
  { name: 'matmul paper Aᵀ·Bᵀ TT', M: 8192, K: 384, N: 1536, transA: true, transB: true },
  { name: 'matmul tiny mlp-up x·Wᵀ NT', M: 5120, K: 64, N: 256, transA: false, transB: true, quick: true, peer: true },
  { name: 'matmul tiny mlp-down x·Wᵀ NT', M: 5120, K: 256, N: 64, transA: false, transB: true, quick: true },
  { name: 'matmul tiny dW TN', M: 256, K: 5120, N: 64, transA: true, transB: false, quick: true },
];

const MATMUL_SMOKE: MmCase[] = [
  { name: 'matmul smoke NN', M: 96, K: 64, N: 80, transA: false, transB: false, peer: true },
  { name: 'matmul smoke TN', M: 64, K: 96, N: 48, transA: true, transB: false },
];

/** Naive matmul at these sizes (GFLOP) costs more than the whole quick budget allows on a software adapter. */
const QUICK_NAIVE_MAX_GFLOP = 0.5;

async function matmulSuite(ctx: SuiteContext): Promise<void> {
  const { level, peer } = ctx;
  const cases = level === 'smoke' ? MATMUL_SMOKE : level === 'quick' ? MATMUL.filter((c) => c.quick) : MATMUL;
  if (level === 'quick') ctx.notes.push(`--quick: ${MATMUL.length - cases.length} of ${MATMUL.length} matmul shapes skipped; 3 repetitions each`);
  let naiveSkipped = 0;
  for (const cs of cases) {
    const flop = 2 * cs.M * cs.K * cs.N;
    const withNaive = !(level === 'quick' && gpu().isSoftware && flop / 1e9 > QUICK_NAIVE_MAX_GFLOP);
    if (!withNaive) naiveSkipped++;
    const [m] = await runMatmulBench({ quick: level !== 'full', cases: [cs], naive: withNaive, peak: ctx.peak, log: () => {} });
    let peerRec: BenchRecord['peer'];
    if (peer && cs.peer) {
      const a = peer.tensor(uniformData(cs.M * cs.K, 11), cs.transA ? [cs.K, cs.M] : [cs.M, cs.K]);
      const b = peer.tensor(uniformData(cs.K * cs.N, 12), cs.transB ? [cs.N, cs.K] : [cs.K, cs.N]);
      const t = await peer.time(() => peer.tf.matMul(a, b, cs.transA, cs.transB), repsFor(level, flop > 5e9));
      a.dispose();
      b.dispose();
      peerRec = peerField(peer, t, flop, m.p50Ms);
    }
    push(ctx, {
      op: 'matmul',
      case: cs.name,
      shape: `${cs.M}x${cs.K}x${cs.N} ${m.op}`,
      p50Ms: m.p50Ms,
      p90Ms: m.p90Ms,
      reps: m.reps,
      work: flop,
      unit: 'GFLOP/s',
      ceiling: 'fma',
      maxAbsErr: m.maxAbsErr,
      errShape: m.errShape.join('x'),
      baseline:
        m.naiveP50Ms !== null
          ? { name: 'naive', p50Ms: m.naiveP50Ms, p90Ms: m.naiveP90Ms ?? m.naiveP50Ms, rate: m.naiveGflops ?? 0, speedup: m.speedupVsNaive ?? 0 }
          : undefined,
      peer: peerRec,
      note: `kernel ${m.kernel}`,
    });
  }
  if (naiveSkipped) ctx.notes.push(`--quick on a software adapter: the naive matmul baseline is skipped above ${QUICK_NAIVE_MAX_GFLOP} GFLOP (${naiveSkipped} shapes)`);
}

// --------------------------------------------------------------------------------------------------- attention

interface AttnCase {
  name: string;
  batch: number;
  heads: number;
  lq: number;
  lk: number;
  headDim: number;
  causal: boolean;
  /** Time forward + backward too (training shapes). */
  train: boolean;
  quick?: boolean;
  peer?: boolean;
}

const ATTENTION: AttnCase[] = [
  // 224-px training: 196 image + 64 group tokens, 6 heads of 64, 8 images
  { name: 'attn paper self 260x260', batch: 8, heads: 6, lq: 260, lk: 260, headDim: 64, causal: false, train: true, quick: true, peer: true },
  // grouping block: 64 group tokens attend to the 196 image tokens
  { name: 'attn paper cross 64x196', batch: 8, heads: 6, lq: 64, lk: 196, headDim: 64, causal: false, train: true, quick: true },
  // text encoder: 77 tokens, causal, 4 heads of 64
  { name: 'attn paper text causal 77x77', batch: 8, heads: 4, lq: 77, lk: 77, headDim: 64, causal: true, train: true, quick: true, peer: true },
  // 448-px segmentation window: 784 image + 64 group tokens, one image, inference only
  { name: 'attn paper seg448 self 848x848', batch: 1, heads: 6, lq: 848, lk: 848, headDim: 64, causal: false, train: false, peer: true },
  // tiny preset: 64 images × (64 + 16) tokens, 4 heads of 16; text 24 tokens over 64·(1+3) captions and prompts
  { name: 'attn tiny self 80x80', batch: 64, heads: 4, lq: 80, lk: 80, headDim: 16, causal: false, train: true, quick: true, peer: true },
  { name: 'attn tiny cross 16x64', batch: 64, heads: 4, lq: 16, lk: 64, headDim: 16, causal: false, train: true },
  { name: 'attn tiny text causal 24x24', batch: 256, heads: 4, lq: 24, lk: 24, headDim: 16, causal: true, train: true, quick: true },
];

const ATTENTION_SMOKE: AttnCase[] = [
  { name: 'attn smoke self 20x20', batch: 2, heads: 2, lq: 20, lk: 20, headDim: 16, causal: false, train: true, peer: true },
  { name: 'attn smoke causal 12x12', batch: 2, heads: 2, lq: 12, lk: 12, headDim: 16, causal: true, train: true, peer: true },
];

/** [B, L, H·D] → head-major [B·H, L, D], times s. */
function headMajor(x: Float32Array, B: number, L: number, H: number, D: number, s = 1): Float32Array {
  const C = H * D;
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < L; i++)
      for (let h = 0; h < H; h++)
        for (let e = 0; e < D; e++) out[((b * H + h) * L + i) * D + e] = x[(b * L + i) * C + h * D + e] * s;
  return out;
}

function tileMask(m: Float32Array, times: number): Float32Array {
  const out = new Float32Array(m.length * times);
  for (let i = 0; i < times; i++) out.set(m, i * m.length);
  return out;
}

function causalMask(L: number): Float32Array {
  const m = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) m[i * L + j] = -1e9;
  return m;
}

/** Our fused attention (forward, and dq/dk/dv) against the float64 reference on a small instance of the case. */
async function attentionError(c: AttnCase): Promise<{ fwd: number; bwd: number; shape: string }> {
  const B = 1;
  const H = Math.min(c.heads, 2);
  const lq = Math.min(c.lq, 24);
  const lk = c.causal ? lq : Math.min(c.lk, 40);
  const D = c.headDim;
  const C = H * D;
  const qd = uniformData(B * lq * C, 21);
  const kd = uniformData(B * lk * C, 22);
  const vd = uniformData(B * lk * C, 23);
  const gd = uniformData(B * lq * C, 24);
  const ref = attentionRef(qd, kd, vd, gd, B, H, lq, lk, D, c.causal);
  const q = Tensor.fromArray(qd, [B, lq, C]);
  const k = Tensor.fromArray(kd, [B, lk, C]);
  const v = Tensor.fromArray(vd, [B, lk, C]);
  const g = Tensor.fromArray(gd, [B, lq, C]);
  for (const t of [q, k, v]) t.requiresGrad = true;
  const o = attention(q, k, v, { heads: H, causal: c.causal });
  backward(o, g.view(g.shape));
  const fwd = maxAbs(await o.toArray(), ref.out);
  const bwd = Math.max(maxAbs(await q.grad!.toArray(), ref.dq), maxAbs(await k.grad!.toArray(), ref.dk), maxAbs(await v.grad!.toArray(), ref.dv));
  for (const t of [q, k, v]) t.grad?.release();
  for (const t of [q, k, v, g, o]) t.release();
  return { fwd, bwd, shape: `${B}x${H}x${lq}x${lk}x${D}${c.causal ? ' causal' : ''}` };
}

async function attentionSuite(ctx: SuiteContext): Promise<void> {
  const { level, peer } = ctx;
  const cases = level === 'smoke' ? ATTENTION_SMOKE : level === 'quick' ? ATTENTION.filter((c) => c.quick) : ATTENTION;
  if (level === 'quick') ctx.notes.push(`--quick: ${ATTENTION.length - cases.length} of ${ATTENTION.length} attention shapes skipped (the 448-px window among them)`);
  for (const c of cases) {
    const C = c.heads * c.headDim;
    const bh = c.batch * c.heads;
    const scale = 1 / Math.sqrt(c.headDim);
    const qd = uniformData(c.batch * c.lq * C, 1);
    const kd = uniformData(c.batch * c.lk * C, 2);
    const vd = uniformData(c.batch * c.lk * C, 3);
    const gd = uniformData(c.batch * c.lq * C, 4);
    const q = Tensor.fromArray(qd, [c.batch, c.lq, C]);
    const k = Tensor.fromArray(kd, [c.batch, c.lk, C]);
    const v = Tensor.fromArray(vd, [c.batch, c.lk, C]);
    const g = Tensor.fromArray(gd, [c.batch, c.lq, C]);
    // The baseline gets head-major inputs with q pre-scaled (no transposes, no scaling: a conservative comparison)
    const qhd = headMajor(qd, c.batch, c.lq, c.heads, c.headDim, scale);
    const khd = headMajor(kd, c.batch, c.lk, c.heads, c.headDim);
    const vhd = headMajor(vd, c.batch, c.lk, c.heads, c.headDim);
    const ghd = headMajor(gd, c.batch, c.lq, c.heads, c.headDim);
    const qh = Tensor.fromArray(qhd, [bh, c.lq, c.headDim]);
    const kh = Tensor.fromArray(khd, [bh, c.lk, c.headDim]);
    const vh = Tensor.fromArray(vhd, [bh, c.lk, c.headDim]);
    const gh = Tensor.fromArray(ghd, [bh, c.lq, c.headDim]);
    // our add does not broadcast: the causal baseline adds a mask of the scores' full size
    const maskB = c.causal ? Tensor.fromArray(tileMask(causalMask(c.lq), bh), [bh, c.lq, c.lq]) : null;
    const fusedFwd = () => noGrad(() => attention(q, k, v, { heads: c.heads, causal: c.causal }).release());
    // matmul(Q, Kᵀ) [+ mask] → softmax → matmul(P, V); the intermediates are returned so that a backward can use them
    const unfused = (): Tensor[] => {
      const s = matmul(qh, kh, { transB: true });
      const sm = maskB ? add(s, maskB) : s;
      const p = softmax(sm);
      const o = matmul(p, vh);
      return sm === s ? [o, s, p] : [o, s, sm, p];
    };
    const unfusedFwd = () => noGrad(() => unfused().forEach((t) => t.release()));
    const heavy = attentionFlops(c.batch, c.heads, c.lq, c.lk, c.headDim) > 1e9;
    const reps = repsFor(level, heavy);
    const flop = attentionFlops(c.batch, c.heads, c.lq, c.lk, c.headDim, c.causal);
    const tf = await timeGpu(fusedFwd, reps);
    const tu = await timeGpu(unfusedFwd, reps);
    const fusedPeak = await peakOf(fusedFwd);
    const unfusedPeak = await peakOf(unfusedFwd);
    const err = await attentionError(c);
    const shape = `${c.batch}x${c.heads}x${c.lq}x${c.lk}x${c.headDim}${c.causal ? ' causal' : ''}`;

    let tfQ: TfTensor | null = null;
    let tfK: TfTensor | null = null;
    let tfV: TfTensor | null = null;
    let tfMask: TfTensor | null = null;
    const tfAttn = (qq: TfTensor, kk: TfTensor, vv: TfTensor) => {
      const t = peer!.tf;
      let s = t.matMul(qq, kk, false, true);
      if (tfMask) s = t.add(s, tfMask);
      return t.matMul(t.softmax(s), vv);
    };
    let peerFwd: BenchRecord['peer'];
    if (peer && c.peer) {
      tfQ = peer.tensor(qhd, [bh, c.lq, c.headDim]);
      tfK = peer.tensor(khd, [bh, c.lk, c.headDim]);
      tfV = peer.tensor(vhd, [bh, c.lk, c.headDim]);
      tfMask = c.causal ? peer.tensor(causalMask(c.lq), [c.lq, c.lq]) : null;
      const t = await peer.time(() => tfAttn(tfQ!, tfK!, tfV!), reps);
      peerFwd = peerField(peer, t, flop, tf.p50);
    }
    push(ctx, {
      op: 'attention',
      case: `${c.name} fwd`,
      shape,
      p50Ms: tf.p50,
      p90Ms: tf.p90,
      reps: tf.samples.length,
      work: flop,
      unit: 'GFLOP/s',
      ceiling: 'fma',
      maxAbsErr: err.fwd,
      errShape: err.shape,
      baseline: { name: 'unfused', p50Ms: tu.p50, p90Ms: tu.p90, rate: flop / (tu.p50 * 1e6), speedup: tu.p50 / tf.p50, peakBytes: unfusedPeak },
      peer: peerFwd,
      peakBytes: fusedPeak,
    });

    if (c.train) {
      const leaves = [q, k, v, qh, kh, vh];
      for (const t of leaves) t.requiresGrad = true;
      const clearGrads = () => {
        for (const t of leaves) {
          t.grad?.release();
          t.grad = null;
        }
      };
      const fusedTrain = () => {
        const o = attention(q, k, v, { heads: c.heads, causal: c.causal });
        backward(o, g.view(g.shape));
        o.release();
        clearGrads();
      };
      const unfusedTrain = () => {
        const ts = unfused();
        backward(ts[0], gh.view(gh.shape));
        ts.forEach((t) => t.release());
        clearGrads();
      };
      const ttf = await timeGpu(fusedTrain, reps);
      const ttu = await timeGpu(unfusedTrain, reps);
      const fPeak = await peakOf(fusedTrain);
      const uPeak = await peakOf(unfusedTrain);
      for (const t of leaves) t.requiresGrad = false;
      // forward (2 products) + backward (5: the recomputed Q·Kᵀ, dV, dP, dQ, dK) = 3.5 forwards
      const trainFlop = 3.5 * flop;
      let peerTrain: BenchRecord['peer'];
      if (peer && c.peer && level !== 'quick') {
        const tg = peer.tensor(ghd, [bh, c.lq, c.headDim]);
        const grad = peer.tf.grads((a, b, cc) => tfAttn(a, b, cc));
        const t = await peer.time(() => {
          const outs = grad([tfQ!, tfK!, tfV!], tg);
          return outs;
        }, reps);
        tg.dispose();
        peerTrain = peerField(peer, t, trainFlop, ttf.p50);
      }
      push(ctx, {
        op: 'attention',
        case: `${c.name} fwd+bwd`,
        shape,
        p50Ms: ttf.p50,
        p90Ms: ttf.p90,
        reps: ttf.samples.length,
        work: trainFlop,
        unit: 'GFLOP/s',
        ceiling: 'fma',
        maxAbsErr: err.bwd,
        errShape: err.shape,
        baseline: { name: 'unfused', p50Ms: ttu.p50, p90Ms: ttu.p90, rate: trainFlop / (ttu.p50 * 1e6), speedup: ttu.p50 / ttf.p50, peakBytes: uPeak },
        peer: peerTrain,
        peakBytes: fPeak,
      });
    }
    for (const t of [tfQ, tfK, tfV, tfMask]) t?.dispose();
    for (const t of [q, k, v, g, qh, kh, vh, gh, maskB]) t?.release();
  }
  if (peer && level === 'quick') ctx.notes.push('--quick: TF.js attention is timed forward only (its fwd+bwd through tf.grads in the full run)');
}

// ---------------------------------------------------------------------------------------- grouping, loss, norms

interface OpSize {
  name: string;
  dims: number[];
  quick?: boolean;
}

async function assignSuite(ctx: SuiteContext): Promise<void> {
  const { level } = ctx;
  const all: OpSize[] =
    level === 'smoke'
      ? [{ name: 'assign smoke', dims: [2, 4, 24] }]
      : [
          // [B, groups, tokens]: stage 0 of a 32-image 224-px batch (64 groups over 196 tokens), stage 1 (8 over 64)
          { name: 'assign paper stage0', dims: [32, 64, 196], quick: true },
          { name: 'assign paper stage1', dims: [32, 8, 64] },
          { name: 'assign paper seg448 stage0', dims: [1, 64, 784] },
          { name: 'assign tiny stage0', dims: [64, 16, 64], quick: true },
        ];
  const cases = level === 'quick' ? all.filter((c) => c.quick) : all;
  // float64 check of the noise-free hard path (the Gumbel noise is a hash the tests check separately)
  const [eb, es, el] = [2, 5, 17];
  const rawSmall = uniformData(eb * es * el, 31).map((x) => 3 * x);
  const want = assignRef(rawSmall, eb, es, el, 1);
  const errAt = `${eb}x${es}x${el}`;
  const got = noGrad(() => assign(Tensor.fromArray(rawSmall, [eb, es, el]), { hard: true, gumbel: false, eps: 1 }));
  const err = Math.max(maxAbs(await got.attn.toArray(), want.attn), maxAbs(await got.soft.toArray(), want.soft));
  for (const t of [got.attn, got.soft, got.hardMap]) t.release();
  for (const c of cases) {
    const [b, s, l] = c.dims;
    const n = b * s * l;
    const raw = Tensor.fromArray(uniformData(n, 32), [b, s, l]);
    const ga = Tensor.fromArray(uniformData(n, 33), [b, s, l]);
    const opts = { hard: true, gumbel: true, seed: 1, step: 0, eps: 1 };
    const fwd = () =>
      noGrad(() => {
        const a = assign(raw, opts);
        for (const t of [a.attn, a.soft, a.hardMap]) t.release();
      });
    const t1 = await timeGpu(fwd, repsFor(level));
    push(ctx, {
      op: 'assign',
      case: `${c.name} fwd`,
      shape: c.dims.join('x'),
      p50Ms: t1.p50,
      p90Ms: t1.p90,
      reps: t1.samples.length,
      work: 5 * n * 4, // raw in; soft, noisy soft, one-hot, normalised out
      unit: 'GB/s',
      ceiling: 'bandwidth',
      maxAbsErr: err,
      errShape: errAt,
    });
    raw.requiresGrad = true;
    const train = () => {
      const a = assign(raw, opts);
      backward(a.attn, ga.view(ga.shape));
      for (const t of [a.attn, a.soft, a.hardMap]) t.release();
      raw.grad?.release();
      raw.grad = null;
    };
    const t2 = await timeGpu(train, repsFor(level));
    raw.requiresGrad = false;
    push(ctx, {
      op: 'assign',
      case: `${c.name} fwd+bwd`,
      shape: c.dims.join('x'),
      p50Ms: t2.p50,
      p90Ms: t2.p90,
      reps: t2.samples.length,
      work: 7 * n * 4, // + upstream gradient in, raw gradient out
      unit: 'GB/s',
      ceiling: 'bandwidth',
      maxAbsErr: null,
      errShape: null,
      note: 'backward checked against finite differences in test/ops/grouping.test.ts',
    });
    // the groupBalance term on the same logits (tiny preset, groupBalance > 0): probabilities, reduce, backward
    raw.requiresGrad = true;
    const balance = () => {
      const loss = assignmentBalance(raw, 1);
      backward(loss);
      loss.release();
      raw.grad?.release();
      raw.grad = null;
    };
    const t3 = await timeGpu(balance, repsFor(level));
    raw.requiresGrad = false;
    push(ctx, {
      op: 'assign balance',
      case: `${c.name} balance fwd+bwd`,
      shape: c.dims.join('x'),
      p50Ms: t3.p50,
      p90Ms: t3.p90,
      reps: t3.samples.length,
      work: 6 * n * 4, // raw in, prob out, prob in (reduce), prob in twice + raw gradient out (backward)
      unit: 'GB/s',
      ceiling: 'bandwidth',
      maxAbsErr: null,
      errShape: null,
      note: 'forward against float64, backward against finite differences in test/ops/grouping-balance.test.ts',
    });
    for (const t of [raw, ga]) t.release();
  }
}

async function contrastiveSuite(ctx: SuiteContext): Promise<void> {
  const { level } = ctx;
  const all: (OpSize & { k: number })[] =
    level === 'smoke'
      ? [{ name: 'contrastive smoke multi-label', dims: [8, 24], k: 3 }]
      : [
          // the paper's global batch of 4096 images: image–text [4096, 4096] and multi-label [4096, 3·4096]
          { name: 'contrastive paper image-text', dims: [4096, 4096], k: 1, quick: true },
          { name: 'contrastive paper multi-label', dims: [4096, 12288], k: 3 },
          { name: 'contrastive tiny multi-label', dims: [64, 192], k: 3, quick: true },
        ];
  const cases = level === 'quick' ? all.filter((c) => c.quick) : all;
  const [en, ek] = [6, 3];
  const xs = uniformData(en * en * ek, 41).map((x) => 4 * x);
  const tgt = multiLabelTargets(en, ek);
  const want = softCrossEntropyRef(xs, tgt.rows, tgt.cols, en, en * ek);
  const lx = Tensor.fromArray(xs, [en, en * ek]);
  lx.requiresGrad = true;
  const tr = Tensor.fromArray(tgt.rows, [en, en * ek]);
  const tc = Tensor.fromArray(tgt.cols, [en, en * ek]);
  const loss = softCrossEntropy2d(lx, tr, tc);
  backward(loss);
  const err = Math.max(Math.abs((await loss.item()) - want.loss), maxAbs(await lx.grad!.toArray(), want.grad));
  lx.grad?.release();
  for (const t of [lx, tr, tc, loss]) t.release();
  for (const c of cases) {
    const [n, m] = c.dims;
    const size = n * m;
    const t = c.k === 1 ? { rows: diagonalTargets(n), cols: diagonalTargets(n) } : multiLabelTargets(n, c.k);
    const x = Tensor.fromArray(uniformData(size, 42), [n, m]);
    x.requiresGrad = true; // so the kernel writes the gradient too, as in training
    const rt = Tensor.fromArray(t.rows, [n, m]);
    const ct = Tensor.fromArray(t.cols, [n, m]);
    const run1 = () => {
      const l = softCrossEntropy2d(x, rt, ct);
      backward(l);
      l.release();
      x.grad?.release();
      x.grad = null;
    };
    const tm = await timeGpu(run1, repsFor(level));
    push(ctx, {
      op: 'contrastive',
      case: `${c.name} fwd+bwd`,
      shape: `${n}x${m}`,
      p50Ms: tm.p50,
      p90Ms: tm.p90,
      reps: tm.samples.length,
      work: 4 * size * 4, // logits, row and column targets in; gradient out (the backward scales it by dL)
      unit: 'GB/s',
      ceiling: 'bandwidth',
      maxAbsErr: err,
      errShape: `${en}x${en * ek}`,
    });
    for (const tt of [x, rt, ct]) tt.release();
  }
}

async function layerNormSuite(ctx: SuiteContext): Promise<void> {
  const { level } = ctx;
  const all: OpSize[] =
    level === 'smoke'
      ? [{ name: 'layernorm smoke', dims: [40, 32] }]
      : [
          // tokens × width: 32 images × 260 tokens at 384 (paper), 64 × 80 at 64 (tiny)
          { name: 'layernorm paper', dims: [8320, 384], quick: true },
          { name: 'layernorm tiny', dims: [5120, 64], quick: true },
        ];
  const cases = level === 'quick' ? all.filter((c) => c.quick) : all;
  const [er, ec] = [7, 48];
  const xd = uniformData(er * ec, 51).map((x) => 2 * x + 0.3);
  const wd = uniformData(ec, 52);
  const bd = uniformData(ec, 53);
  const gd = uniformData(er * ec, 54);
  const want = layerNormRef(xd, wd, bd, gd, er, ec, 1e-5);
  const [x0, w0, b0, g0] = [Tensor.fromArray(xd, [er, ec]), Tensor.fromArray(wd, [ec]), Tensor.fromArray(bd, [ec]), Tensor.fromArray(gd, [er, ec])];
  for (const t of [x0, w0, b0]) t.requiresGrad = true;
  const y0 = layerNorm(x0, w0, b0);
  backward(y0, g0.view(g0.shape));
  const errF = maxAbs(await y0.toArray(), want.y);
  const errB = Math.max(maxAbs(await x0.grad!.toArray(), want.gx), maxAbs(await w0.grad!.toArray(), want.gw), maxAbs(await b0.grad!.toArray(), want.gb));
  for (const t of [x0, w0, b0]) t.grad?.release();
  for (const t of [x0, w0, b0, g0, y0]) t.release();
  for (const c of cases) {
    const [rows, C] = c.dims;
    const n = rows * C;
    const x = Tensor.fromArray(uniformData(n, 55), [rows, C]);
    const w = Tensor.fromArray(uniformData(C, 56), [C]);
    const b = Tensor.fromArray(uniformData(C, 57), [C]);
    const g = Tensor.fromArray(uniformData(n, 58), [rows, C]);
    const tf = await timeGpu(() => noGrad(() => layerNorm(x, w, b).release()), repsFor(level));
    push(ctx, {
      op: 'layernorm', case: `${c.name} fwd`, shape: c.dims.join('x'), p50Ms: tf.p50, p90Ms: tf.p90, reps: tf.samples.length,
      work: 2 * n * 4, unit: 'GB/s', ceiling: 'bandwidth', maxAbsErr: errF, errShape: `${er}x${ec}`,
    });
    for (const t of [x, w, b]) t.requiresGrad = true;
    const train = () => {
      const y = layerNorm(x, w, b);
      backward(y, g.view(g.shape));
      y.release();
      for (const t of [x, w, b]) {
        t.grad?.release();
        t.grad = null;
      }
    };
    const tt = await timeGpu(train, repsFor(level));
    for (const t of [x, w, b]) t.requiresGrad = false;
    push(ctx, {
      op: 'layernorm', case: `${c.name} fwd+bwd`, shape: c.dims.join('x'), p50Ms: tt.p50, p90Ms: tt.p90, reps: tt.samples.length,
      work: 4 * n * 4, unit: 'GB/s', ceiling: 'bandwidth', maxAbsErr: errB, errShape: `${er}x${ec}`,
    });
    for (const t of [x, w, b, g]) t.release();
  }
}

async function geluSuite(ctx: SuiteContext): Promise<void> {
  const { level } = ctx;
  const all: OpSize[] =
    level === 'smoke'
      ? [{ name: 'gelu smoke', dims: [40, 64] }]
      : [
          // the MLP's hidden activation: tokens × 4·width
          { name: 'gelu paper', dims: [8320, 1536], quick: true },
          { name: 'gelu tiny', dims: [5120, 256], quick: true },
        ];
  const cases = level === 'quick' ? all.filter((c) => c.quick) : all;
  const en = 4096;
  const xd = uniformData(en, 61).map((x) => 6 * x);
  const gd = uniformData(en, 62);
  const want = geluRef(xd, gd);
  const x0 = Tensor.fromArray(xd, [en]);
  x0.requiresGrad = true;
  const g0 = Tensor.fromArray(gd, [en]);
  const y0 = gelu(x0);
  backward(y0, g0.view(g0.shape));
  const errF = maxAbs(await y0.toArray(), want.y);
  const errB = maxAbs(await x0.grad!.toArray(), want.gx);
  x0.grad?.release();
  for (const t of [x0, g0, y0]) t.release();
  for (const c of cases) {
    const n = c.dims[0] * c.dims[1];
    const x = Tensor.fromArray(uniformData(n, 63), c.dims);
    const g = Tensor.fromArray(uniformData(n, 64), c.dims);
    const tf = await timeGpu(() => noGrad(() => gelu(x).release()), repsFor(level));
    push(ctx, {
      op: 'gelu', case: `${c.name} fwd`, shape: c.dims.join('x'), p50Ms: tf.p50, p90Ms: tf.p90, reps: tf.samples.length,
      work: 2 * n * 4, unit: 'GB/s', ceiling: 'bandwidth', maxAbsErr: errF, errShape: `${en}`,
    });
    x.requiresGrad = true;
    const train = () => {
      const y = gelu(x);
      backward(y, g.view(g.shape));
      y.release();
      x.grad?.release();
      x.grad = null;
    };
    const tt = await timeGpu(train, repsFor(level));
    x.requiresGrad = false;
    push(ctx, {
      op: 'gelu', case: `${c.name} fwd+bwd`, shape: c.dims.join('x'), p50Ms: tt.p50, p90Ms: tt.p90, reps: tt.samples.length,
      work: 4 * n * 4, unit: 'GB/s', ceiling: 'bandwidth', maxAbsErr: errB, errShape: `${en}`,
    });
    for (const t of [x, g]) t.release();
  }
}

/**
 * The convolutional stem's 2×2 merges (tiny preset, batch 64: [64, 32·32, 32] then [64, 16·16, 64]), forward and
 * backward, against the per-value kernel they replaced where channels come in vec4s (its index arithmetic per value)
 * in the same run; checked against a float64 plain-loop permutation. Then the overlapping stem's 3×3 windows
 * (patch_embed 'conv3') of the same grids against the merge, the cost of the overlap.
 */
async function stemSuite(ctx: SuiteContext): Promise<void> {
  const { level } = ctx;
  const all: OpSize[] =
    level === 'smoke'
      ? [{ name: 'space-to-depth smoke', dims: [2, 6, 6, 8] }]
      : [
          { name: 'space-to-depth tiny stem 1', dims: [64, 32, 32, 32], quick: true },
          { name: 'space-to-depth tiny stem 2', dims: [64, 16, 16, 64] },
        ];
  const cases = level === 'quick' ? all.filter((c) => c.quick) : all;
  const [eb, eh, ew, ec] = [2, 5, 7, 8];
  const xd = uniformData(eb * eh * ew * ec, 91);
  const got = await noGrad(() => spaceToDepth(Tensor.fromArray(xd, [eb, eh * ew, ec]), eh, ew).x).toArray();
  const want: number[] = [];
  for (let n = 0; n < eb; n++)
    for (let ty = 0; ty < 2; ty++)
      for (let tx = 0; tx < 3; tx++)
        for (let c = 0; c < ec; c++) for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) want.push(xd[((n * eh + 2 * ty + dy) * ew + 2 * tx + dx) * ec + c]);
  const err = maxAbs(got, Float64Array.from(want));
  // 3×3 stride-2 windows with padding 1 in (ky, kx, c) order, zero outside the grid
  const gotW = await noGrad(() => tokenWindows(Tensor.fromArray(xd, [eb, eh * ew, ec]), eh, ew, { k: 3, s: 2, pad: 1 }).x).toArray();
  const wantW: number[] = [];
  for (let n = 0; n < eb; n++)
    for (let ty = 0; ty < 3; ty++)
      for (let tx = 0; tx < 4; tx++)
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++)
            for (let c = 0; c < ec; c++) {
              const [y, xx] = [2 * ty - 1 + ky, 2 * tx - 1 + kx];
              wantW.push(y >= 0 && y < eh && xx >= 0 && xx < ew ? xd[((n * eh + y) * ew + xx) * ec + c] : 0);
            }
  const windowsErr = maxAbs(gotW, Float64Array.from(wantW));
  for (const c of cases) {
    const [b, h, w, ch] = c.dims;
    const n = b * h * w * ch;
    const x = Tensor.fromArray(uniformData(n, 92), [b, h * w, ch]);
    const out = Tensor.empty([b, (h / 2) * (w / 2), 4 * ch]);
    const uniforms = [b, ch, h, w, h, w, 2, 2, 0, h / 2, w / 2];
    const dir = (d: 'forward' | 'backward', src: Tensor, dst: Tensor, entry: string, invocations: number) => () =>
      gpu().dispatch({ file: 'patch', entry, uniforms, buffers: [src.buffer, dst.buffer], workgroups: grid1d(invocations) });
    for (const d of ['forward', 'backward'] as const) {
      const [src, dst] = d === 'forward' ? [x, out] : [out, x];
      const ours = await timeGpu(dir(d, src, dst, `space_to_depth2_${d}_vec4`, n / 4), repsFor(level));
      const base = await timeGpu(dir(d, src, dst, `space_to_depth_${d}`, n), repsFor(level));
      push(ctx, {
        op: 'space-to-depth', case: `${c.name} ${d}`, shape: c.dims.join('x'), p50Ms: ours.p50, p90Ms: ours.p90, reps: ours.samples.length,
        work: 2 * n * 4, unit: 'GB/s', ceiling: 'bandwidth', maxAbsErr: d === 'forward' ? err : null, errShape: d === 'forward' ? `${eb}x${eh}x${ew}x${ec}` : null,
        baseline: { name: 'per-value', p50Ms: base.p50, p90Ms: base.p90, rate: rate(2 * n * 4, base.p50), speedup: base.p50 / ours.p50 },
        ...(d === 'backward' ? { note: 'backward checked against finite differences in test/ops/patch.test.ts' } : {}),
      });
    }
    // the overlapping stem (patch_embed 'conv3') gathers 3×3 windows of the same grid where the merge takes 2×2 blocks
    const windows = Tensor.empty([b, (h / 2) * (w / 2), 9 * ch]);
    const wu = [b, ch, h, w, h, w, 3, 2, 1, h / 2, w / 2];
    const wdir = (d: 'forward' | 'backward', src: Tensor, dst: Tensor, invocations: number) => () =>
      gpu().dispatch({ file: 'patch', entry: `token_windows_${d}_vec4`, uniforms: wu, buffers: [src.buffer, dst.buffer], workgroups: grid1d(invocations) });
    for (const d of ['forward', 'backward'] as const) {
      const [src, dst] = d === 'forward' ? [x, windows] : [windows, x];
      const ours = await timeGpu(wdir(d, src, dst, d === 'forward' ? windows.size / 4 : n / 4), repsFor(level));
      const merge = await timeGpu(d === 'forward' ? dir(d, x, out, 'space_to_depth2_forward_vec4', n / 4) : dir(d, out, x, 'space_to_depth2_backward_vec4', n / 4), repsFor(level));
      const bytes = (windows.size + n) * 4;
      push(ctx, {
        op: 'token windows 3x3', case: `${c.name.replace('space-to-depth', 'conv3')} ${d}`, shape: c.dims.join('x'), p50Ms: ours.p50, p90Ms: ours.p90, reps: ours.samples.length,
        work: bytes, unit: 'GB/s', ceiling: 'bandwidth', maxAbsErr: d === 'forward' ? windowsErr : null, errShape: d === 'forward' ? `${eb}x${eh}x${ew}x${ec}` : null,
        baseline: { name: 'the 2x2 merge of the same grid', p50Ms: merge.p50, p90Ms: merge.p90, rate: rate(2 * n * 4, merge.p50), speedup: merge.p50 / ours.p50 },
        note: 'a ratio under 1 is the cost of the overlap (2.25x the values moved); backward checked against finite differences in test/ops/patch.test.ts',
      });
    }
    for (const t of [x, out, windows]) t.release();
  }
}

/**
 * PAMR (segment/pamr.ts): the affinity pass and 10 rounds over 48 taps, at a paper window (448², 8 groups) and a tiny
 * eval batch (32 × 64², 4 groups), against the float64 host reference it replaced (timed once, it is slow) and
 * checked against it on a small instance. Work: 2·taps·groups flops per pixel and round, 20·taps for the affinity.
 */
async function pamrSuite(ctx: SuiteContext): Promise<void> {
  const { level } = ctx;
  const all: OpSize[] =
    level === 'smoke'
      ? [{ name: 'pamr smoke', dims: [2, 19, 13, 3] }]
      : [
          { name: 'pamr tiny eval batch', dims: [32, 64, 64, 4], quick: true },
          { name: 'pamr paper window', dims: [1, 448, 448, 8] },
        ];
  const cases = level === 'quick' ? all.filter((c) => c.quick) : all;
  const image = (w: number, h: number, seed: number) => ({ width: w, height: h, data: uniformData(w * h * 3, seed).map((v) => Math.round(127.5 + 127.5 * v)) });
  const [eb, eh, ew, ec] = [2, 9, 11, 3];
  const small = [image(ew, eh, 95), image(ew, eh, 96)];
  const smallMaps = uniformData(eb * eh * ew * ec, 97);
  const got = await pamrRefineGpu(smallMaps, ec, small);
  const want = new Float64Array(got.length);
  small.forEach((im, b) => want.set(pamrRefine(Float64Array.from(smallMaps.subarray(b * eh * ew * ec, (b + 1) * eh * ew * ec)), ec, im), b * eh * ew * ec));
  const err = maxAbs(got, want);
  const { iterations, dilations } = PAMR_DEFAULTS;
  const taps = 8 * dilations.length;
  for (const c of cases) {
    const [b, h, w, ch] = c.dims;
    const n = b * h * w;
    const images = Array.from({ length: b }, (_, i) => image(w, h, 100 + i));
    const pixels = new Float32Array(n * 3);
    images.forEach((im, i) => pixels.set(Float32Array.from(im.data), i * h * w * 3));
    const img = Tensor.fromArray(pixels, [n, 3]);
    const aff = Tensor.empty([n, taps]);
    const maps = [Tensor.fromArray(uniformData(n * ch, 98), [n, ch]), Tensor.empty([n, ch])];
    const uniforms = [b, h, w, ch, dilations.length, ...dilations, ...new Array(PAMR_MAX_DILATIONS - dilations.length).fill(1)];
    const record = () => {
      gpu().dispatch({ file: 'pamr', entry: 'pamr_affinity', uniforms, buffers: [img.buffer, aff.buffer, null, null], workgroups: grid1d(n, 64) });
      for (let it = 0; it < iterations; it++) {
        gpu().dispatch({ file: 'pamr', entry: 'pamr_step', uniforms, buffers: [null, aff.buffer, maps[it % 2].buffer, maps[(it + 1) % 2].buffer], workgroups: grid1d(n * ch, 64) });
      }
    };
    const t = await timeGpu(record, repsFor(level, true));
    const t0 = performance.now();
    pamrRefine(Float64Array.from(uniformData(h * w * ch, 99)), ch, images[0]);
    const hostMs = (performance.now() - t0) * b;
    const work = n * (iterations * 2 * taps * ch + 20 * taps);
    push(ctx, {
      op: 'pamr', case: c.name, shape: c.dims.join('x'), p50Ms: t.p50, p90Ms: t.p90, reps: t.samples.length,
      work, unit: 'GFLOP/s', ceiling: 'fma', maxAbsErr: err, errShape: `${eb}x${eh}x${ew}x${ec}`,
      baseline: { name: 'host f64', p50Ms: hostMs, p90Ms: hostMs, rate: rate(work, hostMs), speedup: hostMs / t.p50 },
    });
    for (const x of [img, aff, ...maps]) x.release();
  }
}

/** Parameter shapes of a model without building it: [name, size] pairs in the model's order. */
export type ParamSizes = [string, number[]][];

async function adamwSuite(ctx: SuiteContext, models: { name: string; params: () => Promise<ParamSizes>; quick?: boolean }[]): Promise<void> {
  const { level } = ctx;
  // float64 check: three tensors (a matrix that decays, a bias that does not, a scalar), clipped
  const sizes = [[12, 7], [7], []];
  const ps = sizes.map((s, i) => uniformData(Math.max(1, s.reduce((a, b) => a * b, 1)), 71 + i));
  const gs = sizes.map((s, i) => uniformData(Math.max(1, s.reduce((a, b) => a * b, 1)), 81 + i).map((x) => 3 * x));
  const named: [string, Tensor][] = sizes.map((s, i) => [['w.weight', 'w.bias', 'logit_scale'][i], Tensor.fromArray(ps[i], s)]);
  named.forEach(([, p], i) => (p.grad = Tensor.fromArray(gs[i], sizes[i])));
  const opt = new AdamW(named, { weightDecay: 0.05, maxNorm: 1 });
  opt.update(1e-2);
  const want = adamwRef(ps, gs, { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: named.map(([n, p]) => (decays(n, p) ? 0.05 : 0)), maxNorm: 1, step: 1 });
  let err = 0;
  for (let i = 0; i < named.length; i++) err = Math.max(err, maxAbs(await named[i][1].toArray(), want[i]));
  opt.release();
  for (const [, p] of named) {
    p.grad?.release();
    p.release();
  }
  for (const m of models) {
    if (level === 'quick' && !m.quick) continue;
    const shapes = await m.params();
    const params: [string, Tensor][] = shapes.map(([name, s], i) => {
      const n = Math.max(1, s.reduce((a, b) => a * b, 1));
      const p = Tensor.fromArray(uniformData(n, 100 + i), s);
      p.grad = Tensor.fromArray(uniformData(n, 200 + i), s);
      return [name, p];
    });
    const total = params.reduce((a, [, p]) => a + p.size, 0);
    const o = new AdamW(params, { weightDecay: 0.05, maxNorm: 5 });
    const t = await timeGpu(() => o.update(1e-4), repsFor(level, total > 2e7));
    push(ctx, {
      op: 'adamw',
      case: `adamw ${m.name} step`,
      shape: `${params.length} tensors, ${fmt(total / 1e6, 2)}M params`,
      p50Ms: t.p50,
      p90Ms: t.p90,
      reps: t.samples.length,
      work: 8 * total * 4, // grad read for the norm, then param, grad, m, v in and param, m, v out
      unit: 'GB/s',
      ceiling: 'bandwidth',
      maxAbsErr: err,
      errShape: '3 tensors, 92 params',
    });
    o.release();
    for (const [, p] of params) {
      p.grad?.release();
      p.release();
    }
  }
}

export interface KernelSuiteOptions {
  /** Parameter shapes for the AdamW cases (the model suite knows how to get them). */
  adamwModels: { name: string; params: () => Promise<ParamSizes>; quick?: boolean }[];
}

export async function runKernelSuite(ctx: SuiteContext, o: KernelSuiteOptions): Promise<void> {
  const step = async (name: string, fn: () => Promise<void>) => {
    ctx.log(`${name}:`);
    try {
      await tidyAsync(fn); // releases what a failed case or an op's saved state left behind
    } catch (e) {
      if (process.env.GROUPVIT_DEBUG) throw e;
      ctx.skipped.push({ case: name, reason: `failed: ${(e as Error).message.split('\n')[0]}` });
      ctx.log(`  failed: ${(e as Error).message}`);
    }
    gpu().pool.trim();
  };
  await step('matmul', () => matmulSuite(ctx));
  await step('attention', () => attentionSuite(ctx));
  await step('grouping assignment', () => assignSuite(ctx));
  await step('contrastive loss', () => contrastiveSuite(ctx));
  await step('layernorm', () => layerNormSuite(ctx));
  await step('gelu', () => geluSuite(ctx));
  await step('stem gathers', () => stemSuite(ctx));
  await step('pamr (segmentation refinement)', () => pamrSuite(ctx));
  await step('adamw', () => adamwSuite(ctx, o.adamwModels));
}
