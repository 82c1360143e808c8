import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Refine } from '../segment/pamr.js';
import { join } from 'node:path';
import { GroupViTModel } from '../model/groupvit.js';
import { parseConfig, type GroupViTConfig } from '../model/config.js';
import { loadTokenizer, type Tokenizer } from '../data/tokenizer/index.js';
import { openImageTextDataset } from '../data/open-dataset.js';
import { UserError } from '../util/errors.js';
import { TrainStep, type StepResult, type TrainStepOptions } from './step.js';
import { cosineLr } from './adamw.js';
import { trainPreset, type TrainRecipe } from './presets.js';
import { RecordBatches, ShapesBatches, type BatchSource, type PromptSpec } from './batches.js';
import type { PatchTerms } from './patch-affinity.js';
import { PrefetchingBatches } from './prefetch.js';
import type { SourceSpec } from './source-spec.js';
import { latestSnapshot, restoreSnapshot, saveSnapshot, writeJsonAtomic } from './checkpoint.js';
import { evaluateShapes, type EvalReport } from './eval-shapes.js';
import { calibrateShapes, writeCalibration, type CalibrationReport } from './calibrate.js';
import type { Augment } from '../segment/dihedral.js';

export interface TrainOptions {
  preset: string;
  config?: string;
  data: string;
  steps?: number;
  batchSize?: number;
  lr?: number;
  seed: number;
  out: string;
  resume?: boolean;
  evalEvery?: number;
  evalCount?: number;
  checkpointEvery?: number;
  /** Folder with vocab.json + merges.txt (CLIP BPE) for presets whose text tower uses CLIP's vocabulary. */
  tokenizer?: string;
  /** Make batches in a worker thread ahead of the GPU (default true). */
  prefetch?: boolean;
  /** Overrides of the recipe (ablations): any TrainRecipe field. */
  recipe?: Partial<TrainRecipe>;
  /**
   * Tuning scenes for the background threshold chosen at the end of a run on the generated world (calibrate.ts),
   * recorded with the weights; 0: none (eval and segment then use 0.95). Default 200.
   */
  calibrateCount?: number;
}

export interface TrainHooks {
  onStart?(info: { startStep: number; steps: number; data: string; recipe: TrainRecipe }): void;
  onStep?(step: number, r: StepResult & { lr: number; imagesPerSecond: number }): void;
  onEval?(step: number, report: EvalReport): void;
  onCheckpoint?(step: number, dir: string): void;
  onCalibrate?(phase: 'start' | 'done', report?: CalibrationReport): void;
  /** Tuning scenes the closing calibration has done of its total (each scene once alone, then once under every view). */
  onCalibrateProgress?(done: number, total: number): void;
  /** Unreadable records met while training (they were skipped and replaced): a counted warning. */
  onSkipped?(summary: string): void;
  /** Polled after every step: true stops the run cleanly (a snapshot is saved first). */
  shouldStop?(): boolean;
}

export interface TrainSummary {
  out: string;
  startStep: number;
  endStep: number;
  stoppedEarly: boolean;
  lastLoss: StepResult | null;
  evals: { step: number; mIoU: number }[];
  seconds: number;
  /** The background threshold chosen for the weights, when the run calibrated one. */
  calibration?: { bgThresh: number; bgBorder: number | null; refine: Refine; augment: Augment; isolate: boolean; mIoU: number; scenes: number };
}

function tokenizerFor(config: GroupViTConfig, dir: string | undefined): { tok: Tokenizer; files: string[] } {
  if (dir) {
    const files = ['vocab.json', 'merges.txt', 'bpe_simple_vocab_16e6.txt.gz'].filter((f) => existsSync(join(dir, f)));
    if (!files.length) throw new UserError(`The tokenizer folder ${dir} holds neither vocab.json + merges.txt nor bpe_simple_vocab_16e6.txt.gz.`);
    return { tok: loadTokenizer(dir, config), files: files.map((f) => join(dir, f)) };
  }
  if (config.text_config.vocab_size === 49408) {
    throw new UserError("This model's text tower uses CLIP's vocabulary: pass --tokenizer DIR with vocab.json and merges.txt.");
  }
  return { tok: loadTokenizer('/nonexistent', config), files: [] };
}

/** The prompts a recipe asks of its batches. */
function promptSpecFor(recipe: TrainRecipe): PromptSpec {
  return { k: recipe.promptsPerImage, templates: recipe.promptTemplates, withModifiers: recipe.promptModifiers, phrasePrompts: recipe.phrasePrompts ?? 'none', sharedTargets: recipe.multiLabelTargets !== 'paper', uniquePrompts: recipe.multiLabelTargets === 'unique', captionColourDrop: recipe.captionColourDrop, singleObjectSteps: recipe.singleObjectSteps ?? 0, backgroundNoun: recipe.backgroundNoun ?? '' };
}

/** The patch weights a recipe's grouping terms need with each batch. */
function patchTermsFor(recipe: TrainRecipe): PatchTerms {
  const v = recipe.config.vision_config;
  const grid = v.image_size / v.patch_size;
  // the grounded loss and the separation term both read the colour weights, from the first step either needs them
  const from = [(recipe.groupNounGrounding ?? 0) > 0 ? recipe.groupNounGroundingStart ?? 0 : Infinity, (recipe.groupSeparation ?? 0) > 0 ? recipe.groupSmoothnessStart ?? 0 : Infinity];
  const groundingFrom = Math.min(...from);
  return { gridH: grid, gridW: grid, affinity: (recipe.groupSmoothness ?? 0) > 0, repulsion: (recipe.groupContrast ?? 0) > 0, fromStep: recipe.groupSmoothnessStart ?? 0, ...(groundingFrom < Infinity ? { groundingFrom } : {}) };
}

/** The generated world's batches as a recipe asks for them (the data worker rebuilds the source from this). */
export function shapesSourceSpec(recipe: TrainRecipe, seed: number, tokenizerDir = ''): SourceSpec {
  const config = recipe.config;
  return { kind: 'shapes', seed, batchSize: recipe.batchSize, imageSize: config.vision_config.image_size, prompts: promptSpecFor(recipe), tokenizerDir, config, patchTerms: patchTermsFor(recipe) };
}

/** The optimisation step a recipe describes. */
export function stepOptionsFor(recipe: TrainRecipe, seed: number): TrainStepOptions {
  return {
    seed, weightDecay: recipe.weightDecay, maxNorm: recipe.maxNorm, dropPath: recipe.dropPath,
    hard: recipe.hardAssignment, gumbel: recipe.gumbel, multiLabel: recipe.promptsPerImage > 0, multiLabelPooling: recipe.multiLabelPooling ?? 'image',
    multiLabelWeight: recipe.multiLabelWeight ?? 1,
    groupBalance: recipe.groupBalance ?? 0,
    groupBalanceScope: recipe.groupBalanceScope ?? 'image',
    groupSmoothness: recipe.groupSmoothness ?? 0,
    groupSmoothnessStart: recipe.groupSmoothnessStart ?? 0,
    groupContrast: recipe.groupContrast ?? 0,
    groupSeparation: recipe.groupSeparation ?? 0,
    groupNounMatching: recipe.groupNounMatching ?? 0,
    groupNounMatchingBackdrop: recipe.groupNounMatchingBackdrop ?? 'none',
    groupNounMatchingUntil: recipe.groupNounMatchingUntil ?? 0,
    groupPresence: recipe.groupPresence ?? 0,
    groupNounSpread: recipe.groupNounSpread ?? 0,
    groupNounGrounding: recipe.groupNounGrounding ?? 0,
    groupNounGroundingStart: recipe.groupNounGroundingStart ?? 0,
    groupNounGroundingText: recipe.groupNounGroundingText ?? 'train',
    groupNounTermsUntil: recipe.groupNounTermsUntil ?? 0,
    contrastiveTargets: recipe.contrastiveTargets ?? 'paper',
    multiLabelBackdrop: recipe.multiLabelBackdrop ?? 'none',
  };
}

/**
 * A training run: resumable step for step (data, noise and the schedule are functions of the step; weights,
 * optimizer moments and BatchNorm statistics come back from the snapshot), with snapshots written atomically.
 */
export async function train(o: TrainOptions, hooks: TrainHooks = {}): Promise<TrainSummary> {
  const recipe: TrainRecipe = { ...trainPreset(o.preset), ...(o.recipe ?? {}) };
  if (o.config) recipe.config = parseConfig(JSON.parse(readFileSync(o.config, 'utf8')), o.config);
  if (o.steps !== undefined) recipe.steps = o.steps;
  if (o.batchSize !== undefined) recipe.batchSize = o.batchSize;
  if (o.lr !== undefined) recipe.lr = o.lr;
  if (o.evalEvery !== undefined) recipe.evalEvery = o.evalEvery;
  if (o.checkpointEvery !== undefined) recipe.checkpointEvery = o.checkpointEvery;
  for (const [k, v] of [['steps', recipe.steps], ['batch size', recipe.batchSize]] as const) {
    if (!(Number.isInteger(v) && v > 0)) throw new UserError(`The ${k} must be a positive integer (got ${v}).`);
  }
  if (!(recipe.lr > 0)) throw new UserError(`The learning rate must be positive (got ${recipe.lr}).`);
  const config = recipe.config;
  const { tok, files } = tokenizerFor(config, o.tokenizer);
  const size = config.vision_config.image_size;
  const prompts = promptSpecFor(recipe);
  // options that read each image's nouns, which only batches with prompts made per distinct noun carry
  const needNouns: [boolean, string][] = [
    [!!prompts.backgroundNoun, 'backgroundNoun'],
    [(recipe.groupNounMatching ?? 0) > 0, 'groupNounMatching'],
    [(recipe.groupPresence ?? 0) > 0, 'groupPresence'],
    [(recipe.groupNounSpread ?? 0) > 0, 'groupNounSpread'],
    [(recipe.groupNounGrounding ?? 0) > 0, 'groupNounGrounding'],
    [(recipe.groupSeparation ?? 0) > 0, 'groupSeparation'],
    [recipe.contrastiveTargets === 'shared', 'contrastiveTargets "shared"'],
  ];
  for (const [on, name] of needNouns) {
    if (on && !(prompts.uniquePrompts && prompts.k > 0)) throw new UserError(`The recipe's ${name} needs multiLabelTargets "unique" and promptsPerImage above 0.`);
  }
  let source: BatchSource;
  const spec = shapesSourceSpec(recipe, o.seed, o.tokenizer ?? '');
  if (o.data === 'synthetic') source = new ShapesBatches(o.seed, recipe.batchSize, size, tok, prompts);
  else {
    const index = openImageTextDataset(o.data);
    if (index.records.length === 0) throw new UserError(`The dataset ${o.data} holds no usable image–caption pairs.`);
    if (index.skipped.total) process.stderr.write(`groupvit: ${index.skipped.summary()}\n`);
    source = new RecordBatches(index, o.seed, recipe.batchSize, size, tok, prompts);
    Object.assign(spec, { kind: 'records', index: { source: index.source, records: index.records } });
  }

  mkdirSync(o.out, { recursive: true });
  const snap = latestSnapshot(o.out);
  if (snap && !o.resume) {
    throw new UserError(`${o.out} already holds a run (step ${snap.state.step}): pass --resume to continue it, or choose another --out.`);
  }
  const model = new GroupViTModel(config, o.seed);
  if ((recipe.assignInitGain ?? 1) !== 1 && !(snap && o.resume)) {
    for (const stage of model.vision_model.encoder.stages) await stage.downsample?.assign.scaleInit(recipe.assignInitGain);
  }
  const trainer = new TrainStep(model, stepOptionsFor(recipe, o.seed));
  let startStep = 0;
  let elapsed = 0;
  const metricsPath = join(o.out, 'metrics.jsonl');
  if (snap && o.resume) {
    restoreSnapshot(snap.dir, trainer, snap.state.optimizerStep);
    startStep = snap.state.step;
    elapsed = snap.state.elapsedSeconds;
    // drop log lines written after the snapshot: the resumed run writes them again, identically
    if (existsSync(metricsPath)) {
      const kept = readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l && JSON.parse(l).step <= startStep);
      writeFileSync(metricsPath, kept.map((l) => l + '\n').join(''));
    }
  } else if (existsSync(metricsPath)) writeFileSync(metricsPath, '');
  for (const f of files) copyFileSync(f, join(o.out, f.split('/').pop()!));
  const extraConfig = { groupvit: { preset: o.preset, seed: o.seed, data: source.describe() } };
  const state = (step: number) => ({ step, seed: o.seed, preset: o.preset, recipe: { ...recipe, config: undefined }, data: source.describe(), elapsedSeconds: elapsed });
  hooks.onStart?.({ startStep, steps: recipe.steps, data: source.describe(), recipe });

  const evals: { step: number; mIoU: number }[] = [];
  let last: StepResult | null = null;
  let step = startStep;
  let stoppedEarly = false;
  let calibration: TrainSummary['calibration'];
  const t0 = Date.now();
  let waitedBefore = 0;
  let skippedReported = 0;
  // Batches come from a worker thread ahead of the GPU; the in-thread source stays for describe() and as the fallback.
  const prefetch = o.prefetch === false ? null : new PrefetchingBatches(spec);
  try {
    while (step < recipe.steps) {
      const lr = cosineLr(step, recipe.steps, recipe.warmupSteps, recipe.lr, recipe.minLr, recipe.warmupLr);
      const ts = Date.now();
      const input = prefetch ? await prefetch.batch(step, recipe.steps) : source.batch(step);
      const r = await trainer.run(input, lr);
      const dt = (Date.now() - ts) / 1000;
      elapsed += dt;
      // The gradient norm is checked too: NaN weights can leave the loss finite (max() skips NaN on GPUs).
      if (![r.loss, r.contrastive, r.multiLabel, r.gradNorm].every(Number.isFinite)) {
        throw new UserError(
          `The ${Number.isFinite(r.loss) ? 'gradient' : 'loss'} became non-finite at step ${step + 1} (loss ${r.loss}, gradient norm ${r.gradNorm}); the last good checkpoint in ${o.out} is kept: lower --lr and resume.`,
        );
      }
      step++;
      last = r;
      const imagesPerSecond = recipe.batchSize / Math.max(dt, 1e-6);
      const dataWaitMs = prefetch ? prefetch.waitedMs - waitedBefore : 0;
      waitedBefore = prefetch ? prefetch.waitedMs : 0;
      appendFileSync(
        metricsPath,
        JSON.stringify({ step, loss: r.loss, contrastive: r.contrastive, multi_label: r.multiLabel, grad_norm: r.gradNorm, ...(r.balance === undefined ? {} : { balance: r.balance }), ...(r.smoothness === undefined ? {} : { smoothness: r.smoothness }), ...(r.contrast === undefined ? {} : { contrast: r.contrast }), ...(r.separation === undefined ? {} : { separation: r.separation }), ...(r.matched === undefined ? {} : { matched: r.matched }), ...(r.presence === undefined ? {} : { presence: r.presence }), ...(r.spread === undefined ? {} : { spread: r.spread }), ...(r.grounded === undefined ? {} : { grounded: r.grounded }), lr, images_per_s: imagesPerSecond, data_wait_ms: Math.round(dataWaitMs * 10) / 10 }) + '\n',
      );
      hooks.onStep?.(step, { ...r, lr, imagesPerSecond });
      const skippedNow = prefetch ? prefetch.skippedTotal : source instanceof RecordBatches ? source.index.skipped.total : 0;
      if (skippedNow > skippedReported) {
        skippedReported = skippedNow;
        hooks.onSkipped?.(prefetch ? prefetch.skippedSummary : (source as RecordBatches).index.skipped.summary());
      }
      const stop = hooks.shouldStop?.() ?? false;
      if (recipe.evalEvery > 0 && step % recipe.evalEvery === 0 && o.data === 'synthetic') {
        const report = await evaluateShapes(model, tok, { seed: o.seed, count: o.evalCount ?? 100, imageSize: size });
        evals.push({ step, mIoU: report.mIoU });
        appendFileSync(join(o.out, 'eval.jsonl'), JSON.stringify({ step, mIoU: report.mIoU, iou: report.iou }) + '\n');
        hooks.onEval?.(step, report);
      }
      if (step % recipe.checkpointEvery === 0 || step === recipe.steps || stop) {
        const dir = await saveSnapshot(o.out, trainer, state(step), extraConfig);
        hooks.onCheckpoint?.(step, dir);
      }
      if (stop) {
        stoppedEarly = step < recipe.steps;
        break;
      }
    }
    if (step === startStep && !existsSync(join(o.out, 'model.safetensors'))) await saveSnapshot(o.out, trainer, state(step), extraConfig);
    // A run that reached its last step leaves a model ready for segment: its background rule is chosen too.
    const count = o.calibrateCount ?? 200;
    if (o.data === 'synthetic' && count > 0 && !stoppedEarly) {
      hooks.onCalibrate?.('start');
      const r = await calibrateShapes(model, tok, { seed: 1, count, imageSize: size, onProgress: (n, total) => hooks.onCalibrateProgress?.(n, total) });
      writeCalibration(o.out, r);
      calibration = { bgThresh: r.bgThresh, bgBorder: r.bgBorder, refine: r.refine, augment: r.augment, isolate: r.isolate, mIoU: r.mIoU, scenes: count };
      hooks.onCalibrate?.('done', r);
    }
    writeJsonAtomic(join(o.out, 'train-summary.json'), { step, steps: recipe.steps, preset: o.preset, seed: o.seed, last, evals, ...(calibration ? { calibration } : {}) });
  } finally {
    await prefetch?.close();
    trainer.release();
    model.release();
  }
  return { out: o.out, startStep, endStep: step, stoppedEarly, lastLoss: last, evals, seconds: (Date.now() - t0) / 1000, ...(calibration ? { calibration } : {}) };
}
