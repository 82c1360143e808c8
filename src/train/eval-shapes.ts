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
import { classProbabilities, isolatedGroupImages, withIsolatedNames } from '../segment/isolate.js';
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
  /** Each object group also named from an image of it alone (segment/isolate.ts); with the image alone only. */
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
 * The predictions of segmentEncoded with every object group's scores combined with those of an image of it alone
 * (segment/isolate.ts), the images of the whole batch encoded together.   -> B × [H·W]
 */
export async function isolatedPredictions(model: GroupViTModel, images: readonly RgbImage[], e: EncodedBatch, refined: Float32Array[] | null, emb: Float32Array, numClasses: number, bgThresh: number, border: number | null): Promise<Int32Array[]> {
  const segs = images.map((_, i) => segmentEncoded(e, i, emb, numClasses, bgThresh, border, refined?.[i] ?? null));
  const G = segs[0].affinity.length / numClasses;
  const backdrops = segs.map((r) => (border === null ? null : borderGroups(r.groupIndex, e.height, e.width, G, border)));
  const cut = images.map((img, i) => isolatedGroupImages(img, segs[i].groupIndex, backdrops[i] ?? new Array<boolean>(G).fill(false)));
  const all = cut.flatMap((c) => c.images);
  const probs: Float64Array[] = [];
  const CHUNK = 64;
  for (let start = 0; start < all.length; start += CHUNK) {
    const enc = await encodeBatch(model, all.slice(start, start + CHUNK));
    const p = enc.embeds.length / enc.size;
    for (let j = 0; j < enc.size; j++) probs.push(classProbabilities(enc.embeds.subarray(j * p, (j + 1) * p), emb, numClasses, enc.logitScale));
  }
  let next = 0;
  return segs.map((r, i) => {
    const mine = probs.slice(next, (next += cut[i].groups.length));
    return predictAt(r.groupIndex, withIsolatedNames(r.affinity, numClasses, cut[i].groups, mine), numClasses, bgThresh, backdrops[i]);
  });
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
    if (o.isolate && views.length > 1) throw new Error('evaluateShapes: isolated naming works on the image alone, not with test-time views');
    const seg = await segmentBatch(model, samples.map((s) => s.image), emb, SHAPES.length, bgThresh, border, false, refine, views.length > 1 || !!o.isolate);
    if (o.isolate) seg.pred = await isolatedPredictions(model, samples.map((s) => s.image), seg.encoded!.e, seg.encoded!.refined, emb, SHAPES.length, bgThresh, border);
    // the group diagnostics describe the image as it is; the masks scored are the views' (views.ts)
    if (views.length > 1) {
      const [h, w, c] = [o.imageSize, o.imageSize, SHAPES.length + 1];
      const avgs = samples.map(() => new ViewAverage(c, h, w));
      // threshold 0: each view's background channel is its border rule alone, the threshold comes after the average
      const addViews = (e: EncodedBatch, refined: Float32Array[] | null, v: (typeof views)[number]) =>
        samples.forEach((_, i) => avgs[i].add(segmentEncoded(e, i, emb, SHAPES.length, 0, border, refined?.[i] ?? null).logits, v));
      addViews(seg.encoded!.e, seg.encoded!.refined, views[0]);
      for (const view of views.slice(1)) {
        const images = samples.map((s) => shiftedViewImage(s.image, view));
        const e = await encodeBatch(model, images);
        addViews(e, refine === 'pamr' ? await refinedGroupMaps(e, images) : null, view);
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
