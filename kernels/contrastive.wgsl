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

// The presence loss of rows against sets of positives (a multiple-instance cross-entropy over the columns): row i
// should put its softmax mass on any of its positives, not on one in particular,
//   loss_i = lse_j(x_ij) − lse_{j: t_ij > 0}(x_ij) = −log Σ_{t_ij > 0} softmax(x_i)_j,
//   d loss_i / d x_ij = softmax(x_i)_j − [t_ij > 0]·softmax over the positives(x_i)_j,
// and loss = Σ_i loss_i / n. A row without positives adds nothing. Bindings as contrastive_rows (trow: the positives).
@compute @workgroup_size(64)
fn presence_rows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  let base = i * p.m;
  var mx = -3.0e38;
  var mxPos = -3.0e38;
  for (var j = 0u; j < p.m; j++) {
    let x = logits[base + j];
    mx = max(mx, x);
    if (trow[base + j] > 0.0) { mxPos = max(mxPos, x); }
  }
  if (mxPos == -3.0e38) {
    for (var j = 0u; j < p.m; j++) { grad[base + j] = 0.0; }
    parts[i] = 0.0;
    return;
  }
  var s = 0.0;
  var sPos = 0.0;
  for (var j = 0u; j < p.m; j++) {
    let x = logits[base + j];
    s += exp(x - mx);
    if (trow[base + j] > 0.0) { sPos += exp(x - mxPos); }
  }
  let lse = mx + log(s);
  let lsePos = mxPos + log(sPos);
  let w = 1.0 / f32(p.n);
  for (var j = 0u; j < p.m; j++) {
    let x = logits[base + j];
    var g = exp(x - lse);
    if (trow[base + j] > 0.0) { g -= exp(x - lsePos); }
    grad[base + j] = w * g;
  }
  parts[i] = lse - lsePos;
}

@compute @workgroup_size(1)
fn presence_total() {
  var r = 0.0;
  for (var i = 0u; i < p.n; i++) { r += parts[i]; }
  loss[0] = r / f32(p.n);
}
