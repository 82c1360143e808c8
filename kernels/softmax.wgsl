// Softmax over the last axis of [rows, n], one invocation per row, max-subtracted; backward from the saved output:
// gx = y·(gy - Σ gy·y).

struct Params {
  rows: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn softmax_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = flat(wg, nwg, lid);
  if (r >= p.rows) { return; }
  let base = r * p.n;
  var m = -3.0e38;
  for (var i = 0u; i < p.n; i++) { m = max(m, x[base + i]); }
  var s = 0.0;
  for (var i = 0u; i < p.n; i++) { let e = exp(x[base + i] - m); out[base + i] = e; s += e; }
  let inv = 1.0 / s;
  for (var i = 0u; i < p.n; i++) { out[base + i] = out[base + i] * inv; }
}

// x holds the forward output y here
@compute @workgroup_size(64)
fn softmax_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = flat(wg, nwg, lid);
  if (r >= p.rows) { return; }
  let base = r * p.n;
  var d = 0.0;
  for (var i = 0u; i < p.n; i++) { d += gy[base + i] * x[base + i]; }
  for (var i = 0u; i < p.n; i++) { out[base + i] = x[base + i] * (gy[base + i] - d); }
}
