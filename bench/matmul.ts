// Matmul benchmark: the adapter's fma peak, then our matmul at the model's shapes against the naive kernel in the same
// run, and optionally against another of our variants (--baseline) and TF.js's WebGPU backend (--peer), interleaved
// over --rounds rounds (each figure is then the median of the rounds' p50s). A table on stderr; `--json` prints one
// object on stdout; `--quick` shrinks the repetitions.
//   node dist/bench/matmul.js [--quick] [--json] [--variant auto|texture|register|tiled|naive] [--cases 0,1,...]
//     [--baseline register] [--peer] [--rounds 3] [--no-naive] [--tm 4 --tn 4 --wgx 8 --wgy 8]
//     [--tex-tm 16 --tex-tn 16 --tex-wgx 8 --tex-wgy 8]
import { gpu, initGpu, releaseGpu } from '../src/gpu/runtime.js';
import { gemm, gemmKernel, gemmVariant, setMatmulTuning, type GemmSpec, type MatmulTuning, type MatmulVariant } from '../src/ops/matmul.js';
import { adapterSummary, fmt, formatTable, measurePeak, parseFlags, timeGpu, uniformData, type Peak, type Timing } from './harness.js';
import { runAsScript } from './harness.js';
import { loadTfjsPeer, type Peer } from './peer.js';

export interface MatmulCase {
  name: string;
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
}

/**
 * The model's shapes (GROUPVIT.md: 8192 = tokens·batch rows, width 384, MLP 1536) as C[M,N] = op(A)·op(B) with
 * contraction K. The Linear y = x·Wᵀ is NT; its backward is NN (dX = dY·W) and TN (dW = dYᵀ·X).
 */
export const MATMUL_CASES: MatmulCase[] = [
  { name: 'qkv/proj', M: 8192, K: 384, N: 384, transA: false, transB: false },
  { name: 'mlp up', M: 8192, K: 384, N: 1536, transA: false, transB: false },
  { name: 'mlp down', M: 8192, K: 1536, N: 384, transA: false, transB: false },
  { name: 'square', M: 512, K: 512, N: 512, transA: false, transB: false },
  { name: 'mlp up x·Wᵀ', M: 8192, K: 384, N: 1536, transA: false, transB: true },
  { name: 'mlp up dW=dYᵀ·X', M: 1536, K: 8192, N: 384, transA: true, transB: false },
  { name: 'mlp up Aᵀ·Bᵀ', M: 8192, K: 384, N: 1536, transA: true, transB: true },
  { name: 'mlp up Aᵀ·B', M: 8192, K: 384, N: 1536, transA: true, transB: false },
];

export interface MatmulBenchOptions {
  quick?: boolean;
  cases?: MatmulCase[];
  /** Kernel family for "ours" (default: auto, as the model runs). */
  variant?: MatmulVariant;
  /** Time the naive kernel as the baseline (default true). */
  naive?: boolean;
  /** Also time this variant of ours (e.g. 'register', the previous lavapipe kernel), interleaved with ours. */
  baseline?: MatmulVariant;
  /** Also time TF.js's matMul at the same shape, interleaved with ours. */
  peer?: Peer | null;
  /** Rounds of (ours, baseline, peer) timings; figures are medians over the rounds (default 1). */
  rounds?: number;
  /** fp32 fma ceiling from the same run; measured here when absent. */
  peak?: Peak;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

export interface MatmulRecord {
  case: string;
  M: number;
  K: number;
  N: number;
  op: string;
  kernel: string;
  gflop: number;
  p50Ms: number;
  p90Ms: number;
  reps: number;
  gflops: number;
  peakGflops: number;
  fracPeak: number;
  naiveP50Ms: number | null;
  naiveP90Ms: number | null;
  naiveGflops: number | null;
  speedupVsNaive: number | null;
  /** Max |ours − float64 reference| on a smaller instance [errM, K, errN] with the same flags and kernel. */
  maxAbsErr: number;
  naiveMaxAbsErr: number;
  errShape: [number, number, number];
  /** --baseline: the variant, its kernel and median p50, and baseline time / ours. */
  baseline: { variant: string; kernel: string; p50Ms: number; speedup: number } | null;
  /** --peer: TF.js's median p50 and its time / ours (above 1: ours is faster), with the per-round ratios. */
  peer: { name: string; p50Ms: number; ratio: number; rounds: number[] } | null;
}

interface Operands {
  a: GPUBuffer;
  b: GPUBuffer;
  c: GPUBuffer;
  release(): void;
}

function upload(M: number, K: number, N: number, seed: number): Operands & { ha: Float32Array; hb: Float32Array } {
  const g = gpu();
  const ha = uniformData(M * K, seed);
  const hb = uniformData(K * N, seed + 1);
  const a = g.createBuffer(ha.byteLength);
  const b = g.createBuffer(hb.byteLength);
  const c = g.createBuffer(M * N * 4);
  g.write(a, ha);
  g.write(b, hb);
  return { a, b, c, ha, hb, release: () => [a, b, c].forEach((x) => g.releaseBuffer(x)) };
}

function spec(o: Operands, cs: Pick<MatmulCase, 'M' | 'K' | 'N' | 'transA' | 'transB'>, variant: MatmulVariant): GemmSpec {
  return { a: o.a, b: o.b, c: o.c, M: cs.M, N: cs.N, K: cs.K, batch: 1, strideA: 0, strideB: 0, strideC: 0, transA: cs.transA, transB: cs.transB, variant };
}

/** float64 reference of op(A)·op(B) from the stored layouts. */
function reference(ha: Float32Array, hb: Float32Array, M: number, K: number, N: number, transA: boolean, transB: boolean): Float64Array {
  const out = new Float64Array(M * N);
  const arow = new Float64Array(K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) arow[k] = transA ? ha[k * M + m] : ha[m * K + k];
    for (let n = 0; n < N; n++) {
      let s = 0;
      if (transB) for (let k = 0; k < K; k++) s += arow[k] * hb[n * K + k];
      else for (let k = 0; k < K; k++) s += arow[k] * hb[k * N + n];
      out[m * N + n] = s;
    }
  }
  return out;
}

async function maxError(cs: MatmulCase, variant: MatmulVariant, seed: number): Promise<{ err: number; shape: [number, number, number] }> {
  const M = Math.min(cs.M, 128);
  const N = Math.min(cs.N, 128);
  const K = cs.K;
  const o = upload(M, K, N, seed);
  // the kernel timed at the full shape, even where 'auto' would pick another one for this smaller instance
  gemm(spec(o, { ...cs, M, N }, variant === 'naive' ? variant : gemmVariant({ ...cs, batch: 1, strideA: 0, strideB: 0, variant })));
  const got = new Float32Array(await gpu().read(o.c, M * N * 4));
  const want = reference(o.ha, o.hb, M, K, N, cs.transA, cs.transB);
  o.release();
  let err = 0;
  for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]) || (Number.isNaN(got[i]) ? Infinity : 0));
  return { err, shape: [M, K, N] };
}

export async function runMatmulBench(opts: MatmulBenchOptions = {}): Promise<MatmulRecord[]> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const quick = !!opts.quick;
  const variant = opts.variant ?? 'auto';
  const withNaive = opts.naive ?? true;
  const peak = opts.peak ?? (await measurePeak(quick));
  const records: MatmulRecord[] = [];
  let seed = 1;
  for (const cs of opts.cases ?? MATMUL_CASES) {
    const flop = 2 * cs.M * cs.K * cs.N;
    const o = upload(cs.M, cs.K, cs.N, seed++);
    const reps = quick ? { warmup: 1, minReps: 3, maxReps: 3 } : { warmup: 2, minReps: 5, maxReps: 20, budgetMs: 5000 };
    const rounds = Math.max(1, opts.rounds ?? 1);
    const peer = opts.peer ?? null;
    const tfA = peer?.tensor(uniformData(cs.M * cs.K, 11), cs.transA ? [cs.K, cs.M] : [cs.M, cs.K]);
    const tfB = peer?.tensor(uniformData(cs.K * cs.N, 12), cs.transB ? [cs.N, cs.K] : [cs.K, cs.N]);
    const oursT: Timing[] = [];
    const baseT: Timing[] = [];
    const peerT: Timing[] = [];
    for (let r = 0; r < rounds; r++) {
      oursT.push(await timeGpu(() => gemm(spec(o, cs, variant)), reps));
      if (opts.baseline) baseT.push(await timeGpu(() => gemm(spec(o, cs, opts.baseline!)), reps));
      if (peer) peerT.push(await peer.time(() => peer.tf.matMul(tfA!, tfB!, cs.transA, cs.transB), reps));
    }
    tfA?.dispose();
    tfB?.dispose();
    const median = (ts: Timing[], f: (t: Timing) => number) => ts.map(f).sort((x, y) => x - y)[(ts.length - 1) >> 1];
    const ours = { p50: median(oursT, (t) => t.p50), p90: median(oursT, (t) => t.p90), samples: oursT.flatMap((t) => t.samples) };
    let naive = null;
    if (withNaive) {
      naive = await timeGpu(() => gemm(spec(o, cs, 'naive')), quick ? { warmup: 0, minReps: 2, maxReps: 2, inner: gpu().isSoftware ? 1 : 'auto' } : { warmup: 1, minReps: 3, maxReps: 10, budgetMs: 5000 });
    }
    o.release();
    const e = await maxError(cs, variant, seed++);
    const en = withNaive ? await maxError(cs, 'naive', seed - 1) : { err: NaN };
    const gflops = flop / (ours.p50 * 1e6);
    const naiveGflops = naive ? flop / (naive.p50 * 1e6) : null;
    const rec: MatmulRecord = {
      case: cs.name,
      M: cs.M,
      K: cs.K,
      N: cs.N,
      op: `${cs.transA ? 'T' : 'N'}${cs.transB ? 'T' : 'N'}`,
      kernel: gemmKernel({ ...cs, batch: 1, strideA: 0, strideB: 0, strideC: 0, variant }),
      gflop: flop / 1e9,
      p50Ms: ours.p50,
      p90Ms: ours.p90,
      reps: ours.samples.length,
      gflops,
      peakGflops: peak.gflops,
      fracPeak: gflops / peak.gflops,
      naiveP50Ms: naive?.p50 ?? null,
      naiveP90Ms: naive?.p90 ?? null,
      naiveGflops,
      speedupVsNaive: naive ? naive.p50 / ours.p50 : null,
      maxAbsErr: e.err,
      naiveMaxAbsErr: en.err,
      errShape: e.shape,
      baseline: opts.baseline
        ? { variant: opts.baseline, kernel: gemmKernel({ ...cs, batch: 1, strideA: 0, strideB: 0, strideC: 0, variant: opts.baseline }), p50Ms: median(baseT, (t) => t.p50), speedup: median(baseT, (t) => t.p50) / ours.p50 }
        : null,
      peer: peer
        ? { name: peer.name, p50Ms: median(peerT, (t) => t.p50), ratio: median(peerT, (t) => t.p50) / ours.p50, rounds: peerT.map((t, i) => t.p50 / oursT[i].p50) }
        : null,
    };
    records.push(rec);
    log(
      `  ${rec.case} ${rec.M}x${rec.K}x${rec.N} ${rec.op}: ${fmt(rec.p50Ms)} ms, ${fmt(gflops, 2)} GFLOP/s` +
        (naive ? `, naive ${fmt(naive.p50)} ms (x${fmt(rec.speedupVsNaive!, 2)})` : '') +
        (rec.baseline ? `, ${rec.baseline.variant} ${fmt(rec.baseline.p50Ms)} ms (x${fmt(rec.baseline.speedup, 2)})` : '') +
        (rec.peer ? `, ${rec.peer.name} ${fmt(rec.peer.p50Ms)} ms (x${fmt(rec.peer.ratio, 2)}; rounds ${rec.peer.rounds.map((x) => 'x' + fmt(x, 2)).join(' ')})` : ''),
    );
  }
  return records;
}

export function matmulTable(records: MatmulRecord[], peak: Peak): string {
  const withBase = records.some((r) => r.baseline);
  const withPeer = records.some((r) => r.peer);
  const rows = records.map((r) => [
    r.case,
    `${r.M}x${r.K}x${r.N}`,
    r.op,
    r.kernel,
    fmt(r.p50Ms),
    fmt(r.p90Ms),
    fmt(r.gflops, 2),
    fmt(100 * r.fracPeak, 1) + '%',
    r.naiveP50Ms === null ? '-' : fmt(r.naiveP50Ms),
    r.naiveGflops === null ? '-' : fmt(r.naiveGflops, 2),
    r.speedupVsNaive === null ? '-' : 'x' + fmt(r.speedupVsNaive, 2),
    ...(withBase ? [r.baseline ? `${r.baseline.kernel}: ${fmt(r.baseline.p50Ms)}` : '-', r.baseline ? 'x' + fmt(r.baseline.speedup, 2) : '-'] : []),
    ...(withPeer ? [r.peer ? fmt(r.peer.p50Ms) : '-', r.peer ? 'x' + fmt(r.peer.ratio, 2) : '-'] : []),
    r.maxAbsErr.toExponential(1),
  ]);
  const header = [
    'case', 'MxKxN', 'op', 'kernel', 'p50 ms', 'p90 ms', 'GFLOP/s', 'of peak', 'naive ms', 'naive GF/s', 'vs naive',
    ...(withBase ? ['baseline ms', 'vs baseline'] : []),
    ...(withPeer ? ['tfjs ms', 'vs tfjs'] : []),
    'max err',
  ];
  return `fp32 fma peak: ${fmt(peak.gflops, 1)} GFLOP/s (${fmt(peak.p50, 1)} ms for ${fmt(peak.flop / 1e9, 1)} GFLOP)\n` + formatTable(header, rows);
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  let variant: MatmulVariant = 'auto';
  let baseline: MatmulVariant | undefined;
  let withPeer = false;
  let rounds = 1;
  let noNaive = false;
  const tuning: Partial<MatmulTuning> = {};
  const tuningFlags: Record<string, keyof MatmulTuning> = {
    '--tm': 'tm', '--tn': 'tn', '--wgx': 'wgX', '--wgy': 'wgY', '--tile': 'tile',
    '--tex-tm': 'texTm', '--tex-tn': 'texTn', '--tex-wgx': 'texWgX', '--tex-wgy': 'texWgY',
  };
  let only: string[] | null = null;
  for (let i = 0; i < flags.rest.length; i++) {
    const a = flags.rest[i];
    const v = flags.rest[i + 1];
    if (a === '--variant') (variant = v as MatmulVariant), i++;
    else if (a in tuningFlags) (tuning[tuningFlags[a]] = Number(v)), i++;
    else if (a === '--cases') (only = v.split(',')), i++;
    else if (a === '--baseline') (baseline = v as MatmulVariant), i++;
    else if (a === '--rounds') (rounds = Number(v)), i++;
    else if (a === '--peer') withPeer = true;
    else if (a === '--no-naive') noNaive = true;
    else throw new Error(`unknown flag ${a}`);
  }
  setMatmulTuning(tuning);
  await initGpu();
  let peer: Peer | null = null;
  try {
    const log = (s: string) => process.stderr.write(s + '\n');
    const info = adapterSummary();
    log(`adapter: ${info.description || info.device} (${info.vendor}, ${info.architecture}, ${info.backend})`);
    const peak = await measurePeak(flags.quick);
    log(`fp32 fma peak: ${fmt(peak.gflops, 1)} GFLOP/s`);
    if (withPeer) {
      const r = await loadTfjsPeer();
      if (r.peer) peer = r.peer;
      else log(r.note);
    }
    const cases = only ? MATMUL_CASES.filter((c, i) => only!.includes(String(i)) || only!.includes(c.name)) : MATMUL_CASES;
    const records = await runMatmulBench({ quick: flags.quick, variant, peak, cases, naive: !noNaive, baseline, peer, rounds, log });
    log('');
    log(matmulTable(records, peak));
    if (flags.json) {
      process.stdout.write(JSON.stringify({ adapter: info, peak, variant, peer: peer ? { name: peer.name, version: peer.version } : null, records }, null, 1) + '\n');
    }
  } finally {
    peer?.dispose();
    releaseGpu();
  }
}

runAsScript(import.meta.url, main);
