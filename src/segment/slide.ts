// The host-side geometry of zero-shot segmentation, kept free of the GPU so it can be checked by hand: the resize
// rule of the mmseg test pipeline, mmseg's sliding-window inference (EncoderDecoder.slide_inference: windows clamped
// to the image, per-window class scores summed into a canvas and divided by the number of windows covering each
// pixel), and the final bilinear resize of the scores to the original image size followed by an argmax, streamed
// row by row so that a large photo never needs a [C, H, W] array at full resolution.

/** One window: rows y1..y2-1 and columns x1..x2-1 of the (resized) image. */
export interface Window {
  y1: number;
  y2: number;
  x1: number;
  x2: number;
}

/**
 * mmseg's sliding windows over an h×w image: `n = max(h - crop + stride - 1, 0) // stride + 1` per axis, each window
 * clamped into the image (`y1 = max(min(y1 + crop, h) - crop, 0)`), so an image smaller than the crop is one window.
 */
export function slideWindows(h: number, w: number, crop: [number, number], stride: [number, number]): Window[] {
  const [ch, cw] = crop;
  const [sh, sw] = stride;
  if (!(ch > 0 && cw > 0 && sh > 0 && sw > 0)) throw new RangeError(`bad crop ${ch}x${cw} or stride ${sh}x${sw}`);
  const ny = Math.floor(Math.max(h - ch + sh - 1, 0) / sh) + 1;
  const nx = Math.floor(Math.max(w - cw + sw - 1, 0) / sw) + 1;
  const out: Window[] = [];
  for (let iy = 0; iy < ny; iy++) {
    for (let ix = 0; ix < nx; ix++) {
      let y1 = iy * sh;
      let x1 = ix * sw;
      const y2 = Math.min(y1 + ch, h);
      const x2 = Math.min(x1 + cw, w);
      y1 = Math.max(y2 - ch, 0);
      x1 = Math.max(x2 - cw, 0);
      out.push({ y1, y2, x1, x2 });
    }
  }
  return out;
}

/** Class scores of one window, [C, h, w] row-major with h = y2 - y1 and w = x2 - x1. */
export type WindowScorer = (win: Window, index: number) => Promise<ArrayLike<number>>;

/**
 * Runs `score` on every window and averages: canvas[c, y, x] = Σ over windows covering (y, x) of the window's score,
 * divided by how many windows cover it. Returns the [C, h, w] averaged scores (float32, like the reference's tensors).
 */
export async function slideInference(h: number, w: number, channels: number, windows: readonly Window[], score: WindowScorer): Promise<Float32Array> {
  const sum = new Float64Array(channels * h * w);
  const count = new Uint16Array(h * w);
  for (let i = 0; i < windows.length; i++) {
    const win = windows[i];
    const wh = win.y2 - win.y1;
    const ww = win.x2 - win.x1;
    const s = await score(win, i);
    if (s.length !== channels * wh * ww) throw new Error(`window ${i} scored ${s.length} values, ${channels}x${wh}x${ww} expected`);
    for (let y = 0; y < wh; y++) {
      const row = (win.y1 + y) * w + win.x1;
      for (let x = 0; x < ww; x++) count[row + x]++;
      for (let c = 0; c < channels; c++) {
        const dst = c * h * w + row;
        const src = (c * wh + y) * ww;
        for (let x = 0; x < ww; x++) sum[dst + x] += s[src + x];
      }
    }
  }
  const out = new Float32Array(channels * h * w);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < h * w; p++) {
      if (count[p] === 0) throw new Error(`pixel ${p % w},${Math.floor(p / w)} is covered by no window`);
      out[c * h * w + p] = sum[c * h * w + p] / count[p];
    }
  }
  return out;
}

/** Bilinear taps with half-pixel centres (F.interpolate, align_corners=False; the left edge clamped). */
export function bilinearTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; l: Float64Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const s = Math.max((o + 0.5) * scale - 0.5, 0);
    i0[o] = Math.min(Math.floor(s), inSize - 1);
    i1[o] = Math.min(i0[o] + 1, inSize - 1);
    l[o] = s - i0[o];
  }
  return { i0, i1, l };
}

/** Bilinear resize of [C, h, w] scores to [C, oh, ow] (used for small maps only). */
export function resizeScores(src: ArrayLike<number>, channels: number, h: number, w: number, oh: number, ow: number): Float32Array {
  const out = new Float32Array(channels * oh * ow);
  const ty = bilinearTaps(h, oh);
  const tx = bilinearTaps(w, ow);
  for (let c = 0; c < channels; c++) {
    const base = c * h * w;
    for (let y = 0; y < oh; y++) {
      const r0 = base + ty.i0[y] * w;
      const r1 = base + ty.i1[y] * w;
      const ly = ty.l[y];
      for (let x = 0; x < ow; x++) {
        const lx = tx.l[x];
        const a = src[r0 + tx.i0[x]] * (1 - lx) + src[r0 + tx.i1[x]] * lx;
        const b = src[r1 + tx.i0[x]] * (1 - lx) + src[r1 + tx.i1[x]] * lx;
        out[(c * oh + y) * ow + x] = a * (1 - ly) + b * ly;
      }
    }
  }
  return out;
}

export interface LabelResult {
  /** [oh·ow] the winning channel per pixel (first channel on ties, as torch.argmax). */
  pred: Uint8Array;
  /** Pixels per channel. */
  pixels: Float64Array;
  /** Sum over each channel's pixels of that channel's score (divide by pixels for the mean score). */
  scoreSum: Float64Array;
}

/**
 * Resizes [C, h, w] scores bilinearly to oh×ow and takes the argmax per pixel, one output row at a time (mmseg's
 * resize of seg_logit to the original shape, then argmax; the softmax between them changes no argmax).
 */
export function resizeArgmax(scores: ArrayLike<number>, channels: number, h: number, w: number, oh: number, ow: number): LabelResult {
  if (channels > 256) throw new RangeError(`${channels} channels do not fit a byte label map`);
  const pred = new Uint8Array(oh * ow);
  const pixels = new Float64Array(channels);
  const scoreSum = new Float64Array(channels);
  const ty = bilinearTaps(h, oh);
  const tx = bilinearTaps(w, ow);
  const best = new Float64Array(ow);
  const arg = new Uint8Array(ow);
  for (let y = 0; y < oh; y++) {
    best.fill(-Infinity);
    arg.fill(0);
    const ly = ty.l[y];
    for (let c = 0; c < channels; c++) {
      const r0 = c * h * w + ty.i0[y] * w;
      const r1 = c * h * w + ty.i1[y] * w;
      for (let x = 0; x < ow; x++) {
        const lx = tx.l[x];
        const a = scores[r0 + tx.i0[x]] * (1 - lx) + scores[r0 + tx.i1[x]] * lx;
        const b = scores[r1 + tx.i0[x]] * (1 - lx) + scores[r1 + tx.i1[x]] * lx;
        const v = a * (1 - ly) + b * ly;
        if (v > best[x]) {
          best[x] = v;
          arg[x] = c;
        }
      }
    }
    for (let x = 0; x < ow; x++) {
      pred[y * ow + x] = arg[x];
      pixels[arg[x]]++;
      scoreSum[arg[x]] += best[x];
    }
  }
  return { pred, pixels, scoreSum };
}

/** Nearest-neighbour resize (PIL NEAREST's sampling) of an integer label map. */
export function resizeNearest(labels: Int32Array, h: number, w: number, oh: number, ow: number): Int32Array {
  const out = new Int32Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / oh));
    for (let x = 0; x < ow; x++) out[y * ow + x] = labels[sy * w + Math.min(w - 1, Math.floor(((x + 0.5) * w) / ow))];
  }
  return out;
}

/**
 * The groups of overlapping windows are different groups, so they cannot be averaged: each pixel takes its group
 * from the window whose centre is nearest (ties: the first window), labelled window·G + group.
 */
export class GroupCanvas {
  readonly labels: Int32Array;
  private readonly dist: Float64Array;

  constructor(readonly h: number, readonly w: number) {
    this.labels = new Int32Array(h * w).fill(-1);
    this.dist = new Float64Array(h * w).fill(Infinity);
  }

  add(win: Window, index: number, groupsPerWindow: number, groupIndex: ArrayLike<number>): void {
    const wh = win.y2 - win.y1;
    const ww = win.x2 - win.x1;
    const cy = (win.y1 + win.y2 - 1) / 2;
    const cx = (win.x1 + win.x2 - 1) / 2;
    for (let y = 0; y < wh; y++) {
      for (let x = 0; x < ww; x++) {
        const p = (win.y1 + y) * this.w + win.x1 + x;
        const d = Math.max(Math.abs(win.y1 + y - cy), Math.abs(win.x1 + x - cx));
        if (d < this.dist[p]) {
          this.dist[p] = d;
          this.labels[p] = index * groupsPerWindow + groupIndex[y * ww + x];
        }
      }
    }
  }
}

/**
 * The resized size of an image for the model, as mmcv's rescale with keep_ratio: scale = min(short/shortSide,
 * long/longSide), each side int(x·scale + 0.5), and never under `minSide` (the patch size: a thinner image has no
 * patch row).
 */
export function rescaleSize(width: number, height: number, short: number, long: number, minSide = 1): [number, number] {
  const s = Math.min(short / Math.min(width, height), long / Math.max(width, height));
  return [Math.max(minSide, Math.floor(width * s + 0.5)), Math.max(minSide, Math.floor(height * s + 0.5))];
}
