// The text side of GroupViT's multi-label contrastive loss (datasets/builder.py: WordAugTokenizeWrapper): each
// caption becomes [caption, p1, …, pk], where the p's are k nouns sampled without replacement from the caption,
// each put in a random template; when the caption has fewer than k nouns the rest are the raw caption.
import type { Random } from '../util/random.js';
import { TEMPLATE_SETS, fillTemplate, type TemplateSetName } from './templates.js';
import { extractNouns, type NounPhrase } from './shapes/nouns.js';

export interface PromptOptions {
  /** Prompts per caption (the paper's multi_label = 3). */
  k?: number;
  /** A template set by name, or templates of one's own (each with one "{}"). The paper uses 'full'. */
  templates?: TemplateSetName | readonly string[];
  /**
   * Put the noun's colour/texture words in the prompt ("a photo of a red star.") instead of the bare noun (the
   * paper's behaviour, the default). An option because bare nouns proved hard for a tiny text tower to separate.
   */
  withModifiers?: boolean;
}

/** The distinct words a caption offers to prompts: bare nouns, or noun phrases with modifiers. */
export function promptWords(nouns: readonly NounPhrase[], withModifiers = false): string[] {
  return [...new Set(nouns.map((n) => (withModifiers ? n.phrase : n.noun)))];
}

/** k prompts for a caption whose nouns are given. Deterministic in `rng`. */
export function makePrompts(caption: string, nouns: readonly NounPhrase[], rng: Random, opts: PromptOptions = {}): string[] {
  const { k = 3, templates = 'full', withModifiers = false } = opts;
  const set = typeof templates === 'string' ? TEMPLATE_SETS[templates] : templates;
  if (set.length === 0) throw new RangeError('no prompt templates');
  const chosen = rng.sample(promptWords(nouns, withModifiers), k);
  const prompts = chosen.map((w) => fillTemplate(rng.pick(set), w));
  while (prompts.length < k) prompts.push(caption);
  return prompts;
}

/** Nouns and prompts straight from a caption (the path for users' own captions). */
export function promptsForCaption(caption: string, rng: Random, opts: PromptOptions = {}): { nouns: NounPhrase[]; prompts: string[] } {
  const nouns = extractNouns(caption);
  return { nouns, prompts: makePrompts(caption, nouns, rng, opts) };
}
