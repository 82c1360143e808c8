import type { RgbImage } from '../io/image.js';
import { normalizeImages } from '../io/normalize-pixels.js';
import type { Tokenizer } from '../data/tokenizer/index.js';
import { ShapesDataset } from '../data/shapes/dataset.js';
import { promptWords, promptsForCaption } from '../data/prompts.js';
import { TEMPLATE_SETS, fillTemplate } from '../data/templates.js';
import type { NounPhrase } from '../data/shapes/nouns.js';
import { extractNouns } from '../data/shapes/nouns.js';
import { augmentImage } from '../data/augment.js';
import { tryLoadRecord, type ImageTextIndex } from '../data/records.js';
import { Random, mix32 } from '../util/random.js';
import type { StepInput } from './step.js';

export interface PromptSpec {
  /** Chance that a generated scene's caption leaves out the colours (an ablation; 0 = as specified). */
  captionColourDrop?: number;
  /** A curriculum: generated scenes hold a single object in steps before this one (0: 1–3 objects throughout). */
  singleObjectSteps?: number;
  k: number;
  /** Attach each prompt's noun so the loss can treat identical nouns as shared positives. */
  sharedTargets?: boolean;
  /**
   * Make the prompts once per distinct noun of the batch (k templates each) instead of k per image: with shared
   * targets the per-image prompts mostly repeat a handful of nouns, and the text tower's work is most of a step.
   */
  uniquePrompts?: boolean;
  templates: 'full' | 'subset' | 'simple';
  withModifiers: boolean;
  /**
   * 'also' (unique prompts only): every image owns, beside its nouns, its noun phrases with their modifiers ("red
   * star") as keys of their own; a generated scene whose caption lost its colours takes them from its caption before
   * the drop. 'none' or absent: the nouns alone (or the phrases alone, with withModifiers).
   */
  phrasePrompts?: 'none' | 'also';
  /**
   * A noun every image owns in the multi-label loss, whether its caption names it or not (unique prompts only; ''
   * or absent: none). Captions name the backdrop in a third of the scenes, so "background" is otherwise a positive of
   * those images and a negative of the rest, though every image has one: a target no image can predict.
   */
  backgroundNoun?: string;
}

/** A source of training batches; batch(step) is a pure function of the step, so a resumed run sees the same data. */
export interface BatchSource {
  batch(step: number): StepInput;
  describe(): string;
}

/** A prompt's key for shared targets: its nouns, or the whole text when it has none (a caption used as padding). */
function promptKey(p: string): string {
  const nouns = extractNouns(p).map((n) => n.noun);
  return nouns.length ? nouns.join(' ') : p;
}

function pack(images: RgbImage[], captions: string[], prompts: string[][], tok: Tokenizer, k: number, shared = false): StepInput {
  const b = images.length;
  const size = images[0].height;
  const l = tok.contextLength;
  const captionIds = new Int32Array(b * l);
  captions.forEach((c, i) => captionIds.set(tok.encode(c), i * l));
  let promptIds: Int32Array | null = null;
  if (k > 0) {
    promptIds = new Int32Array(b * k * l);
    prompts.forEach((ps, i) => ps.forEach((p, j) => promptIds!.set(tok.encode(p), (i * k + j) * l)));
  }
  const promptKeys = k > 0 && shared ? prompts.flatMap((ps) => ps.map(promptKey)) : null;
  return { pixels: normalizeImages(images), shape: [b, 3, size, images[0].width], captionIds, promptIds, promptsPerImage: k, promptKeys };
}

/**
 * Prompts once per distinct noun of the batch: k rows per noun, each in a template drawn from `rng`, keyed by the
 * noun; every image owns its caption's nouns. Nouns in order of first appearance, so the batch is deterministic.
 */
export function packUniquePrompts(images: RgbImage[], captions: string[], nouns: NounPhrase[][], tok: Tokenizer, spec: PromptSpec, rng: Random, phrases: NounPhrase[][] = nouns): StepInput {
  const b = images.length;
  const l = tok.contextLength;
  const captionIds = new Int32Array(b * l);
  captions.forEach((c, i) => captionIds.set(tok.encode(c), i * l));
  const nounKeys = nouns.map((n, i) => {
    const keys = promptWords(n, spec.withModifiers);
    if (spec.phrasePrompts !== 'also') return keys;
    // only phrases of nouns the caption names: the colourful caption may mention another backdrop
    const named = new Set(n.map((x) => x.noun));
    return [...new Set([...keys, ...phrases[i].filter((p) => named.has(p.noun)).map((p) => p.phrase)])];
  });
  // A batch without a single noun (users' captions can be like that) prompts with its captions, as the paper pads.
  const fromCaptions = nounKeys.every((keys) => keys.length === 0);
  const bg = spec.backgroundNoun;
  const imageKeys = fromCaptions ? captions.map((c) => [c]) : bg ? nounKeys.map((keys) => (keys.includes(bg) ? keys : [...keys, bg])) : nounKeys;
  const distinct = [...new Set(imageKeys.flat())];
  const set = TEMPLATE_SETS[spec.templates];
  const promptKeys = distinct.flatMap((w) => Array<string>(spec.k).fill(w));
  const promptIds = new Int32Array(promptKeys.length * l);
  promptKeys.forEach((w, j) => promptIds.set(tok.encode(fromCaptions ? w : fillTemplate(rng.pick(set), w)), j * l));
  // the phrases travel with the batch for the grounded noun loss (train/colour-grounding.ts), which finds their colours
  const imagePhrases = phrases.map((ps) => ps.map((x) => ({ noun: x.noun, phrase: x.phrase })));
  return { pixels: normalizeImages(images), shape: [b, 3, images[0].height, images[0].width], captionIds, promptIds, promptsPerImage: spec.k, promptKeys, imageKeys, imagePhrases };
}

/** A step's own random stream for batch-level choices (the unique prompts' templates). */
function stepRng(seed: number, step: number): Random {
  return new Random(mix32(seed ^ mix32(step * 2246822519 + 0x5bd1e995)));
}

/** The generated shapes world: batch s holds train items s·B .. s·B+B-1 (prompts re-drawn per epoch of 10k items). */
export class ShapesBatches implements BatchSource {
  readonly data: ShapesDataset;
  /** The same world with one object per scene, for the curriculum's first steps. */
  readonly single: ShapesDataset;

  constructor(readonly seed: number, readonly batchSize: number, readonly imageSize: number, readonly tok: Tokenizer, readonly prompts: PromptSpec) {
    const opts = {
      seed, split: 'train' as const, imageSize,
      caption: prompts.captionColourDrop ? { colourDrop: prompts.captionColourDrop } : undefined,
      prompts: { k: Math.max(prompts.k, 1), templates: prompts.templates, withModifiers: prompts.withModifiers },
    };
    this.data = new ShapesDataset(opts);
    this.single = new ShapesDataset({ ...opts, scene: { minObjects: 1, maxObjects: 1 } });
  }

  batch(step: number): StepInput {
    const world = step < (this.prompts.singleObjectSteps ?? 0) ? this.single : this.data;
    const samples = Array.from({ length: this.batchSize }, (_, i) => {
      const index = (step * this.batchSize + i) % 2 ** 28;
      return world.sample(index, Math.floor(index / 10000));
    });
    if (this.prompts.uniquePrompts && this.prompts.k > 0) {
      return packUniquePrompts(samples.map((s) => s.image), samples.map((s) => s.caption), samples.map((s) => s.nouns), this.tok, this.prompts, stepRng(this.seed, step), samples.map((s) => s.colourNouns));
    }
    return pack(samples.map((s) => s.image), samples.map((s) => s.caption), samples.map((s) => s.prompts.slice(0, this.prompts.k)), this.tok, this.prompts.k, this.prompts.sharedTargets);
  }

  describe(): string {
    return `generated shapes world (seed ${this.seed}, ${this.imageSize}×${this.imageSize})`;
  }
}

/**
 * The user's image–caption pairs, in a seeded order per epoch, with random resized crops and flips. Unreadable
 * images are skipped (counted) and replaced by the next record, so every batch is full.
 */
export class RecordBatches implements BatchSource {
  constructor(readonly index: ImageTextIndex, readonly seed: number, readonly batchSize: number, readonly imageSize: number, readonly tok: Tokenizer, readonly prompts: PromptSpec) {}

  private cached: { epoch: number; order: number[] } | null = null;

  private order(epoch: number): number[] {
    if (this.cached?.epoch === epoch) return this.cached.order;
    const n = this.index.records.length;
    const rng = new Random(mix32(this.seed ^ mix32(epoch + 1)));
    const idx = [...Array(n).keys()];
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    this.cached = { epoch, order: idx };
    return idx;
  }

  batch(step: number): StepInput {
    const n = this.index.records.length;
    const images: RgbImage[] = [];
    const captions: string[] = [];
    const prompts: string[][] = [];
    const nouns: NounPhrase[][] = [];
    let pos = step * this.batchSize;
    let guard = 0;
    while (images.length < this.batchSize) {
      if (guard++ > 4 * this.batchSize + n) throw new Error('too many unreadable images in a row');
      const epoch = Math.floor(pos / n);
      const rec = this.index.records[this.order(epoch)[pos % n]];
      const rng = new Random(mix32(this.seed ^ mix32(pos * 2654435761)));
      pos++;
      const img = tryLoadRecord(rec, this.index.skipped);
      if (!img) continue;
      images.push(augmentImage(img, rng, { size: this.imageSize, flip: 0.5 }));
      captions.push(rec.caption);
      const made = promptsForCaption(rec.caption, rng, { k: Math.max(this.prompts.k, 1), templates: this.prompts.templates });
      prompts.push(made.prompts.slice(0, this.prompts.k));
      nouns.push(made.nouns);
    }
    if (this.prompts.uniquePrompts && this.prompts.k > 0) return packUniquePrompts(images, captions, nouns, this.tok, this.prompts, stepRng(this.seed, step));
    return pack(images, captions, prompts, this.tok, this.prompts.k, this.prompts.sharedTargets);
  }

  describe(): string {
    return `${this.index.records.length} image–caption pairs from ${this.index.source}`;
  }
}
