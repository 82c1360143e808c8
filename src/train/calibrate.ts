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
import { classEmbeddings, encodeBatch, IoUMeter, refinedGroupMaps, segmentEncoded } from './evaluate.js';
import { borderGroups, predictAt, validBorderShare, type BackgroundRule } from '../segment/zero-shot.js';
import type { VocCalibration } from '../segment/voc-eval.js';
import { REFINES, type Refine } from '../segment/pamr.js';
import { AUGMENTS, argmaxChannels, type Augment } from '../segment/dihedral.js';
import { shiftedViewImage, testViews, ViewAverage, type View } from '../segment/views.js';
import { groupScores } from '../segment/isolate.js';
import { isolatedGroupScores } from './eval-shapes.js';

/**
 * Thresholds tried, from the paper's VOC value down to 0 (the border rule alone: with object groups named alone the
 * scores of a group are a geometric mean, lower than either, and no threshold did best, README eighteenth session).
 */
export const BG_THRESH_GRID: readonly number[] = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0];
/** Border rules tried (zero-shot.ts borderGroups): the paper's threshold alone first, then the border group(s). */
export const BG_BORDER_GRID: readonly (number | null)[] = [null, 1, 0.5, 0.35, 0.25];

/** Every (border rule, threshold) pair, the paper's rule and the higher thresholds first (so that they win ties). */
export function backgroundGrid(thresholds: readonly number[] = BG_THRESH_GRID, borders: readonly (number | null)[] = BG_BORDER_GRID): BackgroundRule[] {
  return borders.flatMap((bgBorder) => thresholds.map((bgThresh) => ({ bgThresh, bgBorder })));
}

/** One segmentation's prediction at every rule of a grid; each border rule's backdrop is found once. */
export function predictRules(groupIndex: Int32Array, affinity: Float64Array, K: number, height: number, width: number, grid: readonly BackgroundRule[]): Int32Array[] {
  const G = affinity.length / K;
  const backdrops = new Map<number | null, boolean[] | null>();
  return grid.map((r) => {
    if (!backdrops.has(r.bgBorder)) backdrops.set(r.bgBorder, r.bgBorder === null ? null : borderGroups(groupIndex, height, width, G, r.bgBorder));
    return predictAt(groupIndex, affinity, K, r.bgThresh, backdrops.get(r.bgBorder)!);
  });
}

export interface CalibrationReport {
  seed: number;
  count: number;
  /** mIoU on the tuning scenes at every refinement and rule of the grid (refinements in the order asked, then the grid). */
  tried: (BackgroundRule & { refine: Refine; mIoU: number })[];
  /** The rule with the best mIoU (of equals no refinement, the paper's rule, then the highest threshold). */
  bgThresh: number;
  bgBorder: number | null;
  /** The group maps' refinement the rule was chosen with (segment/pamr.ts), chosen with it. */
  refine: Refine;
  /**
   * The test-time views the rule was chosen with (segment/views.ts): 'none', or an augmentation whose averaged views
   * scored better under the best border rule and refinement of the image alone, at its own best threshold.
   */
  augment: Augment;
  /** Whether each object group is also named from an image of it alone (segment/isolate.ts), chosen with the views. */
  isolate: boolean;
  /**
   * mIoU of each pair of views and isolation tried besides the image alone without it, at every threshold of the grid,
   * under that border rule and refinement.
   */
  augmentTried: { augment: Augment; isolate: boolean; bgThresh: number; mIoU: number }[];
  mIoU: number;
  /**
   * The best threshold for shorter class lists (2 to 7 names: each scene's own shapes, then distractors drawn per
   * scene) under the chosen border rule, for `segment` calls that name fewer classes: the scores are softmaxes over
   * the list, higher for shorter ones.
   */
  byClassCount: { classes: number; scenes: number; bgThresh: number; mIoU: number }[];
}

export interface CalibrateOptions {
  seed?: number;
  count?: number;
  imageSize: number;
  batch?: number;
  grid?: readonly BackgroundRule[];
  /** Refinements of the group maps tried (default both: none first, so that it wins ties). */
  refines?: readonly Refine[];
  /**
   * Test-time views tried after the rule is chosen on the image alone (default none, dihedral and dihedral+shift: the
   * generated world has no up; none wins ties, then fewer views).
   */
  augments?: readonly Augment[];
  /** Whether object groups are named alone, tried with each of the views (default without, then with: without wins ties). */
  isolates?: readonly boolean[];
  /** Scenes done of the total: the tuning scenes once, then once more for all the views and isolation tried. */
  onProgress?: (done: number, total: number) => void;
}

/** mIoU at every threshold of the grid on held-out generated scenes, one forward per batch for all of them. */
export async function calibrateShapes(model: GroupViTModel, tok: Tokenizer, o: CalibrateOptions): Promise<CalibrationReport> {
  const seed = o.seed ?? 1;
  const count = o.count ?? 200;
  const grid = o.grid ?? backgroundGrid();
  const refines = o.refines ?? REFINES;
  const augments = o.augments ?? ['none', 'dihedral', 'dihedral+shift'];
  const isolates = o.isolates ?? [false, true];
  for (const a of augments) if (!AUGMENTS.includes(a)) throw new Error(`unknown augmentation ${a}`);
  const candidates: Candidate[] = augments.flatMap((augment) => isolates.filter((isolate) => augment !== 'none' || isolate).map((isolate) => ({ augment, isolate, views: testViews(augment, model.config.vision_config.patch_size) })));
  const total = count * (candidates.length ? 2 : 1);
  const wasTraining = (model.visual_projection[1] as { training: boolean }).training;
  model.eval();
  await model.prepareInference();
  const data = new ShapesDataset({ seed, split: 'eval', imageSize: o.imageSize });
  const emb = await classEmbeddings(model, tok, SHAPES, ['a photo of a {}.']);
  const meterGrid = () => refines.map(() => grid.map(() => new IoUMeter(CLASS_NAMES.length)));
  const meters = meterGrid();
  const p = emb.length / SHAPES.length;
  const shorter = SHORTER_LISTS.map((k) => ({ k, scenes: 0, meters: meterGrid() }));
  const batch = o.batch ?? 32;
  for (let start = 0; start < count; start += batch) {
    const samples = Array.from({ length: Math.min(batch, count - start) }, (_, i) => data.sample(start + i));
    const e = await encodeBatch(model, samples.map((s) => s.image));
    const refined = refines.includes('pamr') ? await refinedGroupMaps(e, samples.map((s) => s.image)) : null;
    samples.forEach((s, i) => {
      // the groups and their scores do not depend on the threshold: one segmentation, read at every threshold; each
      // pixel's group depends on the refinement alone, the groups' scores on the class list alone
      const all = segmentEncoded(e, i, emb, SHAPES.length, null);
      const groupIndex = refines.map((r) => (r === 'none' ? all.groupIndex : segmentEncoded(e, i, emb, SHAPES.length, null, null, refined![i]).groupIndex));
      groupIndex.forEach((gi, ri) => predictRules(gi, all.affinity, SHAPES.length, e.height, e.width, grid).forEach((pred, j) => meters[ri][j].add(pred, s.mask)));
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
        groupIndex.forEach((gi, ri) =>
          predictRules(gi, seg.affinity, list.k, e.height, e.width, grid).forEach((pred, j) => list.meters[ri][j].add(pred.map((v) => (v ? classes[v - 1] + 1 : 0)), s.mask)),
        );
      }
    });
    o.onProgress?.(start + samples.length, total);
  }
  const scored = (ms: IoUMeter[][]) => refines.flatMap((refine, ri) => grid.map((r, j) => ({ bgThresh: r.bgThresh, bgBorder: r.bgBorder, refine, mIoU: ms[ri][j].mean() })));
  const tried = scored(meters);
  const best = bestThreshold(tried);
  const byClassCount = shorter
    .filter((l) => l.scenes > 0)
    .map((l) => {
      const b = bestThreshold(scored(l.meters).filter((r) => r.bgBorder === best.bgBorder && r.refine === best.refine));
      return { classes: l.k, scenes: l.scenes, bgThresh: b.bgThresh, mIoU: b.mIoU };
    });
  const views = candidates.length ? await calibrateViews(model, data, emb, o, best, grid, candidates, (done) => o.onProgress?.(count + done, total)) : [];
  if (wasTraining) model.train();
  const withViews = bestThreshold([{ augment: 'none' as Augment, isolate: false, bgThresh: best.bgThresh, mIoU: best.mIoU }, ...views]);
  return { seed, count, tried, ...best, bgThresh: withViews.bgThresh, augment: withViews.augment, isolate: withViews.isolate, augmentTried: views, mIoU: withViews.mIoU, byClassCount };
}

/** One way of naming the groups tried after the rule: test-time views (or none), each object group named alone or not. */
interface Candidate {
  augment: Augment;
  isolate: boolean;
  views: View[];
}

const viewKey = (v: View) => `${+v.mirror}/${v.turns}/${v.shift}`;

/**
 * mIoU of each (views, isolation) candidate but the image alone at every threshold of the grid, under the chosen border
 * rule and refinement, from one pass over every view any candidate asks for: the views of 'dihedral' are those of
 * 'dihedral+shift' without the shift, so each view is encoded (and its object groups cut out and encoded) once.
 */
async function calibrateViews(model: GroupViTModel, data: ShapesDataset, emb: Float32Array, o: CalibrateOptions, rule: BackgroundRule & { refine: Refine }, grid: readonly BackgroundRule[], candidates: readonly Candidate[], progress: (done: number) => void) {
  const thresholds = [...new Set(grid.map((g) => g.bgThresh))];
  const count = o.count ?? 200;
  const batch = o.batch ?? 32;
  const K = SHAPES.length;
  const [h, w, c] = [o.imageSize, o.imageSize, K + 1];
  const meters = candidates.map(() => thresholds.map(() => new IoUMeter(CLASS_NAMES.length)));
  const union = new Map<string, View>();
  for (const cand of candidates) for (const v of cand.views) if (!union.has(viewKey(v))) union.set(viewKey(v), v);
  for (let start = 0; start < count; start += batch) {
    const samples = Array.from({ length: Math.min(batch, count - start) }, (_, i) => data.sample(start + i));
    const avgs = candidates.map((cand) => (cand.views.length > 1 ? samples.map(() => new ViewAverage(c, h, w)) : null));
    for (const [key, view] of union) {
      const users = candidates.map((cand, ci) => ({ cand, ci })).filter(({ cand }) => cand.views.some((v) => viewKey(v) === key));
      const images = samples.map((s) => shiftedViewImage(s.image, view));
      const e = await encodeBatch(model, images);
      const refined = rule.refine === 'pamr' ? await refinedGroupMaps(e, images) : null;
      // threshold 0: each view's background channel is its border rule alone, the threshold comes after the average
      const plain = users.some(({ cand }) => !cand.isolate) ? samples.map((_, i) => segmentEncoded(e, i, emb, K, 0, rule.bgBorder, refined?.[i] ?? null).logits) : null;
      const alone = users.some(({ cand }) => cand.isolate) ? await isolatedGroupScores(model, images, e, refined, emb, K, rule.bgBorder) : null;
      for (const { cand, ci } of users) {
        samples.forEach((s, i) => {
          if (avgs[ci]) return avgs[ci]![i].add(cand.isolate ? groupScores(alone![i].groupIndex, alone![i].affinity, K, alone![i].backdrop) : plain![i], view);
          // the image alone, its object groups named alone: the threshold on the groups' scores, as eval reads it
          const g = alone![i];
          thresholds.forEach((t, j) => meters[ci][j].add(predictAt(g.groupIndex, g.affinity, K, t, g.backdrop), s.mask));
        });
      }
    }
    samples.forEach((s, i) => avgs.forEach((a, ci) => a && thresholds.forEach((t, j) => meters[ci][j].add(argmaxChannels(a[i].decide(t), c, h * w), s.mask))));
    progress(start + samples.length);
  }
  return candidates.flatMap((cand, ci) => thresholds.map((t, j) => ({ augment: cand.augment, isolate: cand.isolate, bgThresh: t, mIoU: meters[ci][j].mean() })));
}

/** The rule with the best mIoU; of equals the first in the grid (backgroundGrid: the paper's rule, thresholds from 0.95 down). */
export function bestThreshold<T extends { mIoU: number }>(tried: T[]): T {
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
  /** The border rule's share (config.json "groupvit.bg_border"), null for the paper's threshold alone. */
  bgBorder: number | null;
  classes: number;
  /** Thresholds for shorter lists, by their length. */
  byClassCount: Record<number, number>;
  /** The group maps' refinement the rule was chosen with (config.json "groupvit.refine"; absent: none). */
  refine: Refine;
  /** The test-time views the threshold was chosen with (config.json "groupvit.augment"; absent: none). */
  augment: Augment;
  /** Whether object groups are named alone (config.json "groupvit.isolate"; absent: not). */
  isolate: boolean;
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
  const border = g!.bg_border === undefined ? null : g!.bg_border;
  if (!validBorderShare(border)) throw new UserError(`The model configuration ${configPath} has a groupvit.bg_border that is neither null nor a share above 0 and at most 1.`);
  const refine = g!.refine === undefined ? 'none' : g!.refine;
  if (!(REFINES as readonly unknown[]).includes(refine)) throw new UserError(`The model configuration ${configPath} has a groupvit.refine that is not one of ${REFINES.join(', ')}.`);
  const augment = g!.augment === undefined ? 'none' : g!.augment;
  if (!(AUGMENTS as readonly unknown[]).includes(augment)) throw new UserError(`The model configuration ${configPath} has a groupvit.augment that is not one of ${AUGMENTS.join(', ')}.`);
  const isolate = g!.isolate === undefined ? false : g!.isolate;
  if (typeof isolate !== 'boolean') throw new UserError(`The model configuration ${configPath} has a groupvit.isolate that is neither true nor false.`);
  return { bgThresh: t, bgBorder: border, classes, byClassCount, refine: refine as Refine, augment: augment as Augment, isolate };
}

/** The threshold a calibrated model uses for a list of `count` class names (undefined: none calibrated for it). */
export function bgThreshForCount(c: BgCalibration | undefined, count: number): number | undefined {
  if (!c) return undefined;
  return count === c.classes ? c.bgThresh : c.byClassCount[count];
}

/** The calibrated rule for the generated world's class names (what eval scores), if the model has one. */
export function calibratedRule(configPath: string): BackgroundRule | undefined {
  const c = modelCalibration(configPath);
  return c && c.classes === SHAPES.length ? { bgThresh: c.bgThresh, bgBorder: c.bgBorder } : undefined;
}

/** The refinement a model's rule was calibrated with ('none' when it has no calibration or predates refinement). */
export function calibratedRefine(configPath: string): Refine {
  return modelCalibration(configPath)?.refine ?? 'none';
}

/** The test-time views a model's rule was calibrated with ('none' when it has no calibration or predates views). */
export function calibratedAugment(configPath: string): Augment {
  return modelCalibration(configPath)?.augment ?? 'none';
}

/** Whether a model's rule was calibrated with object groups named alone (false without a calibration or before isolation). */
export function calibratedIsolate(configPath: string): boolean {
  return modelCalibration(configPath)?.isolate ?? false;
}

/** A --bg-border value: 'none' (the paper's threshold alone) or a share above 0 and at most 1; undefined stays. */
export function parseBorderShare(v: string | undefined, flag = '--bg-border'): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'none') return null;
  const n = Number(v);
  if (v.trim() === '' || !validBorderShare(n)) throw new UserError(`${flag} must be 'none' or a share of the border above 0 and at most 1 (got '${v}').`);
  return n;
}

/** How a rule reads in a sentence. */
export function describeRule(r: BackgroundRule): string {
  return r.bgBorder === null ? `background threshold ${r.bgThresh}` : `border rule ${r.bgBorder}, then background threshold ${r.bgThresh}`;
}

/** Records the calibration in the model folder's config.json (rewritten atomically; the model's fields untouched). */
export function writeCalibration(dir: string, r: CalibrationReport): void {
  recordCalibration(dir, r, r.refine, r.augment, r.isolate, Object.fromEntries(r.byClassCount.map((b) => [String(b.classes), b.bgThresh])), {
    data: 'generated shapes world, eval split', classes: SHAPES.length, seed: r.seed, scenes: r.count, mIoU: r.mIoU,
  });
}

/** Records a threshold chosen on a labelled split of a VOC-layout folder, for lists of its class count. */
export function writeVocCalibration(dir: string, r: VocCalibration, data: string): void {
  recordCalibration(dir, r, r.refine, 'none', r.isolate, {}, { data: `VOC-layout folder ${data}, split ${r.split}`, classes: r.classes.length, images: r.images, mIoU: r.mIoU });
}

function recordCalibration(dir: string, rule: BackgroundRule, refine: Refine, augment: Augment, isolate: boolean, byClassCount: Record<string, number>, tuning: Record<string, unknown>): void {
  const path = join(dir, 'config.json');
  const raw = readRawConfig(path);
  const g = raw.groupvit && typeof raw.groupvit === 'object' ? (raw.groupvit as Record<string, unknown>) : {};
  raw.groupvit = { ...g, bg_thresh: rule.bgThresh, bg_border: rule.bgBorder, refine, augment, isolate, bg_thresh_by_classes: byClassCount, bg_thresh_tuning: tuning };
  writeJsonAtomic(path, raw);
}
