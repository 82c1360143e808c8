// Pixel normalisation into the network's input tensor. NVlabs GroupViT (and mmseg at evaluation) use the ImageNet
// statistics on the 0–255 scale, not CLIP's; the fixture computes (x - mean) / std in float64 and casts to float32,
// and so do we, so pixel_values match it bit for bit.
import type { RgbImage } from './image.js';

export const IMAGENET_MEAN: readonly [number, number, number] = [123.675, 116.28, 103.53];
export const IMAGENET_STD: readonly [number, number, number] = [58.395, 57.12, 57.375];

/** Images of one size → Float32Array [N, 3, H, W] (NCHW), channel c = (x - mean[c]) / std[c]. */
export function normalizeImages(
  images: readonly RgbImage[],
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
  out?: Float32Array,
): Float32Array {
  if (images.length === 0) return out ?? new Float32Array(0);
  const { width: w, height: h } = images[0];
  const plane = w * h;
  const size = images.length * 3 * plane;
  if (out && out.length < size) throw new RangeError(`output holds ${out.length} values, ${size} needed`);
  const dst = out ?? new Float32Array(size);
  images.forEach((img, n) => {
    if (img.width !== w || img.height !== h) {
      throw new RangeError(`image ${n} is ${img.width}x${img.height}, the batch is ${w}x${h}`);
    }
    for (let c = 0; c < 3; c++) {
      const base = (n * 3 + c) * plane;
      const m = mean[c];
      const s = std[c];
      // A 256-entry table: the float64 result per byte value, rounded once to float32 on store.
      const lut = new Float64Array(256);
      for (let v = 0; v < 256; v++) lut[v] = (v - m) / s;
      for (let i = 0; i < plane; i++) dst[base + i] = lut[img.data[i * 3 + c]];
    }
  });
  return dst;
}

/** One image → Float32Array [1, 3, H, W] with the ImageNet statistics. */
export function normalizeImageNet(img: RgbImage): Float32Array {
  return normalizeImages([img]);
}
