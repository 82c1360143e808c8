/**
 * Bicubic resize of a learned position embedding [gy·gx, C] (row-major grid) to [oy·ox, C], exactly as NVlabs'
 * `F.interpolate(size=(h, w), mode='bicubic', align_corners=False)`: Keys' kernel with A = -0.75, half-pixel
 * centres, source indices clamped at the borders. Done once per grid size on the host, in float64.
 */
export function resizePosEmbed(src: Float32Array, gy: number, gx: number, c: number, oy: number, ox: number): Float32Array {
  const out = new Float32Array(oy * ox * c);
  const wy = weights(gy, oy);
  const wx = weights(gx, ox);
  const acc = new Float64Array(c);
  for (let y = 0; y < oy; y++) {
    for (let x = 0; x < ox; x++) {
      acc.fill(0);
      for (let i = 0; i < 4; i++) {
        const sy = wy.idx[y * 4 + i];
        for (let j = 0; j < 4; j++) {
          const sx = wx.idx[x * 4 + j];
          const w = wy.w[y * 4 + i] * wx.w[x * 4 + j];
          const base = (sy * gx + sx) * c;
          for (let k = 0; k < c; k++) acc[k] += w * src[base + k];
        }
      }
      out.set(acc, (y * ox + x) * c);
    }
  }
  return out;
}

function cubic(t: number, a = -0.75): number {
  const x = Math.abs(t);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** For each output index: the 4 source taps (clamped) and their weights. */
function weights(inSize: number, outSize: number): { idx: Int32Array; w: Float64Array } {
  const idx = new Int32Array(outSize * 4);
  const w = new Float64Array(outSize * 4);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const s = (o + 0.5) * scale - 0.5;
    const f = Math.floor(s);
    const t = s - f;
    for (let k = 0; k < 4; k++) {
      idx[o * 4 + k] = Math.min(Math.max(f - 1 + k, 0), inSize - 1);
      w[o * 4 + k] = cubic(t + 1 - k);
    }
  }
  return { idx, w };
}
