import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { initGpu } from '../gpu/runtime.js';
import type { AdapterOptions } from '../gpu/adapter.js';
import { readConfig } from '../model/config.js';
import { GroupViTModel } from '../model/groupvit.js';
import { loadWeights } from '../model/load.js';
import { loadTokenizer } from '../data/tokenizer/index.js';
import { evaluateShapes } from '../train/eval-shapes.js';
import { UserError } from '../util/errors.js';

export async function evalCommand(opts: AdapterOptions & { weights?: string; data?: string; count?: string; seed?: string; bgThresh?: string; json?: boolean }): Promise<void> {
  if (!opts.weights) throw new UserError('Pass --weights DIR (a folder with config.json and model.safetensors).');
  const data = opts.data ?? 'synthetic';
  if (data !== 'synthetic') throw new UserError(`Evaluation on '${data}' is not supported yet: use --data synthetic.`);
  const count = Number(opts.count ?? 500);
  if (!Number.isInteger(count) || count < 1) throw new UserError(`--count must be a positive integer (got '${opts.count}').`);
  const config = readConfig(join(opts.weights, 'config.json'));
  await initGpu(opts);
  const model = new GroupViTModel(config);
  try {
    await loadWeights(model, opts.weights);
    const tok = loadTokenizer(opts.weights, config);
    const bar = new cliProgress.SingleBar({ format: 'eval |{bar}| {value}/{total} images', stream: process.stderr }, cliProgress.Presets.shades_classic);
    bar.start(count, 0);
    const rep = await evaluateShapes(model, tok, {
      seed: Number(opts.seed ?? 0), count, imageSize: config.vision_config.image_size,
      bgThresh: opts.bgThresh === undefined ? 0.95 : Number(opts.bgThresh), onProgress: (n) => bar.update(n),
    });
    bar.stop();
    if (opts.json) {
      process.stdout.write(JSON.stringify({ weights: opts.weights, ...rep, iou: Object.fromEntries(rep.classes.map((c, i) => [c, rep.iou[i]])) }, null, 2) + '\n');
      return;
    }
    const lines = rep.classes.map((c, i) => `  ${c.padEnd(12)} ${Number.isNaN(rep.iou[i]) ? '   n/a' : (rep.iou[i] * 100).toFixed(1).padStart(6)}`);
    process.stdout.write(`zero-shot segmentation of ${rep.images} held-out scenes\n${'  class'.padEnd(14)}  IoU %\n${lines.join('\n')}\n  ${'mIoU'.padEnd(12)} ${(rep.mIoU * 100).toFixed(1).padStart(6)}\n  pixel accuracy ${(rep.pixelAccuracy * 100).toFixed(1)}%\n`);
  } finally {
    model.release();
  }
}
