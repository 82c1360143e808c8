// im2col for the patch embedding: pixels [B, Ch, H, W] -> patches [B, gh·gw, Ch·p·p] in the order (c, ky, kx) of a
// Conv2d weight [C, Ch, p, p], so the strided convolution becomes one matmul. Pixels past gh·p or gw·p are dropped
// (Conv2d floors non-multiples of the patch size).

struct Params {
  b: u32,
  ch: u32,
  h: u32,
  w: u32,
  p: u32,
  gh: u32,
  gw: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn patchify_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wg.y * nwg.x + wg.x) * 256u + lid;
  let k = u.ch * u.p * u.p;
  let n = u.gh * u.gw;
  if (t >= u.b * n * k) { return; }
  let col = t % k;
  let tok = (t / k) % n;
  let bi = t / (k * n);
  let c = col / (u.p * u.p);
  let ky = (col / u.p) % u.p;
  let kx = col % u.p;
  let y = (tok / u.gw) * u.p + ky;
  let x = (tok % u.gw) * u.p + kx;
  out[t] = img[((bi * u.ch + c) * u.h + y) * u.w + x];
}
