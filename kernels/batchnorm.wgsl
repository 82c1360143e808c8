// BatchNorm1d in training mode over x [N, C]: batch mean and biased variance per channel normalise the batch, and
// the running statistics move by `momentum` (with the unbiased variance, as PyTorch). One invocation per channel.

struct Params {
  n: u32,
  c: u32,
  eps: f32,
  momentum: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;         // [C, 2]: mean, rstd
@group(0) @binding(6) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(8) var<storage, read> gy: array<f32>;
@group(0) @binding(9) var<storage, read_write> gx: array<f32>;
@group(0) @binding(10) var<storage, read_write> gwb: array<f32>;          // [2, C]: dw, db

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn batchnorm_train_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = flat(wg, nwg, lid);
  if (c >= p.c) { return; }
  var s = 0.0;
  for (var i = 0u; i < p.n; i++) { s += x[i * p.c + c]; }
  let mean = s / f32(p.n);
  var v = 0.0;
  for (var i = 0u; i < p.n; i++) { let d = x[i * p.c + c] - mean; v += d * d; }
  let var_b = v / f32(p.n);
  let rstd = inverseSqrt(var_b + p.eps);
  for (var i = 0u; i < p.n; i++) { y[i * p.c + c] = (x[i * p.c + c] - mean) * rstd * w[c] + b[c]; }
  stats[2u * c] = mean;
  stats[2u * c + 1u] = rstd;
  let unbiased = select(var_b, v / f32(p.n - 1u), p.n > 1u);
  running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
  running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
}

// gx = w·rstd·(gy - mean(gy) - x̂·mean(gy·x̂)); dw = Σ gy·x̂; db = Σ gy
@compute @workgroup_size(64)
fn batchnorm_train_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = flat(wg, nwg, lid);
  if (c >= p.c) { return; }
  let mean = stats[2u * c];
  let rstd = stats[2u * c + 1u];
  var sg = 0.0;
  var sgx = 0.0;
  for (var i = 0u; i < p.n; i++) {
    let g = gy[i * p.c + c];
    sg += g;
    sgx += g * (x[i * p.c + c] - mean) * rstd;
  }
  let inv_n = 1.0 / f32(p.n);
  for (var i = 0u; i < p.n; i++) {
    let xh = (x[i * p.c + c] - mean) * rstd;
    gx[i * p.c + c] = w[c] * rstd * (gy[i * p.c + c] - sg * inv_n - xh * sgx * inv_n);
  }
  gwb[c] = sgx;
  gwb[p.c + c] = sg;
}
