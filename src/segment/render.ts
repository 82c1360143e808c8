// The pictures of a segmentation: the mask (an indexed PNG whose pixel value is the class), an overlay of class
// colours on the image with a legend, and the final groups in distinct colours over the image, as the paper's figures
// show them.
import { join } from 'node:path';
import type { RgbImage } from '../io/image.js';
import { encodePngPalette, encodePngRGB, type Rgb } from '../io/png-write.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { drawText, GLYPH_HEIGHT, textWidth } from '../io/font.js';
import type { Segmentation } from './pipeline.js';

/**
 * The PASCAL VOC colour map: index 0 black, then 1 (128,0,0), 2 (0,128,0), 3 (128,128,0), … — the bits of the index
 * spread over the channels' high bits, so all 256 entries are distinct.
 */
export function vocColor(index: number): Rgb {
  let r = 0;
  let g = 0;
  let b = 0;
  let c = index;
  for (let j = 7; j >= 0; j--) {
    r |= (c & 1) << j;
    g |= ((c >> 1) & 1) << j;
    b |= ((c >> 2) & 1) << j;
    c >>= 3;
  }
  return [r, g, b];
}

// Twenty bright, mutually distinct colours (Trubetskoy's list) for the first classes: VOC's own are too dark to show
// through a blend on photos.
const BRIGHT: readonly Rgb[] = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [67, 99, 216], [245, 130, 49], [145, 30, 180], [66, 212, 244],
  [240, 50, 230], [191, 239, 69], [250, 190, 212], [70, 153, 144], [220, 190, 255], [154, 99, 36], [255, 250, 200],
  [128, 0, 0], [170, 255, 195], [128, 128, 0], [255, 216, 177], [0, 0, 117], [169, 169, 169],
];

/**
 * The fixed colour of class index k in every picture and in the mask's palette: 0 (background) black, 1–20 the bright
 * list, from 21 on the VOC colour of the same index (all 256 are distinct, which the tests check).
 */
export function classColor(index: number): Rgb {
  if (index === 0) return [0, 0, 0];
  if (index <= BRIGHT.length) return BRIGHT[index - 1];
  return vocColor(index);
}

/** Palette of a mask with `classes` foreground classes: entry 0 background, entry k class k. */
export function maskPalette(classes: number): Rgb[] {
  return Array.from({ length: classes + 1 }, (_, i) => classColor(i));
}

export function encodeMask(seg: Segmentation): Uint8Array {
  return encodePngPalette(seg.mask, seg.width, seg.height, maskPalette(seg.classes.length));
}

function hsv(h: number, s: number, v: number): Rgb {
  const i = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][i];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** Bright, well-separated colours for the n-th group: hues stepped by the golden ratio. */
export function groupColor(n: number): Rgb {
  return hsv((n * 0.618033988749895 + 0.07) % 1, n % 2 ? 0.65 : 0.85, n % 3 === 2 ? 0.8 : 0.95);
}

function blend(img: RgbImage, labels: ArrayLike<number>, color: (label: number) => Rgb | null, alpha: number): RgbImage {
  const out = new Uint8Array(img.data.length);
  const cache = new Map<number, Rgb | null>();
  for (let p = 0; p < img.width * img.height; p++) {
    const label = labels[p];
    let c = cache.get(label);
    if (c === undefined) cache.set(label, (c = color(label)));
    for (let k = 0; k < 3; k++) {
      const v = img.data[p * 3 + k];
      out[p * 3 + k] = c ? Math.round(v * (1 - alpha) + c[k] * alpha) : v;
    }
  }
  return { width: img.width, height: img.height, data: out };
}

/** Paints the pixels whose right or lower neighbour has another label, so regions read as outlined shapes. */
function outline(img: RgbImage, labels: ArrayLike<number>, rgb: Rgb = [255, 255, 255]): void {
  const { width: w, height: h } = img;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const edge = (x + 1 < w && labels[p + 1] !== labels[p]) || (y + 1 < h && labels[p + w] !== labels[p]);
      if (edge) img.data.set(rgb, p * 3);
    }
  }
}

/** Font scale for a picture: 1 up to 400 px wide, then one step per 400 px. */
function fontScale(width: number): number {
  return Math.max(1, Math.floor(width / 400));
}

/**
 * The image with each class's pixels blended with its mask colour (background left as it is), class boundaries
 * outlined, and a legend strip below the picture naming every class present with its share of the pixels. The picture
 * keeps the image's size at the top left; the legend strip adds rows below it.
 */
export function renderOverlay(image: RgbImage, seg: Segmentation): RgbImage {
  const base = blend(image, seg.mask, (k) => (k === 0 ? null : classColor(k)), 0.55);
  outline(base, seg.mask);
  const present = seg.stats.filter((s) => s.pixels > 0);
  const scale = fontScale(image.width);
  const line = (GLYPH_HEIGHT + 3) * scale;
  const swatch = GLYPH_HEIGHT * scale;
  const pad = 2 * scale;
  const labels = present.map((s) => `${s.name} ${(100 * s.share).toFixed(s.share < 0.1 ? 1 : 0)}%`);
  const width = Math.max(image.width, ...labels.map((l) => pad * 2 + swatch + pad + textWidth(l, scale)));
  // lay the entries out in rows, wrapping at the picture's width
  const spots: { x: number; row: number }[] = [];
  let x = pad;
  let row = 0;
  for (const l of labels) {
    const w = swatch + pad + textWidth(l, scale) + 3 * pad;
    if (x > pad && x + w > width) {
      x = pad;
      row++;
    }
    spots.push({ x, row });
    x += w;
  }
  const legendH = (row + 1) * line + pad;
  const out: RgbImage = { width, height: image.height + legendH, data: new Uint8Array(width * (image.height + legendH) * 3).fill(255) };
  for (let y = 0; y < image.height; y++) out.data.set(base.data.subarray(y * image.width * 3, (y + 1) * image.width * 3), y * width * 3);
  present.forEach((s, i) => {
    const top = image.height + pad + spots[i].row * line;
    const c = classColor(s.index);
    for (let yy = 0; yy < swatch; yy++) {
      for (let xx = 0; xx < swatch; xx++) {
        const edge = yy === 0 || xx === 0 || yy === swatch - 1 || xx === swatch - 1;
        out.data.set(edge ? [0, 0, 0] : c, ((top + yy) * width + spots[i].x + xx) * 3);
      }
    }
    drawText(out, spots[i].x + swatch + pad, top, labels[i], [0, 0, 0], scale);
  });
  return out;
}

/** The final groups, each in its own colour blended over the image and outlined, at the image's size. */
export function renderGroups(image: RgbImage, seg: Segmentation): RgbImage {
  // number the groups by first appearance so that the colours do not depend on which of the G groups won
  const order = new Map<number, number>();
  for (const g of seg.groups) if (!order.has(g)) order.set(g, order.size);
  const out = blend(image, seg.groups, (g) => groupColor(order.get(g)!), 0.6);
  outline(out, seg.groups, [0, 0, 0]);
  return out;
}

export interface OutputPaths {
  mask: string;
  overlay: string;
  groups: string;
}

export function outputPaths(dir: string, name: string): OutputPaths {
  return { mask: join(dir, `${name}.mask.png`), overlay: join(dir, `${name}.overlay.png`), groups: join(dir, `${name}.groups.png`) };
}

/** Writes NAME.mask.png, NAME.overlay.png and NAME.groups.png (each atomically) and returns their paths. */
export function writeOutputs(dir: string, name: string, image: RgbImage, seg: Segmentation): OutputPaths {
  const paths = outputPaths(dir, name);
  writeFileAtomic(paths.mask, encodeMask(seg));
  writeFileAtomic(paths.overlay, encodePngRGB(renderOverlay(image, seg)));
  writeFileAtomic(paths.groups, encodePngRGB(renderGroups(image, seg)));
  return paths;
}
