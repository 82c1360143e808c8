// The generated world as a dataset: sample(i) is a pure function of (seed, split, i), so any worker can make any
// item, a resumed run sees the same pictures, and the train and eval splits never share a scene (their generator
// seeds come from disjoint streams, see streamSeed).
import type { RgbImage } from '../../io/image.js';
import { Random, mix32, streamSeed } from '../../util/random.js';
import { makePrompts, type PromptOptions } from '../prompts.js';
import { captionScene, type CaptionOptions } from './captions.js';
import { extractNouns, type NounPhrase } from './nouns.js';
import { renderScene, type RenderOptions } from './render.js';
import { sampleScene, type Backdrop, type SceneObject, type SceneOptions } from './scene.js';

export type ShapesSplit = 'train' | 'eval';

const STREAMS: Record<ShapesSplit | 'example', number> = { train: 0, eval: 1, example: 2 };

/** An object as a sample reports it: the scene object plus how many mask pixels it ended up owning. */
export interface ShapesObject extends SceneObject {
  visiblePixels: number;
}

export interface ShapesSample {
  index: number;
  image: RgbImage;
  caption: string;
  /** The caption's nouns and noun phrases (what the prompts are drawn from). */
  nouns: NounPhrase[];
  /**
   * The noun phrases of the scene's caption as it reads before a colour drop (caption.colourDrop) took the colours out:
   * "red star" where the caption says "a star". The same as nouns when the caption kept its colours.
   */
  colourNouns: NounPhrase[];
  /** k prompts for the multi-label loss. */
  prompts: string[];
  /** Ground truth for evaluation only: 0 background, 1–8 classes. Training must not read it. */
  mask: Uint8Array;
  objects: ShapesObject[];
  backdrop: Backdrop;
}

export interface ShapesDatasetOptions {
  seed: number;
  split: ShapesSplit;
  /** Side of the square images (default 64). */
  imageSize?: number;
  scene?: SceneOptions;
  render?: RenderOptions;
  caption?: CaptionOptions;
  prompts?: PromptOptions;
}

/** An object with fewer visible pixels than this is not mentioned in the caption (it is still in the mask). */
const MIN_MENTION_PIXELS = 4;

function generate(base: number, index: number, size: number, opts: Omit<ShapesDatasetOptions, 'seed' | 'split'>, epoch: number): ShapesSample {
  // Separate generators for picture, caption and prompts: changing caption or prompt options never changes pixels.
  const sceneRng = new Random(base);
  const scene = sampleScene(sceneRng, size, size, opts.scene);
  const rendered = renderScene(scene, sceneRng, opts.render);
  const objects = scene.objects.map((o, k) => ({ ...o, visiblePixels: rendered.visiblePixels[k] }));
  const mentioned = objects.filter((o) => o.visiblePixels >= MIN_MENTION_PIXELS);
  const caption = captionScene(mentioned.length > 0 ? mentioned : objects, scene.backdrop, size, size, new Random(mix32(base ^ 0xc0ffee)), opts.caption);
  const nouns = extractNouns(caption);
  // The caption with its colours, from a stream of its own so that the caption above stays byte-identical.
  const colourNouns = opts.caption?.colourDrop
    ? extractNouns(captionScene(mentioned.length > 0 ? mentioned : objects, scene.backdrop, size, size, new Random(mix32(base ^ 0xc0ffee ^ 0x7a11)), { ...opts.caption, colourDrop: 0 }))
    : nouns;
  // Prompts are re-drawn every epoch in the paper (random at load time); the epoch makes that reproducible.
  const promptRng = new Random(mix32(base ^ mix32(0x9e37 + epoch)));
  const prompts = makePrompts(caption, nouns, promptRng, opts.prompts);
  return { index, image: rendered.image, caption, nouns, colourNouns, prompts, mask: rendered.mask, objects, backdrop: scene.backdrop };
}

export class ShapesDataset {
  readonly seed: number;
  readonly split: ShapesSplit;
  readonly imageSize: number;
  private readonly opts: Omit<ShapesDatasetOptions, 'seed' | 'split'>;

  constructor(opts: ShapesDatasetOptions) {
    const size = opts.imageSize ?? 64;
    if (!(Number.isInteger(size) && size >= 8)) throw new RangeError(`image size ${size} is too small (8 or more)`);
    this.seed = opts.seed >>> 0;
    this.split = opts.split;
    this.imageSize = size;
    this.opts = opts;
  }

  /** Item `index` (any non-negative integer below 2^28: the world is unbounded). */
  sample(index: number, epoch = 0): ShapesSample {
    return generate(streamSeed(this.seed, STREAMS[this.split], index), index, this.imageSize, this.opts, epoch);
  }
}

/** A scene from a stream used by neither split, for pictures shipped in examples/ and the README. */
export function renderExample(seed: number, imageSize = 64): ShapesSample {
  return generate(streamSeed(seed >>> 0, STREAMS.example, 0), 0, imageSize, {}, 0);
}
