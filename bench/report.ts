// The benchmark's records and their stderr table. One record per case; every number in a record is finite (a case
// that cannot run is listed under `skipped` with its reason instead).
import { fmt, formatTable, type Bandwidth, type Peak } from './harness.js';
import type { AdapterDescription } from '../src/gpu/adapter.js';

export type Unit = 'GFLOP/s' | 'GB/s' | 'images/s' | 'ms';

export interface BenchRecord {
  suite: 'kernels' | 'model';
  /** Op family: matmul, attention, assign, contrastive, layernorm, gelu, adamw, train-step, segment. */
  op: string;
  /** Unique name of the case. */
  case: string;
  shape: string;
  p50Ms: number;
  p90Ms: number;
  reps: number;
  /** FLOP or bytes per call (bytes: each distinct tensor read or written once), or images per call. */
  work: number;
  unit: Unit;
  /** work / p50 in `unit`. */
  rate: number;
  /** Which ceiling the rate is compared with, and the fraction of it. */
  ceiling: 'fma' | 'bandwidth' | null;
  ofCeiling: number | null;
  /** Max |ours − float64 CPU reference| on the smaller instance errShape (null: no reference for this case). */
  maxAbsErr: number | null;
  errShape: string | null;
  /** Our second baseline: naive matmul, unfused attention. speedup = its p50 / ours. */
  baseline?: { name: string; p50Ms: number; p90Ms: number; rate: number; speedup: number; peakBytes?: number };
  /** The peer library at the same shape on the same adapter. ratio = its p50 / ours (> 1: ours is faster). */
  peer?: { name: string; p50Ms: number; p90Ms: number; rate: number; ratio: number };
  /** Bytes our buffer pool handed out at once while the case ran (above what was live before). */
  peakBytes?: number;
  /** Named sub-timings (ms) and counts, e.g. a segmentation's start-up, text encoding per class, image forward. */
  parts?: Record<string, number>;
  note?: string;
}

export interface Skipped {
  case: string;
  reason: string;
}

export interface BenchReport {
  tool: 'groupvit bench';
  version: 1;
  suite: string;
  quick: boolean;
  smoke: boolean;
  adapter: AdapterDescription;
  peer: { name: string; version: string } | null;
  ceilings: { fmaGflops: number; fmaP50Ms: number; copyGBps: number; copyP50Ms: number; copyBytes: number };
  records: BenchRecord[];
  skipped: Skipped[];
  notes: string[];
  seconds: number;
}

export function ceilingsOf(peak: Peak, bw: Bandwidth): BenchReport['ceilings'] {
  return { fmaGflops: peak.gflops, fmaP50Ms: peak.p50, copyGBps: bw.gbps, copyP50Ms: bw.p50, copyBytes: bw.bytes };
}

const rateStr = (x: number, unit: Unit) => `${fmt(x, x >= 100 ? 0 : x >= 10 ? 1 : 2)} ${unit === 'GFLOP/s' ? 'GF/s' : unit}`;

const mib = (b: number | undefined) => (b === undefined ? '-' : fmt(b / 2 ** 20, 1));

export function reportTable(r: BenchReport): string {
  const out: string[] = [];
  const a = r.adapter;
  out.push(`adapter: ${a.description || a.device} (${a.vendor}, ${a.architecture}, ${a.backend})${a.isSoftware ? ' [software]' : ''}`);
  out.push(
    `ceilings: fp32 fma ${fmt(r.ceilings.fmaGflops, 1)} GFLOP/s; vec4 copy ${fmt(r.ceilings.copyGBps, 2)} GB/s (${fmt(r.ceilings.copyBytes / 2 ** 20, 0)} MiB moved in ${fmt(r.ceilings.copyP50Ms, 1)} ms)`,
  );
  const kernels = r.records.filter((x) => x.suite === 'kernels');
  if (kernels.length) {
    out.push('');
    out.push(
      formatTable(
        ['kernel case', 'shape', 'p50 ms', 'p90 ms', 'rate', 'of ceil', 'baseline ms', 'vs base', r.peer ? `${r.peer.name} ms` : 'peer ms', 'vs peer', 'max err', 'err at'],
        kernels.map((x) => [
          x.case,
          x.shape,
          fmt(x.p50Ms, x.p50Ms < 10 ? 2 : 1),
          fmt(x.p90Ms, x.p90Ms < 10 ? 2 : 1),
          rateStr(x.rate, x.unit),
          x.ofCeiling === null ? '-' : `${fmt(100 * x.ofCeiling, 1)}% ${x.ceiling === 'fma' ? 'fma' : 'bw'}`,
          x.baseline ? `${fmt(x.baseline.p50Ms, 1)} ${x.baseline.name}` : '-',
          x.baseline ? `x${fmt(x.baseline.speedup, 2)}` : '-',
          x.peer ? fmt(x.peer.p50Ms, 1) : '-',
          x.peer ? `x${fmt(x.peer.ratio, 2)}` : '-',
          x.maxAbsErr === null ? '-' : x.maxAbsErr.toExponential(1),
          x.errShape ?? '-',
        ]),
      ),
    );
  }
  const model = r.records.filter((x) => x.suite === 'model');
  if (model.length) {
    out.push('');
    out.push(
      formatTable(
        ['model case', 'shape', 'p50 ms', 'p90 ms', 'rate', 'peak MiB', 'parts (ms)'],
        model.map((x) => [
          x.case,
          x.shape,
          fmt(x.p50Ms, 1),
          fmt(x.p90Ms, 1),
          x.unit === 'ms' ? '-' : rateStr(x.rate, x.unit),
          mib(x.peakBytes),
          x.parts ? Object.entries(x.parts).map(([k, v]) => `${k} ${fmt(v, v < 10 ? 2 : 1)}`).join(', ') : '',
        ]),
      ),
    );
  }
  if (r.skipped.length) {
    out.push('');
    out.push('skipped:');
    for (const s of r.skipped) out.push(`  ${s.case}: ${s.reason}`);
  }
  if (r.notes.length) {
    out.push('');
    out.push('notes:');
    for (const n of r.notes) out.push(`  - ${n}`);
  }
  out.push('');
  out.push(`${r.records.length} cases in ${fmt(r.seconds, 1)} s (${r.smoke ? 'smoke' : r.quick ? 'quick' : 'full'} run, suite ${r.suite})`);
  return out.join('\n');
}
