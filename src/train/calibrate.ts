// The background threshold of zero-shot segmentation, chosen for one model on a tuning split of the generated world.
// GroupViT's threshold is a per-dataset setting (0.95 for VOC, 0.35 for Context in the paper); for a small model the
// group–class affinities are less peaked than the official model's, so 0.95 leaves only the best-scoring group of an
// image in the foreground. The tuning scenes (eval split, seed 1 by default) are not the scenes eval reports (seed 0).
import { join } from 'node:path';
import type { GroupViTModel } from '../model/groupvit.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import { readRawConfig } from '../model/config.js';
import { writeJsonAtomic } from './checkpoint.js';
import { ShapesDataset } from '../data/shapes/dataset.js';
import { CLASS_NAMES, SHAPES } from '../data/shapes/world.js';
import { UserError } from '../util/errors.js';
import { Random, mix32 } from '../util/random.js';
import { classEmbeddings, encodeBatch, IoUMeter, segmentEncoded } from './evaluate.js';
import { predictAt } from '../segment/zero-shot.js';
import type { VocCalibration } from '../segment/voc-eval.js';

/** Thresholds tried, from the paper's VOC value down. */
export const BG_THRESH_GRID: readonly number[] = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05];

export interface CalibrationReport {
  seed: number;
  count: number;
  /** mIoU on the tuning scenes at every threshold of the grid. */
  tried: { bgThresh: number; mIoU: number }[];
  /** The threshold with the best mIoU (the highest of equals). */
  bgThresh: number;
  mIoU: number;
  /**
   * The same for shorter class lists (2 to 7 names: each scene's own shapes, then distractors drawn per scene),
   * for `segment` calls that name fewer classes: the scores are softmaxes over the list, higher for shorter ones.
   */
  byClassCount: { classes: number; scenes: number; bgThresh: number; mIoU: number }[];
}

export interface CalibrateOptions {
  seed?: number;
  count?: number;
  imageSize: number;
  batch?: number;
  grid?: readonly number[];
  onProgress?: (done: number) => void;
}

/** mIoU at every threshold of the grid on held-out generated scenes, one forward per batch for all of them. */
export async function calibrateShapes(model: GroupViTModel, tok: Tokenizer, o: CalibrateOptions): Promise<CalibrationReport> {
  const seed = o.seed ?? 1;
  const count = o.count ?? 200;
  const grid = o.grid ?? BG_THRESH_GRID;
  const wasTraining = (model.visual_projection[1] as { training: boolean }).training;
  model.eval();
  await model.prepareInference();
  const data = new ShapesDataset({ seed, split: 'eval', imageSize: o.imageSize });
  const emb = await classEmbeddings(model, tok, SHAPES, ['a photo of a {}.']);
  const meters = grid.map(() => new IoUMeter(CLASS_NAMES.length));
  const p = emb.length / SHAPES.length;
  const shorter = SHORTER_LISTS.map((k) => ({ k, scenes: 0, meters: grid.map(() => new IoUMeter(CLASS_NAMES.length)) }));
  const batch = o.batch ?? 32;
  for (let start = 0; start < count; start += batch) {
    const samples = Array.from({ length: Math.min(batch, count - start) }, (_, i) => data.sample(start + i));
    const e = await encodeBatch(model, samples.map((s) => s.image));
    samples.forEach((s, i) => {
      // the groups and their scores do not depend on the threshold: one segmentation, read at every threshold
      const all = segmentEncoded(e, i, emb, SHAPES.length, null);
      grid.forEach((t, j) => meters[j].add(predictAt(all.groupIndex, all.affinity, SHAPES.length, t), s.mask));
      const present = [...new Set(s.mask)].filter((c) => c > 0).map((c) => c - 1).sort((a, b) => a - b);
      const rng = new Random(mix32(seed * 7919 + start + i));
      const absent = SHAPES.map((_, c) => c).filter((c) => !present.includes(c));
      for (let n = absent.length - 1; n > 0; n--) {
        const m = rng.int(n + 1);
        [absent[n], absent[m]] = [absent[m], absent[n]];
      }
      for (const list of shorter) {
        if (present.length > list.k) continue;
        const classes = [...present, ...absent.slice(0, list.k - present.length)];
        const sub = new Float32Array(list.k * p);
        classes.forEach((c, r) => sub.set(emb.subarray(c * p, (c + 1) * p), r * p));
        list.scenes++;
        const seg = segmentEncoded(e, i, sub, list.k, null);
        grid.forEach((t, j) => list.meters[j].add(predictAt(seg.groupIndex, seg.affinity, list.k, t).map((v) => (v ? classes[v - 1] + 1 : 0)), s.mask));
      }
    });
    o.onProgress?.(start + samples.length);
  }
  if (wasTraining) model.train();
  const scored = (ms: IoUMeter[]) => grid.map((bgThresh, j) => ({ bgThresh, mIoU: ms[j].mean() }));
  const tried = scored(meters);
  const byClassCount = shorter.filter((l) => l.scenes > 0).map((l) => ({ classes: l.k, scenes: l.scenes, ...bestThreshold(scored(l.meters)) }));
  return { seed, count, tried, ...bestThreshold(tried), byClassCount };
}

/** The threshold with the best mIoU; of equals the highest (the first in the grid, which runs from 0.95 down). */
export function bestThreshold<T extends { bgThresh: number; mIoU: number }>(tried: T[]): T {
  return tried.reduce((a, x) => (x.mIoU > a.mIoU ? x : a));
}

/** Class-list lengths calibrated besides the full list of 8 (one name scores 1 everywhere: no threshold applies). */
const SHORTER_LISTS = [2, 3, 4, 5, 6, 7];

/**
 * A model's calibrated threshold holds for lists of as many class names as it was chosen with: the group–class scores
 * are softmaxes over the list, so the same model scores higher against 3 names than against 8.
 */
export interface BgCalibration {
  bgThresh: number;
  classes: number;
  /** Thresholds for shorter lists, by their length. */
  byClassCount: Record<number, number>;
}

/** The model folder's calibration (config.json "groupvit.bg_thresh" and the class count it was tuned with), if any. */
export function modelCalibration(configPath: string): BgCalibration | undefined {
  const g = readRawConfig(configPath).groupvit as Record<string, unknown> | undefined;
  const t = g && typeof g === 'object' ? g.bg_thresh : undefined;
  if (t === undefined) return undefined;
  if (typeof t !== 'number' || !(t >= 0 && t <= 1)) throw new UserError(`The model configuration ${configPath} has a groupvit.bg_thresh that is not a number from 0 to 1.`);
  const tuning = g!.bg_thresh_tuning as Record<string, unknown> | undefined;
  const classes = tuning && typeof tuning === 'object' && Number.isInteger(tuning.classes) ? (tuning.classes as number) : SHAPES.length;
  const byClassCount: Record<number, number> = {};
  const table = g!.bg_thresh_by_classes;
  if (table !== undefined) {
    const ok = table && typeof table === 'object' && !Array.isArray(table) && Object.entries(table).every(([k, v]) => Number.isInteger(Number(k)) && typeof v === 'number' && v >= 0 && v <= 1);
    if (!ok) throw new UserError(`The model configuration ${configPath} has a groupvit.bg_thresh_by_classes that is not a table of thresholds from 0 to 1 by class count.`);
    for (const [k, v] of Object.entries(table as Record<string, number>)) byClassCount[Number(k)] = v;
  }
  return { bgThresh: t, classes, byClassCount };
}

/** The threshold a calibrated model uses for a list of `count` class names (undefined: none calibrated for it). */
export function bgThreshForCount(c: BgCalibration | undefined, count: number): number | undefined {
  if (!c) return undefined;
  return count === c.classes ? c.bgThresh : c.byClassCount[count];
}

/** The calibrated threshold for the generated world's class names (what eval scores), if the model has one. */
export function calibratedBgThresh(configPath: string): number | undefined {
  const c = modelCalibration(configPath);
  return c && c.classes === SHAPES.length ? c.bgThresh : undefined;
}

/** Records the calibration in the model folder's config.json (rewritten atomically; the model's fields untouched). */
export function writeCalibration(dir: string, r: CalibrationReport): void {
  recordCalibration(dir, r.bgThresh, Object.fromEntries(r.byClassCount.map((b) => [String(b.classes), b.bgThresh])), {
    data: 'generated shapes world, eval split', classes: SHAPES.length, seed: r.seed, scenes: r.count, mIoU: r.mIoU,
  });
}

/** Records a threshold chosen on a labelled split of a VOC-layout folder, for lists of its class count. */
export function writeVocCalibration(dir: string, r: VocCalibration, data: string): void {
  recordCalibration(dir, r.bgThresh, {}, { data: `VOC-layout folder ${data}, split ${r.split}`, classes: r.classes.length, images: r.images, mIoU: r.mIoU });
}

function recordCalibration(dir: string, bgThresh: number, byClassCount: Record<string, number>, tuning: Record<string, unknown>): void {
  const path = join(dir, 'config.json');
  const raw = readRawConfig(path);
  const g = raw.groupvit && typeof raw.groupvit === 'object' ? (raw.groupvit as Record<string, unknown>) : {};
  raw.groupvit = { ...g, bg_thresh: bgThresh, bg_thresh_by_classes: byClassCount, bg_thresh_tuning: tuning };
  writeJsonAtomic(path, raw);
}
