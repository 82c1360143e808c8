// Nouns for the multi-label loss, without NLTK. GroupViT keeps the words NLTK's tagger marks as nouns or verbs
// (NN, NNS, NNP, VB*) and turns up to three of them into prompts. A tagger is overkill for our captions, and the
// verbs it keeps ("is", "are") carry nothing a picture shows, so this is a word list with three rules:
//   - known function words, numbers, adjectives, position and framing words are never nouns;
//   - colour and texture words are modifiers of the noun that follows them ("red star", "striped background"), and
//     nouns of their own only when nothing follows ("on slate");
//   - any other word is taken as a noun, as NLTK tags most unknown words NN; plurals of known nouns are singular.
// Differences from the paper, on purpose: no verbs, no framing nouns (image, picture, photo…, which every caption of
// a dataset may share and which name nothing in the picture), duplicates removed. Works on any English caption; it
// is only exact for the generated world's vocabulary.
import { BACKDROP_COLOUR_NAMES, COLOUR_NAMES, SHAPES } from './world.js';

export interface NounPhrase {
  /** The noun, singular for known nouns ("star"). */
  noun: string;
  /** The noun with its colour/texture modifiers as written before it ("red star"); equals noun when there are none. */
  phrase: string;
}

const PLURALS: Record<string, string> = Object.fromEntries(
  SHAPES.map((s) => [s.endsWith('s') ? `${s}es` : `${s}s`, s]).concat([
    ['backgrounds', 'background'],
    ['backdrops', 'backdrop'],
    ['objects', 'object'],
    ['shapes', 'shape'],
  ]),
);

/** Words that describe a following noun: the colours of objects and backdrops, and the backdrop textures. */
const MODIFIERS = new Set<string>([
  ...COLOUR_NAMES,
  ...BACKDROP_COLOUR_NAMES,
  'gray', 'white', 'black', 'pink', 'brown', 'gold', 'silver', 'violet', 'cyan', 'magenta',
  'gradient', 'noise',
]);

/** Adjectives that are never nouns but, like modifiers, are kept in the phrase before a noun. */
const TEXTURES = new Set(['striped', 'stripy', 'speckled', 'textured', 'mottled', 'noisy', 'fading', 'shaded', 'plain', 'dotted', 'checkered']);

// prettier-ignore
const NEVER_NOUNS = new Set<string>([
  // articles, determiners, pronouns
  'a', 'an', 'the', 'this', 'that', 'these', 'those', 'some', 'any', 'each', 'every', 'all', 'both', 'another', 'other',
  'its', 'it', 'his', 'her', 'their', 'my', 'our', 'your', 'i', 'we', 'you', 'he', 'she', 'they', 'them', 'who', 'which',
  'what', 'one', 'ones',
  // prepositions and conjunctions
  'and', 'or', 'but', 'nor', 'with', 'without', 'on', 'in', 'at', 'of', 'to', 'from', 'by', 'for', 'over', 'under',
  'above', 'below', 'beside', 'besides', 'between', 'behind', 'near', 'next', 'against', 'into', 'onto', 'across',
  'around', 'through', 'along', 'among', 'atop', 'upon', 'inside', 'outside', 'beneath', 'underneath', 'as', 'than',
  'while', 'where', 'when', 'so', 'if', 'then',
  // auxiliaries and common caption verbs
  'is', 'are', 'was', 'were', 'be', 'been', 'being', 'am', 'has', 'have', 'had', 'do', 'does', 'did', 'there', 'here',
  'sits', 'sit', 'sitting', 'lies', 'lie', 'lying', 'shows', 'show', 'showing', 'shown', 'drawn', 'placed', 'stands',
  'standing', 'appears', 'can', 'could', 'will', 'would', 'may', 'seen',
  // numbers and quantity
  'zero', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'single', 'lone', 'pair', 'few',
  'many', 'several', 'only', 'just', 'also', 'very', 'too', 'not', 'no',
  // size and general adjectives
  'big', 'small', 'large', 'tiny', 'little', 'huge', 'bright', 'dark', 'light', 'pale', 'same', 'different',
  // position words
  'left', 'right', 'top', 'bottom', 'middle', 'centre', 'center', 'corner', 'side', 'upper', 'lower', 'front', 'back',
  // framing nouns shared by whole datasets
  'image', 'picture', 'photo', 'photograph', 'drawing', 'scene', 'illustration', 'rendering', 'view',
]);

function tokenize(caption: string): string[] {
  return caption.toLowerCase().match(/[a-z]+/g) ?? [];
}

function singular(word: string): string {
  return PLURALS[word] ?? word;
}

function isNounCandidate(word: string): boolean {
  return word.length >= 2 && !NEVER_NOUNS.has(word) && !TEXTURES.has(word);
}

/** The caption's nouns in order of first appearance, each once (by phrase), with their modifiers. */
export function extractNouns(caption: string): NounPhrase[] {
  const words = tokenize(caption);
  const out: NounPhrase[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (!isNounCandidate(w)) continue;
    const next = words[i + 1];
    // A modifier followed by a noun candidate describes it ("slate background"); it is a noun only at the end of
    // its phrase.
    if (MODIFIERS.has(w) && next !== undefined && (isNounCandidate(next) || TEXTURES.has(next))) continue;
    const noun = singular(w);
    const mods: string[] = [];
    for (let j = i - 1; j >= 0 && (MODIFIERS.has(words[j]) || TEXTURES.has(words[j])); j--) mods.unshift(words[j]);
    const phrase = [...mods, noun].join(' ');
    if (seen.has(phrase)) continue;
    seen.add(phrase);
    out.push({ noun, phrase });
  }
  return out;
}
