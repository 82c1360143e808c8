import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { UserError } from '../util/errors.js';
import { releaseGpu } from '../gpu/runtime.js';
import { infoCommand } from './info.js';
import { parityCommand } from './parity.js';
import { segmentCommand } from './segment.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { calibrateCommand } from './calibrate.js';
import { convertCommand } from './convert.js';
import { benchCommand } from './bench.js';
import { presetNames } from '../model/presets.js';

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

  gpuOptions(
    program
      .command('convert <in> <out-dir>')
      .description(
        'write weights (Hugging Face folder, NVlabs .pth, pytorch_model.bin or our checkpoint) as a Hugging Face folder: config.json + model.safetensors + tokenizer files',
      ),
  )
    .option('--config <file>', 'the model configuration (config.json); default: the one beside IN, else the gcc-yfcc preset')
    .option('--preset <name>', `a built-in configuration of a released model: ${presetNames().join(', ')}`)
    .option('--tokenizer <dir>', "copy the tokenizer files from this folder (default: IN's folder)")
    .option('--force', 'overwrite a model already in OUT_DIR')
    .option('--json', 'print machine-readable JSON on stdout')
    .action(async (input, outDir, opts) => convertCommand(input, outDir, opts));

  gpuOptions(program.command('train').description('train GroupViT on image–caption pairs (the generated shapes world by default)'))
    .option('--preset <name>', 'tiny (a CPU in ~30 min), small, or gcc-yfcc (the paper)', 'tiny')
    .option('--config <file>', "a Hugging Face GroupViT config.json to use instead of the preset's model")
    .option('--data <synthetic|DIR>', "'synthetic' or a folder with captions.jsonl or webdataset .tar shards", 'synthetic')
    .option('--steps <n>', 'optimisation steps')
    .option('--batch-size <n>', 'images per step')
    .option('--lr <lr>', 'peak learning rate')
    .option('--seed <n>', 'seed of the weights, the data order and every noise', '0')
    .option('--out <dir>', 'output folder (weights, checkpoints, metrics.jsonl)', 'runs/groupvit')
    .option('--resume', 'continue the run in --out exactly where its last checkpoint stopped')
    .option('--eval-every <n>', 'zero-shot mIoU on held-out scenes every n steps (synthetic data)')
    .option('--eval-count <n>', 'held-out scenes per evaluation', '100')
    .option('--checkpoint-every <n>', 'steps between checkpoints')
    .option('--calibrate-count <n>', 'tuning scenes for the background rule (threshold and border rule) chosen at the end (synthetic data; 0: none)', '200')
    .option('--tokenizer <dir>', "folder with CLIP's vocab.json + merges.txt (presets with CLIP's vocabulary)")
    .option('--recipe <json>', 'override recipe fields for ablations, e.g. \'{"multiLabelTargets":"shared"}\'')
    .option('--json', 'print the run summary as JSON on stdout')
    .action(async (opts) => trainCommand(opts));

  gpuOptions(program.command('eval').description('zero-shot segmentation scored as per-class IoU and mIoU on held-out generated scenes'))
    .option('--weights <dir>', 'a trained model folder (config.json + model.safetensors)')
    .option('--data <synthetic|DIR>', "'synthetic' (held-out generated scenes) or a VOC-layout folder", 'synthetic')
    .option('--count <n>', 'number of images (synthetic default 500; a VOC folder: all of the split)')
    .option('--classes <a,b,...>', "class names for a VOC-layout folder's label indices 1..K (default: VOC's 20)")
    .option('--split <name>', 'ImageSets/Segmentation/<name>.txt of a VOC-layout folder', 'val')
    .option('--protocol <paper|fast>', 'segmentation protocol for a VOC-layout folder')
    .option('--seed <n>', 'world seed of the evaluation split', '0')
    .option('--bg-thresh <t>', "background threshold (default: the model's calibrated one for as many class names, else 0.95)")
    .option('--bg-border <share|none>', "border rule: groups holding this share of the image's border pixels (and the one holding most) are background; none: the threshold alone (default: the model's calibrated rule, else none)")
    .option('--augment <views>', "test-time views, their scores averaged before the background threshold: none, flip (the image and its mirror image), dihedral (all 8 mirrored and rotated views: for scenes without an up, like the generated shapes world), flip+shift or dihedral+shift (each view again moved by half a patch: 4 or 16 views); default: the views the model's rule was calibrated with, else none")
    .option('--refine <none|pamr>', "move the group maps onto the image's colour edges before each pixel takes its group: pamr (pixel-adaptive mask refinement, Araslanov & Roth 2020) or none, the paper's bilinear upsampling alone (default: what the model's rule was calibrated with, else none)")
    .option('--isolate', "also name each object group (of every view) from an image of it alone, cut out along its colours and encoded again (segment/isolate.ts); its scores and the group's are combined (default: as the model's rule was calibrated, else off)")
    .option('--no-isolate', 'name the groups from their own scores alone, whatever the calibration chose')
    .option('--json', 'print machine-readable JSON on stdout')
    .action(async (opts) => evalCommand(opts));

  gpuOptions(program.command('calibrate').description("choose a model's background rule (threshold and border rule) on tuning scenes of the generated world, or a labelled split of a VOC-layout folder, and record it in its config.json"))
    .option('--weights <dir>', 'a trained model folder (config.json + model.safetensors)')
    .option('--data <synthetic|DIR>', "'synthetic' or a VOC-layout folder", 'synthetic')
    .option('--count <n>', 'tuning scenes (synthetic: default 200) or images (a VOC folder: default all of the split)')
    .option('--seed <n>', 'world seed of the tuning scenes (eval reports seed 0)', '1')
    .option('--split <name>', 'a VOC folder\'s tuning split (eval reports val)', 'train')
    .option('--classes <list>', 'a VOC folder\'s class names, comma-separated (default: the 20 VOC classes)')
    .option('--dry-run', 'report the thresholds without writing config.json')
    .option('--json', 'print machine-readable JSON on stdout')
    .action(async (opts) => calibrateCommand(opts));

  gpuOptions(
    program
      .command('segment <image...>')
      .description('zero-shot segmentation: label every pixel of each image with one of the given class names or background'),
  )
    .requiredOption('--classes <names>', 'class names separated by commas, e.g. cat,dog,grass')
    .option('--weights <dir>', 'model folder (config.json + model.safetensors or pytorch_model.bin [+ vocab.json, merges.txt]); default: models/shapes-tiny')
    .option('--out <dir>', 'folder for NAME.mask.png, NAME.overlay.png, NAME.groups.png (default: beside each image)')
    .option('--bg-thresh <t>', "background threshold: a pixel whose best class score is under it is background (default: the model's calibrated one for as many class names, else 0.95)")
    .option('--bg-border <share|none>', "border rule: the groups holding this share of a window's border pixels (and the one holding most) are background before the threshold; none: the threshold alone (default: the model's calibrated rule, else none)")
    .option('--template <text>', "prompt template with {} for the class name; repeatable or ';'-separated (default \"a photo of a {}.\")", (v: string, prev: string[] = []) => [...prev, v])
    .option('--protocol <p>', "paper: short side 448, 448x448 windows, stride 224; fast: one whole pass at the model's image size (default: paper for models trained at 224 px or more, else fast)")
    .option('--mode <m>', 'whole (one pass over the resized image) or slide (averaged sliding windows)')
    .option('--size <px>', 'short side of the resized image, and the window size when sliding')
    .option('--stride <px>', 'sliding-window stride (default: half the size)')
    .option('--augment <views>', "test-time views, their scores averaged before the background threshold: none, flip (the image and its mirror image), dihedral (all 8 mirrored and rotated views: for scenes without an up, like the generated shapes world), flip+shift or dihedral+shift (each view again moved by half a patch: 4 or 16 views); default: the views the model's rule was calibrated with, else none")
    .option('--refine <none|pamr>', "move the group maps onto the image's colour edges before each pixel takes its group: pamr (pixel-adaptive mask refinement, Araslanov & Roth 2020) or none, the paper's bilinear upsampling alone (default: what the model's rule was calibrated with, else none)")
    .option('--isolate', "also name each object group (of every window and view) from an image of it alone, cut out along its colours and encoded again, its scores and the group's combined (segment/isolate.ts; default: as the model's rule was calibrated, else off)")
    .option('--no-isolate', 'name the groups from their own scores alone, whatever the calibration chose')
    .option('--config <file>', 'config.json for weights that have none beside them (an NVlabs .pth)')
    .option('--preset <name>', 'built-in config for such weights: gcc-yfcc (default) or gcc-redcap')
    .option('--json', 'print the summary of every image as JSON on stdout')
    .action(async (images, opts) => {
      await segmentCommand(images, opts);
    });

  gpuOptions(
    program
      .command('bench')
      .description("time the kernels (against the adapter's ceilings, naive baselines and TF.js's WebGPU backend) and the model (training step, segmentation)"),
  )
    .option('--suite <name>', 'kernels, model or all', 'all')
    .option('--quick', 'fewer shapes and repetitions (minutes on a software adapter)')
    .option('--smoke', 'minimal shapes: checks that every case runs, measures nothing useful')
    .option('--no-peer', 'skip the TF.js comparison')
    .option('--json', 'print the report as one JSON object on stdout (the table still goes to stderr)')
    .option('--out <file>', 'write the JSON report to this file too')
    .action(async (opts) => benchCommand(opts));

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
