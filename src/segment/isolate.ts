// Naming a final group from an image of it alone. The tiny models' group tokens name a group worse than the pooled
// embedding names a scene of one object: in scenes of several objects each group's token carries the scene as much
// as its own object (README, Training, eighteenth session). So each object group's pixels are cut out onto the
// backdrop's mean colour, the image encoded again, and its pooled embedding's class probabilities are combined with
// the group's own scores (their geometric mean). The group's mask is first grown through the pixels of its colour:
// the token grid's maps are coarse (8×8 pixels a token here), and a shape cut along them is named worse.
import type { RgbImage } from '../io/image.js';
import { normalizeRows, softmaxRow } from './zero-shot.js';
import type { GroupViTModel } from '../model/groupvit.js';
import { encodeBatch } from '../train/evaluate.js';

/** A pixel joins a grown group when nearer the group's mean colour than the backdrop's and within this RGB distance of it. */
export const GROW_MAX_DISTANCE = 70;

/** The mean RGB colour of the pixels whose group is flagged (all pixels when none is). */
function meanColour(image: RgbImage, groupIndex: Int32Array, flagged: (g: number) => boolean): [number, number, number] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let p = 0; p < groupIndex.length; p++) {
    if (!flagged(groupIndex[p])) continue;
    for (let c = 0; c < 3; c++) sum[c] += image.data[p * 3 + c];
    n++;
  }
  if (!n) return meanColour(image, groupIndex, () => true);
  return [sum[0] / n, sum[1] / n, sum[2] / n];
}

/**
 * The group's pixels, grown through 4-connected pixels nearer its mean colour than the backdrop colour and within
 * GROW_MAX_DISTANCE of it (the group's own pixels of another colour are left out).   groupIndex:[H·W] -> [H·W] 0/1
 */
export function grownGroupMask(image: RgbImage, groupIndex: Int32Array, group: number, backdrop: readonly number[]): Uint8Array {
  const { width: w, height: h, data } = image;
  const own = meanColour(image, groupIndex, (g) => g === group);
  const d2 = (p: number, c: readonly number[]) => (data[p * 3] - c[0]) ** 2 + (data[p * 3 + 1] - c[1]) ** 2 + (data[p * 3 + 2] - c[2]) ** 2;
  const like = (p: number) => d2(p, own) < d2(p, backdrop) && d2(p, own) < GROW_MAX_DISTANCE ** 2;
  const keep = new Uint8Array(w * h);
  const stack: number[] = [];
  for (let p = 0; p < w * h; p++) {
    if (groupIndex[p] === group && like(p)) {
      keep[p] = 1;
      stack.push(p);
    }
  }
  while (stack.length) {
    const p = stack.pop()!;
    const y = Math.floor(p / w);
    const x = p - y * w;
    for (const [yy, xx] of [[y + 1, x], [y - 1, x], [y, x + 1], [y, x - 1]]) {
      if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
      const q = yy * w + xx;
      if (!keep[q] && like(q)) {
        keep[q] = 1;
        stack.push(q);
      }
    }
  }
  return keep;
}

/**
 * One image per object group (every group that owns a pixel and is not a backdrop group): its grown mask kept, every
 * other pixel painted the backdrop groups' mean colour.   groupIndex:[H·W], backdrop:[G] -> the groups and their images
 */
export function isolatedGroupImages(image: RgbImage, groupIndex: Int32Array, backdrop: readonly boolean[]): { groups: number[]; images: RgbImage[] } {
  const fill = meanColour(image, groupIndex, (g) => backdrop[g]);
  const owned = new Set(groupIndex);
  const groups = [...owned].filter((g) => !backdrop[g]).sort((a, b) => a - b);
  const images = groups.map((g) => {
    const keep = grownGroupMask(image, groupIndex, g, fill);
    const data = new Uint8Array(image.data);
    for (let p = 0; p < keep.length; p++) if (!keep[p]) for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.round(fill[c]);
    return { width: image.width, height: image.height, data };
  });
  return { groups, images };
}

/** softmax over classes of scale · cos(embedding, class): the pooled embedding's class probabilities.   embed:[P], classEmb:[K, P] -> [K] */
export function classProbabilities(embed: ArrayLike<number>, classEmb: ArrayLike<number>, numClasses: number, scale: number): Float64Array {
  const p = embed.length;
  const z = normalizeRows(embed, 1, p);
  return softmaxRow(Float64Array.from({ length: numClasses }, (_, k) => {
    let dot = 0;
    for (let i = 0; i < p; i++) dot += z[i] * classEmb[k * p + i];
    return scale * dot;
  }));
}

/** The group–class scores with each isolated group's row the geometric mean of its own and its image's probabilities.   affinity:[G, K] -> [G, K] */
export function withIsolatedNames(affinity: Float64Array, numClasses: number, groups: readonly number[], probs: readonly Float64Array[]): Float64Array {
  const out = Float64Array.from(affinity);
  groups.forEach((g, i) => {
    for (let k = 0; k < numClasses; k++) out[g * numClasses + k] = Math.sqrt(affinity[g * numClasses + k] * probs[i][k]);
  });
  return out;
}

/**
 * A view's [K+1, H·W] scores from its groups, as zeroShotSegment's with threshold 0: the background channel 1 on the
 * backdrop groups' pixels (none when null), the classes' channels each pixel's group's scores (views.ts averages them).
 */
export function groupScores(groupIndex: Int32Array, affinity: Float64Array, numClasses: number, backdrop: readonly boolean[] | null): Float64Array {
  const n = groupIndex.length;
  const out = new Float64Array((numClasses + 1) * n);
  for (let p = 0; p < n; p++) {
    const g = groupIndex[p];
    out[p] = backdrop?.[g] ? 1 : 0;
    for (let k = 0; k < numClasses; k++) out[(k + 1) * n + p] = affinity[g * numClasses + k];
  }
  return out;
}

/** One segmented image as isolation reads it: its pixels, each pixel's final group, the groups' scores, the backdrop groups. */
export interface GroupedImage {
  image: RgbImage;
  groupIndex: Int32Array;
  /** [G, K] */
  affinity: Float64Array;
  backdrop: readonly boolean[];
}

/**
 * Each image's group–class scores with every object group's row combined with the class probabilities of an image of
 * it alone, all the cut-out images encoded in batches of 64.   -> per image [G, K]
 */
export async function namedAlone(model: GroupViTModel, items: readonly GroupedImage[], classEmb: Float32Array, numClasses: number): Promise<Float64Array[]> {
  const cut = items.map((it) => isolatedGroupImages(it.image, it.groupIndex, it.backdrop));
  const all = cut.flatMap((c) => c.images);
  const probs: Float64Array[] = [];
  const CHUNK = 64;
  for (let start = 0; start < all.length; start += CHUNK) {
    const enc = await encodeBatch(model, all.slice(start, start + CHUNK));
    const p = enc.embeds.length / enc.size;
    for (let j = 0; j < enc.size; j++) probs.push(classProbabilities(enc.embeds.subarray(j * p, (j + 1) * p), classEmb, numClasses, enc.logitScale));
  }
  let next = 0;
  return items.map((it, i) => withIsolatedNames(it.affinity, numClasses, cut[i].groups, probs.slice(next, (next += cut[i].groups.length))));
}
