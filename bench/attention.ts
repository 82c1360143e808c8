// Fused attention (kernels/attention.wgsl) at GroupViT's shapes against an unfused baseline measured in the same run:
// matmul(Q, Kᵀ) → softmax → matmul(P, V) over head-major [B·H, L, D] inputs (the baseline is handed its inputs
// already split into heads and pre-scaled, so it pays no transposes or scaling: a conservative comparison; for the
// causal case it also skips the mask). A table on stderr; `--json` prints one object on stdout.
//   node dist/bench/attention.js [--quick] [--json] [--impl auto|rows|tiled] [--no-backward]
import { gpu, initGpu, releaseGpu } from '../src/gpu/runtime.js';
import { Tensor } from '../src/tensor/tensor.js';
import { backward, noGrad } from '../src/tensor/tape.js';
import { attention, attentionFlops, type AttentionImpl } from '../src/ops/attention.js';
import { matmul } from '../src/ops/matmul.js';
import { softmax } from '../src/ops/softmax.js';
import { adapterSummary, fmt, formatTable, parseFlags, timeGpu, uniformData, type Timing } from './harness.js';
import { runAsScript } from './harness.js';

export interface AttentionCase {
  name: string;
  batch: number;
  heads: number;
  lq: number;
  lk: number;
  headDim: number;
  causal: boolean;
}

export const ATTENTION_CASES: AttentionCase[] = [
  { name: 'vision self 260x260', batch: 8, heads: 6, lq: 260, lk: 260, headDim: 64, causal: false },
  { name: 'grouping cross 64x196', batch: 8, heads: 6, lq: 64, lk: 196, headDim: 64, causal: false },
  { name: 'text causal 77x77', batch: 8, heads: 4, lq: 77, lk: 77, headDim: 64, causal: true },
];

export interface AttentionRecord {
  case: AttentionCase;
  flop: number;
  fused: { ms: number; p90: number; gflops: number; peakBytes: number };
  unfused: { ms: number; p90: number; gflops: number; peakBytes: number };
  speedup: number;
  /** Forward + backward (dq, dk, dv) with the tape, when measured. */
  train?: { fusedMs: number; unfusedMs: number; fusedPeakBytes: number; unfusedPeakBytes: number };
  maxAbsDiff: number;
}

export interface AttentionBenchOptions {
  quick?: boolean;
  impl?: AttentionImpl;
  cases?: AttentionCase[];
  backward?: boolean;
  log?: (s: string) => void;
}

/** Peak bytes the pool handed out while `fn` ran (and its work completed), above what was live before. */
async function peakOf(fn: () => void): Promise<number> {
  const pool = gpu().pool;
  await gpu().sync();
  pool.resetPeak();
  const base = pool.liveBytes;
  fn();
  await gpu().sync();
  return pool.peakBytes - base;
}

export async function runAttentionBench(opts: AttentionBenchOptions = {}): Promise<AttentionRecord[]> {
  const quick = !!opts.quick;
  const log = opts.log ?? (() => {});
  const timing = { warmup: 1, minReps: quick ? 2 : 5, maxReps: quick ? 3 : 15, budgetMs: quick ? 1500 : 4000 };
  const records: AttentionRecord[] = [];
  for (const c of opts.cases ?? ATTENTION_CASES) {
    const C = c.heads * c.headDim;
    const bh = c.batch * c.heads;
    const scale = 1 / Math.sqrt(c.headDim);
    const qd = uniformData(c.batch * c.lq * C, 1);
    const kd = uniformData(c.batch * c.lk * C, 2);
    const vd = uniformData(c.batch * c.lk * C, 3);
    const q = Tensor.fromArray(qd, [c.batch, c.lq, C]);
    const k = Tensor.fromArray(kd, [c.batch, c.lk, C]);
    const v = Tensor.fromArray(vd, [c.batch, c.lk, C]);
    // Head-major copies for the baseline (q pre-scaled), made on the host.
    const heads = (x: Float32Array, len: number, s = 1) => {
      const out = new Float32Array(x.length);
      for (let b = 0; b < c.batch; b++)
        for (let i = 0; i < len; i++)
          for (let h = 0; h < c.heads; h++)
            for (let e = 0; e < c.headDim; e++)
              out[((b * c.heads + h) * len + i) * c.headDim + e] = x[(b * len + i) * C + h * c.headDim + e] * s;
      return out;
    };
    const qh = Tensor.fromArray(heads(qd, c.lq, scale), [bh, c.lq, c.headDim]);
    const kh = Tensor.fromArray(heads(kd, c.lk), [bh, c.lk, c.headDim]);
    const vh = Tensor.fromArray(heads(vd, c.lk), [bh, c.lk, c.headDim]);
    const fusedFwd = () => noGrad(() => attention(q, k, v, { heads: c.heads, causal: c.causal, impl: opts.impl }).release());
    const unfusedFwd = () =>
      noGrad(() => {
        const s = matmul(qh, kh, { transB: true });
        const p = softmax(s);
        s.release();
        matmul(p, vh).release();
        p.release();
      });

    // Agreement of the two (the causal baseline has no mask, so compare the non-causal fused result there).
    const fo = noGrad(() => attention(q, k, v, { heads: c.heads, impl: opts.impl }));
    const uo = noGrad(() => {
      const s = matmul(qh, kh, { transB: true });
      const p = softmax(s);
      const o = matmul(p, vh);
      s.release();
      p.release();
      return o;
    });
    const fa = await fo.toArray();
    const ua = await uo.toArray();
    fo.release();
    uo.release();
    let maxAbsDiff = 0;
    for (let b = 0; b < c.batch; b++)
      for (let h = 0; h < c.heads; h++)
        for (let i = 0; i < c.lq; i++)
          for (let e = 0; e < c.headDim; e++) {
            const d = Math.abs(fa[(b * c.lq + i) * C + h * c.headDim + e] - ua[((b * c.heads + h) * c.lq + i) * c.headDim + e]);
            if (!(d <= maxAbsDiff)) maxAbsDiff = d;
          }

    const tf: Timing = await timeGpu(fusedFwd, timing);
    const tu: Timing = await timeGpu(unfusedFwd, timing);
    const flop = attentionFlops(c.batch, c.heads, c.lq, c.lk, c.headDim, c.causal);
    const flopU = attentionFlops(c.batch, c.heads, c.lq, c.lk, c.headDim, false);
    const rec: AttentionRecord = {
      case: c,
      flop,
      fused: { ms: tf.p50, p90: tf.p90, gflops: flop / (tf.p50 * 1e6), peakBytes: await peakOf(fusedFwd) },
      unfused: { ms: tu.p50, p90: tu.p90, gflops: flopU / (tu.p50 * 1e6), peakBytes: await peakOf(unfusedFwd) },
      speedup: tu.p50 / tf.p50,
      maxAbsDiff,
    };

    if (opts.backward !== false) {
      const gd = uniformData(c.batch * c.lq * C, 4);
      const g = Tensor.fromArray(gd, [c.batch, c.lq, C]);
      const gh = Tensor.fromArray(heads(gd, c.lq), [bh, c.lq, c.headDim]);
      const leaves = [q, k, v, qh, kh, vh];
      for (const t of leaves) t.requiresGrad = true;
      const clearGrads = () => {
        for (const t of leaves) {
          t.grad?.release();
          t.grad = null;
        }
      };
      const fusedTrain = () => {
        const o = attention(q, k, v, { heads: c.heads, causal: c.causal, impl: opts.impl });
        backward(o, g.view(g.shape));
        o.release();
      };
      const unfusedTrain = () => {
        const s = matmul(qh, kh, { transB: true });
        const p = softmax(s);
        const o = matmul(p, vh);
        backward(o, gh.view(gh.shape));
        for (const t of [s, p, o]) t.release();
      };
      const reps = { warmup: 1, minReps: quick ? 1 : 3, maxReps: quick ? 2 : 6, budgetMs: quick ? 1500 : 4000 };
      const ttf = await timeGpu(() => (fusedTrain(), clearGrads()), reps);
      const ttu = await timeGpu(() => (unfusedTrain(), clearGrads()), reps);
      const fusedPeakBytes = await peakOf(fusedTrain);
      clearGrads();
      const unfusedPeakBytes = await peakOf(unfusedTrain);
      clearGrads();
      rec.train = { fusedMs: ttf.p50, unfusedMs: ttu.p50, fusedPeakBytes, unfusedPeakBytes };
      for (const t of leaves) t.requiresGrad = false;
      g.release();
      gh.release();
    }
    for (const t of [q, k, v, qh, kh, vh]) t.release();
    records.push(rec);
    log(
      `${c.name}: fused ${fmt(rec.fused.ms)} ms (${fmt(rec.fused.gflops, 2)} GFLOP/s), unfused ${fmt(rec.unfused.ms)} ms, ` +
        `x${fmt(rec.speedup, 2)}` +
        (rec.train ? `; fwd+bwd fused ${fmt(rec.train.fusedMs)} ms, unfused ${fmt(rec.train.unfusedMs)} ms` : ''),
    );
  }
  return records;
}

const mib = (b: number) => fmt(b / 2 ** 20, 1);

export function attentionTable(records: AttentionRecord[]): string {
  const rows = records.map((r) => [
    r.case.name,
    `${r.case.batch}x${r.case.heads}x${r.case.lq}x${r.case.lk}x${r.case.headDim}${r.case.causal ? ' causal' : ''}`,
    fmt(r.fused.ms),
    fmt(r.fused.gflops, 2),
    fmt(r.unfused.ms),
    fmt(r.unfused.gflops, 2),
    `x${fmt(r.speedup, 2)}`,
    mib(r.fused.peakBytes),
    mib(r.unfused.peakBytes),
    r.train ? fmt(r.train.fusedMs) : '-',
    r.train ? fmt(r.train.unfusedMs) : '-',
    r.train ? `${mib(r.train.fusedPeakBytes)}/${mib(r.train.unfusedPeakBytes)}` : '-',
    r.maxAbsDiff.toExponential(1),
  ]);
  return formatTable(
    ['case', 'BxHxLqxLkxD', 'fused ms', 'GF/s', 'unfused ms', 'GF/s', 'speedup', 'peak MiB', 'unf. MiB', 'f+b ms', 'unf. f+b ms', 'f+b MiB f/u', 'max diff'],
    rows,
  );
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  let impl: AttentionImpl = 'auto';
  let doBackward = true;
  for (let i = 0; i < flags.rest.length; i++) {
    const a = flags.rest[i];
    if (a === '--impl') impl = flags.rest[++i] as AttentionImpl;
    else if (a === '--no-backward') doBackward = false;
    else throw new Error(`unknown flag ${a}`);
  }
  await initGpu();
  try {
    const log = (s: string) => process.stderr.write(s + '\n');
    const info = adapterSummary();
    log(`adapter: ${info.description || info.device} (${info.vendor}, ${info.architecture}, ${info.backend})`);
    const records = await runAttentionBench({ quick: flags.quick, impl, backward: doBackward, log });
    log('');
    log(attentionTable(records));
    if (flags.json) process.stdout.write(JSON.stringify({ adapter: info, impl, records }, null, 1) + '\n');
  } finally {
    releaseGpu();
  }
}

runAsScript(import.meta.url, main);
