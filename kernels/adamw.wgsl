// AdamW over one parameter tensor in place (PyTorch's update: decoupled decay p ← p·(1 - lr·wd), then
// p ← p - lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)), with the gradient scaled by the global-norm clip factor that
// `clip_factor` left in scalars[1], so clipping needs no host round trip.
// sumsq_partial + clip_factor compute that factor: per-workgroup partial sums of g² by a workgroup tree, then one
// invocation adds them in order. On lavapipe a workgroup runs as coroutines switched at every barrier, and the
// optimizer's ~200 one-workgroup reductions (biases, norms) spent most of their time there: sumsq_lanes leaves its 64
// per-invocation sums as they are, and clip_factor (told so by n = 64) adds each workgroup's by the same tree, so the
// norm is the same to the bit either way. Real GPUs keep the barriers (one partial per workgroup, a short serial sum).

struct Params {
  n: u32,         // clip: partials per workgroup (1, or 64 after sumsq_lanes)
  slot: u32,      // sumsq: first workgroup of this tensor among all partials; clip: number of workgroups
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  wd: f32,
  bc1: f32,       // 1 - beta1^t
  bc2: f32,       // 1 - beta2^t
  max_norm: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;  // 1 or 64 per workgroup
@group(0) @binding(6) var<storage, read_write> scalars: array<f32>;   // [norm, clip factor]

var<workgroup> acc: array<f32, 64>;

@compute @workgroup_size(64)
fn sumsq_partial(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let threads = nwg.x * 64u;
  var s = 0.0;
  for (var i = wg.x * 64u + lid; i < p.n; i += threads) { let g = grad[i]; s += g * g; }
  acc[lid] = s;
  workgroupBarrier();
  for (var k = 32u; k > 0u; k >>= 1u) {
    if (lid < k) { acc[lid] += acc[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[p.slot + wg.x] = acc[0]; }
}

@compute @workgroup_size(64)
fn sumsq_lanes(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let threads = nwg.x * 64u;
  var s = 0.0;
  for (var i = wg.x * 64u + lid; i < p.n; i += threads) { let g = grad[i]; s += g * g; }
  partials[(p.slot + wg.x) * 64u + lid] = s;
}

@compute @workgroup_size(1)
fn clip_factor() {
  var s = 0.0;
  if (p.n == 64u) {
    for (var w = 0u; w < p.slot; w++) {
      var a: array<f32, 64>;
      for (var l = 0u; l < 64u; l++) { a[l] = partials[w * 64u + l]; }
      for (var k = 32u; k > 0u; k >>= 1u) {
        for (var l = 0u; l < k; l++) { a[l] += a[l + k]; }
      }
      s += a[0];
    }
  } else {
    for (var i = 0u; i < p.slot; i++) { s += partials[i]; }
  }
  let norm = sqrt(s);
  scalars[0] = norm;
  scalars[1] = select(1.0, min(1.0, p.max_norm / (norm + 1e-6)), p.max_norm > 0.0);
}

@compute @workgroup_size(256)
fn adamw_step(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let g = grad[i] * scalars[1];
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  var w = param[i] * (1.0 - p.lr * p.wd);
  w -= (p.lr / p.bc1) * mi / (sqrt(vi) / sqrt(p.bc2) + p.eps);
  param[i] = w;
}
