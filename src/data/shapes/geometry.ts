// Inside tests for the eight shapes, in a local frame where the shape fits the unit disc (x right, y up). Rendering
// and the ground-truth mask both call these, so a mask pixel is exactly where paint went.
import type { ShapeName } from './world.js';

type Inside = (x: number, y: number) => boolean;

const TAU = Math.PI * 2;

// Star: five points at radius 1, inner vertices at radius 0.45. Folding the angle into one half-spike reduces the
// test to one side of a single edge.
const STAR_INNER = 0.45;
const STAR_HALF = Math.PI / 5;
const SPIKE_X0 = 1;
const SPIKE_Y0 = 0;
const SPIKE_X1 = STAR_INNER * Math.cos(STAR_HALF);
const SPIKE_Y1 = STAR_INNER * Math.sin(STAR_HALF);

function insideStar(x: number, y: number): boolean {
  const r = Math.hypot(x, y);
  if (r > 1) return false;
  if (r <= STAR_INNER * Math.cos(STAR_HALF)) return true;
  // Angle measured from a point (the +y axis), folded into [0, π/5].
  let a = Math.atan2(x, y);
  a = ((a % (2 * STAR_HALF)) + 2 * STAR_HALF) % (2 * STAR_HALF);
  if (a > STAR_HALF) a = 2 * STAR_HALF - a;
  const qx = r * Math.cos(a);
  const qy = r * Math.sin(a);
  // Same side of the edge (spike tip → inner vertex) as the origin.
  const cross = (SPIKE_X1 - SPIKE_X0) * (qy - SPIKE_Y0) - (SPIKE_Y1 - SPIKE_Y0) * (qx - SPIKE_X0);
  return cross >= 0;
}

// Equilateral triangle with a vertex up: inside when within the inradius (half the circumradius) of all three edges.
const TRI_NORMALS = [0, 1, 2].map((k) => [Math.cos(-Math.PI / 2 + (k * TAU) / 3), Math.sin(-Math.PI / 2 + (k * TAU) / 3)]);

function insideTriangle(x: number, y: number): boolean {
  // Circumradius 1/1.15 and the centroid moved down by a quarter of it: the bounding box, not the centroid, sits at
  // the centre, so the triangle fills the disc as much as the other shapes do.
  const s = 1.15;
  const yy = y + 0.25 / s;
  return TRI_NORMALS.every(([nx, ny]) => (x * nx + yy * ny) * s <= 0.5);
}

// Heart: the classic implicit curve (x² + y² − 1)³ − x²y³ ≤ 0, which spans x ∈ [−1.14, 1.14], y ∈ [−1, 1.25];
// scaled and shifted to sit inside the unit disc.
function insideHeart(x: number, y: number): boolean {
  const hx = x * 1.2;
  const hy = y * 1.2 + 0.15;
  const q = hx * hx + hy * hy - 1;
  return q * q * q - hx * hx * hy * hy * hy <= 0;
}

export const INSIDE: Readonly<Record<ShapeName, Inside>> = {
  circle: (x, y) => x * x + y * y <= 1,
  square: (x, y) => Math.abs(x) <= 0.72 && Math.abs(y) <= 0.72,
  triangle: insideTriangle,
  star: insideStar,
  heart: insideHeart,
  cross: (x, y) => {
    const ax = Math.abs(x);
    const ay = Math.abs(y);
    return (ax <= 0.3 && ay <= 0.92) || (ay <= 0.3 && ax <= 0.92);
  },
  ring: (x, y) => {
    const r2 = x * x + y * y;
    return r2 <= 1 && r2 >= 0.55 * 0.55;
  },
  // A crescent: the unit disc minus a disc of radius 0.85 centred at (0.45, 0.1).
  moon: (x, y) => x * x + y * y <= 1 && (x - 0.45) * (x - 0.45) + (y - 0.1) * (y - 0.1) > 0.85 * 0.85,
};

/** Whether image point (px, py) (pixels, y down) lies in a shape centred at (cx, cy) with radius r, turned by angle. */
export function insideShape(shape: ShapeName, px: number, py: number, cx: number, cy: number, r: number, angle: number): boolean {
  const dx = (px - cx) / r;
  const dy = -(py - cy) / r; // local frame has y up
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  // Rotate the point by −angle, which turns the shape by +angle.
  return INSIDE[shape](c * dx + s * dy, -s * dx + c * dy);
}
