// Host-side pair weights between the patches of each image, from their mean colours, for the grouping terms of
// model/losses.ts (smoothnessTerm, contrastTerm). Computed from the step's pixels, so nothing is learned from them.
import type { StepInput } from './step.js';

/** Mean colour of every patch: [B, L, C] (float64), L = gh·gw in row-major order. */
function patchColours(pixels: Float32Array, shape: readonly [number, number, number, number], gh: number, gw: number): Float64Array {
  const [b, ch, h, w] = shape;
  if (h % gh || w % gw) throw new Error(`patch weights: a ${h}×${w} image does not split into ${gh}×${gw} patches`);
  const ph = h / gh;
  const pw = w / gw;
  const l = gh * gw;
  const colour = new Float64Array(b * l * ch);
  for (let i = 0; i < b; i++) {
    for (let c = 0; c < ch; c++) {
      const plane = (i * ch + c) * h * w;
      for (let y = 0; y < h; y++) {
        const prow = i * l + Math.floor(y / ph) * gw;
        for (let x = 0; x < w; x++) colour[(prow + Math.floor(x / pw)) * ch + c] += pixels[plane + y * w + x] / (ph * pw);
      }
    }
  }
  return colour;
}

/** The 8-connected neighbour pairs of a gh×gw grid, each unordered pair once. */
function neighbourPairs(gh: number, gw: number): [number, number][] {
  const pairs: [number, number][] = [];
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      for (const [dy, dx] of [[0, 1], [1, -1], [1, 0], [1, 1]]) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy < gh && xx >= 0 && xx < gw) pairs.push([y * gw + x, yy * gw + xx]);
      }
    }
  }
  return pairs;
}

function distance2(colour: Float64Array, ch: number, t: number, u: number): number {
  let s = 0;
  for (let c = 0; c < ch; c++) s += (colour[t * ch + c] - colour[u * ch + c]) ** 2;
  return s;
}

/**
 * β = 1 / (2 · the image's mean |c_t − c_u|² over its neighbour pairs) (GrabCut's rule: the same edge counts alike
 * on a faint and a vivid image); 0 for a flat image.
 */
function contrastBeta(colour: Float64Array, ch: number, base: number, pairs: [number, number][]): number {
  let mean = 0;
  for (const [t, u] of pairs) mean += distance2(colour, ch, base + t, base + u) / pairs.length;
  return mean > 1e-12 ? 1 / (2 * mean) : 0;
}

/** What both weightings share: the patches' colours, the neighbour pairs, an output [B, L, L], and per image its β and distances. */
function pairSetup(pixels: Float32Array, shape: readonly [number, number, number, number], gh: number, gw: number) {
  const [b, ch] = shape;
  const l = gh * gw;
  const colour = patchColours(pixels, shape, gh, gw);
  const pairs = neighbourPairs(gh, gw);
  const out = new Float32Array(b * l * l);
  const each = (f: (image: number, beta: number, d2: (t: number, u: number) => number) => void) => {
    for (let i = 0; i < b; i++) f(i, contrastBeta(colour, ch, i * l, pairs), (t, u) => distance2(colour, ch, i * l + t, i * l + u));
  };
  return { l, pairs, out, each };
}

/**
 * Contrast-sensitive weights between neighbouring patches (8-connected grid), each image's weights summing to 1:
 * w_tu = exp(−β·|c_t − c_u|²) for neighbours t, u, with c a patch's mean colour (contrastBeta). Patches on either side
 * of a colour edge weigh little, patches inside a flat region weigh most.
 * pixels:[B, 3, H, W] (any per-channel affine normalisation) -> [B, L, L], L = gh·gw patches in row-major order
 */
export function patchAffinity(pixels: Float32Array, shape: readonly [number, number, number, number], gh: number, gw: number): Float32Array {
  const { l, pairs, out, each } = pairSetup(pixels, shape, gh, gw);
  each((i, beta, d2) => {
    const w = pairs.map(([t, u]) => Math.exp(-beta * d2(t, u)));
    const total = 2 * w.reduce((a, v) => a + v, 0);
    pairs.forEach(([t, u], k) => {
      out[(i * l + t) * l + u] = w[k] / total;
      out[(i * l + u) * l + t] = w[k] / total;
    });
  });
  return out;
}

/**
 * Weights between every two patches of unlike colour, each image's weights summing to 1: r_tu = 1 − exp(−β·|c_t −
 * c_u|²) (β of the image's neighbours, contrastBeta), near 1 for an object's patch against the backdrop's or another
 * object's of another colour, near 0 within a flat region. An image of one colour has none (all zero).
 * pixels:[B, 3, H, W] -> [B, L, L]
 */
export function patchRepulsion(pixels: Float32Array, shape: readonly [number, number, number, number], gh: number, gw: number): Float32Array {
  const { l, out, each } = pairSetup(pixels, shape, gh, gw);
  each((i, beta, d2) => {
    let total = 0;
    const base = i * l * l;
    for (let t = 0; t < l; t++) {
      for (let u = 0; u < l; u++) {
        if (t === u) continue;
        const r = 1 - Math.exp(-beta * d2(t, u));
        out[base + t * l + u] = r;
        total += r;
      }
    }
    if (total > 0) for (let k = 0; k < l * l; k++) out[base + k] /= total;
  });
  return out;
}

/** Which patch weights a training step needs, on the model's patch grid (train/source-spec.ts hands them to the worker). */
export interface PatchTerms {
  gridH: number;
  gridW: number;
  affinity: boolean;
  repulsion: boolean;
  /** Steps before this one have the terms off (their schedule, step.ts groupingTermWeightAt): no weights made. */
  fromStep: number;
  /** The grounded noun loss's colour weights (train/colour-grounding.ts) are made from this step on (absent: never). */
  groundingFrom?: number;
}

/**
 * The batch with its patch weights attached. They depend on the pixels only, so the data worker makes them ahead of
 * the GPU (~5 ms + ~12 ms a batch of 64 here, ~6% of a 0.3 s GPU step if made inside the step).
 */
export function withPatchWeights(input: StepInput, terms: PatchTerms): StepInput {
  const { gridH: gh, gridW: gw } = terms;
  return {
    ...input,
    patchAffinity: terms.affinity ? patchAffinity(input.pixels, input.shape, gh, gw) : null,
    patchRepulsion: terms.repulsion ? patchRepulsion(input.pixels, input.shape, gh, gw) : null,
  };
}
