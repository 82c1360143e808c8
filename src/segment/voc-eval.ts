import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readImage } from '../io/image.js';
import { readPngIndices } from '../io/png-indexed.js';
import { UserError } from '../util/errors.js';
import type { Segmenter, SegmentOptions } from './pipeline.js';
import { IoUMeter } from './iou.js';

/** PASCAL VOC's 20 classes under the names GroupViT's evaluation gives them (GROUPVIT.md §2.2). */
export const VOC_CLASSES = [
  'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'table', 'dog', 'horse', 'motorbike', 'person', 'plant', 'sheep', 'sofa', 'train', 'monitor',
];

export interface VocEvalOptions extends SegmentOptions {
  classes?: readonly string[];
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
  const listFile = join(dir, 'ImageSets', 'Segmentation', `${o.split ?? 'val'}.txt`);
  if (!existsSync(listFile)) throw new UserError(`${dir} is not a VOC-layout folder: ${listFile} is missing.`);
  let ids = readFileSync(listFile, 'utf8').split(/\s+/).filter(Boolean);
  if (o.count) ids = ids.slice(0, o.count);
  if (!ids.length) throw new UserError(`${listFile} lists no images.`);
  const classes = [...(o.classes ?? VOC_CLASSES)];
  const meter = new IoUMeter(classes.length + 1);
  for (const [i, id] of ids.entries()) {
    const image = readImage(join(dir, 'JPEGImages', `${id}.jpg`));
    const truth = readPngIndices(join(dir, 'SegmentationClass', `${id}.png`));
    if (truth.width !== image.width || truth.height !== image.height) {
      throw new UserError(`The label of ${id} is ${truth.width}x${truth.height} but its image is ${image.width}x${image.height}.`);
    }
    const s = await seg.segment(image, classes, { ...o, name: id });
    try {
      meter.add(s.mask, truth.indices, 255);
    } catch {
      throw new UserError(`The label of ${id} holds a class beyond the ${classes.length} classes given.`);
    }
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
