// A scene is the description of one generated picture: its backdrop and its objects, in drawing order. Sampling it
// apart from rasterising keeps the layout (what captions talk about) independent of the pixel details.
import type { Random } from '../../util/random.js';
import {
  BACKDROP_COLOURS,
  BACKDROP_COLOUR_NAMES,
  BACKDROP_KINDS,
  COLOURS,
  COLOUR_NAMES,
  SHAPES,
  classIndex,
  type BackdropColourName,
  type BackdropKind,
  type ColourName,
  type Rgb,
  type ShapeName,
} from './world.js';

export interface SceneObject {
  shape: ShapeName;
  colour: ColourName;
  /** Mask value of this object's class (1–8). */
  classIndex: number;
  /** Centre in pixels (x right, y down). */
  cx: number;
  cy: number;
  /** Radius of the disc the shape fits in, in pixels (diameter = 30–60% of the image side). */
  radius: number;
  /** Turn in radians, counter-clockwise as seen. */
  angle: number;
  /** The jittered paint colour. */
  rgb: Rgb;
}

export interface Backdrop {
  kind: BackdropKind;
  /** The main colour's name (captions use it), and the two colours blended by gradient, stripes and noise. */
  colourName: BackdropColourName;
  colours: [Rgb, Rgb];
  /** Direction of the gradient or of the stripes' normal, radians. */
  angle: number;
  /** Stripe period in pixels. */
  period: number;
}

export interface Scene {
  width: number;
  height: number;
  backdrop: Backdrop;
  objects: SceneObject[];
}

export interface SceneOptions {
  minObjects?: number;
  maxObjects?: number;
  /** Diameter range as a fraction of the shorter image side. */
  minSize?: number;
  maxSize?: number;
  /**
   * How close two objects may be: their centres are at least overlap·(r1 + r2) apart. Below 1 lets bounding discs
   * overlap a little (later objects occlude earlier ones) while keeping every object clearly visible.
   */
  overlap?: number;
}

const clamp255 = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

function jitter(rng: Random, rgb: Rgb, brightness: [number, number], perChannel: number): Rgb {
  // One brightness factor for the whole colour (its shade), then a small independent nudge per channel (its tint).
  const k = rng.uniform(brightness[0], brightness[1]);
  const ch = (c: number): number => clamp255(rgb[c] * k + rng.uniform(-perChannel, perChannel));
  const r = ch(0);
  const g = ch(1);
  return [r, g, ch(2)];
}

function sampleBackdrop(rng: Random, side: number): Backdrop {
  const kind = rng.pick(BACKDROP_KINDS);
  const colourName = rng.pick(BACKDROP_COLOUR_NAMES);
  let secondName = rng.pick(BACKDROP_COLOUR_NAMES);
  if (secondName === colourName) secondName = BACKDROP_COLOUR_NAMES[(BACKDROP_COLOUR_NAMES.indexOf(colourName) + 3) % BACKDROP_COLOUR_NAMES.length];
  return {
    kind,
    colourName,
    colours: [jitter(rng, BACKDROP_COLOURS[colourName], [0.94, 1.06], 6), jitter(rng, BACKDROP_COLOURS[secondName], [0.94, 1.06], 6)],
    angle: rng.uniform(0, Math.PI),
    period: rng.uniform(6, 14) * (side / 64),
  };
}

export function sampleScene(rng: Random, width = 64, height = width, opts: SceneOptions = {}): Scene {
  const { minObjects = 1, maxObjects = 3, minSize = 0.3, maxSize = 0.6, overlap = 0.8 } = opts;
  const side = Math.min(width, height);
  const backdrop = sampleBackdrop(rng, side);
  const want = rng.intIn(minObjects, maxObjects);
  const objects: SceneObject[] = [];
  for (let n = 0; n < want; n++) {
    const shape = rng.pick(SHAPES);
    const colour = rng.pick(COLOUR_NAMES);
    const rgb = jitter(rng, COLOURS[colour], [0.88, 1.08], 14);
    const angle = rng.uniform(0, 2 * Math.PI);
    // Rejection sampling of size and place; an object that finds no room after many tries is left out, so a
    // crowded draw yields fewer objects rather than one hidden behind another.
    for (let attempt = 0; attempt < 40; attempt++) {
      const radius = (rng.uniform(minSize, maxSize) * side) / 2;
      const cx = rng.uniform(radius, width - radius);
      const cy = rng.uniform(radius, height - radius);
      const clear = objects.every((o) => Math.hypot(o.cx - cx, o.cy - cy) >= overlap * (o.radius + radius));
      if (clear) {
        objects.push({ shape, colour, classIndex: classIndex(shape), cx, cy, radius, angle, rgb });
        break;
      }
    }
  }
  return { width, height, backdrop, objects };
}
