// Sum over the middle axis of a [outer, n, inner] view, and its backward (broadcast back along that axis).
// One invocation per output element: on lavapipe a serial loop beats a workgroup tree (barriers are expensive), and
// the reductions in this model are over short axes (tokens, batch) with many outputs.

struct Params {
  outer: u32,
  n: u32,
  inner: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid;
}

// out[o, i] = alpha · Σ_j x[o, j, i], over elements of T (from the prefix, src/ops/dispatch.ts pointwisePrefix): vec4f
// where inner is a multiple of 4 (p.inner then counts vec4s), f32 else. A bias's gradient sums thousands of rows into
// a few outputs, and on lavapipe each load is a per-lane loop, so a vec4 per row is a quarter of the cost; the sum runs
// over j in the same order either way: the same result. (Its own bindings: the max kernels below read f32.)
@group(0) @binding(1) var<storage, read> xs: array<T>;
@group(0) @binding(2) var<storage, read_write> outs: array<T>;

@compute @workgroup_size(256)
fn sum_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.outer * p.inner) { return; }
  let o = t / p.inner;
  let i = t % p.inner;
  var base = o * p.n * p.inner + i;
  var s = T(0.0);
  for (var j = 0u; j < p.n; j++) {
    s += xs[base];
    base += p.inner;
  }
  outs[t] = p.alpha * s;
}

// out[o, j, i] = alpha · g[o, i]
@compute @workgroup_size(256)
fn sum_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.outer * p.n * p.inner) { return; }
  let i = t % p.inner;
  let o = t / (p.n * p.inner);
  out[t] = p.alpha * x[o * p.inner + i];
}

// out[o, i] = max_j x[o, j, i], the winning j kept in arg (as f32: exact below 2^24) for the backward.
// Ties go to the first j, so the gradient lands on exactly one element, as torch.max's.
@group(0) @binding(3) var<storage, read_write> arg: array<f32>;

@compute @workgroup_size(256)
fn max_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.outer * p.inner) { return; }
  let o = t / p.inner;
  let i = t % p.inner;
  var base = o * p.n * p.inner + i;
  var best = x[base];
  var bestJ = 0u;
  for (var j = 1u; j < p.n; j++) {
    base += p.inner;
    let v = x[base];
    if (v > best) {
      best = v;
      bestJ = j;
    }
  }
  out[t] = best;
  arg[t] = f32(bestJ);
}

// out[o, j, i] = g[o, i] where j won the forward's max, else 0
@compute @workgroup_size(256)
fn max_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.outer * p.n * p.inner) { return; }
  let i = t % p.inner;
  let j = (t / p.inner) % p.n;
  let o = t / (p.n * p.inner);
  let k = o * p.inner + i;
  out[t] = select(0.0, x[k], u32(arg[k]) == j);
}
