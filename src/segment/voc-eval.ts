import { existsSync, readFileSync } from 'node:fs';
import type { Refine } from './pamr.js';
import { join } from 'node:path';
import { readImage } from '../io/image.js';
import { readPngIndices } from '../io/png-indexed.js';
import { UserError } from '../util/errors.js';
import type { Segmenter, SegmentOptions } from './pipeline.js';
import { IoUMeter } from './iou.js';
import { bestThreshold } from '../train/calibrate.js';
import type { BackgroundRule } from './zero-shot.js';
import type { Augment } from './dihedral.js';

/** PASCAL VOC's 20 classes under the names GroupViT's evaluation gives them (GROUPVIT.md §2.2). */
export const VOC_CLASSES = [
  'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'table', 'dog', 'horse', 'motorbike', 'person', 'plant', 'sheep', 'sofa', 'train', 'monitor',
];

export interface VocEvalOptions extends SegmentOptions {
  classes?: readonly string[];
  /** Test-time augmentation (dihedral.ts); default none. */
  augment?: Augment;
  split?: string;
  count?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface VocReport {
  classes: string[];
  iou: number[];
  mIoU: number;
  pixelAccuracy: number;
  images: number;
}

/**
 * Zero-shot mIoU on a VOC-layout folder: JPEGImages/ID.jpg, SegmentationClass/ID.png (palette indices: 0 background,
 * k class k, 255 ignored), ImageSets/Segmentation/<split>.txt. Background counts as a class, as in the paper.
 */
export async function evaluateVoc(seg: Segmenter, dir: string, o: VocEvalOptions = {}): Promise<VocReport> {
  const ids = vocIds(dir, o.split ?? 'val', o.count);
  const classes = [...(o.classes ?? VOC_CLASSES)];
  const meter = new IoUMeter(classes.length + 1);
  for (const [i, id] of ids.entries()) {
    const { image, truth } = readVocPair(dir, id);
    const s = await seg.segment(image, classes, { ...o, name: id });
    addLabels(meter, s.mask, truth, id, classes.length);
    o.onProgress?.(i + 1, ids.length);
  }
  return {
    classes: ['background', ...classes],
    iou: meter.perClass(),
    mIoU: meter.mean(),
    pixelAccuracy: meter.pixelAccuracy(),
    images: ids.length,
  };
}

export interface VocCalibration {
  split: string;
  images: number;
  classes: string[];
  /** mIoU on the split's images under every rule of the grid. */
  tried: (BackgroundRule & { mIoU: number })[];
  /** The rule with the best mIoU (of equals the first in the grid: the paper's rule, then the highest threshold). */
  bgThresh: number;
  bgBorder: number | null;
  /** The group maps' refinement the rules were scored with (the option given, else the model's own). */
  refine: Refine;
  /** Whether object groups were named alone (the option given, else the model's own). */
  isolate: boolean;
  mIoU: number;
}

/**
 * The background rule with the best mIoU on a labelled split of a VOC-layout folder (default 'train', so that eval's
 * 'val' stays unseen), one forward pass per window for every rule (Segmenter.masksAtRules).
 */
export async function calibrateVoc(seg: Segmenter, dir: string, grid: readonly BackgroundRule[], o: VocEvalOptions = {}): Promise<VocCalibration> {
  const split = o.split ?? 'train';
  const ids = vocIds(dir, split, o.count);
  const classes = [...(o.classes ?? VOC_CLASSES)];
  const meters = grid.map(() => new IoUMeter(classes.length + 1));
  const refine = o.refine ?? seg.calibration?.refine ?? 'none';
  const isolate = o.isolate ?? seg.isolateDefault;
  for (const [i, id] of ids.entries()) {
    const { image, truth } = readVocPair(dir, id);
    const masks = await seg.masksAtRules(image, classes, grid, { ...o, refine, isolate, name: id });
    masks.forEach((m, j) => addLabels(meters[j], m, truth, id, classes.length));
    o.onProgress?.(i + 1, ids.length);
  }
  const tried = grid.map((r, j) => ({ bgThresh: r.bgThresh, bgBorder: r.bgBorder, mIoU: meters[j].mean() }));
  return { split, images: ids.length, classes, tried, refine, isolate, ...bestThreshold(tried) };
}

/** The image ids of a split (the first `count` of them), or a UserError naming what is missing. */
export function vocIds(dir: string, split: string, count?: number): string[] {
  const listFile = join(dir, 'ImageSets', 'Segmentation', `${split}.txt`);
  if (!existsSync(listFile)) throw new UserError(`${dir} is not a VOC-layout folder with a '${split}' split: ${listFile} is missing.`);
  let ids = readFileSync(listFile, 'utf8').split(/\s+/).filter(Boolean);
  if (count) ids = ids.slice(0, count);
  if (!ids.length) throw new UserError(`${listFile} lists no images.`);
  return ids;
}

function readVocPair(dir: string, id: string) {
  const image = readImage(join(dir, 'JPEGImages', `${id}.jpg`));
  const truth = readPngIndices(join(dir, 'SegmentationClass', `${id}.png`));
  if (truth.width !== image.width || truth.height !== image.height) {
    throw new UserError(`The label of ${id} is ${truth.width}x${truth.height} but its image is ${image.width}x${image.height}.`);
  }
  return { image, truth };
}

function addLabels(meter: IoUMeter, mask: ArrayLike<number>, truth: { indices: ArrayLike<number> }, id: string, classCount: number): void {
  try {
    meter.add(mask, truth.indices, 255);
  } catch {
    throw new UserError(`The label of ${id} holds a class beyond the ${classCount} classes given.`);
  }
}
