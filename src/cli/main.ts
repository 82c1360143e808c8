import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { UserError } from '../util/errors.js';
import { releaseGpu } from '../gpu/runtime.js';
import { infoCommand } from './info.js';
import { parityCommand } from './parity.js';

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
    } catch {
      /* keep looking upwards */
    }
  }
  return '0.0.0';
}

/** Options every GPU command takes: which adapter and backend to use. */
export function gpuOptions(cmd: Command): Command {
  return cmd
    .option('--adapter <substring>', 'use the adapter whose name contains this (env GROUPVIT_ADAPTER)')
    .option('--backend <name>', 'Dawn backend: vulkan, metal, d3d12, ... (env GROUPVIT_BACKEND)');
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('groupvit')
    .description('GroupViT on WebGPU: train it, and segment any image with any class names (zero-shot).')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run groupvit --help for usage)')
    .exitOverride();

  gpuOptions(program.command('info').description('show the WebGPU adapter, its backend and the limits that matter'))
    .option('--json', 'print machine-readable JSON on stdout')
    .action(async (opts) => infoCommand(opts));

  gpuOptions(
    program
      .command('parity <fixture-dir>')
      .description("run the model on a parity fixture and compare every tensor with the official implementation's outputs"),
  )
    .option('--nvlabs', "load the NVlabs-named weights (nvlabs_state.safetensors) instead of model.safetensors")
    .option('--weights <file>', 'load these weights instead (safetensors, .pth or pytorch_model.bin)')
    .option('--json', 'print machine-readable JSON on stdout')
    .action(async (dir, opts) => parityCommand(dir, opts));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are exits with code 0; usage errors were already printed by commander
      return e.exitCode;
    }
    if (e instanceof UserError) {
      process.stderr.write(`groupvit: ${e.message}\n`);
      return 1;
    }
    if (process.env.GROUPVIT_DEBUG) throw e;
    process.stderr.write(`groupvit: internal error: ${(e as Error).message} (set GROUPVIT_DEBUG=1 for the stack)\n`);
    return 2;
  } finally {
    releaseGpu();
  }
}
