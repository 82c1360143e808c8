/**
 * The numerical core of GroupViT's zero-shot segmentation (NVlabs group_vit_seg.py, GROUPVIT.md §2.2), on host arrays:
 * soft maps multiplied across stages, bilinearly upsampled, one group per pixel, group–class affinity gated by the
 * image-level top-k, and the background rule. All maps here are small (G ≤ 8 groups), so the host is the right place.
 */

/** Cumulative soft assignment of each patch to the groups of every stage: softs[i] is [S_i, L_i] (L_0 = N patches). */
export function cumulativeSoft(softs: Float32Array[], shapes: [number, number][]): Float64Array[] {
  const out: Float64Array[] = [];
  let prev: Float64Array | null = null;
  let n = 0;
  let gPrev = 0;
  softs.forEach((soft, i) => {
    const [s, l] = shapes[i];
    if (!prev) {
      n = l;
      const p = new Float64Array(n * s);
      for (let g = 0; g < s; g++) for (let t = 0; t < l; t++) p[t * s + g] = soft[g * l + t];
      prev = p;
    } else {
      if (l !== gPrev) throw new Error(`stage ${i} assigns ${l} tokens but the previous stage made ${gPrev} groups`);
      const p = new Float64Array(n * s);
      for (let t = 0; t < n; t++)
        for (let g = 0; g < s; g++) {
          let acc = 0;
          for (let k = 0; k < l; k++) acc += prev[t * l + k] * soft[g * l + k];
          p[t * s + g] = acc;
        }
      prev = p;
    }
    gPrev = s;
    out.push(prev);
  });
  return out;
}

/** NVlabs resize_attn_map's grid inference: the feature grid (h, w) of n tokens for an H×W image. */
export function featureGrid(n: number, h: number, w: number): [number, number] {
  const scale = Math.sqrt(Math.floor((h * w) / n));
  if (h > w) {
    const fw = Math.floor(w / Math.round(scale));
    return [Math.floor(n / fw), fw];
  }
  const fh = Math.floor(h / Math.round(scale));
  return [fh, Math.floor(n / fh)];
}

/** Bilinear resize (align_corners=False, as F.interpolate) of [h, w, c] to [oh, ow, c]. */
export function bilinear(src: ArrayLike<number>, h: number, w: number, c: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(oh * ow * c);
  const taps = (inS: number, outS: number) => {
    const i0 = new Int32Array(outS);
    const i1 = new Int32Array(outS);
    const l = new Float64Array(outS);
    const scale = inS / outS;
    for (let o = 0; o < outS; o++) {
      const s = Math.max((o + 0.5) * scale - 0.5, 0);
      i0[o] = Math.min(Math.floor(s), inS - 1);
      i1[o] = Math.min(i0[o] + 1, inS - 1);
      l[o] = s - i0[o];
    }
    return { i0, i1, l };
  };
  const ty = taps(h, oh);
  const tx = taps(w, ow);
  for (let y = 0; y < oh; y++) {
    const ly = ty.l[y];
    for (let x = 0; x < ow; x++) {
      const lx = tx.l[x];
      const a = (ty.i0[y] * w + tx.i0[x]) * c;
      const b = (ty.i0[y] * w + tx.i1[x]) * c;
      const d = (ty.i1[y] * w + tx.i0[x]) * c;
      const e = (ty.i1[y] * w + tx.i1[x]) * c;
      for (let k = 0; k < c; k++) {
        out[(y * ow + x) * c + k] =
          (1 - ly) * ((1 - lx) * src[a + k] + lx * src[b + k]) + ly * ((1 - lx) * src[d + k] + lx * src[e + k]);
      }
    }
  }
  return out;
}

/** Softmax of one row (−∞ entries get 0). */
export function softmaxRow(v: Float64Array): Float64Array {
  let m = -Infinity;
  for (const x of v) m = Math.max(m, x);
  const e = v.map((x) => (x === -Infinity ? 0 : Math.exp(x - m)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Each of `rows` rows of n values scaled to unit L2 norm.   [rows, n] -> [rows, n] */
export function normalizeRows(x: ArrayLike<number>, rows: number, n: number): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[r * n + i] ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let i = 0; i < n; i++) out[r * n + i] = x[r * n + i] * inv;
  }
  return out;
}

/** How a pixel becomes background: the paper's threshold, and optionally the border rule first (borderGroups). */
export interface BackgroundRule {
  bgThresh: number;
  /** The border rule's share, or null for the paper's threshold alone. */
  bgBorder: number | null;
}

/** The border rule's share must be a fraction in (0, 1]; null is the paper's rule. */
export function validBorderShare(v: unknown): v is number | null {
  return v === null || (typeof v === 'number' && v > 0 && v <= 1);
}

export interface SegmentInput {
  /** Noise-free soft assignments of each grouping stage, [S_i, L_i] row-major, batch 1. */
  softs: Float32Array[];
  softShapes: [number, number][];
  /** Projected final group tokens [G, P] and the projected pooled image embedding [P], before normalisation. */
  groupEmbeds: Float32Array;
  imageEmbed: Float32Array;
  /** L2-normalised class text embeddings [K, P]. */
  classEmbeds: Float32Array;
  numClasses: number;
  /** min(exp(logit_scale), 100). */
  logitScale: number;
  /** The window's pixel size. */
  height: number;
  width: number;
  /** Background threshold, or null for no background channel. */
  bgThresh: number | null;
  /** The border rule's share (borderGroups), or null/absent for the paper's threshold alone; only with a threshold. */
  bgBorder?: number | null;
  topk?: number;
  /**
   * The [H·W, G] group maps each pixel picks its group from, when the caller has refined upsampledGroupMap's (pamr.ts:
   * on the GPU, a batch at a time); absent, the paper's bilinear maps.
   */
  groupMap?: ArrayLike<number>;
  /** [G, K] group–class scores chosen by the caller (segment/isolate.ts), in place of the groups' own. */
  affinity?: Float64Array;
}

export interface SegmentResult {
  cumulative: Float64Array[];
  /** [H, W, G] soft group map at pixel resolution. */
  groupMap: Float64Array;
  groupIndex: Int32Array;
  groupMargin: Float64Array;
  imageClassProbs: Float64Array;
  topkMask: Float64Array;
  /** [G, K] */
  affinity: Float64Array;
  /** [C, H, W] with C = K (+1 when a background channel is used, first). */
  logits: Float64Array;
  probs: Float64Array;
  pred: Int32Array;
  effectiveBgThresh: number | null;
}

/** The final groups' soft maps at pixel resolution, as the paper leaves them (bilinear from the token grid).   -> [H·W, G] */
export function upsampledGroupMap(inp: Pick<SegmentInput, 'softs' | 'softShapes' | 'height' | 'width'>): { cumulative: Float64Array[]; groupMap: Float64Array; groups: number } {
  const cumulative = cumulativeSoft(inp.softs, inp.softShapes);
  const G = inp.softShapes[inp.softShapes.length - 1][0];
  const [fh, fw] = featureGrid(inp.softShapes[0][1], inp.height, inp.width);
  return { cumulative, groupMap: bilinear(cumulative[cumulative.length - 1], fh, fw, G, inp.height, inp.width), groups: G };
}

export function zeroShotSegment(inp: SegmentInput): SegmentResult {
  const { height: H, width: W, numClasses: K, logitScale: s } = inp;
  // a caller's refined map replaces the bilinear one, which is then not computed at all
  const cumulative = inp.groupMap ? cumulativeSoft(inp.softs, inp.softShapes) : null;
  const up = cumulative ? null : upsampledGroupMap(inp);
  const G = inp.softShapes[inp.softShapes.length - 1][0];
  if (inp.groupMap && inp.groupMap.length !== H * W * G) throw new Error(`zeroShotSegment: a group map of ${inp.groupMap.length} values for ${H}×${W} pixels × ${G} groups`);
  const groupMap = up ? up.groupMap : Float64Array.from(inp.groupMap!);
  const groupIndex = new Int32Array(H * W);
  const groupMargin = new Float64Array(H * W);
  for (let p = 0; p < H * W; p++) {
    let best = 0;
    for (let g = 1; g < G; g++) if (groupMap[p * G + g] > groupMap[p * G + best]) best = g;
    let second = -Infinity;
    for (let g = 0; g < G; g++) if (g !== best) second = Math.max(second, groupMap[p * G + g]);
    groupIndex[p] = best;
    groupMargin[p] = G > 1 ? groupMap[p * G + best] - second : Infinity;
  }
  const P = inp.imageEmbed.length;
  const Z = normalizeRows(inp.groupEmbeds, G, P);
  const z = normalizeRows(inp.imageEmbed, 1, P);
  const T = inp.classEmbeds;
  const dot = (a: Float64Array, ai: number, k: number) => {
    let acc = 0;
    for (let i = 0; i < P; i++) acc += a[ai * P + i] * T[k * P + i];
    return acc;
  };
  const imageClassProbs = softmaxRow(Float64Array.from({ length: K }, (_, k) => s * dot(z, 0, k)));
  const kTop = Math.min(inp.topk ?? 5, K);
  const order = [...Array(K).keys()].sort((a, b) => imageClassProbs[b] - imageClassProbs[a] || a - b);
  const topkMask = new Float64Array(K);
  for (const k of order.slice(0, kTop)) topkMask[k] = 1;
  const affinity = new Float64Array(G * K);
  if (inp.affinity) affinity.set(inp.affinity);
  else for (let g = 0; g < G; g++) {
    const raw = Float64Array.from({ length: K }, (_, k) => s * dot(Z, g, k));
    const pre = softmaxRow(raw);
    const post = softmaxRow(raw.map((v, k) => (topkMask[k] ? v : -Infinity)));
    for (let k = 0; k < K; k++) affinity[g * K + k] = post[k] * pre[k];
  }
  const withBg = inp.bgThresh !== null;
  const C = K + (withBg ? 1 : 0);
  const off = withBg ? 1 : 0;
  const logits = new Float64Array(C * H * W);
  const backdrop = withBg && inp.bgBorder != null ? borderGroups(groupIndex, H, W, G, inp.bgBorder) : null;
  const t = withBg ? thresholdOf(affinity, K, inp.bgThresh!, backdrop) : null;
  for (let p = 0; p < H * W; p++) {
    const g = groupIndex[p];
    let best = -Infinity;
    for (let k = 0; k < K; k++) {
      const v = affinity[g * K + k];
      logits[(k + off) * H * W + p] = v;
      best = Math.max(best, v);
    }
    // scores are at most 1 and ties go to the first channel, so a backdrop group's 1 is background
    if (withBg) logits[p] = backdrop?.[g] || best < t! ? 1 : 0;
  }
  const probs = new Float64Array(C * H * W);
  for (let p = 0; p < H * W; p++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, logits[c * H * W + p]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[c * H * W + p] - m);
    for (let c = 0; c < C; c++) probs[c * H * W + p] = Math.exp(logits[c * H * W + p] - m) / sum;
  }
  const pred = predictAt(groupIndex, affinity, K, inp.bgThresh, backdrop);
  return { cumulative: cumulative ?? up!.cumulative, groupMap, groupIndex, groupMargin, imageClassProbs, topkMask, affinity, logits, probs, pred, effectiveBgThresh: t };
}

/**
 * The per-pixel argmax of zeroShotSegment's logits, from the groups alone: a pixel takes its group's best class (the
 * first of equals), or background (0, classes then from 1) when its group is a backdrop group of the border rule or
 * its best score is under min(bgThresh, the best score of the image's other groups); with bgThresh null, the class
 * index from 0 and no background. The logits' background channel is 1 or 0 and the scores (products of two
 * softmaxes) at most 1 and never above it where it is 1, so ties go to background only in a group whose scores are
 * all 0 (or in a backdrop group).
 * Calibration reads one segmentation at every threshold through it.   groupIndex:[H·W], affinity:[G, K] -> [H·W]
 */
export function predictAt(groupIndex: Int32Array, affinity: Float64Array, numClasses: number, bgThresh: number | null, backdrop: readonly boolean[] | null = null): Int32Array {
  const K = numClasses;
  const G = affinity.length / K;
  const t = bgThresh === null ? null : thresholdOf(affinity, K, bgThresh, backdrop);
  const label = new Int32Array(G);
  for (let g = 0; g < G; g++) {
    let arg = 0;
    for (let k = 1; k < K; k++) if (affinity[g * K + k] > affinity[g * K + arg]) arg = k;
    const best = affinity[g * K + arg];
    if (t === null) label[g] = arg;
    else label[g] = backdrop?.[g] || best < t || !(best > 0) ? 0 : arg + 1;
  }
  return Int32Array.from(groupIndex, (g) => label[g]);
}

/** min(bgThresh, the best score of any group the border rule left): the image's best remaining group is never background. */
function thresholdOf(affinity: Float64Array, K: number, bgThresh: number, backdrop: readonly boolean[] | null): number {
  let best = -Infinity;
  for (let i = 0; i < affinity.length; i++) if (!backdrop?.[Math.floor(i / K)]) best = Math.max(best, affinity[i]);
  return Math.min(bgThresh, best);
}

/**
 * The border rule (not the paper's; README, Training): the groups that hold at least `share` of the pixels on the
 * window's outermost ring, and always the one holding most of them, are its backdrop. GroupViT's threshold keeps the
 * best-named group of an image in the foreground, and a small model often names the backdrop's group best; the
 * backdrop, unlike the objects, runs along the border. When every group would be backdrop, the one with the fewest
 * border pixels stays (an image keeps one group in the foreground, as under the threshold).
 * groupIndex:[H·W] -> [G] (true: backdrop)
 */
export function borderGroups(groupIndex: Int32Array, height: number, width: number, groups: number, share: number): boolean[] {
  const count = new Float64Array(groups);
  let ring = 0;
  for (let y = 0; y < height; y++) {
    const step = y === 0 || y === height - 1 ? 1 : Math.max(1, width - 1);
    for (let x = 0; x < width; x += step) {
      count[groupIndex[y * width + x]]++;
      ring++;
    }
  }
  let most = 0;
  for (let g = 1; g < groups; g++) if (count[g] > count[most]) most = g;
  const backdrop = Array.from({ length: groups }, (_, g) => g === most || count[g] >= share * ring);
  if (groups > 1 && backdrop.every(Boolean)) {
    let fewest = 0;
    for (let g = 1; g < groups; g++) if (count[g] < count[fewest]) fewest = g;
    backdrop[fewest] = false;
  }
  return backdrop;
}

/**
 * Class embeddings from per-(class, template) text embeddings [K·T, P] (class-major): the mean over templates, then
 * L2-normalised, as NVlabs' build_text_embedding. → [K, P]
 */
export function meanOverTemplates(raw: ArrayLike<number>, classes: number, templates: number): Float32Array {
  const p = raw.length / (classes * templates);
  const out = new Float32Array(classes * p);
  for (let k = 0; k < classes; k++) {
    let norm = 0;
    for (let i = 0; i < p; i++) {
      let acc = 0;
      for (let t = 0; t < templates; t++) acc += raw[(k * templates + t) * p + i];
      out[k * p + i] = acc / templates;
      norm += (acc / templates) ** 2;
    }
    for (let i = 0; i < p; i++) out[k * p + i] /= Math.max(Math.sqrt(norm), 1e-12);
  }
  return out;
}
