import type { GroupViTModel } from '../model/groupvit.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import { ShapesDataset } from '../data/shapes/dataset.js';
import { CLASS_NAMES, SHAPES } from '../data/shapes/world.js';
import { classEmbeddings, encodeBatch, IoUMeter, refinedGroupMaps, segmentBatch, segmentEncoded, type EncodedBatch } from './evaluate.js';
import { ObjectHits } from '../segment/iou.js';
import { DEFAULT_BG_THRESH } from '../segment/pipeline.js';
import { GroupStats, meanClassCosine, type GroupDiagnostics } from '../segment/group-stats.js';
import type { Refine } from '../segment/pamr.js';
import { argmaxChannels, type Augment } from '../segment/dihedral.js';
import { shiftedViewImage, testViews, ViewAverage } from '../segment/views.js';
import { borderGroups, predictAt } from '../segment/zero-shot.js';
import { groupScores, namedAlone } from '../segment/isolate.js';
import type { RgbImage } from '../io/image.js';

export interface ShapesEvalOptions {
  seed: number;
  count: number;
  imageSize: number;
  batch?: number;
  bgThresh?: number;
  /** The border rule's share (zero-shot.ts borderGroups), null or absent for the paper's threshold alone. */
  bgBorder?: number | null;
  templates?: readonly string[];
  /** Test-time views (views.ts): their scores averaged, then the background rule. Default none. */
  augment?: Augment;
  /** Group maps refined on each image's colour edges (segment/pamr.ts). Default none. */
  refine?: Refine;
  /** Each object group (of every view) also named from an image of it alone (segment/isolate.ts). Default off. */
  isolate?: boolean;
  onProgress?: (done: number) => void;
}

export interface EvalReport {
  classes: string[];
  iou: number[];
  mIoU: number;
  pixelAccuracy: number;
  images: number;
  /** Objects (a class present in a scene) segmented with IoU above 0.5 in their scene, and scenes with all of them. */
  objects: { found: number; total: number; scenesAllFound: number };
  diagnostics: GroupDiagnostics;
}

/**
 * segmentEncoded's groups of each image with every object group's scores combined with those of an image of it alone
 * (segment/isolate.ts), the images of the whole batch encoded together; backdrop: the border rule's groups (null: none).
 */
export async function isolatedGroupScores(model: GroupViTModel, images: readonly RgbImage[], e: EncodedBatch, refined: Float32Array[] | null, emb: Float32Array, numClasses: number, border: number | null): Promise<{ groupIndex: Int32Array; affinity: Float64Array; backdrop: boolean[] | null }[]> {
  const segs = images.map((_, i) => segmentEncoded(e, i, emb, numClasses, null, null, refined?.[i] ?? null));
  const G = segs[0].affinity.length / numClasses;
  const backdrops = segs.map((r) => (border === null ? null : borderGroups(r.groupIndex, e.height, e.width, G, border)));
  const affinities = await namedAlone(model, images.map((image, i) => ({ image, groupIndex: segs[i].groupIndex, affinity: segs[i].affinity, backdrop: backdrops[i] ?? new Array<boolean>(G).fill(false) })), emb, numClasses);
  return segs.map((r, i) => ({ groupIndex: r.groupIndex, affinity: affinities[i], backdrop: backdrops[i] }));
}

/** The predictions of isolatedGroupScores under the background rule (zero-shot.ts predictAt).   -> B × [H·W] */
export async function isolatedPredictions(model: GroupViTModel, images: readonly RgbImage[], e: EncodedBatch, refined: Float32Array[] | null, emb: Float32Array, numClasses: number, bgThresh: number, border: number | null): Promise<Int32Array[]> {
  const groups = await isolatedGroupScores(model, images, e, refined, emb, numClasses, border);
  return groups.map((r) => predictAt(r.groupIndex, r.affinity, numClasses, bgThresh, r.backdrop));
}

/** Zero-shot mIoU on held-out generated scenes (the eval split: seeds no training batch ever draws), background included. */
export async function evaluateShapes(model: GroupViTModel, tok: Tokenizer, o: ShapesEvalOptions): Promise<EvalReport> {
  const wasTraining = (model.visual_projection[1] as { training: boolean }).training;
  model.eval();
  await model.prepareInference();
  const data = new ShapesDataset({ seed: o.seed, split: 'eval', imageSize: o.imageSize });
  const emb = await classEmbeddings(model, tok, SHAPES, o.templates ?? ['a photo of a {}.']);
  const meter = new IoUMeter(CLASS_NAMES.length);
  const stats = new GroupStats(CLASS_NAMES.length);
  const hits = new ObjectHits(CLASS_NAMES.length);
  const batch = o.batch ?? 32;
  let margins: { sum: number; count: number }[] = [];
  for (let start = 0; start < o.count; start += batch) {
    const samples = Array.from({ length: Math.min(batch, o.count - start) }, (_, i) => data.sample(start + i));
    const bgThresh = o.bgThresh ?? DEFAULT_BG_THRESH;
    const views = testViews(o.augment ?? 'none', model.config.vision_config.patch_size);
    const refine = o.refine ?? 'none';
    const border = o.bgBorder ?? null;
    const seg = await segmentBatch(model, samples.map((s) => s.image), emb, SHAPES.length, bgThresh, border, false, refine, views.length > 1 || !!o.isolate);
    if (o.isolate && views.length === 1) seg.pred = await isolatedPredictions(model, samples.map((s) => s.image), seg.encoded!.e, seg.encoded!.refined, emb, SHAPES.length, bgThresh, border);
    // the group diagnostics describe the image as it is; the masks scored are the views' (views.ts)
    if (views.length > 1) {
      const [h, w, c] = [o.imageSize, o.imageSize, SHAPES.length + 1];
      const avgs = samples.map(() => new ViewAverage(c, h, w));
      // threshold 0: each view's background channel is its border rule alone, the threshold comes after the average
      const addViews = async (images: RgbImage[], e: EncodedBatch, refined: Float32Array[] | null, v: (typeof views)[number]) => {
        if (!o.isolate) return samples.forEach((_, i) => avgs[i].add(segmentEncoded(e, i, emb, SHAPES.length, 0, border, refined?.[i] ?? null).logits, v));
        const groups = await isolatedGroupScores(model, images, e, refined, emb, SHAPES.length, border);
        groups.forEach((r, i) => avgs[i].add(groupScores(r.groupIndex, r.affinity, SHAPES.length, r.backdrop), v));
      };
      await addViews(samples.map((s) => s.image), seg.encoded!.e, seg.encoded!.refined, views[0]);
      for (const view of views.slice(1)) {
        const images = samples.map((s) => shiftedViewImage(s.image, view));
        const e = await encodeBatch(model, images);
        await addViews(images, e, refine === 'pamr' ? await refinedGroupMaps(e, images) : null, view);
      }
      seg.pred = avgs.map((a) => argmaxChannels(a.decide(bgThresh), c, h * w));
    }
    margins = seg.margins.map((m, k) => ({ sum: m.sum + (margins[k]?.sum ?? 0), count: m.count + (margins[k]?.count ?? 0) }));
    samples.forEach((s, i) => {
      meter.add(seg.pred[i], s.mask);
      hits.add(seg.pred[i], s.mask);
      stats.add(seg.groupIndex[i], seg.groupClass[i], s.mask, seg.imageTopClass[i], seg.imageClassProbs[i]);
    });
    o.onProgress?.(start + samples.length);
  }
  if (wasTraining) model.train();
  const iou = meter.perClass();
  return { classes: [...CLASS_NAMES], iou, mIoU: meter.mean(), pixelAccuracy: meter.pixelAccuracy(), images: o.count, objects: { found: hits.found, total: hits.objects, scenesAllFound: hits.scenesAllFound }, diagnostics: { ...stats.report(), classCosine: meanClassCosine(emb, SHAPES.length), assignMargins: margins.map((m) => m.sum / Math.max(m.count, 1)) } };
}
