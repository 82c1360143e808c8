import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { AdapterOptions } from '../gpu/adapter.js';
import { UserError } from '../util/errors.js';
import { calibrateShapes, writeCalibration } from '../train/calibrate.js';
import { withTrainedModel } from './trained-model.js';

type CalibrateOptions = AdapterOptions & { weights?: string; count?: string; seed?: string; dryRun?: boolean; json?: boolean };

/** `groupvit calibrate`: the background threshold with the best mIoU on tuning scenes, recorded in the model's config.json. */
export async function calibrateCommand(opts: CalibrateOptions): Promise<void> {
  if (!opts.weights) throw new UserError('Pass --weights DIR (a folder with config.json and model.safetensors).');
  const count = Number(opts.count ?? 200);
  if (!Number.isInteger(count) || count < 1) throw new UserError(`--count must be a positive integer (got '${opts.count}').`);
  const seed = Number(opts.seed ?? 1);
  if (!Number.isInteger(seed) || seed < 0) throw new UserError(`--seed must be a whole number of at least 0 (got '${opts.seed}').`);
  await withTrainedModel(opts.weights, opts, async (model, tok, config) => {
    const bar = new cliProgress.SingleBar({ format: 'calibrate |{bar}| {value}/{total} scenes', stream: process.stderr }, cliProgress.Presets.shades_classic);
    bar.start(count, 0);
    const r = await calibrateShapes(model, tok, { seed, count, imageSize: config.vision_config.image_size, onProgress: (n) => bar.update(n) });
    bar.stop();
    if (!opts.dryRun) writeCalibration(opts.weights!, r);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ weights: opts.weights, written: !opts.dryRun, ...r }, null, 2) + '\n');
      return;
    }
    const rows = r.tried.map((t) => `  ${String(t.bgThresh).padEnd(6)} ${(t.mIoU * 100).toFixed(1).padStart(6)}${t.bgThresh === r.bgThresh ? '  <- chosen' : ''}`);
    process.stdout.write(
      `background threshold on ${count} tuning scenes (eval split, seed ${seed}), all 8 class names\n  thresh  mIoU %\n${rows.join('\n')}\n` +
        `shorter lists (the scene's shapes, then distractors): ${r.byClassCount.map((b) => `${b.classes} names ${b.bgThresh} (mIoU ${(b.mIoU * 100).toFixed(1)})`).join(', ')}\n` +
        (opts.dryRun ? 'not written (--dry-run)\n' : `written to ${join(opts.weights!, 'config.json')} (groupvit.bg_thresh ${r.bgThresh}): eval and segment use them unless --bg-thresh is given\n`),
    );
  });
}
