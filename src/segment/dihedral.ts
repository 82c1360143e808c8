// Test-time augmentation by the symmetries of the square: an image is segmented as it is and as some of its mirrored
// and rotated views, and each view's per-pixel scores are mapped back onto the image and averaged before the
// background rule (views.ts, which also moves the views by half a patch). The generated shapes world
// has no up or down (objects are drawn at random rotations), so all eight views are as likely as the image itself;
// photographs have a left and right only ('flip').
import { newImage, type RgbImage } from '../io/image.js';
import { UserError } from '../util/errors.js';

/** A symmetry of the square: a mirror (left ↔ right) if `mirror`, then `turns` quarter turns clockwise. */
export interface Symmetry {
  mirror: boolean;
  turns: 0 | 1 | 2 | 3;
}

/**
 * none: the image alone; flip: it and its mirror image; dihedral: all eight mirrored and rotated views; '+shift': each
 * of them also moved by half a patch (views.ts).
 */
export type Augment = 'none' | 'flip' | 'dihedral' | 'flip+shift' | 'dihedral+shift';
export const AUGMENTS: readonly Augment[] = ['none', 'flip', 'dihedral', 'flip+shift', 'dihedral+shift'];

/** The symmetries an augmentation's views are made with, the image itself first (views.ts adds the shifts). */
export function symmetries(augment: Augment): Symmetry[] {
  const all: Symmetry[] = [];
  for (const mirror of [false, true]) for (const turns of [0, 1, 2, 3] as const) all.push({ mirror, turns });
  if (augment === 'none') return all.slice(0, 1);
  if (augment === 'flip' || augment === 'flip+shift') return [all[0], all[4]];
  return all;
}

/** [height, width] of an h×w map seen through s: odd turns swap the sides. */
export function viewSize(s: Symmetry, h: number, w: number): [number, number] {
  return s.turns % 2 ? [w, h] : [h, w];
}

/** For each pixel of an h×w map (row-major), its index in the view through s.   -> [h·w] */
export function viewIndex(s: Symmetry, h: number, w: number): Int32Array {
  const index = new Int32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let [vy, vx, vh, vw] = [y, s.mirror ? w - 1 - x : x, h, w];
      // a clockwise quarter turn sends (y, x) of an vh×vw map to (x, vh − 1 − y) of a vw×vh one
      for (let t = 0; t < s.turns; t++) [vy, vx, vh, vw] = [vx, vh - 1 - vy, vw, vh];
      index[y * w + x] = vy * vw + vx;
    }
  }
  return index;
}

/** The image seen through s. */
export function viewImage(img: RgbImage, s: Symmetry): RgbImage {
  const { width: w, height: h } = img;
  const [vh, vw] = viewSize(s, h, w);
  const out = newImage(vw, vh);
  const index = viewIndex(s, h, w);
  for (let p = 0; p < h * w; p++) out.data.set(img.data.subarray(p * 3, p * 3 + 3), index[p] * 3);
  return out;
}

/** Per pixel, the channel with the highest score (the first of equals, so background on ties as in predictAt).   [C, n] -> [n] */
export function argmaxChannels(scores: ArrayLike<number>, channels: number, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    let best = scores[p];
    for (let c = 1; c < channels; c++) {
      const v = scores[c * n + p];
      if (v > best) {
        best = v;
        out[p] = c;
      }
    }
  }
  return out;
}

/** The --augment option: absent is 'none'; anything else but the three names is a UserError. */
export function parseAugment(v: string | undefined): Augment {
  if (v === undefined) return 'none';
  if ((AUGMENTS as readonly string[]).includes(v)) return v as Augment;
  throw new UserError(`--augment must be ${AUGMENTS.join(', ')}, not '${v}'.`);
}
