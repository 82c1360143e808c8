// Captions for generated scenes: many sentence shapes and orders, every object named with its colour, sometimes its
// place or the backdrop, so the text tower sees varied language that still pins down what is in the picture.
import type { Random } from '../../util/random.js';
import type { Backdrop, SceneObject } from './scene.js';
import type { ColourName, ShapeName } from './world.js';

/** Objects of the same colour and shape are named once, with a count ("two red stars"). */
interface Item {
  colour: ColourName;
  shape: ShapeName;
  objects: SceneObject[];
}

export interface CaptionOptions {
  /** Chance of mentioning the backdrop. */
  backdropChance?: number;
  /** Chance of a framing prefix such as "an image of". */
  framingChance?: number;
  /**
   * Chance that a caption names the shapes without their colours ("a star and two circles"). 0 by default (every
   * object with its colour, as specified); an ablation: with colours always present, matching captions never needs
   * the shapes, and the image tower learns colours only (TRAINING-NOTES.md).
   */
  colourDrop?: number;
}

const NUMBERS = ['zero', 'one', 'two', 'three'];

export function pluralShape(shape: string): string {
  return shape.endsWith('s') ? `${shape}es` : `${shape}s`;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

function itemPhrase(item: Item, withColour = true): string {
  const n = item.objects.length;
  const colour = withColour ? `${item.colour} ` : '';
  if (n === 1) return `${article(colour || item.shape)} ${colour}${item.shape}`;
  return `${NUMBERS[n] ?? String(n)} ${colour}${pluralShape(item.shape)}`;
}

/** Where an object sits, by thirds of the picture: "on the left", "in the top right corner", … */
export function positionPhrase(o: SceneObject, width: number, height: number): string {
  const col = o.cx < width / 3 ? 'left' : o.cx > (2 * width) / 3 ? 'right' : 'centre';
  const row = o.cy < height / 3 ? 'top' : o.cy > (2 * height) / 3 ? 'bottom' : 'middle';
  if (row === 'middle' && col === 'centre') return 'in the middle';
  if (row === 'middle') return `on the ${col}`;
  if (col === 'centre') return `at the ${row}`;
  return `in the ${row} ${col} corner`;
}

/** The true relation of a to b along the axis where they differ most. */
function relation(a: SceneObject, b: SceneObject): string {
  const dx = b.cx - a.cx;
  const dy = b.cy - a.cy;
  if (Math.abs(dx) >= Math.abs(dy)) return dx > 0 ? 'to the left of' : 'to the right of';
  return dy > 0 ? 'above' : 'below';
}

function joinList(parts: string[], rng: Random): string {
  if (parts.length === 1) return parts[0];
  const last = parts[parts.length - 1];
  const head = parts.slice(0, -1).join(', ');
  return parts.length > 2 && rng.chance(0.3) ? `${head}, and ${last}` : `${head} and ${last}`;
}

function backdropPhrase(b: Backdrop, rng: Random): string {
  const adjectives: Record<Backdrop['kind'], string[]> = {
    flat: ['plain', b.colourName, `plain ${b.colourName}`],
    gradient: ['gradient', 'fading', 'shaded'],
    stripes: ['striped', 'stripy'],
    noise: ['speckled', 'textured', 'mottled', 'noisy'],
  };
  if (b.kind === 'stripes' && rng.chance(0.25)) return rng.pick(['on stripes', 'over stripes']);
  const adj = rng.pick(adjectives[b.kind]);
  const noun = rng.chance(0.7) ? 'background' : 'backdrop';
  return `${rng.pick(['on', 'against', 'over'])} ${article(adj)} ${adj} ${noun}`;
}

function groupItems(objects: readonly SceneObject[]): Item[] {
  const items: Item[] = [];
  for (const o of objects) {
    const same = items.find((it) => it.colour === o.colour && it.shape === o.shape);
    if (same) same.objects.push(o);
    else items.push({ colour: o.colour, shape: o.shape, objects: [o] });
  }
  return items;
}

/**
 * A caption for the given objects (those visible in the picture) on the given backdrop. Deterministic in `rng`.
 */
export function captionScene(
  objects: readonly SceneObject[],
  backdrop: Backdrop,
  width: number,
  height: number,
  rng: Random,
  opts: CaptionOptions = {},
): string {
  const { backdropChance = 0.35, framingChance = 0.15, colourDrop = 0 } = opts;
  // drawn only when the option is on, so the default captions stay byte-identical
  const colourless = colourDrop > 0 && rng.chance(colourDrop);
  // colourless: one stand-in colour for all, so that objects group by shape alone ("two stars")
  const items = rng.shuffle(colourless ? groupItems(objects.map((o) => ({ ...o, colour: 'red' as const }))) : groupItems(objects));
  const phrases = items.map((it) => itemPhrase(it, !colourless));
  const where = (it: Item): string => positionPhrase(it.objects[0], width, height);
  const single = (it: Item): boolean => it.objects.length === 1;
  const beVerb = items.length === 1 && single(items[0]) ? 'is' : 'are';

  const options: (() => string)[] = [() => joinList(phrases, rng), () => `there ${beVerb} ${joinList(phrases, rng)}`];
  if (items.length === 1) {
    const [a] = phrases;
    options.push(() => `${a} ${where(items[0])}`, () => `there ${beVerb} ${a} ${where(items[0])}`);
    if (single(items[0])) options.push(() => `a single ${colourless ? '' : `${items[0].colour} `}${items[0].shape}`, () => `just ${a}`);
  } else if (items.length === 2) {
    const [a, b] = phrases;
    const verb = single(items[0]) ? 'is' : 'are';
    options.push(
      () => `${a} ${rng.pick(['next to', 'beside', 'with', 'near'])} ${b}`,
      () => `there ${verb} ${a} next to ${b}`,
      () => `${a} ${where(items[0])} and ${b} ${where(items[1])}`,
    );
    if (single(items[0]) && single(items[1])) {
      options.push(() => `${a} ${relation(items[0].objects[0], items[1].objects[0])} ${b}`);
    }
  } else if (items.length >= 3) {
    const [a, b, c] = phrases;
    options.push(
      () => `${a} with ${joinList(phrases.slice(1), rng)}`,
      () => `${a} next to ${b}, and ${c} ${where(items[2])}`,
      () => `${joinList(phrases.slice(0, -1), rng)}, with ${phrases[phrases.length - 1]} ${where(items[items.length - 1])}`,
    );
  }
  let text = rng.pick(options)();
  if (rng.chance(backdropChance)) text += ` ${backdropPhrase(backdrop, rng)}`;
  if (rng.chance(framingChance)) text = `${rng.pick(['an image of', 'a picture of', 'a drawing of', 'a photo of'])} ${text}`;
  return text;
}
