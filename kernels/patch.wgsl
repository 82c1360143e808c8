// Window gathers that turn strided convolutions into one matmul each.
//
// im2col_forward_window: pixels [B, Ch, H, W] -> windows [B, gh·gw, Ch·k·k] in the order (c, ky, kx) of a Conv2d weight
// [C, Ch, k, k]; window (ty, tx) starts at pixel (ty·s − pad, tx·s − pad). Pixels outside the first eh rows and ew
// columns read as zero padding, so a caller can drop the remainder past the last whole patch (Conv2d floors
// non-multiples of the patch size) without copying the image. The patch embedding is the case k = s = p, pad = 0.
//
// space_to_depth_forward: tokens [B, h·w, C] -> [B, gh·gw, C·k·k], k×k neighbouring tokens merged into one, in the
// same (c, ky, kx) order, so a Linear on the merged tokens is a Conv2d(k, stride k) with its weight flattened. It is
// im2col with s = k, pad = 0 on a channels-last grid; rows and columns past gh·k, gw·k are dropped. A permutation:
// its backward is the inverse gather, zero for the dropped tokens.
//
// token_windows_forward_vec4: tokens [B, h·w, C] -> [B, gh·gw, k·k·C], k×k windows with stride s and zero padding pad
// (overlapping where k > s) in the order (ky, kx, c), so that each window position is a contiguous run of C channels
// copied as vec4s (C % 4 == 0): a Linear on them is a Conv2d(k, stride s, padding pad) on a channels-last grid, its
// weight [C', k, k, C]. token_windows_backward_vec4 is the adjoint as a gather: a grid position sums the window
// entries that read it, at most ceil(k/s)² of them, with no atomics.

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

// One invocation per (image, token, channel) writing its k·k window values: the index arithmetic (integer divisions,
// per lane on lavapipe) once per window instead of once per value.
@compute @workgroup_size(256)
fn im2col_forward_window(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  let n = u.gh * u.gw;
  if (t >= u.b * n * u.ch) { return; }
  let c = t % u.ch;
  let tok = (t / u.ch) % n;
  let bi = t / (u.ch * n);
  let y0 = i32((tok / u.gw) * u.s) - i32(u.pad);
  let x0 = i32((tok % u.gw) * u.s) - i32(u.pad);
  let o = t * u.k * u.k;
  for (var ky = 0u; ky < u.k; ky++) {
    let y = y0 + i32(ky);
    for (var kx = 0u; kx < u.k; kx++) {
      let x = x0 + i32(kx);
      var v = 0.0;
      if (y >= 0 && y < i32(u.eh) && x >= 0 && x < i32(u.ew)) { v = src[((bi * u.ch + c) * u.h + u32(y)) * u.w + u32(x)]; }
      out[o + ky * u.k + kx] = v;
    }
  }
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

// The same permutation for the stem's 2×2 merges (k = 2) where the channels come in whole vec4s (C % 4 == 0): per
// invocation one token and four channels, so the index arithmetic (integer divisions, per lane on lavapipe) is done
// once for 16 values instead of once per value, and the loads and stores are vec4s.
@group(0) @binding(1) var<storage, read> src4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out4: array<vec4f>;

// Element t of a channels-last grid [B, h·w, C] taken four channels at a time: its image, row, column and vec4.
struct GridElement4 { t: u32, bi: u32, y: u32, x: u32, q: u32, valid: bool }

fn gridElement4(t: u32) -> GridElement4 {
  let q4 = u.ch / 4u;
  let pos = (t / q4) % (u.h * u.w);
  return GridElement4(t, t / (q4 * u.h * u.w), pos / u.w, pos % u.w, t % q4, t < u.b * u.h * u.w * q4);
}

// out[b, tok, (c·2 + ky)·2 + kx] for c in 4q..4q+3: the four source positions' channel vec4s, transposed.
@compute @workgroup_size(256)
fn space_to_depth2_forward_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  let q4 = u.ch / 4u;
  let n = u.gh * u.gw;
  if (t >= u.b * n * q4) { return; }
  let q = t % q4;
  let tok = (t / q4) % n;
  let bi = t / (q4 * n);
  let y = (tok / u.gw) * 2u;
  let x = (tok % u.gw) * 2u;
  let row = (bi * u.h + y) * u.w + x;
  let p00 = src4[row * q4 + q];
  let p01 = src4[(row + 1u) * q4 + q];
  let p10 = src4[(row + u.w) * q4 + q];
  let p11 = src4[(row + u.w + 1u) * q4 + q];
  let o = (bi * n + tok) * u.ch + 4u * q;
  out4[o] = vec4f(p00.x, p01.x, p10.x, p11.x);
  out4[o + 1u] = vec4f(p00.y, p01.y, p10.y, p11.y);
  out4[o + 2u] = vec4f(p00.z, p01.z, p10.z, p11.z);
  out4[o + 3u] = vec4f(p00.w, p01.w, p10.w, p11.w);
}

// The inverse, per source position and four channels: src4 here is the merged tokens' gradient, out4 the grid's;
// positions in a dropped last row or column get zero.
@compute @workgroup_size(256)
fn space_to_depth2_backward_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = gridElement4(flat(wg, nwg, lid));
  if (!e.valid) { return; }
  let t = e.t;
  let q = e.q;
  let bi = e.bi;
  let y = e.y;
  let x = e.x;
  let ty = y / 2u;
  let tx = x / 2u;
  var v = vec4f(0.0);
  if (ty < u.gh && tx < u.gw) {
    // the four channels' (ky, kx) vec4s of this token; this position is lane (y % 2)·2 + x % 2 of each
    let o = ((bi * u.gh + ty) * u.gw + tx) * u.ch + 4u * q;
    let lane = (y % 2u) * 2u + x % 2u;
    v = vec4f(src4[o][lane], src4[o + 1u][lane], src4[o + 2u][lane], src4[o + 3u][lane]);
  }
  out4[e.t] = v;
}

// One invocation per (image, output token, window position, four channels).
@compute @workgroup_size(256)
fn token_windows_forward_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  let q4 = u.ch / 4u;
  let kk = u.k * u.k;
  let n = u.gh * u.gw;
  if (t >= u.b * n * kk * q4) { return; }
  let q = t % q4;
  let at = (t / q4) % kk;
  let tok = (t / (q4 * kk)) % n;
  let bi = t / (q4 * kk * n);
  let y = i32((tok / u.gw) * u.s + at / u.k) - i32(u.pad);
  let x = i32((tok % u.gw) * u.s + at % u.k) - i32(u.pad);
  var v = vec4f(0.0);
  if (y >= 0 && y < i32(u.h) && x >= 0 && x < i32(u.w)) { v = src4[((bi * u.h + u32(y)) * u.w + u32(x)) * q4 + q]; }
  out4[t] = v;
}

// One invocation per (image, grid position, four channels): src4 here is the windows' gradient [B, gh·gw, k·k·C],
// out4 the grid's [B, h·w, C]. Window (ty, tx) reads this position at (ky, kx) = (y + pad − ty·s, x + pad − tx·s).
@compute @workgroup_size(256)
fn token_windows_backward_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = gridElement4(flat(wg, nwg, lid));
  if (!e.valid) { return; }
  let q4 = u.ch / 4u;
  let q = e.q;
  let bi = e.bi;
  let yp = i32(e.y) + i32(u.pad);
  let xp = i32(e.x) + i32(u.pad);
  let s = i32(u.s);
  let k = i32(u.k);
  var v = vec4f(0.0);
  // the windows covering this row: ty·s <= yp < ty·s + k (a negative numerator truncates to at most 0, as max wants)
  for (var ty = max(0, (yp - k + s) / s); ty <= min(i32(u.gh) - 1, yp / s); ty++) {
    for (var tx = max(0, (xp - k + s) / s); tx <= min(i32(u.gw) - 1, xp / s); tx++) {
      let at = u32((yp - ty * s) * k + xp - tx * s);
      v += src4[(((bi * u.gh + u32(ty)) * u.gw + u32(tx)) * u.k * u.k + at) * q4 + q];
    }
  }
  out4[e.t] = v;
}
