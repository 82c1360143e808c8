/**
 * Contrast-sensitive weights between neighbouring patches (8-connected grid), each image's weights summing to 1:
 * w_tu = exp(−β·|c_t − c_u|²) for neighbours t, u, with c a patch's mean colour and β = 1 / (2 · the image's mean
 * |c_t − c_u|² over its neighbour pairs) (GrabCut's rule, so the same edge counts alike on a faint and a vivid image).
 * Patches on either side of a colour edge weigh little, patches inside a flat region weigh most.
 * pixels:[B, 3, H, W] (any per-channel affine normalisation) -> [B, L, L], L = gh·gw patches in row-major order
 */
export function patchAffinity(pixels: Float32Array, shape: readonly [number, number, number, number], gh: number, gw: number): Float32Array {
  const [b, ch, h, w] = shape;
  if (h % gh || w % gw) throw new Error(`patchAffinity: a ${h}×${w} image does not split into ${gh}×${gw} patches`);
  const ph = h / gh;
  const pw = w / gw;
  const l = gh * gw;
  const out = new Float32Array(b * l * l);
  const colour = new Float64Array(l * ch);
  const pairs: [number, number][] = [];
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      // each unordered pair once: right, down-left, down, down-right
      for (const [dy, dx] of [[0, 1], [1, -1], [1, 0], [1, 1]]) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy < gh && xx >= 0 && xx < gw) pairs.push([y * gw + x, yy * gw + xx]);
      }
    }
  }
  const d2 = new Float64Array(pairs.length);
  for (let i = 0; i < b; i++) {
    colour.fill(0);
    for (let c = 0; c < ch; c++) {
      const plane = (i * ch + c) * h * w;
      for (let y = 0; y < h; y++) {
        const row = plane + y * w;
        const prow = Math.floor(y / ph) * gw;
        for (let x = 0; x < w; x++) colour[(prow + Math.floor(x / pw)) * ch + c] += pixels[row + x];
      }
    }
    for (let k = 0; k < colour.length; k++) colour[k] /= ph * pw;
    let meanD2 = 0;
    pairs.forEach(([t, u], k) => {
      let s = 0;
      for (let c = 0; c < ch; c++) s += (colour[t * ch + c] - colour[u * ch + c]) ** 2;
      d2[k] = s;
      meanD2 += s / pairs.length;
    });
    // a flat image: every pair alike
    const beta = meanD2 > 1e-12 ? 1 / (2 * meanD2) : 0;
    let total = 0;
    for (let k = 0; k < pairs.length; k++) total += 2 * Math.exp(-beta * d2[k]);
    const base = i * l * l;
    pairs.forEach(([t, u], k) => {
      const v = Math.exp(-beta * d2[k]) / total;
      out[base + t * l + u] = v;
      out[base + u * l + t] = v;
    });
  }
  return out;
}
