import { Tensor, tidyAsync } from '../tensor/tensor.js';
import { noGrad, noGradAsync } from '../tensor/tape.js';
import type { GroupViTModel } from '../model/groupvit.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import { fillTemplate } from '../data/templates.js';
import { normalizeImages } from '../io/normalize-pixels.js';
import type { RgbImage } from '../io/image.js';
import { meanOverTemplates, zeroShotSegment } from '../segment/zero-shot.js';
import { assignmentMarginSum } from '../segment/group-stats.js';

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
  /** Per grouping stage: Σ over the batch's tokens of the log-ratio of their two best soft assignments, and the count. */
  margins: { sum: number; count: number }[];
}

function argmaxRows(x: ArrayLike<number>, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 1; c < cols; c++) if (x[r * cols + c] > x[r * cols + out[r]]) out[r] = c;
  return out;
}

/** Zero-shot segmentation of same-sized images in one forward (whole mode): predictions 0 = background, k+1 = class k. */
export async function segmentBatch(model: GroupViTModel, images: RgbImage[], classEmb: Float32Array, numClasses: number, bgThresh: number | null): Promise<SegmentedBatch> {
  const b = images.length;
  const [h, w] = [images[0].height, images[0].width];
  return tidyAsync(async () => {
    const pixels = Tensor.fromArray(normalizeImages(images), [b, 3, h, w]);
    const img = await noGradAsync(() => model.encodeImage(pixels));
    const softs = await Promise.all(img.assignments.map((a) => a.soft.toArray()));
    const shapes = img.assignments.map((a) => [a.soft.shape[1], a.soft.shape[2]] as [number, number]);
    const groups = await img.groupEmbedsUnnorm.toArray();
    const embeds = await img.embedsUnnorm.toArray();
    const p = embeds.length / b;
    const g = groups.length / (b * p);
    const margins = softs.map((s, k) => assignmentMarginSum(s, b, shapes[k][0], shapes[k][1]));
    const out: SegmentedBatch = { pred: [], groupIndex: [], groupClass: [], imageTopClass: [], margins };
    for (let i = 0; i < b; i++) {
      const seg = zeroShotSegment({
        softs: softs.map((s, k) => s.subarray(i * shapes[k][0] * shapes[k][1], (i + 1) * shapes[k][0] * shapes[k][1])),
        softShapes: shapes,
        groupEmbeds: groups.subarray(i * g * p, (i + 1) * g * p),
        imageEmbed: embeds.subarray(i * p, (i + 1) * p),
        classEmbeds: classEmb, numClasses, logitScale: model.logitScale, height: h, width: w, bgThresh,
      });
      out.pred.push(bgThresh === null ? seg.pred.map((v) => v + 1) : seg.pred);
      out.groupIndex.push(seg.groupIndex);
      out.groupClass.push(argmaxRows(seg.affinity, g, numClasses));
      out.imageTopClass.push(argmaxRows(seg.imageClassProbs, 1, numClasses)[0]);
    }
    return out;
  });
}

export { IoUMeter } from '../segment/iou.js';
