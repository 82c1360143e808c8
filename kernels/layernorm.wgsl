// LayerNorm over the last axis of [rows, C]: y = (x - mean)·rstd·w + b. One invocation per row (serial loops beat
// workgroup reductions on lavapipe, and C ≤ 1536 here). The forward saves mean and rstd for the backward.

struct Params {
  rows: u32,
  c: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;  // [rows, 2]: mean, rstd
@group(0) @binding(6) var<storage, read> gy: array<f32>;
@group(0) @binding(7) var<storage, read_write> gx: array<f32>;
@group(0) @binding(8) var<storage, read_write> gw: array<f32>;
@group(0) @binding(9) var<storage, read_write> gb: array<f32>;

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn layernorm_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = flat(wg, nwg, lid);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  var s = 0.0;
  for (var i = 0u; i < p.c; i++) { s += x[base + i]; }
  let mean = s / f32(p.c);
  // two-pass variance: the one-pass form loses digits when |mean| >> std (pos-embeds scaled ×10 in the fixture)
  var v = 0.0;
  for (var i = 0u; i < p.c; i++) { let d = x[base + i] - mean; v += d * d; }
  let rstd = inverseSqrt(v / f32(p.c) + p.eps);
  for (var i = 0u; i < p.c; i++) { y[base + i] = (x[base + i] - mean) * rstd * w[i] + b[i]; }
  stats[2u * r] = mean;
  stats[2u * r + 1u] = rstd;
}

// gx = rstd·(gŷ - mean(gŷ) - x̂·mean(gŷ·x̂)), gŷ = gy·w
@compute @workgroup_size(64)
fn layernorm_backward_input(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = flat(wg, nwg, lid);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  let mean = stats[2u * r];
  let rstd = stats[2u * r + 1u];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var i = 0u; i < p.c; i++) {
    let g = gy[base + i] * w[i];
    s1 += g;
    s2 += g * (x[base + i] - mean) * rstd;
  }
  let m1 = s1 / f32(p.c);
  let m2 = s2 / f32(p.c);
  for (var i = 0u; i < p.c; i++) {
    let xh = (x[base + i] - mean) * rstd;
    gx[base + i] = rstd * (gy[base + i] * w[i] - m1 - xh * m2);
  }
}

// gw[i] = Σ_r gy·x̂, gb[i] = Σ_r gy: one invocation per channel
@compute @workgroup_size(64)
fn layernorm_backward_params(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.c) { return; }
  var sw = 0.0;
  var sb = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    let g = gy[r * p.c + i];
    sw += g * (x[r * p.c + i] - stats[2u * r]) * stats[2u * r + 1u];
    sb += g;
  }
  gw[i] = sw;
  gb[i] = sb;
}
