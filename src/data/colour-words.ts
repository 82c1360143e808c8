// Colour words a caption can ground in pixels: what "red" looks like, so that the phrase "a red star" can say which
// pixels the star is (train/colour-grounding.ts). A small lexicon of chromatic colours; achromatic words (white, grey,
// black) are left out, since backdrops, shadows and highlights have those colours too and would ground nothing; so is
// brown, a dark orange or red by hue (the world's reds in shadow, 159,46,18, are nearer brown than red).
import { COLOURS } from './shapes/world.js';

/** Prototype RGB of each chromatic colour word: the generated world's six paints, then a few common others. */
export const COLOUR_WORDS: Readonly<Record<string, readonly [number, number, number]>> = {
  ...COLOURS,
  violet: COLOURS.purple,
  pink: [236, 128, 178],
  magenta: [208, 52, 176],
  cyan: [40, 196, 212],
};

const WORDS = Object.keys(COLOUR_WORDS);

/** Hue in degrees [0, 360) of an RGB colour (the HSV hexcone's); NaN for a grey. */
export function hueOf(r: number, g: number, b: number): number {
  const max = Math.max(r, g, b);
  const d = max - Math.min(r, g, b);
  if (d <= 0) return NaN;
  const h = max === r ? (g - b) / d : max === g ? 2 + (b - r) / d : 4 + (r - g) / d;
  return (h * 60 + 360) % 360;
}

const HUES = WORDS.map((w) => hueOf(...COLOUR_WORDS[w]));

/**
 * Below this saturation ((max − min) / max) a pixel has no colour word: the world's muted backdrops reach 0.23, its
 * paints 0.71 or more. Hue, not RGB distance, picks the word: a paint in shadow keeps its hue (a dark yellow is nearer
 * orange than yellow in RGB).
 */
const MIN_SATURATION = 0.4;
/** Darker than this (max channel, 0–255), a pixel has no word: its hue is noise. */
const MIN_VALUE = 40;
/** Farther than this in hue from every word (degrees), a saturated pixel has no word either. */
const MAX_HUE_DISTANCE = 30;

/** The colour word whose prototype's hue is nearest to a pixel's, or null when the pixel is dull, dark or far from every word. */
export function colourWordOf(r: number, g: number, b: number): string | null {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  if (max < MIN_VALUE || (max - min) / max < MIN_SATURATION) return null;
  const h = hueOf(r, g, b);
  let best = -1;
  let bestD = MAX_HUE_DISTANCE;
  HUES.forEach((hw, k) => {
    const d = Math.min(Math.abs(h - hw), 360 - Math.abs(h - hw));
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  });
  // a synonym grounds as the word it shares a prototype with ("violet" pixels are "purple" pixels)
  return best < 0 ? null : canonical(WORDS[best]);
}

/** The word a colour word grounds as: itself, or the first word with the same prototype. */
export function canonical(word: string): string {
  const p = COLOUR_WORDS[word];
  return p ? WORDS.find((w) => COLOUR_WORDS[w] === p)! : word;
}

/** The chromatic colour words of a phrase ("bright red star" → ["red"]), canonical, in order. */
export function colourWordsIn(phrase: string): string[] {
  return (phrase.toLowerCase().match(/[a-z]+/g) ?? []).filter((w) => w in COLOUR_WORDS).map(canonical);
}
