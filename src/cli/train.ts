import cliProgress from 'cli-progress';
import { initGpu } from '../gpu/runtime.js';
import type { AdapterOptions } from '../gpu/adapter.js';
import { train, type TrainOptions } from '../train/run.js';
import { trainPreset, type TrainRecipe } from '../train/presets.js';
import { UserError } from '../util/errors.js';
import { describeRule } from '../train/calibrate.js';

function intOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`--${name} must be a non-negative integer (got '${v}').`);
  return n;
}

/** `--recipe`'s JSON, checked field by field against the tiny preset's (unknown fields, words, types, signs). */
export function parseRecipe(json: string | undefined): Partial<TrainRecipe> | undefined {
  if (json === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new UserError(`--recipe must be a JSON object (got '${json}').`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`--recipe must be a JSON object (got '${json}').`);
  const known = Object.keys(trainPreset('tiny'));
  const unknown = Object.keys(v).filter((k) => !known.includes(k) || k === 'config');
  if (unknown.length) throw new UserError(`--recipe has unknown fields ${unknown.join(', ')}: known are ${known.filter((k) => k !== 'config').join(', ')}.`);
  const r = v as Record<string, unknown>;
  for (const [field, allowed] of Object.entries(RECIPE_CHOICES)) {
    if (field in r && !allowed.includes(r[field] as string)) {
      throw new UserError(`--recipe field ${field} must be ${allowed.map((a) => `"${a}"`).join(', ')} (got ${JSON.stringify(r[field])}).`);
    }
  }
  const known0 = trainPreset('tiny') as unknown as Record<string, unknown>;
  for (const [field, value] of Object.entries(r)) {
    if (!(field in RECIPE_CHOICES) && typeof value !== typeof known0[field]) {
      throw new UserError(`--recipe field ${field} must be a ${typeof known0[field]} (got ${JSON.stringify(value)}).`);
    }
    if (typeof value === 'number' && !(Number.isFinite(value) && value >= 0)) {
      throw new UserError(`--recipe field ${field} must be a number of at least 0 (got ${JSON.stringify(value)}).`);
    }
  }
  return v as Partial<TrainRecipe>;
}

/** The recipe fields that take one of a few words. */
const RECIPE_CHOICES: Record<string, readonly string[]> = {
  multiLabelTargets: ['paper', 'shared', 'unique'],
  contrastiveTargets: ['paper', 'shared'],
  multiLabelPooling: ['image', 'groups', 'both'],
  groupNounMatchingBackdrop: ['none', 'border'],
  multiLabelBackdrop: ['none', 'border'],
  promptTemplates: ['full', 'subset', 'simple'],
  phrasePrompts: ['none', 'also'],
  groupNounGroundingText: ['train', 'fixed'],
  groupBalanceScope: ['image', 'batch', 'image-then-batch'],
};

export async function trainCommand(opts: AdapterOptions & Record<string, string | boolean | undefined>): Promise<void> {
  const lr = opts.lr === undefined ? undefined : Number(opts.lr);
  if (lr !== undefined && !(lr > 0)) throw new UserError(`--lr must be a positive number (got '${opts.lr}').`);
  const o: TrainOptions = {
    preset: String(opts.preset ?? 'tiny'),
    config: opts.config as string | undefined,
    data: String(opts.data ?? 'synthetic'),
    steps: intOpt(opts.steps as string, 'steps'),
    batchSize: intOpt(opts.batchSize as string, 'batch-size'),
    lr,
    seed: intOpt(opts.seed as string, 'seed') ?? 0,
    out: String(opts.out ?? 'runs/groupvit'),
    resume: !!opts.resume,
    evalEvery: intOpt(opts.evalEvery as string, 'eval-every'),
    evalCount: intOpt(opts.evalCount as string, 'eval-count'),
    checkpointEvery: intOpt(opts.checkpointEvery as string, 'checkpoint-every'),
    calibrateCount: intOpt(opts.calibrateCount as string, 'calibrate-count'),
    tokenizer: opts.tokenizer as string | undefined,
    recipe: parseRecipe(opts.recipe as string | undefined),
  };
  await initGpu(opts);
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130); // a second Ctrl-C: leave now
    stop = true;
    process.stderr.write('\ngroupvit: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSigint);
  const calBar = new cliProgress.SingleBar({ format: 'calibrate |{bar}| {value}/{total} scenes', stream: process.stderr }, cliProgress.Presets.shades_classic);
  let calStarted = false;
  const bar = new cliProgress.SingleBar(
    {
      format: 'train |{bar}| {value}/{total} | loss {loss} (itc {itc}, ml {ml}) | lr {lr} | {ips} img/s | ETA {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const fmt = (v: number) => v.toFixed(4);
  try {
    const summary = await train(o, {
      onStart: ({ startStep, steps, data }) => {
        process.stderr.write(`groupvit: training preset '${o.preset}' on ${data}${startStep ? `, resuming at step ${startStep}` : ''}\n`);
        bar.start(steps, startStep, { loss: '-', itc: '-', ml: '-', lr: '-', ips: '-' });
      },
      onStep: (step, r) => bar.update(step, { loss: fmt(r.loss), itc: fmt(r.contrastive), ml: fmt(r.multiLabel), lr: r.lr.toExponential(2), ips: r.imagesPerSecond.toFixed(1) }),
      onEval: (step, rep) => {
        bar.stop();
        process.stderr.write(`groupvit: step ${step}: zero-shot mIoU ${(rep.mIoU * 100).toFixed(1)} on ${rep.images} held-out scenes\n`);
        bar.start(bar.getTotal(), step);
      },
      onCalibrate: (phase, r) => {
        if (phase === 'start') {
          bar.stop();
          process.stderr.write('groupvit: choosing the background rule, the views and whether groups are named alone on tuning scenes (--calibrate-count 0 skips it)\n');
          return;
        }
        calBar.stop();
        process.stderr.write(`groupvit: ${describeRule(r!)}${r!.refine === 'none' ? '' : `, group maps refined: ${r!.refine}`}${r!.augment === 'none' ? '' : `, test-time views: ${r!.augment}`}${r!.isolate ? ', object groups named alone' : ''} (mIoU ${(r!.mIoU * 100).toFixed(1)} on ${r!.count} tuning scenes) recorded with the weights\n`);
      },
      onCalibrateProgress: (done, total) => {
        if (!calStarted) calBar.start(total, 0);
        calStarted = true;
        calBar.setTotal(total);
        calBar.update(done);
      },
      shouldStop: () => stop,
      onSkipped: (summary) => {
        bar.stop();
        process.stderr.write(`groupvit: warning: ${summary}\n`);
        bar.start(bar.getTotal(), (bar as unknown as { value: number }).value);
      },
    });
    bar.stop();
    if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    else {
      const l = summary.lastLoss;
      process.stderr.write(
        `groupvit: ${summary.stoppedEarly ? 'stopped' : 'finished'} at step ${summary.endStep} in ${summary.seconds.toFixed(0)} s` +
          (l ? `, loss ${fmt(l.loss)} (contrastive ${fmt(l.contrastive)}, multi-label ${fmt(l.multiLabel)})` : '') +
          `; weights in ${summary.out}\n`,
      );
    }
  } finally {
    bar.stop();
    process.off('SIGINT', onSigint);
  }
}
