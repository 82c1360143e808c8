import { join } from 'node:path';
import { parseRefine } from '../segment/pamr.js';
import cliProgress from 'cli-progress';
import type { AdapterOptions } from '../gpu/adapter.js';
import { evaluateShapes } from '../train/eval-shapes.js';
import type { GroupDiagnostics } from '../segment/group-stats.js';
import { UserError } from '../util/errors.js';
import { DEFAULT_BG_THRESH, Segmenter } from '../segment/pipeline.js';
import { evaluateVoc } from '../segment/voc-eval.js';
import { bgThreshForCount, calibratedAugment, calibratedRefine, calibratedIsolate, calibratedRule, describeRule, parseBorderShare } from '../train/calibrate.js';
import type { BackgroundRule } from '../segment/zero-shot.js';
import { withTrainedModel } from './trained-model.js';
import { parseAugment } from '../segment/dihedral.js';
import { testViews } from '../segment/views.js';

type EvalOptions = AdapterOptions & {
  weights?: string; data?: string; count?: string; seed?: string; bgThresh?: string; bgBorder?: string; json?: boolean;
  classes?: string; split?: string; protocol?: 'paper' | 'fast'; augment?: string; refine?: string; isolate?: boolean;
};

function printReport(rep: { classes: string[]; iou: number[]; mIoU: number; pixelAccuracy: number; images: number; bgThresh?: number; bgBorder?: number | null; augment?: string; refine?: string; isolate?: boolean; objects?: { found: number; total: number; scenesAllFound: number }; diagnostics?: GroupDiagnostics }, what: string, json: boolean | undefined, weights: string, thresholdFrom = ''): void {
  if (json) {
    process.stdout.write(JSON.stringify({ weights, ...rep, iou: Object.fromEntries(rep.classes.map((c, i) => [c, rep.iou[i]])) }, null, 2) + '\n');
    return;
  }
  const lines = rep.classes.map((c, i) => `  ${c.padEnd(12)} ${Number.isNaN(rep.iou[i]) ? '   n/a' : (rep.iou[i] * 100).toFixed(1).padStart(6)}`);
  const refined = rep.refine && rep.refine !== 'none' ? `, ${rep.refine} refinement` : '';
  const threshold = rep.bgThresh === undefined ? '' : ` (${describeRule({ bgThresh: rep.bgThresh, bgBorder: rep.bgBorder ?? null })}${thresholdFrom}${refined})`;
  process.stdout.write(`zero-shot segmentation of ${rep.images} ${what}${threshold}\n${'  class'.padEnd(14)}  IoU %\n${lines.join('\n')}\n  ${'mIoU'.padEnd(12)} ${(rep.mIoU * 100).toFixed(1).padStart(6)}\n  pixel accuracy ${(rep.pixelAccuracy * 100).toFixed(1)}%\n`);
  const o = rep.objects;
  if (o) process.stdout.write(`  objects found (IoU > 0.5 in their scene) ${o.found} of ${o.total}; scenes with every object found ${o.scenesAllFound} of ${rep.images}\n`);
  const d = rep.diagnostics;
  if (d) {
    const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
    process.stdout.write(
      `diagnostics\n  image-level top class present   ${pct(d.imageTop1)}\n` +
        (d.imageClassRecallByObjects?.length ? `  ... scene's n classes in top n  ${d.imageClassRecallByObjects.map(([n, v], i) => `${i + 1}: ${pct(v)} (${n} scenes)`).join(', ')}\n` : '') +
        `  groups used per image           ${d.groupsPerImage.toFixed(2)}\n` +
        `  group purity                    ${pct(d.groupPurity)}\n  mIoU with oracle background     ${(d.oracleBackgroundMIoU * 100).toFixed(1)}\n` +
        `  mIoU with oracle group names    ${(d.oracleNamingMIoU * 100).toFixed(1)}\n` +
        `  object's share of its group     ${pct(d.objectGroupShare)}\n` +
        `  objects sharing their group     ${pct(d.objectsSharingGroup)} (scenes of 2+ objects)\n` +
        `  object's group named as it      ${pct(d.objectGroupNamed)}\n` +
        (d.objectGroupNamedByObjects?.length ? `  ... by objects in the scene     ${d.objectGroupNamedByObjects.map(([n, v], i) => `${i + 1}: ${pct(v)} (${n} scenes)`).join(', ')}\n` : '') +
        `  ... named a shape not in it     ${pct(d.objectGroupNamedAbsent)}\n  ... named the image's top class ${pct(d.objectGroupNamedImageTop)}\n` +
        `  backdrop's group named a shape  ${pct(d.backgroundGroupNamed)}\n` +
        (d.classCosine === undefined ? '' : `  class names' text cosine        ${d.classCosine.toFixed(3)}\n`) +
        (d.assignMargins === undefined ? '' : `  assignment margin per stage     ${d.assignMargins.map((m) => m.toFixed(3)).join(' / ')}\n`),
    );
    if (d.namingConfusion?.length) process.stdout.write(confusionTable(d.namingConfusion, rep.classes.slice(rep.classes.length - d.namingConfusion.length)));
  }
}

/** Objects (rows, by class) against the name their best group takes (columns), as counts. */
function confusionTable(counts: number[][], names: string[]): string {
  const w = Math.max(6, ...names.map((n) => Math.min(n.length, 8) + 1));
  const head = `  ${'object \\ named'.padEnd(14)}${names.map((n) => n.slice(0, 8).padStart(w)).join('')}\n`;
  return `object's group named as (counts)\n${head}${counts.map((row, i) => `  ${names[i].slice(0, 14).padEnd(14)}${row.map((v) => String(v).padStart(w)).join('')}\n`).join('')}`;
}

/** A VOC-layout folder: the Segmenter's pipeline (paper protocol for the official models) scored against its labels. */
async function evalVoc(opts: EvalOptions, dir: string, bgBorder: number | null | undefined): Promise<void> {
  const classes = opts.classes ? opts.classes.split(',').map((c) => c.trim()) : undefined;
  if (classes && classes.some((c) => !c)) throw new UserError('--classes has an empty class name.');
  const seg = await Segmenter.load({ weights: opts.weights!, gpu: opts });
  try {
    const bar = new cliProgress.SingleBar({ format: 'eval |{bar}| {value}/{total} images', stream: process.stderr }, cliProgress.Presets.shades_classic);
    let started = false;
    const rep = await evaluateVoc(seg, dir, {
      classes, split: opts.split, count: opts.count === undefined ? undefined : Number(opts.count), protocol: opts.protocol,
      bgThresh: opts.bgThresh === undefined ? undefined : Number(opts.bgThresh),
      bgBorder,
      augment: opts.augment === undefined ? undefined : parseAugment(opts.augment),
      refine: parseRefine(opts.refine),
      isolate: opts.isolate,
      onProgress: (n, total) => {
        if (!started) bar.start(total, 0);
        started = true;
        bar.update(n);
      },
    });
    bar.stop();
    const calibrated = opts.bgThresh === undefined && bgBorder === undefined && bgThreshForCount(seg.calibration, rep.classes.length - 1) !== undefined;
    const own = seg.backgroundFor(rep.classes.length - 1);
    const rule: BackgroundRule = { bgThresh: opts.bgThresh !== undefined ? Number(opts.bgThresh) : own.bgThresh, bgBorder: bgBorder === undefined ? own.bgBorder : bgBorder };
    printReport({ ...rep, ...rule, augment: opts.augment ?? seg.augmentDefault, refine: parseRefine(opts.refine) ?? seg.refineDefault, isolate: opts.isolate ?? seg.isolateDefault }, `images of ${dir}${(opts.isolate ?? seg.isolateDefault) ? ', each object group also named alone' : ''}`, opts.json, opts.weights!, calibrated ? ", the model's calibrated rule" : '');
  } finally {
    seg.model.release();
  }
}

export async function evalCommand(opts: EvalOptions): Promise<void> {
  if (!opts.weights) throw new UserError('Pass --weights DIR (a folder with config.json and model.safetensors).');
  const data = opts.data ?? 'synthetic';
  const bgBorder = parseBorderShare(opts.bgBorder);
  if (data !== 'synthetic') {
    return evalVoc(opts, data, bgBorder);
  }
  const count = Number(opts.count ?? 500);
  if (!Number.isInteger(count) || count < 1) throw new UserError(`--count must be a positive integer (got '${opts.count}').`);
  // an explicit --bg-thresh / --bg-border, else the model's calibrated rule (groupvit calibrate), else the paper's
  const calibrated = calibratedRule(join(opts.weights, 'config.json'));
  const bgThresh = opts.bgThresh !== undefined ? Number(opts.bgThresh) : calibrated?.bgThresh ?? DEFAULT_BG_THRESH;
  if (!(bgThresh >= 0 && bgThresh <= 1)) throw new UserError(`--bg-thresh must lie between 0 and 1 (got '${opts.bgThresh}').`);
  const border = bgBorder !== undefined ? bgBorder : calibrated?.bgBorder ?? null;
  // an explicit --augment, else the views the model's rule was calibrated with
  const augment = opts.augment !== undefined ? parseAugment(opts.augment) : calibratedAugment(join(opts.weights, 'config.json'));
  // an explicit --refine, else the refinement the model's rule was calibrated with
  const refine = parseRefine(opts.refine) ?? calibratedRefine(join(opts.weights, 'config.json'));
  // --isolate / --no-isolate, else as the model's rule was calibrated
  const isolate = opts.isolate ?? calibratedIsolate(join(opts.weights, 'config.json'));
  await withTrainedModel(opts.weights, opts, async (model, tok, config) => {
    const bar = new cliProgress.SingleBar({ format: 'eval |{bar}| {value}/{total} images', stream: process.stderr }, cliProgress.Presets.shades_classic);
    bar.start(count, 0);
    const rep = await evaluateShapes(model, tok, {
      seed: Number(opts.seed ?? 0), count, imageSize: config.vision_config.image_size, bgThresh, bgBorder: border, augment, refine, isolate, onProgress: (n) => bar.update(n),
    });
    bar.stop();
    const own = opts.bgThresh === undefined && bgBorder === undefined && calibrated !== undefined;
    printReport({ ...rep, bgThresh, bgBorder: border, augment, refine, isolate }, `held-out scenes${augment === 'none' ? '' : `, ${testViews(augment, config.vision_config.patch_size).length} views each (${augment})`}${isolate ? ', each object group also named alone' : ''}`, opts.json, opts.weights!, own ? ", the model's calibrated rule" : '');
  });
}
