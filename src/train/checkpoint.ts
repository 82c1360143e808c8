import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readSafetensors, toFloat32, writeSafetensors } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import type { GroupViTModel } from '../model/groupvit.js';
import { modelTensors, loadStateDict } from '../model/weights.js';
import type { TrainStep } from './step.js';

/**
 * On-disk layout of a training run's output folder:
 *   OUT/config.json, OUT/model.safetensors     the latest weights, Hugging Face layout (what `segment --weights` reads)
 *   OUT/checkpoints/step-NNNNNNN/              complete snapshots: config.json, model.safetensors, optimizer.safetensors,
 *                                               state.json (step, seed, recipe, data position)
 *   OUT/latest.json                             names the newest complete snapshot; written last, atomically
 * A crash at any point leaves latest.json naming a snapshot whose files were all written before it was.
 */

async function hostTensors(named: [string, Tensor][]): Promise<Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>> {
  const out: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of named) out[name] = { dtype: 'F32', shape: t.shape.slice(), data: await t.toArray() };
  return out;
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n'));
}

/** config.json + model.safetensors in Hugging Face's layout (the format segment, eval and parity read). */
export async function writeModelFiles(dir: string, model: GroupViTModel, extraConfig: Record<string, unknown> = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), await hostTensors([...modelTensors(model)]), { format: 'pt', producer: 'groupvit' });
  writeJsonAtomic(join(dir, 'config.json'), { architectures: ['GroupViTModel'], model_type: 'groupvit', ...model.config, ...extraConfig });
}

export interface RunState {
  step: number;
  seed: number;
  preset: string;
  /** Everything needed to continue exactly: the recipe and the data source's description. */
  recipe: unknown;
  data: string;
  /** Steps whose loss was recorded (metrics.jsonl lines), to trim a log that ran past the snapshot. */
  elapsedSeconds: number;
}

export async function saveSnapshot(out: string, trainer: TrainStep, state: RunState, extraConfig: Record<string, unknown> = {}, keep = 2): Promise<string> {
  const name = `step-${String(state.step).padStart(7, '0')}`;
  const dir = join(out, 'checkpoints', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await writeModelFiles(dir, trainer.model, extraConfig);
  const opt = trainer.optimizer;
  const named: [string, Tensor][] = [];
  opt.params.forEach(([n], k) => {
    named.push([`m.${n}`, opt.m[k]], [`v.${n}`, opt.v[k]]);
  });
  if (trainer.multiLabelScale) named.push(['multi_label_logit_scale', trainer.multiLabelScale]);
  writeSafetensors(join(dir, 'optimizer.safetensors'), await hostTensors(named), { step: String(opt.step) });
  writeJsonAtomic(join(dir, 'state.json'), { ...state, optimizerStep: opt.step });
  writeJsonAtomic(join(out, 'latest.json'), { snapshot: name, step: state.step });
  // the user-facing copy of the newest weights
  await writeModelFiles(out, trainer.model, extraConfig);
  const all = readdirSync(join(out, 'checkpoints')).filter((d) => d.startsWith('step-')).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(out, 'checkpoints', old), { recursive: true, force: true });
  return dir;
}

/** The newest complete snapshot of a run, or null when the folder holds none. */
export function latestSnapshot(out: string): { dir: string; state: RunState & { optimizerStep: number } } | null {
  const ptr = join(out, 'latest.json');
  if (!existsSync(ptr)) return null;
  let snap: string;
  try {
    snap = JSON.parse(readFileSync(ptr, 'utf8')).snapshot;
  } catch {
    throw new UserError(`${ptr} is corrupt: delete it (and checkpoints/) to start over, or restore it.`);
  }
  const dir = join(out, 'checkpoints', snap);
  try {
    return { dir, state: JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) };
  } catch {
    throw new UserError(`The checkpoint ${dir} named by ${ptr} is missing or corrupt.`);
  }
}

/** Restores weights, optimizer moments, the multi-label scale and the step counter from a snapshot. */
export function restoreSnapshot(dir: string, trainer: TrainStep, optimizerStep: number): void {
  loadStateDict(trainer.model, readSafetensors(join(dir, 'model.safetensors')), join(dir, 'model.safetensors'));
  const opt = readSafetensors(join(dir, 'optimizer.safetensors'));
  const o = trainer.optimizer;
  o.params.forEach(([n], k) => {
    const m = opt.get(`m.${n}`);
    const v = opt.get(`v.${n}`);
    if (!m || !v) throw new UserError(`The optimizer state in ${dir} lacks the moments of ${n}.`);
    o.m[k].upload(toFloat32(m));
    o.v[k].upload(toFloat32(v));
  });
  const mls = opt.get('multi_label_logit_scale');
  if (trainer.multiLabelScale) {
    if (!mls) throw new UserError(`The optimizer state in ${dir} lacks multi_label_logit_scale.`);
    trainer.multiLabelScale.upload(toFloat32(mls));
  }
  o.step = optimizerStep;
}
