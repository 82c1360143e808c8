// Test-time views and how their segmentations are combined. A view is a symmetry of the square (dihedral.ts) and,
// with '+shift', the same view moved down and right by half a patch (its edge reflected in): the patch grid then cuts
// the scene elsewhere, so the grouping and the names it gives differ as much as under a turn. The views' group–class
// scores are averaged per pixel; a pixel is background when most of the views that see it put it in a backdrop group
// (the border rule) or when its best averaged score is under the threshold. The threshold is applied once, to the
// average, because a small model's per-view scores are noisy: averaging the 0/1 background calls with the scores
// (mmseg's way, right for logits) lets three background calls of eight outvote a class every view agrees on.
import { newImage, type RgbImage } from '../io/image.js';
import { symmetries, viewImage, viewIndex, viewSize, type Augment, type Symmetry } from './dihedral.js';

/** A symmetry of the square, then a shift of `shift` pixels down and right in the view's own frame (0: none). */
export interface View extends Symmetry {
  shift: number;
}

/**
 * The views of an augmentation: its symmetries, and with '+shift' each of them again moved by half a patch (the model's
 * patch size in the pixels it sees), the image itself first.
 */
export function testViews(augment: Augment, patchSize: number): View[] {
  const base = symmetries(augment).map((s) => ({ ...s, shift: 0 }));
  if (!augment.endsWith('+shift')) return base;
  const shift = Math.max(1, Math.floor(patchSize / 2));
  return [...base, ...base.map((s) => ({ ...s, shift }))];
}

/** The view's picture: the symmetry's, moved by the shift, the uncovered top and left rows mirrored in from the edge. */
export function shiftedViewImage(img: RgbImage, v: View): RgbImage {
  const turned = viewImage(img, v);
  if (v.shift === 0) return turned;
  const { width: w, height: h } = turned;
  const out = newImage(w, h);
  const reflect = (i: number, n: number) => Math.min(Math.max(i < 0 ? -i - 1 : i, 0), n - 1);
  for (let y = 0; y < h; y++) {
    const sy = reflect(y - v.shift, h);
    for (let x = 0; x < w; x++) {
      const sx = reflect(x - v.shift, w);
      out.data.set(turned.data.subarray((sy * w + sx) * 3, (sy * w + sx) * 3 + 3), (y * w + x) * 3);
    }
  }
  return out;
}

/**
 * For each pixel of the h×w image, its index in the view's h'×w' picture, or -1 where the shift moved it out of the
 * picture (the view does not see it).   -> [h·w]
 */
export function shiftedViewIndex(v: View, h: number, w: number): Int32Array {
  const index = viewIndex(v, h, w);
  if (v.shift === 0) return index;
  const [vh, vw] = viewSize(v, h, w);
  return index.map((i) => {
    const y = Math.floor(i / vw) + v.shift;
    const x = (i % vw) + v.shift;
    return y < vh && x < vw ? y * vw + x : -1;
  });
}

// every image of a batch is mapped back through the same few views: their indices are made once
const INDEX_CACHE = new Map<string, Int32Array>();
function cachedIndex(v: View, h: number, w: number): Int32Array {
  const key = `${+v.mirror}/${v.turns}/${v.shift}/${h}/${w}`;
  let index = INDEX_CACHE.get(key);
  if (!index) {
    if (INDEX_CACHE.size > 256) INDEX_CACHE.clear();
    index = shiftedViewIndex(v, h, w);
    INDEX_CACHE.set(key, index);
  }
  return index;
}

/**
 * The per-pixel mean of the views' scores ([K+1, h, w] each, background first: 1 where the view's border rule made the
 * pixel's group a backdrop group, else 0; then the K group–class scores), over the views that see the pixel.
 */
export class ViewAverage {
  private readonly sum: Float64Array;
  private readonly seen: Float64Array;

  constructor(readonly channels: number, readonly height: number, readonly width: number) {
    this.sum = new Float64Array(channels * height * width);
    this.seen = new Float64Array(height * width);
  }

  /** Adds one view's [C, vh, vw] scores, mapped back onto the image. */
  add(scores: ArrayLike<number>, v: View): void {
    const n = this.height * this.width;
    const index = cachedIndex(v, this.height, this.width);
    const vn = scores.length / this.channels;
    for (let p = 0; p < n; p++) {
      const i = index[p];
      if (i < 0) continue;
      this.seen[p]++;
      for (let c = 0; c < this.channels; c++) this.sum[c * n + p] += scores[c * vn + i];
    }
  }

  /**
   * [C, h, w] scores whose argmax is the decision (background first, winning ties): the background channel 1 where
   * at least half the views saw a backdrop or the best mean class score is under bgThresh, else 0; the classes' mean
   * scores. A pixel no view saw is background.
   */
  decide(bgThresh: number): Float64Array {
    const C = this.channels;
    const n = this.height * this.width;
    const out = new Float64Array(C * n);
    for (let p = 0; p < n; p++) {
      const seen = this.seen[p];
      let best = 0;
      for (let c = 1; c < C; c++) {
        const v = seen ? this.sum[c * n + p] / seen : 0;
        out[c * n + p] = v;
        best = Math.max(best, v);
      }
      out[p] = !seen || this.sum[p] / seen >= 0.5 || best < bgThresh || !(best > 0) ? 1 : 0;
    }
    return out;
  }
}
