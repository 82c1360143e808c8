// Shared pieces of the benchmarks: timing with warm-up and percentiles, the adapter's ceilings, a stderr table and
// the common flags. Every figure a benchmark reports is measured in the same run as its baselines.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { gpu } from '../src/gpu/runtime.js';
import type { AdapterDescription } from '../src/gpu/adapter.js';

export interface Timing {
  /** Milliseconds per call, one per timed sample, in the order measured. */
  samples: number[];
  p50: number;
  p90: number;
  min: number;
}

export interface TimeOptions {
  warmup?: number;
  /** At least this many timed repetitions... */
  minReps?: number;
  /** ...and at most this many, stopping early once budgetMs of timed work has run. */
  maxReps?: number;
  budgetMs?: number;
  /**
   * Dispatches per timed sample (each sample reports the per-call mean). 'auto' (the default) batches enough calls
   * that a sample lasts ~20 ms, so a fast GPU is not timed by its submit-and-wait latency; on lavapipe one call
   * already takes longer than that.
   */
  inner?: number | 'auto';
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Times `run(inner)` — `inner` calls followed by one submit-and-wait — reporting the per-call mean of each sample.
 * With inner 'auto', one untimed call sizes the batch so that a sample lasts ~20 ms: a fast GPU is then not timed
 * by its submit latency. Shared by our kernels (timeGpu) and the TF.js peer, so both are timed alike.
 */
export async function timeBatched(run: (inner: number) => Promise<void>, opts: TimeOptions = {}): Promise<Timing> {
  const { warmup = 1, minReps = 3, maxReps = 20, budgetMs = 3000 } = opts;
  let first = Infinity;
  // 'auto' needs one untimed call to size the batch; a fixed inner count may skip warm-up entirely
  const warm = typeof opts.inner === 'number' ? warmup : Math.max(1, warmup);
  for (let i = 0; i < warm; i++) {
    const t0 = performance.now();
    await run(1);
    first = Math.min(first, performance.now() - t0);
  }
  const inner = typeof opts.inner === 'number' ? opts.inner : Math.max(1, Math.min(200, Math.ceil(20 / Math.max(first, 0.01))));
  const samples: number[] = [];
  let spent = 0;
  while (samples.length < minReps || (samples.length < maxReps && spent < budgetMs)) {
    const t0 = performance.now();
    await run(inner);
    const dt = performance.now() - t0;
    samples.push(dt / inner);
    spent += dt;
  }
  const sorted = samples.slice().sort((a, b) => a - b);
  return { samples, p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), min: sorted[0] };
}

/** Times `record` (which records GPU work into the current encoder): each sample records, submits and waits. */
export async function timeGpu(record: () => void, opts: TimeOptions = {}): Promise<Timing> {
  const g = gpu();
  return timeBatched(async (inner) => {
    for (let i = 0; i < inner; i++) record();
    await g.sync();
  }, opts);
}

export interface Peak {
  /** fp32 GFLOP/s (an fma counts 2) from the median repetition. */
  gflops: number;
  p50: number;
  flop: number;
}

/** The fp32 fma ceiling of the adapter (kernels/peak.wgsl: register-only vec4 fma chains, unrolled 8×). */
export async function measurePeak(quick = false): Promise<Peak> {
  const g = gpu();
  const wg = 64;
  const groups = g.isSoftware ? 256 : 8192;
  const iters = g.isSoftware ? (quick ? 1000 : 3000) : 4096;
  const threads = groups * wg;
  const flopPerIter = 8 * 4 * 4 * 2; // unroll · chains · vec4 lanes · (mul + add)
  const flop = threads * iters * flopPerIter;
  const out = g.createBuffer(threads * 16);
  const t = await timeGpu(
    () => g.dispatch({ file: 'peak', entry: 'peak', constants: { WG: wg }, uniforms: [iters, { f: 0.999999 }, { f: 1e-6 }], buffers: [out], workgroups: [groups] }),
    { warmup: 1, minReps: quick ? 3 : 5, maxReps: quick ? 3 : 10, budgetMs: 2000 },
  );
  g.releaseBuffer(out);
  return { gflops: flop / (t.p50 * 1e6), p50: t.p50, flop };
}

export interface CommonFlags {
  quick: boolean;
  json: boolean;
}

export function parseFlags(argv: string[]): CommonFlags & { rest: string[] } {
  const rest: string[] = [];
  let quick = false;
  let json = false;
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a === '--json') json = true;
    else rest.push(a);
  }
  return { quick, json, rest };
}

export function adapterSummary(): AdapterDescription {
  return { ...gpu().info };
}

export type Cell = string | number;

/** Fixed-width table: numbers right-aligned, formatted by the caller. */
export function formatTable(header: string[], rows: Cell[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return String(x);
  return x.toFixed(digits);
}

/** Uniform [-1, 1) values from a seeded generator (mulberry32): benchmark inputs are reproducible. */
export function uniformData(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * Waits for a GPU promise without spinning a core (dawn.node busy-polls pending promises; WEBGPU-NOTES): short
 * Atomics.wait naps between event-loop turns. For devices other than ours (a peer library's).
 */
const napCell = new Int32Array(new SharedArrayBuffer(4));
export async function settle<T>(p: Promise<T>, napMs = 1): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    Atomics.wait(napCell, 0, 0, napMs);
    await new Promise((r) => setImmediate(r));
  }
  return p;
}

/**
 * Times an async host-driven job (a training step, a segmentation) by wall clock: `warmup` untimed calls, then
 * between minReps and maxReps timed ones (stopping once budgetMs of timed work has run).
 */
export async function timeAsync(fn: () => Promise<unknown>, opts: TimeOptions = {}): Promise<Timing> {
  const { warmup = 1, minReps = 3, maxReps = 20, budgetMs = 3000 } = opts;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  let spent = 0;
  while (samples.length < minReps || (samples.length < maxReps && spent < budgetMs)) {
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    samples.push(dt);
    spent += dt;
  }
  const sorted = samples.slice().sort((a, b) => a - b);
  return { samples, p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), min: sorted[0] };
}

export interface Bandwidth {
  /** GB/s (1e9 bytes) of a vec4 copy, read + write counted, from the median repetition. */
  gbps: number;
  p50: number;
  bytes: number;
}

/** The adapter's memory ceiling: a vec4 copy kernel (kernels/bandwidth.wgsl) between two buffers of `mib` MiB. */
export async function measureBandwidth(quick = false, mib?: number): Promise<Bandwidth> {
  const g = gpu();
  const size = (mib ?? (g.isSoftware ? (quick ? 32 : 64) : 256)) * 2 ** 20;
  const n = size / 16;
  const src = g.createBuffer(size);
  const dst = g.createBuffer(size);
  g.write(src, uniformData(size / 4, 7));
  const wg = 256;
  const groups = Math.ceil(n / wg);
  const workgroups: [number, number] = groups <= 65535 ? [groups, 1] : [65535, Math.ceil(groups / 65535)];
  const t = await timeGpu(() => g.dispatch({ file: 'bandwidth', entry: 'copy_vec4', constants: { WG: wg }, uniforms: [n], buffers: [src, dst], workgroups }), {
    warmup: 1,
    minReps: quick ? 3 : 5,
    maxReps: quick ? 5 : 15,
    budgetMs: 2000,
  });
  g.releaseBuffer(src);
  g.releaseBuffer(dst);
  return { gbps: (2 * size) / (t.p50 * 1e6), p50: t.p50, bytes: 2 * size };
}

/** Runs `main` when this module is the script node was started with (bench files are both libraries and scripts). */
export function runAsScript(moduleUrl: string, main: () => Promise<void>): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
}
