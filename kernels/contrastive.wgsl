// Fused softmax cross-entropy over the rows and the columns of a logit matrix [N, M] with soft targets, as in
// GroupViT's losses: image→text over each row, text→image over each column,
//   loss = 0.5·(mean_i CE(row i, trow[i,:]) + mean_j CE(column j, tcol[:,j])).
// The gradient is produced in the same pass (the loss is always the end of the graph): one invocation per row
// writes its share, then one invocation per column adds its share. Targets usually sum to 1 per row and column;
// the gradient, Σt·softmax − t, also holds where they do not (an all-zero row adds nothing).

struct Params {
  n: u32,
  m: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> trow: array<f32>;
@group(0) @binding(3) var<storage, read> tcol: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> parts: array<f32>;   // [n + m] per-row and per-column losses
@group(0) @binding(6) var<storage, read_write> loss: array<f32>;    // [1]

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn contrastive_rows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  let base = i * p.m;
  var mx = -3.0e38;
  var ts = 0.0;
  for (var j = 0u; j < p.m; j++) {
    mx = max(mx, logits[base + j]);
    ts += trow[base + j];
  }
  var s = 0.0;
  for (var j = 0u; j < p.m; j++) { s += exp(logits[base + j] - mx); }
  let lse = mx + log(s);
  var l = 0.0;
  let w = 0.5 / f32(p.n);
  for (var j = 0u; j < p.m; j++) {
    let t = trow[base + j];
    l += t * (lse - logits[base + j]);
    grad[base + j] = w * (ts * exp(logits[base + j] - lse) - t);
  }
  parts[i] = l;
}

@compute @workgroup_size(64)
fn contrastive_cols(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = flat(wg, nwg, lid);
  if (j >= p.m) { return; }
  var mx = -3.0e38;
  var ts = 0.0;
  for (var i = 0u; i < p.n; i++) {
    mx = max(mx, logits[i * p.m + j]);
    ts += tcol[i * p.m + j];
  }
  var s = 0.0;
  for (var i = 0u; i < p.n; i++) { s += exp(logits[i * p.m + j] - mx); }
  let lse = mx + log(s);
  var l = 0.0;
  let w = 0.5 / f32(p.m);
  for (var i = 0u; i < p.n; i++) {
    let k = i * p.m + j;
    let t = tcol[k];
    l += t * (lse - logits[k]);
    grad[k] += w * (ts * exp(logits[k] - lse) - t);
  }
  parts[p.n + j] = l;
}

// loss = 0.5·(Σ rows / n + Σ cols / m): a single invocation, the count is a batch size
@compute @workgroup_size(1)
fn contrastive_total() {
  var r = 0.0;
  for (var i = 0u; i < p.n; i++) { r += parts[i]; }
  var c = 0.0;
  for (var j = 0u; j < p.m; j++) { c += parts[p.n + j]; }
  loss[0] = 0.5 * (r / f32(p.n) + c / f32(p.m));
}
