// Pixel-adaptive mask refinement (PAMR; Araslanov & Roth, CVPR 2020, "Single-stage semantic segmentation from image
// labels"), the refinement TCL and other caption-trained segmenters put after their coarse masks. GroupViT's groups
// come from the token grid (8×8 for the tiny preset, 28×28 for the paper's 448 windows) and are bilinearly upsampled,
// so every group boundary is a blur across a patch; PAMR moves it to the image's own colour edges by repeatedly
// replacing each pixel's maps with an affinity-weighted mean of its neighbours', the affinities from colour alone.
// pamrRefine is the float64 reference; segment, eval and calibration run pamrRefineGpu (kernels/pamr.wgsl), a batch of
// images in one command encoder: on the host a 448×448 window with 8 groups took 2.2 s.
import { UserError } from '../util/errors.js';
import { Tensor, tidyAsync } from '../tensor/tensor.js';
import { grid1d, run } from '../ops/dispatch.js';

/** An image as the refinement reads it: [height, width, 3] values, any scale. */
export interface RgbLike {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/** How the group maps meet the image's edges: 'none' (the paper: bilinear upsampling alone) or 'pamr'. */
export type Refine = 'none' | 'pamr';
export const REFINES: readonly Refine[] = ['none', 'pamr'];

/** A --refine value. */
export function parseRefine(v: string | undefined, flag = '--refine'): Refine | undefined {
  if (v === undefined) return undefined;
  if (!(REFINES as readonly string[]).includes(v)) throw new UserError(`${flag} must be one of ${REFINES.join(', ')} (got '${v}').`);
  return v as Refine;
}

export interface PamrOptions {
  /** Propagation rounds (the original: 10). */
  iterations: number;
  /** Neighbour rings: the 8 pixels at each of these distances (the original: 1, 2, 4, 8, 12, 24). */
  dilations: readonly number[];
}

export const PAMR_DEFAULTS: PamrOptions = { iterations: 10, dilations: [1, 2, 4, 8, 12, 24] };

const RING: readonly [number, number][] = [[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1]];

/**
 * The affinities of every pixel to its 8·D neighbours (borders replicated, as the original's padding):
 * a softmax over the neighbours of −mean_c |x_c − x'_c| / (0.1·σ_c), σ_c the (unbiased) standard deviation of channel
 * c over the pixel's 9·D taps (itself once per ring, as the original's per-dilation 3×3 kernels).
 *   image:[H, W, 3] bytes -> weights:[H·W, 8·D], and the neighbour index of each weight
 */
export function pamrAffinity(image: RgbLike, dilations: readonly number[]): { weights: Float64Array; neighbours: Int32Array; taps: number } {
  const { width: W, height: H, data } = image;
  const taps = RING.length * dilations.length;
  const weights = new Float64Array(H * W * taps);
  const neighbours = new Int32Array(H * W * taps);
  const clamp = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  const sum = new Float64Array(3);
  const sq = new Float64Array(3);
  const diff = new Float64Array(taps * 3);
  const scale = new Float64Array(3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      sum.fill(0);
      sq.fill(0);
      let t = 0;
      for (const d of dilations) {
        for (let c = 0; c < 3; c++) {
          const v = data[p * 3 + c];
          sum[c] += v;
          sq[c] += v * v;
        }
        for (const [dy, dx] of RING) {
          const q = clamp(y + dy * d, H - 1) * W + clamp(x + dx * d, W - 1);
          neighbours[p * taps + t] = q;
          for (let c = 0; c < 3; c++) {
            const v = data[q * 3 + c];
            sum[c] += v;
            sq[c] += v * v;
            diff[t * 3 + c] = Math.abs(data[p * 3 + c] - v);
          }
          t++;
        }
      }
      const n = taps + dilations.length;
      for (let c = 0; c < 3; c++) {
        const variance = Math.max(0, (sq[c] - (sum[c] * sum[c]) / n) / (n - 1));
        scale[c] = 1 / (1e-8 + 0.1 * Math.sqrt(variance));
      }
      let max = -Infinity;
      for (let k = 0; k < taps; k++) {
        const a = -(diff[k * 3] * scale[0] + diff[k * 3 + 1] * scale[1] + diff[k * 3 + 2] * scale[2]) / 3;
        weights[p * taps + k] = a;
        if (a > max) max = a;
      }
      let z = 0;
      for (let k = 0; k < taps; k++) z += weights[p * taps + k] = Math.exp(weights[p * taps + k] - max);
      for (let k = 0; k < taps; k++) weights[p * taps + k] /= z;
    }
  }
  return { weights, neighbours, taps };
}

function checkOptions(opts: PamrOptions): void {
  if (!Number.isInteger(opts.iterations) || opts.iterations < 0) throw new UserError(`PAMR iterations must be a whole number of at least 0 (got ${opts.iterations}).`);
  if (!opts.dilations.length || opts.dilations.some((d) => !Number.isInteger(d) || d < 1)) throw new UserError(`PAMR dilations must be whole numbers of at least 1 (got ${opts.dilations.join(', ')}).`);
}

/**
 * Refines maps at the image's resolution: each round, every pixel's C values become the affinity-weighted mean of its
 * neighbours' (not its own: the original's kernels leave the centre out).   maps:[H·W, C] -> [H·W, C]
 */
export function pamrRefine(maps: Float64Array, channels: number, image: RgbLike, opts: PamrOptions = PAMR_DEFAULTS): Float64Array {
  const n = image.width * image.height;
  if (maps.length !== n * channels) throw new Error(`pamrRefine: maps of ${maps.length} values for ${n} pixels × ${channels}`);
  checkOptions(opts);
  if (opts.iterations === 0) return Float64Array.from(maps);
  const { weights, neighbours, taps } = pamrAffinity(image, opts.dilations);
  let cur = Float64Array.from(maps);
  let next = new Float64Array(maps.length);
  for (let it = 0; it < opts.iterations; it++) {
    next.fill(0);
    for (let p = 0; p < n; p++) {
      for (let k = 0; k < taps; k++) {
        const w = weights[p * taps + k];
        const q = neighbours[p * taps + k];
        for (let c = 0; c < channels; c++) next[p * channels + c] += w * cur[q * channels + c];
      }
    }
    [cur, next] = [next, cur];
  }
  return cur;
}

/** The most dilations the kernel takes (kernels/pamr.wgsl holds one uniform slot each). */
export const PAMR_MAX_DILATIONS = 8;

/**
 * PAMR on the GPU (kernels/pamr.wgsl) for a batch of same-sized images: one affinity pass, then the rounds, in one
 * command encoder, read back once. pamrRefine above is its float64 reference.   maps:[B·H·W, C] -> [B·H·W, C]
 */
export async function pamrRefineGpu(maps: ArrayLike<number>, channels: number, images: readonly RgbLike[], opts: PamrOptions = PAMR_DEFAULTS): Promise<Float32Array> {
  const B = images.length;
  const { width: W, height: H } = images[0];
  if (images.some((im) => im.width !== W || im.height !== H)) throw new Error('pamrRefineGpu: the images of a batch share one size');
  if (maps.length !== B * H * W * channels) throw new Error(`pamrRefineGpu: maps of ${maps.length} values for ${B}·${H}·${W} pixels × ${channels}`);
  checkOptions(opts);
  if (opts.dilations.length > PAMR_MAX_DILATIONS) throw new UserError(`PAMR takes at most ${PAMR_MAX_DILATIONS} dilations (got ${opts.dilations.length}).`);
  if (opts.iterations === 0) return Float32Array.from(maps);
  const pixels = new Float32Array(B * H * W * 3);
  images.forEach((im, b) => pixels.set(Float32Array.from(im.data), b * H * W * 3));
  const d = [...opts.dilations, ...new Array(PAMR_MAX_DILATIONS - opts.dilations.length).fill(1)];
  const uniforms = [B, H, W, channels, opts.dilations.length, ...d];
  const taps = 8 * opts.dilations.length;
  return tidyAsync(async () => {
    const image = Tensor.fromArray(pixels, [B * H * W, 3]);
    const aff = Tensor.empty([B * H * W, taps]);
    let cur = Tensor.fromArray(maps, [B * H * W, channels]);
    let next = Tensor.empty([B * H * W, channels]);
    run({ file: 'pamr', entry: 'pamr_affinity', uniforms, buffers: [image.buffer, aff.buffer, null, null], workgroups: grid1d(B * H * W, 64) });
    for (let it = 0; it < opts.iterations; it++) {
      run({ file: 'pamr', entry: 'pamr_step', uniforms, buffers: [null, aff.buffer, cur.buffer, next.buffer], workgroups: grid1d(B * H * W * channels, 64) });
      [cur, next] = [next, cur];
    }
    return cur.toArray();
  });
}
