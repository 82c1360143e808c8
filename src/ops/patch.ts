import { Tensor, shapeStr } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { grid1d, run } from './dispatch.js';

/** A convolution window: side k, stride s, zero padding pad before the first row and column. */
export interface ConvWindow {
  k: number;
  s: number;
  pad: number;
}

/** Output positions of a window sliding over `size` pixels (Conv2d's floor((size + 2·pad − k)/s) + 1). */
export function convOutSize(size: number, win: ConvWindow): number {
  return Math.floor((size + 2 * win.pad - win.k) / win.s) + 1;
}

// im2col   pixels:[B, Ch, H, W] -> [B, gh·gw, Ch·k·k]; not differentiable (pixels are data, never parameters)
// Only the first extent = [eh, ew] rows and columns are read, the rest is padding: a crop without a copy.
export function im2col(pixels: Tensor, win: ConvWindow, extent?: [number, number]): { patches: Tensor; gh: number; gw: number } {
  const [b, ch, h, w] = pixels.shape;
  const [eh, ew] = extent ?? [h, w];
  const { k, s, pad } = win;
  if (pixels.rank !== 4 || eh > h || ew > w) throw new Error(`im2col: pixels ${shapeStr(pixels.shape)} are not [B, Ch, H, W] with ${eh}x${ew} inside`);
  const gh = convOutSize(eh, win);
  const gw = convOutSize(ew, win);
  if (gh < 1 || gw < 1) throw new Error(`im2col: a ${k}x${k} window (padding ${pad}) does not fit ${eh}x${ew} pixels`);
  const patches = Tensor.empty([b, gh * gw, ch * k * k]);
  run({
    file: 'patch', entry: 'im2col_forward_window', uniforms: [b, ch, h, w, eh, ew, k, s, pad, gh, gw],
    buffers: [pixels.buffer, patches.buffer], workgroups: grid1d(b * gh * gw * ch),
  });
  return { patches, gh, gw };
}

// Patch embedding's im2col   pixels:[B, Ch, H, W] -> [B, gh·gw, Ch·p·p], gh = floor(H/p) (the remainder is dropped)
export function patchify(pixels: Tensor, p: number): { patches: Tensor; gh: number; gw: number } {
  return im2col(pixels, { k: p, s: p, pad: 0 });
}

function spaceToDepthKernel(dir: 'forward' | 'backward', src: Tensor, outShape: readonly number[], dims: number[]): Tensor {
  const out = Tensor.empty(outShape);
  const [b, c, h, w, k, gh, gw] = dims;
  // vec4 kernels where the channels come in whole vec4s: a quarter of the invocations, vec4 loads and stores
  const vec4 = k === 2 && c % 4 === 0;
  const entry = vec4 ? `space_to_depth2_${dir}_vec4` : `space_to_depth_${dir}`;
  const invocations = !vec4 ? out.size : dir === 'forward' ? b * gh * gw * (c / 4) : b * h * w * (c / 4);
  run({ file: 'patch', entry, uniforms: [b, c, h, w, h, w, k, k, 0, gh, gw], buffers: [src.buffer, out.buffer], workgroups: grid1d(invocations) });
  return out;
}

// Merge of 2×2 neighbouring tokens   x:[B, h·w, C] -> [B, (h/2)·(w/2), 4C], channels in Conv2d order (c, dy, dx);
// an odd last row or column is dropped (its gradient is zero), as a stride-2 Conv2d without padding floors it.
export function spaceToDepth(x: Tensor, h: number, w: number): { x: Tensor; gh: number; gw: number } {
  const k = 2;
  const [b, n, c] = x.shape;
  if (x.rank !== 3 || n !== h * w) throw new Error(`spaceToDepth: ${shapeStr(x.shape)} is not a ${h}x${w} grid of tokens`);
  const gh = Math.floor(h / k);
  const gw = Math.floor(w / k);
  if (gh < 1 || gw < 1) throw new Error(`spaceToDepth: a ${h}x${w} grid has no whole 2x2 block`);
  const dims = [b, c, h, w, k, gh, gw];
  const out = spaceToDepthKernel('forward', x, [b, gh * gw, c * k * k], dims);
  record([x], out, (g) => [spaceToDepthKernel('backward', g, x.shape, dims)]);
  return { x: out, gh, gw };
}

// Overlapping windows of a token grid   x:[B, h·w, C] -> [B, gh·gw, k·k·C], in the order (ky, kx, c): a Linear on them
// is a Conv2d(k, stride s, padding pad) on the grid whose weight is laid out [C', k, k, C], so a stem layer sees its
// neighbours' pixels too. C must be a multiple of 4 (vec4 kernels: a window position is a contiguous run of channels).
export function tokenWindows(x: Tensor, h: number, w: number, win: ConvWindow): { x: Tensor; gh: number; gw: number } {
  const [b, n, c] = x.shape;
  if (x.rank !== 3 || n !== h * w) throw new Error(`tokenWindows: ${shapeStr(x.shape)} is not a ${h}x${w} grid of tokens`);
  if (c % 4) throw new Error(`tokenWindows: ${c} channels are not a multiple of 4`);
  const { k, s, pad } = win;
  const gh = convOutSize(h, win);
  const gw = convOutSize(w, win);
  if (gh < 1 || gw < 1 || pad >= k) throw new Error(`tokenWindows: a ${k}x${k} window (padding ${pad}) does not fit a ${h}x${w} grid`);
  const uniforms = [b, c, h, w, h, w, k, s, pad, gh, gw];
  const out = Tensor.empty([b, gh * gw, k * k * c]);
  run({ file: 'patch', entry: 'token_windows_forward_vec4', uniforms, buffers: [x.buffer, out.buffer], workgroups: grid1d(out.size / 4) });
  record([x], out, (g) => {
    const gx = Tensor.empty(x.shape);
    run({ file: 'patch', entry: 'token_windows_backward_vec4', uniforms, buffers: [g.buffer, gx.buffer], workgroups: grid1d(x.size / 4) });
    return [gx];
  });
  return { x: out, gh, gw };
}
