import { Tensor, tidyAsync } from '../tensor/tensor.js';
import { noGrad, noGradAsync } from '../tensor/tape.js';
import type { GroupViTModel } from '../model/groupvit.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import { fillTemplate } from '../data/templates.js';
import { normalizeImages } from '../io/normalize-pixels.js';
import type { RgbImage } from '../io/image.js';
import { meanOverTemplates, upsampledGroupMap, zeroShotSegment } from '../segment/zero-shot.js';
import { assignmentMarginSum } from '../segment/group-stats.js';
import { pamrRefineGpu, type Refine } from '../segment/pamr.js';

/** L2-normalised class embeddings [K, P]: the mean over templates of the projected text, then normalised (§2.2). */
export async function classEmbeddings(model: GroupViTModel, tok: Tokenizer, classes: readonly string[], templates: readonly string[]): Promise<Float32Array> {
  const l = tok.contextLength;
  const ids = new Int32Array(classes.length * templates.length * l);
  classes.forEach((c, k) => templates.forEach((t, j) => ids.set(tok.encode(fillTemplate(t, c)), (k * templates.length + j) * l)));
  const raw = await tidyAsync(async () => noGrad(() => model.encodeText(ids, classes.length * templates.length)).toArray());
  return meanOverTemplates(raw, classes.length, templates.length);
}

export interface SegmentedBatch {
  pred: Int32Array[];
  groupIndex: Int32Array[];
  /** Each final group's best class k, before the background rule. */
  groupClass: Int32Array[];
  /** The class k the pooled image embedding scores highest. */
  imageTopClass: number[];
  /** The pooled image embedding's probability of every class k. */
  imageClassProbs: Float64Array[];
  /** Per grouping stage: Σ over the batch's tokens of the log-ratio of their two best soft assignments, and the count. */
  margins: { sum: number; count: number }[];
  /** Each image's [C, H, W] scores (zeroShotSegment's logits), when asked for. */
  logits?: Float64Array[];
  /** The forward pass and the refined group maps the batch was segmented from, when asked for (more rules or views). */
  encoded?: { e: EncodedBatch; refined: Float32Array[] | null };
}

function argmaxRows(x: ArrayLike<number>, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 1; c < cols; c++) if (x[r * cols + c] > x[r * cols + out[r]]) out[r] = c;
  return out;
}

/** What one forward of the image encoder leaves on the host for zero-shot segmentation of its images. */
export interface EncodedBatch {
  size: number;
  height: number;
  width: number;
  softs: Float32Array[];
  shapes: [number, number][];
  /** The token grid (rows, columns) the image tower saw. */
  grid: [number, number];
  groups: Float32Array;
  embeds: Float32Array;
  logitScale: number;
}

/** Same-sized images through the image encoder in one forward (whole mode), read back for segmentation. */
export async function encodeBatch(model: GroupViTModel, images: RgbImage[]): Promise<EncodedBatch> {
  const b = images.length;
  const [h, w] = [images[0].height, images[0].width];
  return tidyAsync(async () => {
    const pixels = Tensor.fromArray(normalizeImages(images), [b, 3, h, w]);
    const img = await noGradAsync(() => model.encodeImage(pixels));
    return {
      size: b, height: h, width: w,
      softs: await Promise.all(img.assignments.map((a) => a.soft.toArray())),
      shapes: img.assignments.map((a) => [a.soft.shape[1], a.soft.shape[2]] as [number, number]),
      grid: img.grid,
      groups: await img.groupEmbedsUnnorm.toArray(),
      embeds: await img.embedsUnnorm.toArray(),
      logitScale: model.logitScale,
    };
  });
}

/** Image i of an encoded batch through the zero-shot pipeline (zero-shot.ts) with these class embeddings and threshold. */
export function segmentEncoded(e: EncodedBatch, i: number, classEmb: Float32Array, numClasses: number, bgThresh: number | null, bgBorder: number | null = null, groupMap: ArrayLike<number> | null = null) {
  const p = e.embeds.length / e.size;
  const g = e.groups.length / (e.size * p);
  return zeroShotSegment({
    softs: softsOf(e, i),
    softShapes: e.shapes,
    groupEmbeds: e.groups.subarray(i * g * p, (i + 1) * g * p),
    imageEmbed: e.embeds.subarray(i * p, (i + 1) * p),
    classEmbeds: classEmb, numClasses, logitScale: e.logitScale, height: e.height, width: e.width, bgThresh, bgBorder,
    groupMap: groupMap ?? undefined,
  });
}

function softsOf(e: EncodedBatch, i: number): Float32Array[] {
  return e.softs.map((s, k) => s.subarray(i * e.shapes[k][0] * e.shapes[k][1], (i + 1) * e.shapes[k][0] * e.shapes[k][1]));
}

/** Each image's final group maps refined on its colour edges (segment/pamr.ts), all in one GPU pass.   -> B × [H·W, G] */
export async function refinedGroupMaps(e: EncodedBatch, images: readonly RgbImage[]): Promise<Float32Array[]> {
  const maps = images.map((_, i) => upsampledGroupMap({ softs: softsOf(e, i), softShapes: e.shapes, height: e.height, width: e.width }));
  const G = maps[0].groups;
  const all = new Float32Array(images.length * e.height * e.width * G);
  maps.forEach((m, i) => all.set(m.groupMap, i * m.groupMap.length));
  const out = await pamrRefineGpu(all, G, images);
  return maps.map((m, i) => out.subarray(i * m.groupMap.length, (i + 1) * m.groupMap.length));
}

/**
 * Zero-shot segmentation of same-sized images in one forward (whole mode): predictions 0 = background, k+1 = class k.
 * refine 'pamr': the group maps follow each image's colour edges (segment/pamr.ts).
 */
export async function segmentBatch(model: GroupViTModel, images: RgbImage[], classEmb: Float32Array, numClasses: number, bgThresh: number | null, bgBorder: number | null = null, keepLogits = false, refine: Refine = 'none', keepEncoded = false): Promise<SegmentedBatch> {
  const e = await encodeBatch(model, images);
  const g = e.groups.length / e.embeds.length;
  const refined = refine === 'pamr' ? await refinedGroupMaps(e, images) : null;
  const margins = e.softs.map((s, k) => assignmentMarginSum(s, e.size, e.shapes[k][0], e.shapes[k][1]));
  const out: SegmentedBatch = { pred: [], groupIndex: [], groupClass: [], imageTopClass: [], imageClassProbs: [], margins, logits: keepLogits ? [] : undefined, encoded: keepEncoded ? { e, refined } : undefined };
  for (let i = 0; i < e.size; i++) {
    const seg = segmentEncoded(e, i, classEmb, numClasses, bgThresh, bgBorder, refined?.[i] ?? null);
    out.logits?.push(seg.logits);
    out.pred.push(bgThresh === null ? seg.pred.map((v) => v + 1) : seg.pred);
    out.groupIndex.push(seg.groupIndex);
    out.groupClass.push(argmaxRows(seg.affinity, g, numClasses));
    out.imageTopClass.push(argmaxRows(seg.imageClassProbs, 1, numClasses)[0]);
    out.imageClassProbs.push(seg.imageClassProbs);
  }
  return out;
}

export { IoUMeter } from '../segment/iou.js';
