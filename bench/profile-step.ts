// Where the time of one training step goes: device time per kernel family from timestamp queries, next to the
// step's wall time measured without profiling. Default: the groupvit-tiny fixture's configuration at batch 32 with
// random inputs; --preset NAME profiles that preset's own step (its loss terms and options) on a batch of its data
// (--at S: the batch of step S, after the grouping terms have started).
//   node dist/bench/profile-step.js [--config ../shared/fixtures/groupvit-tiny/config.json] [--batch 32] [--top 12] [--json]
//   node dist/bench/profile-step.js --preset tiny [--at 500] [--top 40] [--config changed-model.json] [--recipe JSON] [--shapes]
// --shapes lists matmuls per shape (batch x M x K x N, op(A) op(B)), their packing per operand.
import { readFileSync } from 'node:fs';
import { initGpu, gpu, releaseGpu } from '../src/gpu/runtime.js';
import { parseConfig } from '../src/model/config.js';
import { GroupViTModel } from '../src/model/groupvit.js';
import { TrainStep, type StepInput } from '../src/train/step.js';
import { trainPreset } from '../src/train/presets.js';
import { shapesSourceSpec, stepOptionsFor } from '../src/train/run.js';
import { makeSource } from '../src/train/source-spec.js';
import { parseRecipe } from '../src/cli/train.js';

const FAMILIES: [string, RegExp][] = [
  ['matmul', /^matmul:/],
  ['attention', /^attention:/],
  ['grouping', /^grouping(-balance)?:/],
  ['loss', /^(contrastive|normalize):/],
  ['optimizer', /^adamw:/],
  ['layernorm', /^(layernorm|batchnorm):/],
  ['elementwise and data movement', /./],
];

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

function input(b: number, size: number, ctx: number, k: number, vocab: number): StepInput {
  let s = 1;
  const r = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296);
  const ids = (rows: number) => {
    const out = new Int32Array(rows * ctx);
    for (let i = 0; i < rows; i++) {
      out[i * ctx] = vocab - 2;
      for (let j = 1; j < ctx - 3; j++) out[i * ctx + j] = 1 + Math.floor(r() * (vocab - 4));
      out[i * ctx + ctx - 3] = vocab - 1;
    }
    return out;
  };
  return { pixels: Float32Array.from({ length: b * 3 * size * size }, () => r() * 2 - 1), shape: [b, 3, size, size], captionIds: ids(b), promptIds: ids(b * k), promptsPerImage: k };
}

const presetName = process.argv.includes('--preset') ? arg('preset', 'tiny') : null;
const recipe = presetName ? trainPreset(presetName) : null;
// with --preset, --config replaces the preset's model (as on `groupvit train`), to profile a changed model in its recipe
// --recipe overrides the preset's recipe fields (as on `groupvit train`), to profile a changed recipe's step
if (recipe && process.argv.includes('--recipe')) Object.assign(recipe, parseRecipe(arg('recipe', '{}')));
if (recipe && process.argv.includes('--config')) recipe.config = parseConfig(JSON.parse(readFileSync(arg('config', ''), 'utf8')));
const config = recipe ? recipe.config : parseConfig(JSON.parse(readFileSync(arg('config', '../shared/fixtures/groupvit-tiny/config.json'), 'utf8')));
const batch = Number(arg('batch', String(recipe ? recipe.batchSize : 32)));
const g = await initGpu();
const model = new GroupViTModel(config, 0);
const step = new TrainStep(model, recipe ? stepOptionsFor(recipe, 0) : { seed: 0 });
const t = config.text_config;
const x = recipe
  ? makeSource({ ...shapesSourceSpec(recipe, 0), batchSize: batch }).batch(Number(arg('at', '500')))
  : input(batch, config.vision_config.image_size, t.max_position_embeddings, 3, t.vocab_size);
for (let i = 0; i < 2; i++) await step.run(x, 1e-3); // warm-up: pipelines compiled, pool filled
const walls: number[] = [];
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  await step.run(x, 1e-3);
  walls.push(performance.now() - t0);
}
walls.sort((a, b) => a - b);
const profiled = g.enableProfiling();
g.profileDetail = process.argv.includes('--shapes');
const families = new Map<string, number>();
let kernels: [string, { ns: number; count: number }][] = [];
if (profiled) {
  await step.run(x, 1e-3);
  kernels = [...(await gpu().stopProfiling())].sort((a, b) => b[1].ns - a[1].ns);
  for (const [label, v] of kernels) {
    const fam = FAMILIES.find(([, re]) => re.test(label))![0];
    families.set(fam, (families.get(fam) ?? 0) + v.ns / 1e6);
  }
}
const total = [...families.values()].reduce((a, b) => a + b, 0);
const report = {
  adapter: g.info.description,
  config: `${presetName ? `preset ${presetName}: ` : ''}vision ${config.vision_config.hidden_size}w depths ${config.vision_config.depths}, text ${t.hidden_size}w ${t.num_hidden_layers}L`,
  batch,
  stepWallMs: walls[1],
  dispatchesPerStep: kernels.reduce((a, [, v]) => a + v.count, 0),
  deviceMs: total,
  shares: Object.fromEntries([...families].map(([k, v]) => [k, { ms: v, share: v / total }])),
  topKernels: kernels.slice(0, Number(arg('top', '12'))).map(([k, v]) => ({ kernel: k, ms: v.ns / 1e6, count: v.count })),
};
if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
else {
  process.stderr.write(`${report.adapter}: one training step of ${report.config} at batch ${batch}: ${walls[1].toFixed(0)} ms wall (median of 3)\n`);
  if (!profiled) process.stderr.write('(no timestamp queries on this adapter: no per-kernel breakdown)\n');
  for (const [k, v] of Object.entries(report.shares)) process.stderr.write(`  ${k.padEnd(30)} ${v.ms.toFixed(1).padStart(8)} ms  ${(v.share * 100).toFixed(1).padStart(5)}%\n`);
  process.stderr.write(`  device total ${total.toFixed(1)} ms over ${report.dispatchesPerStep} dispatches (profiled: one pass per dispatch)\n`);
}
step.release();
model.release();
releaseGpu();
