// L2 normalisation over the last axis, as F.normalize: y = x / max(‖x‖, 1e-12). One invocation per row.
// Backward: gx = (gy - y·⟨gy, y⟩) / max(‖x‖, eps) (the clamp branch, never hit in practice, is treated as constant).

struct Params {
  rows: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid;
}

fn row_norm(base: u32) -> f32 {
  var s = 0.0;
  for (var i = 0u; i < p.n; i++) { s += x[base + i] * x[base + i]; }
  return max(sqrt(s), 1e-12);
}

@compute @workgroup_size(64)
fn normalize_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = flat(wg, nwg, lid);
  if (r >= p.rows) { return; }
  let base = r * p.n;
  let inv = 1.0 / row_norm(base);
  for (var i = 0u; i < p.n; i++) { out[base + i] = x[base + i] * inv; }
}

@compute @workgroup_size(64)
fn normalize_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = flat(wg, nwg, lid);
  if (r >= p.rows) { return; }
  let base = r * p.n;
  let inv = 1.0 / row_norm(base);
  var d = 0.0;
  for (var i = 0u; i < p.n; i++) { d += gy[base + i] * y[base + i]; }
  for (var i = 0u; i < p.n; i++) { out[base + i] = (gy[base + i] - y[base + i] * d) * inv; }
}
