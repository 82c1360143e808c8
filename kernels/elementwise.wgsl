// Elementwise ops over flat f32 arrays. One invocation per element; large arrays are spread over a 2-D grid of
// workgroups (the x dimension is capped at 65535), so the flat index is rebuilt from (wg.y * nx + wg.x).
// `b` broadcasts over leading dimensions: b[i % nb] (nb == n means same shape, nb == 1 means a scalar tensor).
// The element type T comes with the prefix (src/ops/dispatch.ts pointwisePrefix): vec4f where n and nb are multiples
// of 4 (then both count vec4s), f32 else. rowscale_forward needs f32.

struct Params {
  n: u32,
  nb: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid;
}

// out = alpha·a + beta·b (broadcast b)
@compute @workgroup_size(256)
fn add_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = p.alpha * a[i] + p.beta * b[i % p.nb];
}

// out = alpha·a·b (broadcast b)
@compute @workgroup_size(256)
fn mul_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = p.alpha * a[i] * b[i % p.nb];
}

// out += b (broadcast b): gradient accumulation in place
@compute @workgroup_size(256)
fn add_inplace(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = out[i] + p.beta * b[i % p.nb];
}

// out = alpha (fill)
@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = T(p.alpha);
}

// out = min(exp(a), alpha): the logit scale exp(s) clamped at 100
@compute @workgroup_size(256)
fn exp_clamp_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = min(exp(a[i]), T(p.alpha));
}

// out = b·exp(a) where exp(a) < alpha, else 0 (b is the incoming gradient)
@compute @workgroup_size(256)
fn exp_clamp_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  let e = exp(a[i]);
  out[i] = select(T(0.0), b[i] * e, e < T(p.alpha));
}

// out = a · b[row]: scales each of the nb leading rows of a by one factor (drop-path's per-sample mask)
@compute @workgroup_size(256)
fn rowscale_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = a[i] * b[i / (p.n / p.nb)];
}
