// Pixel-adaptive mask refinement (segment/pamr.ts holds the float64 reference and the why). A batch of B images of
// H×W pixels; each pixel has 8 taps per dilation (3×3 at that stride, the centre left out), the border replicated.
//   pamr_affinity: one invocation per pixel: the softmax over its taps of −mean_c |x_c − x'_c| / (0.1·σ_c + 1e-8),
//     σ_c the unbiased standard deviation of channel c over its 9·D taps (the centre once per ring).
//   pamr_step: one invocation per (pixel, channel): the affinity-weighted mean of its taps' values.
// The taps' indices are recomputed, not stored: two clamps are cheaper than a second load.

struct Params {
  batch: u32,
  h: u32,
  w: u32,
  channels: u32,
  dilations: u32,
  d0: u32, d1: u32, d2: u32, d3: u32, d4: u32, d5: u32, d6: u32, d7: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// pixels [B, H, W, 3] (any scale: the affinity divides by the local spread)
@group(0) @binding(1) var<storage, read> image: array<f32>;
// weights [B, H, W, 8·D]
@group(0) @binding(2) var<storage, read_write> aff: array<f32>;
// maps [B, H, W, C], read, and written one round later
@group(0) @binding(3) var<storage, read> cur: array<f32>;
@group(0) @binding(4) var<storage, read_write> next: array<f32>;

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid;
}

fn dilation(k: u32) -> i32 {
  switch k {
    case 0u: { return i32(p.d0); }
    case 1u: { return i32(p.d1); }
    case 2u: { return i32(p.d2); }
    case 3u: { return i32(p.d3); }
    case 4u: { return i32(p.d4); }
    case 5u: { return i32(p.d5); }
    case 6u: { return i32(p.d6); }
    default: { return i32(p.d7); }
  }
}

// The flat pixel index (within the batch) of tap t of pixel (b, y, x): ring t / 8, position t % 8 of the 3×3 ring
// in reading order with the centre skipped.
fn tap(b: u32, y: i32, x: i32, t: u32) -> u32 {
  let d = dilation(t / 8u);
  let r = t % 8u;
  let s = select(r, r + 1u, r >= 4u);
  let dy = i32(s / 3u) - 1;
  let dx = i32(s % 3u) - 1;
  let yy = clamp(y + dy * d, 0, i32(p.h) - 1);
  let xx = clamp(x + dx * d, 0, i32(p.w) - 1);
  return (b * p.h + u32(yy)) * p.w + u32(xx);
}

@compute @workgroup_size(64)
fn pamr_affinity(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  let n = p.h * p.w;
  if (i >= p.batch * n) { return; }
  let b = i / n;
  let y = i32((i % n) / p.w);
  let x = i32(i % p.w);
  let taps = 8u * p.dilations;
  let c0 = vec3f(image[i * 3u], image[i * 3u + 1u], image[i * 3u + 2u]);
  // mean first, then squared deviations: the float64 reference's one-pass sums would cancel badly in f32
  var sum = c0 * f32(p.dilations);
  for (var t = 0u; t < taps; t++) {
    let q = tap(b, y, x, t);
    sum += vec3f(image[q * 3u], image[q * 3u + 1u], image[q * 3u + 2u]);
  }
  let count = f32(taps + p.dilations);
  let mean = sum / count;
  var dev = (c0 - mean) * (c0 - mean) * f32(p.dilations);
  for (var t = 0u; t < taps; t++) {
    let q = tap(b, y, x, t);
    let v = vec3f(image[q * 3u], image[q * 3u + 1u], image[q * 3u + 2u]) - mean;
    dev += v * v;
  }
  let scale = 1.0 / (1e-8 + 0.1 * sqrt(dev / (count - 1.0)));
  var top = -3.4e38;
  for (var t = 0u; t < taps; t++) {
    let q = tap(b, y, x, t);
    let d = abs(c0 - vec3f(image[q * 3u], image[q * 3u + 1u], image[q * 3u + 2u])) * scale;
    let a = -(d.x + d.y + d.z) / 3.0;
    aff[i * taps + t] = a;
    top = max(top, a);
  }
  var z = 0.0;
  for (var t = 0u; t < taps; t++) {
    let e = exp(aff[i * taps + t] - top);
    aff[i * taps + t] = e;
    z += e;
  }
  for (var t = 0u; t < taps; t++) { aff[i * taps + t] /= z; }
}

@compute @workgroup_size(64)
fn pamr_step(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = flat(wg, nwg, lid);
  let n = p.h * p.w;
  if (j >= p.batch * n * p.channels) { return; }
  let i = j / p.channels;
  let c = j % p.channels;
  let b = i / n;
  let y = i32((i % n) / p.w);
  let x = i32(i % p.w);
  let taps = 8u * p.dilations;
  var acc = 0.0;
  for (var t = 0u; t < taps; t++) {
    acc += aff[i * taps + t] * cur[tap(b, y, x, t) * p.channels + c];
  }
  next[j] = acc;
}
