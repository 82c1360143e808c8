// A mutual-information term on GroupViT's assignment, to keep groups from collapsing (an addition to the paper, see
// TRAINING-NOTES): per image, loss = −H(p̄) + beta · mean_t H(p_t), where p_t = softmax over the GROUP axis of the
// noise-free logits raw[b, :, t] and p̄ = mean_t p_t. Minimising it uses every group in an image (high entropy of the
// marginal) and gives each token one group (low entropy per token): near-duplicate groups that split tokens evenly
// between them score badly on the second term, which a balance term alone would not notice.
//   balance_probs     one invocation per (b, t): prob[b, s, t] and the token's entropy ent[b, t]
//   balance_reduce    one invocation per b: logpbar[b, s] = log p̄_s and loss[b]
//   balance_backward  one invocation per (b, t): g_s = gl[b]/T · (log p̄_s − beta · log p_s), then the softmax Jacobian

struct Params {
  b: u32,
  s: u32,
  l: u32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> raw: array<f32>;
@group(0) @binding(2) var<storage, read_write> prob: array<f32>;
@group(0) @binding(3) var<storage, read_write> ent: array<f32>;
@group(0) @binding(4) var<storage, read_write> logpbar: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;
@group(0) @binding(6) var<storage, read> gl: array<f32>;
@group(0) @binding(7) var<storage, read_write> graw: array<f32>;

// log of a probability that may have underflowed to 0 (then p·log p is 0, as its limit)
fn safe_log(x: f32) -> f32 {
  return log(max(x, 1e-30));
}

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn balance_probs(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.b * p.l) { return; }
  let bi = t / p.l;
  let base = bi * p.s * p.l + t % p.l;
  var m = -3.0e38;
  for (var s = 0u; s < p.s; s++) { m = max(m, raw[base + s * p.l]); }
  var sum = 0.0;
  for (var s = 0u; s < p.s; s++) {
    let e = exp(raw[base + s * p.l] - m);
    prob[base + s * p.l] = e;
    sum += e;
  }
  var h = 0.0;
  for (var s = 0u; s < p.s; s++) {
    let q = prob[base + s * p.l] / sum;
    prob[base + s * p.l] = q;
    h -= q * safe_log(q);
  }
  ent[t] = h;
}

@compute @workgroup_size(64)
fn balance_reduce(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bi = flat(wg, nwg, lid);
  if (bi >= p.b) { return; }
  let inv = 1.0 / f32(p.l);
  var total = 0.0;
  for (var s = 0u; s < p.s; s++) {
    let base = (bi * p.s + s) * p.l;
    var acc = 0.0;
    for (var t = 0u; t < p.l; t++) { acc += prob[base + t]; }
    let pbar = acc * inv;
    let lp = safe_log(pbar);
    logpbar[bi * p.s + s] = lp;
    total += pbar * lp;
  }
  var h = 0.0;
  for (var t = 0u; t < p.l; t++) { h += ent[bi * p.l + t]; }
  loss[bi] = total + p.beta * h * inv;
}

@compute @workgroup_size(64)
fn balance_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.b * p.l) { return; }
  let bi = t / p.l;
  let base = bi * p.s * p.l + t % p.l;
  let c = gl[bi] / f32(p.l);
  var dot = 0.0;
  for (var s = 0u; s < p.s; s++) {
    let q = prob[base + s * p.l];
    dot += q * c * (logpbar[bi * p.s + s] - p.beta * safe_log(q));
  }
  for (var s = 0u; s < p.s; s++) {
    let i = base + s * p.l;
    let q = prob[i];
    graw[i] = q * (c * (logpbar[bi * p.s + s] - p.beta * safe_log(q)) - dot);
  }
}
