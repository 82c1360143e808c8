import { Tensor } from '../tensor/tensor.js';
import { grid1d, run } from './dispatch.js';

// im2col   pixels:[B, Ch, H, W] -> [B, gh·gw, Ch·p·p]; not differentiable (pixels are data, never parameters)
export function patchify(pixels: Tensor, p: number): { patches: Tensor; gh: number; gw: number } {
  const [b, ch, h, w] = pixels.shape;
  const gh = Math.floor(h / p);
  const gw = Math.floor(w / p);
  const patches = Tensor.empty([b, gh * gw, ch * p * p]);
  run({ file: 'patch', entry: 'patchify_forward', uniforms: [b, ch, h, w, p, gh, gw], buffers: [pixels.buffer, patches.buffer], workgroups: grid1d(patches.size) });
  return { patches, gh, gw };
}
