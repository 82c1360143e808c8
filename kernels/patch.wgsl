// Window gathers that turn strided convolutions into one matmul each.
//
// im2col_forward: pixels [B, Ch, H, W] -> windows [B, gh·gw, Ch·k·k] in the order (c, ky, kx) of a Conv2d weight
// [C, Ch, k, k]; window (ty, tx) starts at pixel (ty·s − pad, tx·s − pad). Pixels outside the first eh rows and ew
// columns read as zero padding, so a caller can drop the remainder past the last whole patch (Conv2d floors
// non-multiples of the patch size) without copying the image. The patch embedding is the case k = s = p, pad = 0.
//
// space_to_depth_forward: tokens [B, h·w, C] -> [B, gh·gw, C·k·k], k×k neighbouring tokens merged into one, in the
// same (c, ky, kx) order, so a Linear on the merged tokens is a Conv2d(k, stride k) with its weight flattened. It is
// im2col with s = k, pad = 0 on a channels-last grid; rows and columns past gh·k, gw·k are dropped. A permutation:
// its backward is the inverse gather, zero for the dropped tokens.

struct Params {
  b: u32,
  ch: u32,   // channels of the source
  h: u32,    // source grid
  w: u32,
  eh: u32,   // rows and columns of the source that windows may read (im2col only)
  ew: u32,
  k: u32,    // window side
  s: u32,    // stride (im2col only; space_to_depth strides by k)
  pad: u32,  // zero padding before the first row and column (im2col only)
  gh: u32,   // output grid
  gw: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid;
}

// Element t of a window matrix [B, gh·gw, Ch·k·k]: its image, token, channel and place in the window.
struct WindowElement { t: u32, bi: u32, tok: u32, c: u32, ky: u32, kx: u32, valid: bool }

fn windowElement(t: u32) -> WindowElement {
  let kk = u.k * u.k;
  let cols = u.ch * kk;
  let n = u.gh * u.gw;
  let col = t % cols;
  return WindowElement(t, t / (cols * n), (t / cols) % n, col / kk, (col / u.k) % u.k, col % u.k, t < u.b * n * cols);
}

@compute @workgroup_size(256)
fn im2col_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = windowElement(flat(wg, nwg, lid));
  if (!e.valid) { return; }
  // signed: the padding puts the first windows' corners above and left of the image
  let y = i32((e.tok / u.gw) * u.s + e.ky) - i32(u.pad);
  let x = i32((e.tok % u.gw) * u.s + e.kx) - i32(u.pad);
  var v = 0.0;
  if (y >= 0 && y < i32(u.eh) && x >= 0 && x < i32(u.ew)) {
    v = src[((e.bi * u.ch + e.c) * u.h + u32(y)) * u.w + u32(x)];
  }
  out[e.t] = v;
}

// out[b, ty·gw + tx, (c·k + ky)·k + kx] = src[b, (ty·k + ky)·w + tx·k + kx, c]
@compute @workgroup_size(256)
fn space_to_depth_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = windowElement(flat(wg, nwg, lid));
  if (!e.valid) { return; }
  let y = (e.tok / u.gw) * u.k + e.ky;
  let x = (e.tok % u.gw) * u.k + e.kx;
  out[e.t] = src[((e.bi * u.h + y) * u.w + x) * u.ch + e.c];
}

// The inverse gather, one invocation per source element: src here is the gradient of the merged tokens,
// out the gradient of the grid [B, h·w, C].
@compute @workgroup_size(256)
fn space_to_depth_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= u.b * u.h * u.w * u.ch) { return; }
  let c = t % u.ch;
  let pos = (t / u.ch) % (u.h * u.w);
  let bi = t / (u.ch * u.h * u.w);
  let y = pos / u.w;
  let x = pos % u.w;
  let ty = y / u.k;
  let tx = x / u.k;
  var v = 0.0;
  if (ty < u.gh && tx < u.gw) {
    let col = (c * u.k + y % u.k) * u.k + x % u.k;
    v = src[((bi * u.gh + ty) * u.gw + tx) * u.ch * u.k * u.k + col];
  }
  out[t] = v;
}
