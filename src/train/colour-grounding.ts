// Where in the image each of its nouns is, as far as the caption's colour words say: "a red star and a blue circle"
// puts the star on the red pixels. The grounded noun loss (model/losses.ts groundedNounLoss) names the final group
// holding those pixels after the noun. Nothing here reads a label: the caption and the pixels, like the colour-edge
// weights of patch-affinity.ts, made with the batch in the data worker.
import { IMAGENET_MEAN, IMAGENET_STD } from '../io/normalize-pixels.js';
import { colourWordOf, colourWordsIn } from '../data/colour-words.js';
import type { NounPhrase } from '../data/shapes/nouns.js';
import type { StepInput } from './step.js';

/**
 * The colour words that ground each key of an image: a noun takes the colours of its phrases ("red star", "blue
 * star"), a phrase key its own. A colour the caption gives two different nouns ("a red star and a red moon") grounds
 * neither: its pixels cannot say which is which.
 */
export function keyColours(keys: readonly string[], phrases: readonly NounPhrase[]): string[][] {
  const nounsOf = new Map<string, Set<string>>();
  for (const p of phrases) {
    for (const c of colourWordsIn(p.phrase)) {
      if (!nounsOf.has(c)) nounsOf.set(c, new Set());
      nounsOf.get(c)!.add(p.noun);
    }
  }
  const unambiguous = (c: string) => (nounsOf.get(c)?.size ?? 0) <= 1;
  return keys.map((key) => {
    const own = colourWordsIn(key);
    const colours = own.length ? own : phrases.filter((p) => p.noun === key).flatMap((p) => colourWordsIn(p.phrase));
    return [...new Set(colours)].filter(unambiguous);
  });
}

/**
 * Per image, per key of imageKeys, the share of each patch's pixels whose colour word is one of the key's: [keys_i, L]
 * with L = gh·gw patches in row-major order. pixels: normalised [B, 3, H, W] (io/normalize-pixels.ts).
 */
export function groundingWeights(pixels: Float32Array, shape: readonly [number, number, number, number], gh: number, gw: number, imageKeys: readonly (readonly string[])[], phrases: readonly (readonly NounPhrase[])[]): Float32Array[] {
  const [b, ch, h, w] = shape;
  if (ch !== 3) throw new Error(`groundingWeights: ${ch} channels, 3 needed`);
  if (h % gh || w % gw) throw new Error(`groundingWeights: a ${h}×${w} image does not split into ${gh}×${gw} patches`);
  const ph = h / gh;
  const pw = w / gw;
  const l = gh * gw;
  const plane = h * w;
  return Array.from({ length: b }, (_, i) => {
    const keys = imageKeys[i] ?? [];
    const colours = keyColours(keys, phrases[i] ?? []);
    const out = new Float32Array(keys.length * l);
    if (colours.every((c) => c.length === 0)) return out;
    const keysOf = new Map<string, number[]>();
    colours.forEach((cs, k) => cs.forEach((c) => keysOf.set(c, [...(keysOf.get(c) ?? []), k])));
    const at = (c: number, p: number) => Math.round(pixels[(i * 3 + c) * plane + p] * IMAGENET_STD[c] + IMAGENET_MEAN[c]);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        const word = colourWordOf(at(0, p), at(1, p), at(2, p));
        const ks = word ? keysOf.get(word) : undefined;
        if (!ks) continue;
        const patch = Math.floor(y / ph) * gw + Math.floor(x / pw);
        for (const k of ks) out[k * l + patch] += 1 / (ph * pw);
      }
    }
    return out;
  });
}

/** The batch with its grounding weights attached (needs the imageKeys and phrases of packUniquePrompts). */
export function withGroundingWeights(input: StepInput, gh: number, gw: number): StepInput {
  if (!input.imageKeys || !input.imagePhrases) return input;
  return { ...input, groundingWeights: groundingWeights(input.pixels, input.shape, gh, gw, input.imageKeys, input.imagePhrases) };
}

/**
 * The separation term's weights (model/losses.ts separationTerm): per image, r_tu = Σ over two different keys n ≠ m of
 * w_n(t)·w_m(u), the chance that patch t shows one object of the caption and patch u another, normalised to sum to
 * 1. The contrast term's colour weights are mostly object against backdrop, and a striped backdrop against itself;
 * these are only ever two objects the caption names apart. Images with fewer than two grounded keys have none (all
 * zero) and are not counted.   weights: B × [keys_i, L] -> { [B, L, L], images counted }
 */
export function objectRepulsion(weights: readonly Float32Array[], l: number): { repulsion: Float32Array; images: number } {
  const b = weights.length;
  const out = new Float32Array(b * l * l);
  let images = 0;
  weights.forEach((w, i) => {
    const keys = w.length / l;
    if (!Number.isInteger(keys)) throw new Error(`objectRepulsion: ${w.length} weights are not whole rows of ${l} patches`);
    const grounded = Array.from({ length: keys }, (_, k) => k).filter((k) => w.subarray(k * l, (k + 1) * l).some((v) => v > 0));
    if (grounded.length < 2) return;
    const base = i * l * l;
    let total = 0;
    for (const n of grounded) {
      for (const m of grounded) {
        if (n === m) continue;
        for (let t = 0; t < l; t++) {
          const wt = w[n * l + t];
          if (!wt) continue;
          for (let u = 0; u < l; u++) {
            const v = wt * w[m * l + u];
            out[base + t * l + u] += v;
            total += v;
          }
        }
      }
    }
    if (!(total > 0)) return;
    for (let k = 0; k < l * l; k++) out[base + k] /= total;
    images++;
  });
  return { repulsion: out, images };
}
