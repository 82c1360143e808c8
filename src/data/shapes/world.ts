// The vocabulary of the generated world: eight shape classes, six object colours and a muted backdrop palette.
// Class indices are what masks store: 0 is background, then the shapes in SHAPES order (1 = circle … 8 = moon).

export const SHAPES = ['circle', 'square', 'triangle', 'star', 'heart', 'cross', 'ring', 'moon'] as const;
export type ShapeName = (typeof SHAPES)[number];

/** Names of the mask classes, index = mask value. */
export const CLASS_NAMES: readonly string[] = ['background', ...SHAPES];

export function classIndex(shape: ShapeName): number {
  return SHAPES.indexOf(shape) + 1;
}

export type Rgb = readonly [number, number, number];

/** Saturated, well-separated hues, so a colour word always has one unambiguous look. */
export const COLOURS = {
  red: [214, 40, 40],
  green: [46, 160, 67],
  blue: [40, 90, 215],
  yellow: [238, 206, 40],
  purple: [140, 64, 184],
  orange: [243, 133, 28],
} as const satisfies Record<string, Rgb>;
export type ColourName = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as ColourName[];

/**
 * Backdrop colours: low saturation and mid-to-light value, so that no backdrop can be mistaken for an object colour.
 * The names are used as adjectives in captions ("a grey background").
 */
export const BACKDROP_COLOURS = {
  grey: [150, 150, 148],
  beige: [206, 194, 168],
  sage: [158, 172, 150],
  slate: [128, 138, 152],
  sand: [190, 176, 146],
  taupe: [164, 150, 140],
  cream: [226, 220, 204],
  mauve: [170, 154, 168],
} as const satisfies Record<string, Rgb>;
export type BackdropColourName = keyof typeof BACKDROP_COLOURS;
export const BACKDROP_COLOUR_NAMES = Object.keys(BACKDROP_COLOURS) as BackdropColourName[];

export const BACKDROP_KINDS = ['flat', 'gradient', 'stripes', 'noise'] as const;
export type BackdropKind = (typeof BACKDROP_KINDS)[number];

/** Palette for drawing masks (index = class), used for the palette PNGs of the ground truth. */
export const CLASS_PALETTE: readonly Rgb[] = [
  [0, 0, 0],
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
];
