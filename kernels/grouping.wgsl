// GroupViT's assignment of image tokens to groups. raw: [B, S, L] logits (S groups, L tokens). For each token the
// assignment is a softmax over the GROUP axis of (raw + Gumbel noise)/tau, hardened to the one-hot of its arg-max
// (straight-through: the forward value is the one-hot, the gradient is the soft path's), then each group's row is
// normalised by (Σ_tokens + eps) so that a group averages the tokens it owns.
//   grouping_assign     one invocation per (b, l): soft (noise-free softmax, for segmentation), ysoft (the noisy
//                       softmax the gradient flows through) and y (one-hot when hard, else ysoft)
//   grouping_normalize  one invocation per (b, s): denom = Σ_l y + eps, a = y / denom
//   grouping_backward_coef / grouping_backward_raw: quotient rule, then the softmax Jacobian over groups

struct Params {
  b: u32,
  s: u32,
  l: u32,
  hard: u32,
  gumbel: u32,
  seed: u32,
  step: u32,
  tau: f32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> raw: array<f32>;
@group(0) @binding(2) var<storage, read_write> soft: array<f32>;
@group(0) @binding(3) var<storage, read_write> ysoft: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> a: array<f32>;
@group(0) @binding(6) var<storage, read_write> denom: array<f32>;
@group(0) @binding(7) var<storage, read> ga: array<f32>;
@group(0) @binding(8) var<storage, read_write> coef: array<f32>;
@group(0) @binding(9) var<storage, read_write> graw: array<f32>;

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid;
}

// A counter-based hash (PCG-style output of a mixed (seed, step, index)): the same noise for the same triple on any
// device, so a run repeats exactly and a resumed run matches an uninterrupted one.
fn hash3(a: u32, b: u32, c: u32) -> u32 {
  var h = a * 747796405u + 2891336453u;
  h = (h ^ (b * 2654435761u)) * 747796405u + 2891336453u;
  h = (h ^ (c * 2246822519u)) * 747796405u + 2891336453u;
  let w = ((h >> ((h >> 28u) + 4u)) ^ h) * 277803737u;
  return (w >> 22u) ^ w;
}

fn gumbel(index: u32) -> f32 {
  // uniform strictly inside (0, 1): 23 bits offset by half a step. With 24 bits the top value (2^24 - 0.5)/2^24
  // rounds to 1.0 in f32, log(u) = 0 and the noise is +inf: the softmax of the straight-through path then turns
  // NaN (a training run lost its vision tower this way at step 56).
  let u = (f32(hash3(p.seed, p.step, index) >> 9u) + 0.5) / 8388608.0;
  return -log(-log(u));
}

@compute @workgroup_size(64)
fn grouping_assign(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.b * p.l) { return; }
  let bi = t / p.l;
  let li = t % p.l;
  let base = bi * p.s * p.l + li;
  var m = -3.0e38;
  var mn = -3.0e38;
  var best = 0u;
  for (var s = 0u; s < p.s; s++) {
    let i = base + s * p.l;
    let r = raw[i];
    m = max(m, r);
    var v = r;
    if (p.gumbel != 0u) { v = r + gumbel(i); }
    v = v / p.tau;
    ysoft[i] = v;
    if (v > mn) { mn = v; best = s; }  // first maximum wins ties, as torch.argmax
  }
  var sum = 0.0;
  var sumn = 0.0;
  for (var s = 0u; s < p.s; s++) {
    let i = base + s * p.l;
    let e = exp(raw[i] - m);
    soft[i] = e;
    sum += e;
    let en = exp(ysoft[i] - mn);
    ysoft[i] = en;
    sumn += en;
  }
  for (var s = 0u; s < p.s; s++) {
    let i = base + s * p.l;
    soft[i] = soft[i] / sum;
    let ys = ysoft[i] / sumn;
    ysoft[i] = ys;
    if (p.hard != 0u) { y[i] = select(0.0, 1.0, s == best); } else { y[i] = ys; }
  }
}

@compute @workgroup_size(64)
fn grouping_normalize(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.b * p.s) { return; }
  let base = t * p.l;
  var d = p.eps;
  for (var l = 0u; l < p.l; l++) { d += y[base + l]; }
  denom[t] = d;
  let inv = 1.0 / d;
  for (var l = 0u; l < p.l; l++) { a[base + l] = y[base + l] * inv; }
}

// coef[b, s] = Σ_l ga·y / denom²   (the shared term of the quotient rule)
@compute @workgroup_size(64)
fn grouping_backward_coef(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.b * p.s) { return; }
  let base = t * p.l;
  var c = 0.0;
  for (var l = 0u; l < p.l; l++) { c += ga[base + l] * y[base + l]; }
  let d = denom[t];
  coef[t] = c / (d * d);
}

// gy = ga/denom - coef; straight-through: graw = ysoft ⊙ (gy - ⟨gy, ysoft⟩) / tau over the group axis
@compute @workgroup_size(64)
fn grouping_backward_raw(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.b * p.l) { return; }
  let bi = t / p.l;
  let li = t % p.l;
  let base = bi * p.s * p.l + li;
  var dot = 0.0;
  for (var s = 0u; s < p.s; s++) {
    let i = base + s * p.l;
    let gy = ga[i] / denom[bi * p.s + s] - coef[bi * p.s + s];
    dot += gy * ysoft[i];
  }
  for (var s = 0u; s < p.s; s++) {
    let i = base + s * p.l;
    let gy = ga[i] / denom[bi * p.s + s] - coef[bi * p.s + s];
    graw[i] = ysoft[i] * (gy - dot) / p.tau;
  }
}
