import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { initGpu, releaseGpu } from '../gpu/runtime.js';
import type { AdapterOptions } from '../gpu/adapter.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { UserError } from '../util/errors.js';
import { runBench, SUITES, type SuiteName } from '../../bench/suite.js';
import { reportTable } from '../../bench/report.js';

export interface BenchCommandOptions extends AdapterOptions {
  suite?: string;
  quick?: boolean;
  smoke?: boolean;
  json?: boolean;
  out?: string;
  /** commander's --no-peer */
  peer?: boolean;
}

/** groupvit bench: the table goes to stderr; --json prints one object on stdout, --out FILE writes it too. */
export async function benchCommand(opts: BenchCommandOptions): Promise<void> {
  const suite = (opts.suite ?? 'all') as SuiteName;
  if (!SUITES.includes(suite)) throw new UserError(`Unknown suite '${opts.suite}': choose one of ${SUITES.join(', ')}.`);
  if (opts.out) {
    try {
      mkdirSync(dirname(opts.out), { recursive: true });
    } catch (e) {
      throw new UserError(`Cannot create the folder of ${opts.out}: ${(e as Error).message}.`);
    }
  }
  await initGpu(opts);
  try {
    const report = await runBench({
      suite,
      quick: !!opts.quick,
      smoke: !!opts.smoke,
      peer: opts.peer !== false,
      log: (s) => process.stderr.write(s + '\n'),
    });
    process.stderr.write('\n' + reportTable(report) + '\n');
    const json = JSON.stringify(report, null, 1) + '\n';
    if (opts.out) {
      writeFileAtomic(opts.out, new TextEncoder().encode(json));
      process.stderr.write(`wrote ${opts.out}\n`);
    }
    if (opts.json) process.stdout.write(json);
  } finally {
    releaseGpu();
  }
}
