import { initGpu } from '../gpu/runtime.js';
import type { AdapterOptions } from '../gpu/adapter.js';
import { runParity } from '../model/parity.js';
import { UserError } from '../util/errors.js';

export async function parityCommand(dir: string, opts: AdapterOptions & { json?: boolean; nvlabs?: boolean; weights?: string }): Promise<void> {
  await initGpu(opts);
  const rows = await runParity(dir, { nvlabs: opts.nvlabs, weights: opts.weights });
  const failed = rows.filter((r) => !r.pass);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ fixture: dir, passed: rows.length - failed.length, failed: failed.length, tensors: rows }, null, 2) + '\n');
  } else {
    const w = Math.max(...rows.map((r) => r.name.length));
    const lines = rows.map(
      (r) => `${r.name.padEnd(w)}  ${`[${r.shape.join(',')}]`.padEnd(12)} ${Number.isFinite(r.maxAbsErr) ? r.maxAbsErr.toExponential(2) : 'n/a'.padStart(8)}  ${r.pass ? 'pass' : 'FAIL'}${r.note ? `  (${r.note})` : ''}`,
    );
    process.stdout.write(`${'tensor'.padEnd(w)}  ${'shape'.padEnd(12)} max|err|  result\n${lines.join('\n')}\n${rows.length - failed.length} passed, ${failed.length} failed\n`);
  }
  if (failed.length) throw new UserError(`${failed.length} of ${rows.length} tensors differ from the reference: ${failed.map((r) => r.name).join(', ')}.`);
}
