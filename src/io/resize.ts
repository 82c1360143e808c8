// Resizing as the reference pipeline does it: bilinear with half-pixel centres and no antialiasing filter, the way
// cv2.resize(INTER_LINEAR) (mmcv's default backend) and torch's interpolate(align_corners=False) sample. Shrinking
// by large factors therefore aliases, exactly like the reference; callers who care resize in steps.
import type { RgbImage } from './image.js';

/** For each output coordinate: the two source indices and the weight of the second. */
function axisTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const f = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    // Centre of output pixel o, mapped into the source grid whose pixel centres sit at integers.
    let s = (o + 0.5) * scale - 0.5;
    if (s < 0) s = 0; // cv2 clamps the left edge, so the first pixel is copied rather than extrapolated
    let a = Math.floor(s);
    if (a >= inSize - 1) {
      a = inSize - 1;
      s = a;
    }
    i0[o] = a;
    i1[o] = Math.min(a + 1, inSize - 1);
    f[o] = s - a;
  }
  return { i0, i1, f };
}

export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  if (!(width > 0 && height > 0 && Number.isInteger(width) && Number.isInteger(height))) {
    throw new RangeError(`bad resize target ${width}x${height}`);
  }
  if (width === img.width && height === img.height) return { width, height, data: img.data.slice() };
  const xs = axisTaps(img.width, width);
  const ys = axisTaps(img.height, height);
  const src = img.data;
  const out = new Uint8Array(width * height * 3);
  const rowStride = img.width * 3;
  for (let y = 0; y < height; y++) {
    const r0 = ys.i0[y] * rowStride;
    const r1 = ys.i1[y] * rowStride;
    const fy = ys.f[y];
    for (let x = 0; x < width; x++) {
      const c0 = xs.i0[x] * 3;
      const c1 = xs.i1[x] * 3;
      const fx = xs.f[x];
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = src[r0 + c0 + c] * (1 - fx) + src[r0 + c1 + c] * fx;
        const bottom = src[r1 + c0 + c] * (1 - fx) + src[r1 + c1 + c] * fx;
        const v = top * (1 - fy) + bottom * fy;
        out[o + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      }
    }
  }
  return { width, height, data: out };
}

/**
 * Scales so the shorter side becomes `short`, keeping the aspect ratio. The longer side is truncated, as
 * torchvision's Resize(int) does, so a 640×480 image at 224 becomes 298×224.
 */
export function resizeShortSide(img: RgbImage, short: number): RgbImage {
  const { width: w, height: h } = img;
  if (w <= h) return resizeBilinear(img, short, Math.max(1, Math.floor((short * h) / w)));
  return resizeBilinear(img, Math.max(1, Math.floor((short * w) / h)), short);
}

/**
 * Nearest-neighbour resize of a one-byte-per-pixel label map (class indices must never be blended), with the
 * same half-pixel sampling as PIL's NEAREST.
 */
export function resizeNearestLabels(labels: Uint8Array, w: number, h: number, outW: number, outH: number): Uint8Array {
  const out = new Uint8Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / outH));
    for (let x = 0; x < outW; x++) {
      const sx = Math.min(w - 1, Math.floor(((x + 0.5) * w) / outW));
      out[y * outW + x] = labels[sy * w + sx];
    }
  }
  return out;
}
