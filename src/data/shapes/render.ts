// Rasterising a scene: the backdrop, then each object over the earlier ones, each pixel sampled at 2×2 points so
// edges are anti-aliased, then light sensor-like noise. The ground-truth mask comes from the same inside tests: a
// pixel belongs to the topmost object that covers at least half of its samples (two of four).
import type { RgbImage } from '../../io/image.js';
import type { Random } from '../../util/random.js';
import { insideShape } from './geometry.js';
import type { Backdrop, Scene } from './scene.js';

export interface RenderedScene {
  image: RgbImage;
  /** One byte per pixel: 0 background, 1–8 the class of the object seen there. */
  mask: Uint8Array;
  /** Per object (scene order): how many pixels of the mask it owns after occlusion. */
  visiblePixels: number[];
}

export interface RenderOptions {
  /** Standard deviation of the per-pixel noise, in 0–255 units. */
  noise?: number;
  /** Strength of the soft lighting gradient across each object (fraction of its colour). */
  shading?: number;
}

/** The 2×2 sub-sample offsets within a pixel. */
const SUB = [0.25, 0.75];

/** Value noise: a coarse lattice of random values, smoothly interpolated; two octaves for a mottled look. */
function valueNoise(rng: Random, width: number, height: number): (x: number, y: number) => number {
  const octaves = [
    { cells: 4, weight: 0.65 },
    { cells: 10, weight: 0.35 },
  ].map(({ cells, weight }) => {
    const lattice = new Float64Array((cells + 1) * (cells + 1));
    for (let i = 0; i < lattice.length; i++) lattice[i] = rng.next();
    return { cells, weight, lattice };
  });
  const smooth = (t: number): number => t * t * (3 - 2 * t);
  return (x, y) => {
    let v = 0;
    for (const { cells, weight, lattice } of octaves) {
      const gx = (x / width) * cells;
      const gy = (y / height) * cells;
      const ix = Math.min(cells - 1, Math.floor(gx));
      const iy = Math.min(cells - 1, Math.floor(gy));
      const fx = smooth(gx - ix);
      const fy = smooth(gy - iy);
      const at = (a: number, b: number): number => lattice[b * (cells + 1) + a];
      const top = at(ix, iy) * (1 - fx) + at(ix + 1, iy) * fx;
      const bottom = at(ix, iy + 1) * (1 - fx) + at(ix + 1, iy + 1) * fx;
      v += weight * (top * (1 - fy) + bottom * fy);
    }
    return v;
  };
}

/** Blend weight of the backdrop's second colour at a point: 0 flat, a ramp, a square wave, or noise. */
function backdropField(b: Backdrop, rng: Random, width: number, height: number): (x: number, y: number) => number {
  const c = Math.cos(b.angle);
  const s = Math.sin(b.angle);
  const along = (x: number, y: number): number => (x - width / 2) * c + (y - height / 2) * s;
  switch (b.kind) {
    case 'flat':
      return () => 0;
    case 'gradient': {
      const half = (Math.abs(width * c) + Math.abs(height * s)) / 2;
      return (x, y) => Math.max(0, Math.min(1, along(x, y) / (2 * half) + 0.5));
    }
    case 'stripes':
      return (x, y) => {
        const p = along(x, y) / b.period;
        return p - Math.floor(p) < 0.5 ? 0 : 1;
      };
    case 'noise':
      return valueNoise(rng, width, height);
  }
}

export function renderScene(scene: Scene, rng: Random, opts: RenderOptions = {}): RenderedScene {
  const { noise = 2.5, shading = 0.08 } = opts;
  const { width: w, height: h, backdrop, objects } = scene;
  const acc = new Float32Array(w * h * 3);

  // Backdrop, averaged over the sub-samples so stripe edges are anti-aliased too.
  const field = backdropField(backdrop, rng, w, h);
  const [c0, c1] = backdrop.colours;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let t = 0;
      for (const sy of SUB) for (const sx of SUB) t += field(x + sx, y + sy);
      t /= 4;
      const o = (y * w + x) * 3;
      for (let ch = 0; ch < 3; ch++) acc[o + ch] = c0[ch] * (1 - t) + c1[ch] * t;
    }
  }

  // Objects in order; `owner` remembers which object each mask pixel came from, to count what stays visible.
  const mask = new Uint8Array(w * h);
  const owner = new Int16Array(w * h).fill(-1);
  objects.forEach((obj, k) => {
    const light = rng.uniform(0, 2 * Math.PI);
    const lx = Math.cos(light);
    const ly = Math.sin(light);
    const x0 = Math.max(0, Math.floor(obj.cx - obj.radius - 1));
    const x1 = Math.min(w - 1, Math.ceil(obj.cx + obj.radius + 1));
    const y0 = Math.max(0, Math.floor(obj.cy - obj.radius - 1));
    const y1 = Math.min(h - 1, Math.ceil(obj.cy + obj.radius + 1));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        let hits = 0;
        for (const sy of SUB) {
          for (const sx of SUB) if (insideShape(obj.shape, x + sx, y + sy, obj.cx, obj.cy, obj.radius, obj.angle)) hits++;
        }
        if (hits === 0) continue;
        const cover = hits / 4;
        const p = y * w + x;
        // A soft light falloff across the object, so a shape is not a perfectly flat colour.
        const shade = 1 + (shading * ((x + 0.5 - obj.cx) * lx + (y + 0.5 - obj.cy) * ly)) / obj.radius;
        for (let ch = 0; ch < 3; ch++) acc[p * 3 + ch] = acc[p * 3 + ch] * (1 - cover) + obj.rgb[ch] * shade * cover;
        if (hits >= 2) {
          mask[p] = obj.classIndex;
          owner[p] = k;
        }
      }
    }
  });

  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) {
    const v = acc[i] + (noise > 0 ? noise * rng.normal() : 0);
    data[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  const visiblePixels = objects.map(() => 0);
  for (let p = 0; p < owner.length; p++) if (owner[p] >= 0) visiblePixels[owner[p]]++;
  return { image: { width: w, height: h, data }, mask, visiblePixels };
}
