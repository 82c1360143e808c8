// Training augmentation: random resized crop then horizontal flip, seeded, following torchvision's
// RandomResizedCrop sampling. The paper uses scale (0.08, 1) on 224-pixel crops of photos; the default here is
// (0.5, 1) because tiny generated scenes cropped to 8% would lose their objects. The evaluation transform is the
// deterministic resize-shorter-side then centre crop.
import { cropImage, flipHorizontal, type RgbImage } from '../io/image.js';
import { resizeBilinear, resizeShortSide } from '../io/resize.js';
import type { Random } from '../util/random.js';

export interface CropBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface AugmentOptions {
  /** Output side (square). */
  size: number;
  /** Range of the crop's area as a fraction of the image's. */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio (width / height), sampled log-uniformly. */
  ratio?: readonly [number, number];
  /** Probability of a horizontal flip. */
  flip?: number;
}

/** torchvision's RandomResizedCrop.get_params: ten tries at a random box, then a centre crop clamped to the ratio. */
export function sampleCropBox(width: number, height: number, rng: Random, scale: readonly [number, number] = [0.5, 1], ratio: readonly [number, number] = [3 / 4, 4 / 3]): CropBox {
  const area = width * height;
  const [logLo, logHi] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { x: rng.intIn(0, width - w), y: rng.intIn(0, height - h), w, h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = Math.round(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = Math.round(h * Math.max(...ratio));
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), w, h };
}

export function randomResizedCrop(img: RgbImage, rng: Random, size: number, scale?: readonly [number, number], ratio?: readonly [number, number]): RgbImage {
  const b = sampleCropBox(img.width, img.height, rng, scale, ratio);
  return resizeBilinear(cropImage(img, b.x, b.y, b.w, b.h), size, size);
}

/** The training transform: random resized crop to size×size, then a flip with probability `flip` (0.5). */
export function augmentImage(img: RgbImage, rng: Random, opts: AugmentOptions): RgbImage {
  const out = randomResizedCrop(img, rng, opts.size, opts.scale ?? [0.5, 1], opts.ratio ?? [3 / 4, 4 / 3]);
  return rng.chance(opts.flip ?? 0.5) ? flipHorizontal(out) : out;
}

/** The evaluation transform: shorter side to `size`, then the central size×size square. */
export function centerCropResize(img: RgbImage, size: number): RgbImage {
  const r = resizeShortSide(img, size);
  return cropImage(r, Math.floor((r.width - size) / 2), Math.floor((r.height - size) / 2), size, size);
}
