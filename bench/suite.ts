// `groupvit bench`: the adapter's ceilings first (fp32 fma peak, vec4 copy bandwidth), then the kernel suite (ours
// against the naive/unfused baselines and TF.js's WebGPU backend, with errors against float64 references) and the
// model suite (training step throughput, segmentation latency, peak pool memory). One report: a table for stderr
// and one JSON object.
import { performance } from 'node:perf_hooks';
import { gpu } from '../src/gpu/runtime.js';
import { adapterSummary, fmt, measureBandwidth, measurePeak } from './harness.js';
import { runKernelSuite, type Level, type SuiteContext } from './kernels.js';
import { paramSizes, runModelSuite } from './model.js';
import { loadTfjsPeer, type Peer } from './peer.js';
import { ceilingsOf, type BenchReport } from './report.js';

export type SuiteName = 'kernels' | 'model' | 'all';
export const SUITES: readonly SuiteName[] = ['kernels', 'model', 'all'];

export interface BenchOptions {
  suite?: SuiteName;
  /** Fewer shapes and repetitions (the whole run in minutes on lavapipe). */
  quick?: boolean;
  /** Minimal shapes, two repetitions: checks that every case runs (the test). Implies quick. */
  smoke?: boolean;
  /** Compare with TF.js's WebGPU backend when it is installed (default true). */
  peer?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** Runs the benchmark on the GPU already opened with initGpu(). */
export async function runBench(o: BenchOptions = {}): Promise<BenchReport> {
  const t0 = performance.now();
  const suite = o.suite ?? 'all';
  const level: Level = o.smoke ? 'smoke' : o.quick ? 'quick' : 'full';
  const log = o.log ?? (() => {});
  const info = adapterSummary();
  log(`adapter: ${info.description || info.device} (${info.vendor}, ${info.architecture}, ${info.backend})`);
  const peak = await measurePeak(level !== 'full');
  const bw = await measureBandwidth(level !== 'full', level === 'smoke' ? 8 : undefined);
  log(`ceilings: fp32 fma ${fmt(peak.gflops, 1)} GFLOP/s, vec4 copy ${fmt(bw.gbps, 2)} GB/s`);
  const notes: string[] = [];
  let peer: Peer | null = null;
  const wantKernels = suite === 'kernels' || suite === 'all';
  if (wantKernels && o.peer !== false) {
    const r = await loadTfjsPeer();
    if (r.peer) {
      peer = r.peer;
      log(`peer: TF.js ${peer.version} WebGPU backend on the same adapter`);
    } else {
      notes.push(r.note);
      log(r.note);
    }
  } else if (wantKernels) notes.push('TF.js comparison turned off (--no-peer)');
  const ctx: SuiteContext = { level, peak, bw, peer, log, records: [], skipped: [], notes };
  try {
    if (wantKernels) {
      const adamwModels =
        level === 'smoke'
          ? [{ name: 'smoke model', params: () => paramSizes('smoke') }]
          : [
              { name: 'tiny model', params: () => paramSizes('tiny'), quick: true },
              { name: 'paper model', params: () => paramSizes('paper'), quick: true },
            ];
      await runKernelSuite(ctx, { adamwModels });
    }
  } finally {
    peer?.dispose();
  }
  if (suite === 'model' || suite === 'all') await runModelSuite(ctx);
  if (gpu().isSoftware) notes.push('software adapter (CPU emulation): figures are orders of magnitude; compare ratios measured in the same run');
  notes.push('rates use the median (p50) sample; GB/s counts each distinct tensor read or written once; GFLOP/s counts an fma as 2');
  return {
    tool: 'groupvit bench',
    version: 1,
    suite,
    quick: level !== 'full',
    smoke: level === 'smoke',
    adapter: info,
    peer: peer ? { name: peer.name, version: peer.version } : null,
    ceilings: ceilingsOf(peak, bw),
    records: ctx.records,
    skipped: ctx.skipped,
    notes,
    seconds: (performance.now() - t0) / 1000,
  };
}
