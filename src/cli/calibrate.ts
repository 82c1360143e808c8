import { join } from 'node:path';
import type { Refine } from '../segment/pamr.js';
import cliProgress from 'cli-progress';
import type { AdapterOptions } from '../gpu/adapter.js';
import { UserError } from '../util/errors.js';
import { backgroundGrid, bestThreshold, calibrateShapes, describeRule, writeCalibration, writeVocCalibration, type CalibrationReport } from '../train/calibrate.js';
import type { Augment } from '../segment/dihedral.js';
import type { BackgroundRule } from '../segment/zero-shot.js';
import { Segmenter } from '../segment/pipeline.js';
import { calibrateVoc, vocIds } from '../segment/voc-eval.js';
import { parseClasses } from '../segment/inputs.js';
import { withTrainedModel } from './trained-model.js';

type CalibrateOptions = AdapterOptions & { weights?: string; data?: string; count?: string; seed?: string; split?: string; classes?: string; dryRun?: boolean; json?: boolean };

/** `groupvit calibrate`: the background rule with the best mIoU on tuning data, recorded in the model's config.json. */
export async function calibrateCommand(opts: CalibrateOptions): Promise<void> {
  if (!opts.weights) throw new UserError('Pass --weights DIR (a folder with config.json and model.safetensors).');
  const data = opts.data ?? 'synthetic';
  const count = opts.count === undefined ? (data === 'synthetic' ? 200 : undefined) : Number(opts.count);
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new UserError(`--count must be a positive integer (got '${opts.count}').`);
  if (data !== 'synthetic') return calibrateVocCommand(opts, data, count);
  const seed = Number(opts.seed ?? 1);
  if (!Number.isInteger(seed) || seed < 0) throw new UserError(`--seed must be a whole number of at least 0 (got '${opts.seed}').`);
  await withTrainedModel(opts.weights, opts, async (model, tok, config) => {
    const bar = new cliProgress.SingleBar({ format: 'calibrate |{bar}| {value}/{total} scenes', stream: process.stderr }, cliProgress.Presets.shades_classic);
    bar.start(count!, 0);
    const r = await calibrateShapes(model, tok, {
      seed, count: count!, imageSize: config.vision_config.image_size,
      onProgress: (n, total) => {
        bar.setTotal(total);
        bar.update(n);
      },
    });
    bar.stop();
    if (!opts.dryRun) writeCalibration(opts.weights!, r);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ weights: opts.weights, written: !opts.dryRun, ...r }, null, 2) + '\n');
      return;
    }
    process.stdout.write(
      `background rule on ${count} tuning scenes (eval split, seed ${seed}), all 8 class names: mIoU % by threshold and border rule${r.refine === 'none' && r.tried.every((t) => t.refine === 'none') ? '' : ', with and without refined group maps'}\n${ruleTable(r.tried, r)}\n` +
        augmentLines(r) +
        `shorter lists (the scene's shapes, then distractors), thresholds under that border rule: ${r.byClassCount.map((b) => `${b.classes} names ${b.bgThresh} (mIoU ${(b.mIoU * 100).toFixed(1)})`).join(', ')}\n` +
        written(opts, r),
    );
  });
}

/** The same on a labelled split of a VOC-layout folder, through the segment pipeline (the model's protocol). */
async function calibrateVocCommand(opts: CalibrateOptions, dir: string, count: number | undefined): Promise<void> {
  const classes = opts.classes === undefined ? undefined : parseClasses(opts.classes);
  vocIds(dir, opts.split ?? 'train', count); // a missing folder or split is said before the model loads
  const seg = await Segmenter.load({ weights: opts.weights!, gpu: opts });
  try {
    const bar = new cliProgress.SingleBar({ format: 'calibrate |{bar}| {value}/{total} images', stream: process.stderr }, cliProgress.Presets.shades_classic);
    let started = false;
    const r = await calibrateVoc(seg, dir, backgroundGrid(), {
      classes, split: opts.split, count,
      onProgress: (n, total) => {
        if (!started) bar.start(total, 0);
        started = true;
        bar.update(n);
      },
    });
    bar.stop();
    if (!opts.dryRun) writeVocCalibration(opts.weights!, r, dir);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ weights: opts.weights, written: !opts.dryRun, data: dir, ...r }, null, 2) + '\n');
      return;
    }
    process.stdout.write(`background rule on ${r.images} images of ${dir} (split ${r.split}), ${r.classes.length} class names: mIoU % by threshold and border rule\n${ruleTable(r.tried, r)}\n${written(opts, r)}`);
  } finally {
    seg.release();
  }
}

/** Thresholds down, border rules across ('none' is the paper's threshold alone); the chosen cell starred. */
function ruleTable(tried: (BackgroundRule & { refine?: Refine; mIoU: number })[], chosen: BackgroundRule & { refine?: Refine }): string {
  const refines = [...new Set(tried.map((t) => t.refine ?? 'none'))];
  if (refines.length > 1) {
    return refines
      .map((r) => `group maps refined: ${r}\n${ruleTable(tried.filter((t) => t.refine === r).map((t) => ({ ...t, refine: undefined })), chosen.refine === r ? { ...chosen, refine: undefined } : { bgThresh: NaN, bgBorder: null })}`)
      .join('\n');
  }
  const borders = [...new Set(tried.map((t) => t.bgBorder))];
  const thresholds = [...new Set(tried.map((t) => t.bgThresh))];
  const head = `  ${'thresh'.padEnd(7)}${borders.map((b) => (b === null ? 'none' : `border ${b}`).padStart(12)).join('')}`;
  const rows = thresholds.map((t) => {
    const cells = borders.map((b) => {
      const hit = tried.find((x) => x.bgThresh === t && x.bgBorder === b);
      const star = t === chosen.bgThresh && b === chosen.bgBorder ? '*' : ' ';
      return hit ? `${(hit.mIoU * 100).toFixed(1)}${star}`.padStart(12) : ''.padStart(12);
    });
    return `  ${String(t).padEnd(7)}${cells.join('')}`;
  });
  return [head, ...rows].join('\n');
}

/** The test-time views and isolation tried under the rule chosen for the image alone: each one's best threshold. */
function augmentLines(r: CalibrationReport): string {
  const kinds = [...new Map(r.augmentTried.map((t) => [`${t.augment}/${t.isolate}`, t])).values()];
  return kinds
    .map(({ augment, isolate }) => {
      const best = bestThreshold(r.augmentTried.filter((t) => t.augment === augment && t.isolate === isolate));
      const what = `${augment === 'none' ? 'the image alone' : `test-time views ${augment}, scores averaged before the threshold`}${isolate ? ', object groups named alone' : ''}`;
      return `${what} (same border rule and refinement): best threshold ${best.bgThresh}, mIoU ${(best.mIoU * 100).toFixed(1)}${r.augment === augment && r.isolate === isolate ? ' (chosen)' : ''}\n`;
    })
    .join('');
}

function written(opts: CalibrateOptions, rule: BackgroundRule & { refine: Refine; augment?: Augment; isolate?: boolean }): string {
  const what = `${describeRule(rule)}, group maps refined: ${rule.refine}${rule.augment && rule.augment !== 'none' ? `, test-time views: ${rule.augment}` : ''}${rule.isolate ? ', object groups named alone' : ''}`;
  return opts.dryRun
    ? `best: ${what}; not written (--dry-run)\n`
    : `written to ${join(opts.weights!, 'config.json')} (${what}): eval and segment use it unless --bg-thresh, --bg-border, --refine, --augment or --(no-)isolate is given\n`;
}
