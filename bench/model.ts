// The model suite of `groupvit bench`: a whole training step (forward, both losses, backward, AdamW: one submit) in
// images per second, and the latency of segmenting one image split into start-up, text encoding per class and the
// image forward, each with the peak bytes our buffer pool handed out. Weights are random (speed does not depend on
// them); the paper's text tower runs the word tokenizer with CLIP's ids, as the compute is the same.
import { performance } from 'node:perf_hooks';
import { gpu } from '../src/gpu/runtime.js';
import { Tensor, tidyAsync } from '../src/tensor/tensor.js';
import { noGradAsync } from '../src/tensor/tape.js';
import { GroupViTModel } from '../src/model/groupvit.js';
import { presetConfig } from '../src/model/presets.js';
import type { GroupViTConfig } from '../src/model/config.js';
import { trainPreset } from '../src/train/presets.js';
import { TrainStep, type StepInput } from '../src/train/step.js';
import { ShapesBatches } from '../src/train/batches.js';
import { loadTokenizer, type Tokenizer } from '../src/data/tokenizer/index.js';
import { Segmenter, type SegmentOptions } from '../src/segment/pipeline.js';
import type { Augment } from '../src/segment/dihedral.js';
import type { RgbImage } from '../src/io/image.js';
import { normalizeImageNet } from '../src/io/normalize-pixels.js';
import { fmt, timeAsync, uniformData } from './harness.js';
import { repsFor, type ParamSizes, type SuiteContext } from './kernels.js';
import type { BenchRecord } from './report.js';

/** The word tokenizer sized from the config (CLIP's ids for the paper's text tower). */
function tokenizerFor(config: GroupViTConfig): Tokenizer {
  return loadTokenizer('/nonexistent-groupvit-bench', config);
}

/** Tiny preset's model, or the smoke test's even smaller one (one block per stage, 32 px). */
function smokeConfig(): GroupViTConfig {
  const c = trainPreset('tiny').config;
  return {
    ...c,
    vision_config: { ...c.vision_config, image_size: 32, depths: [1, 1, 1] },
    text_config: { ...c.text_config, num_hidden_layers: 1 },
  };
}

export async function paramSizes(which: 'tiny' | 'paper' | 'smoke'): Promise<ParamSizes> {
  const config = which === 'tiny' ? trainPreset('tiny').config : which === 'smoke' ? smokeConfig() : presetConfig('gcc-yfcc');
  const model = new GroupViTModel(config, 0);
  const out: ParamSizes = model.namedParameters().map(([n, p]) => [n, p.shape.slice()]);
  model.release();
  await gpu().sync();
  gpu().pool.trim();
  return out;
}

function randomImage(w: number, h: number, seed: number): RgbImage {
  const u = uniformData(w * h * 3, seed);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor((u[i] + 1) * 127.99);
  return { width: w, height: h, data };
}

/** A training batch of random pixels and word captions/prompts (for configs without a data world of their size). */
function syntheticBatch(config: GroupViTConfig, batch: number, k: number, tok: Tokenizer, seed: number): StepInput {
  const size = config.vision_config.image_size;
  const words = ['red', 'circle', 'blue', 'square', 'green', 'triangle', 'a', 'photo', 'of', 'the', 'star', 'on', 'grass'];
  const ctx = tok.contextLength;
  const sentence = (i: number) => Array.from({ length: 4 + (i % 5) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ');
  const captionIds = new Int32Array(batch * ctx);
  for (let i = 0; i < batch; i++) captionIds.set(tok.encode(sentence(i)), i * ctx);
  let promptIds: Int32Array | null = null;
  if (k > 0) {
    promptIds = new Int32Array(batch * k * ctx);
    for (let i = 0; i < batch * k; i++) promptIds.set(tok.encode(`a photo of a ${words[i % words.length]}.`), i * ctx);
  }
  const px = uniformData(batch * 3 * size * size, seed);
  return { pixels: px, shape: [batch, 3, size, size], captionIds, promptIds, promptsPerImage: k };
}

async function trainStepCase(ctx: SuiteContext, name: string, config: GroupViTConfig, batch: number, data: 'shapes' | 'synthetic', heavy: boolean): Promise<void> {
  const recipe = trainPreset('tiny');
  const tok = tokenizerFor(config);
  const k = recipe.promptsPerImage;
  const size = config.vision_config.image_size;
  const t0 = performance.now();
  const model = new GroupViTModel(config, 0);
  const trainer = new TrainStep(model, { seed: 0, weightDecay: 0.05, maxNorm: 5, dropPath: 0, hard: true, gumbel: true, multiLabel: k > 0 });
  await gpu().sync();
  const buildMs = performance.now() - t0;
  try {
    const inputs =
      data === 'shapes'
        ? (() => {
            const src = new ShapesBatches(0, batch, size, tok, { k, templates: recipe.promptTemplates, withModifiers: recipe.promptModifiers });
            return [0, 1].map((s) => src.batch(s));
          })()
        : [syntheticBatch(config, batch, k, tok, 1), syntheticBatch(config, batch, k, tok, 2)];
    let step = 0;
    let lastLoss = NaN;
    const once = async () => {
      const r = await trainer.run(inputs[step++ % inputs.length], 1e-4);
      lastLoss = r.loss;
    };
    // the first step compiles every pipeline: its time is start-up, not throughput
    const tf = performance.now();
    await once();
    const firstMs = performance.now() - tf;
    const pool = gpu().pool;
    pool.resetPeak();
    const base = pool.liveBytes;
    const t = await timeAsync(once, { ...repsFor(ctx.level, heavy), warmup: 0 });
    const peak = pool.peakBytes;
    if (!Number.isFinite(lastLoss)) throw new Error(`the training step's loss is ${lastLoss}`);
    const rec: BenchRecord = {
      suite: 'model',
      op: 'train-step',
      case: name,
      shape: `batch ${batch}, ${size}px, ${k} prompts/image`,
      p50Ms: t.p50,
      p90Ms: t.p90,
      reps: t.samples.length,
      work: batch,
      unit: 'images/s',
      rate: (batch * 1000) / t.p50,
      ceiling: null,
      ofCeiling: null,
      maxAbsErr: null,
      errShape: null,
      peakBytes: peak,
      parts: { buildMs, firstStepMs: firstMs, stateMiB: base / 2 ** 20 },
      note: 'peak = all pool bytes live at once during a step (weights, AdamW moments and activations); stateMiB = live before the step',
    };
    ctx.records.push(rec);
    ctx.log(`  ${name}: ${fmt(t.p50, 0)} ms/step, ${fmt(rec.rate, 2)} images/s, peak ${fmt(peak / 2 ** 20, 0)} MiB (first step ${fmt(firstMs, 0)} ms)`);
  } finally {
    trainer.release();
    model.release();
    await gpu().sync();
    gpu().pool.trim();
  }
}

const CLASS_WORDS = ['cat', 'dog', 'grass', 'sky', 'car', 'tree', 'road', 'person', 'boat', 'bird', 'water', 'house', 'chair', 'table', 'horse', 'sheep'];

/** What a segmentation does beyond one pass over the image (the shipped model's calibrated defaults, say). */
type SegmentExtras = Pick<SegmentOptions, 'refine' | 'isolate' | 'bgBorder'> & { augment?: Augment };

async function segmentCase(ctx: SuiteContext, name: string, config: GroupViTConfig, size: number, classes: number, heavy: boolean, extras: SegmentExtras = {}): Promise<void> {
  const tok = tokenizerFor(config);
  const pool = gpu().pool;
  await gpu().sync();
  pool.resetPeak();
  const base = pool.liveBytes;
  // start-up: build the model (random weights in place of loading them) and prepare it for inference
  const t0 = performance.now();
  const model = new GroupViTModel(config, 0);
  await model.prepareInference();
  for (const p of model.parameters()) p.requiresGrad = false;
  const startupMs = performance.now() - t0;
  const seg = new Segmenter(model, tok);
  try {
    const image = randomImage(size, size, 5);
    const opts = { mode: 'whole' as const, size, ...extras };
    const names = (round: number) => Array.from({ length: classes }, (_, i) => `${CLASS_WORDS[i % CLASS_WORDS.length]}${round ? ' ' + CLASS_WORDS[(i + round) % CLASS_WORDS.length] : ''}`);
    // cold: the first image compiles the pipelines and encodes the class names
    const tc = performance.now();
    await seg.segment(image, names(0), opts);
    const coldMs = performance.now() - tc;
    const reps = repsFor(ctx.level, heavy);
    // text: a new class list each time (the embeddings are cached per list)
    let round = 1;
    const text = await timeAsync(() => seg.classEmbeddings(names(round++)), reps);
    // image forward alone: encoder + projection, read back as the pipeline does
    const pixels = Tensor.fromArray(normalizeImageNet(image), [1, 3, size, size]);
    const fwd = await timeAsync(
      () =>
        tidyAsync(() =>
          noGradAsync(async () => {
            const out = await model.encodeImage(pixels);
            await out.groupEmbedsUnnorm.toArray();
          }),
        ),
      reps,
    );
    pixels.release();
    // the whole warm latency: cached text, image forward, the zero-shot scoring and the mask at the image's size
    const whole = await timeAsync(() => seg.segment(image, names(0), opts), reps);
    const peak = pool.peakBytes - base;
    const rec: BenchRecord = {
      suite: 'model',
      op: 'segment',
      case: name,
      shape: `${size}x${size}, ${classes} classes, whole${extras.augment ? `, ${extras.augment}` : ''}${extras.refine === 'pamr' ? ', pamr' : ''}${extras.isolate ? ', groups named alone' : ''}`,
      p50Ms: whole.p50,
      p90Ms: whole.p90,
      reps: whole.samples.length,
      work: 1,
      unit: 'ms',
      rate: whole.p50,
      ceiling: null,
      ofCeiling: null,
      maxAbsErr: null,
      errShape: null,
      peakBytes: peak,
      parts: { startupMs, coldFirstMs: coldMs, textPerClassMs: text.p50 / classes, imageForwardMs: fwd.p50 },
      note: 'p50 = one image with cached class embeddings; startup = model build (random weights) + prepareInference; coldFirst = the first image incl. pipeline compilation and text',
    };
    ctx.records.push(rec);
    ctx.log(
      `  ${name}: ${fmt(whole.p50, 1)} ms warm (image forward ${fmt(fwd.p50, 1)} ms, text ${fmt(text.p50 / classes, 1)} ms/class, start-up ${fmt(startupMs, 0)} ms, cold ${fmt(coldMs, 0)} ms), peak ${fmt(peak / 2 ** 20, 1)} MiB`,
    );
  } finally {
    seg.release();
    await gpu().sync();
    pool.trim();
  }
}

export async function runModelSuite(ctx: SuiteContext): Promise<void> {
  const { level } = ctx;
  const soft = gpu().isSoftware;
  const step = async (name: string, fn: () => Promise<void>) => {
    ctx.log(`${name}:`);
    try {
      await fn();
    } catch (e) {
      if (process.env.GROUPVIT_DEBUG) throw e;
      ctx.skipped.push({ case: name, reason: `failed: ${(e as Error).message.split('\n')[0]}` });
      ctx.log(`  failed: ${(e as Error).message}`);
    }
  };
  const skip = (name: string, reason: string) => {
    ctx.skipped.push({ case: name, reason });
    ctx.log(`${name}: skipped (${reason})`);
  };
  if (level === 'smoke') {
    await step('train-step smoke', () => trainStepCase(ctx, 'train-step smoke', smokeConfig(), 2, 'synthetic', false));
    await step('segment smoke', () => segmentCase(ctx, 'segment smoke 32px', smokeConfig(), 32, 2, false));
    return;
  }
  const tiny = trainPreset('tiny');
  await step('train-step tiny', () => trainStepCase(ctx, 'train-step tiny', tiny.config, tiny.batchSize, 'shapes', false));
  const paperBatch = soft ? 2 : 32;
  if (level === 'quick' && soft) skip(`train-step paper batch ${paperBatch}`, '--quick on a software adapter');
  else await step('train-step paper', () => trainStepCase(ctx, `train-step paper batch ${paperBatch}`, presetConfig('gcc-yfcc'), paperBatch, 'synthetic', true));
  await step('segment tiny 64px', () => segmentCase(ctx, 'segment tiny 64px', tiny.config, 64, 5, false));
  // the shipped model's calibrated way (models/shapes-tiny/config.json): 16 views, refined maps, each object group
  // encoded again alone; its ratio to the case above is what the calibration's choices cost a user
  const shipped = 'segment tiny 64px, 16 views, pamr, named alone';
  await step(shipped, () => segmentCase(ctx, shipped, tiny.config, 64, 5, false, { augment: 'dihedral+shift', refine: 'pamr', isolate: true, bgBorder: 1 }));
  for (const size of [224, 448]) {
    const name = `segment paper ${size}px`;
    if (level === 'quick' && soft) skip(name, '--quick on a software adapter');
    else await step(name, () => segmentCase(ctx, name, presetConfig('gcc-yfcc'), size, 20, true));
  }
}
