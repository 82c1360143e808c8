// Batched matmul C[z] = op(A[z]) · op(B[z]) (+ bias), op = identity or transpose, one kernel family for every product
// in the model (linear layers forward and backward, attention products).
//
//   A: [M, K] row-major, or [K, M] when TRANS_A      B: [K, N], or [N, K] when TRANS_B      C: [M, N]      bias: [N]
//   Batch z = workgroup_id.z; element offsets z·sA, z·sB, z·sC (a stride of 0 broadcasts that operand).
//
// The host prepends `const TM: u32 = ..; const TN: u32 = ..;` (rows and columns each invocation of the register-blocked
// kernels computes; TN a multiple of 4) and `const TILE: u32 = ..;` (the shared-memory kernel's workgroup edge).
// Entry points:
//   matmul_vec4    register-blocked, vec4 loads, no shared memory: lavapipe's path for small products (a CPU: loads
//                  are the cost, barriers are ruinous; no packing passes). Needs N % 4 == 0 and the contiguous axis of each operand a multiple of 4
//                  (K for A and for Bᵀ, M for Aᵀ); the host checks, else falls back to matmul_scalar.
//   matmul_scalar  register-blocked, scalar loads, any shape.
//   matmul_tiled   shared-memory tiles (TILE×TILE threads, 4×4 outputs each, BK = 16): the path for real GPUs.
//   matmul_naive   one invocation per output: the benchmark baseline.
//   (matmul-texture.wgsl holds lavapipe's fast path for large products: operands packed into storage textures.)
// Every entry is exact on shapes that are not multiples of its tile: out-of-range rows/columns are clamped on load
// (their results are never stored) or zero-filled, and stores are bounds-checked.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  sA: u32,
  sB: u32,
  sC: u32,
  bias: u32,   // 1: add bias[n] in the epilogue
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

const TN4: u32 = TN / 4u;

@group(0) @binding(0) var<uniform> p: Params;

// ------------------------------------------------------------------------------------------------ vec4 register-blocked

@group(0) @binding(1) var<storage, read> a4: array<vec4f>;
@group(0) @binding(2) var<storage, read> b4: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> c4: array<vec4f>;

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wg.y * WG_Y + lid.y) * TM;
  let col0 = (wg.x * WG_X + lid.x) * TN;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let aBase = wg.z * p.sA;
  let bBase = wg.z * p.sB;
  let cBase = wg.z * p.sC;

  // Row and column offsets clamped into range: rows/columns past the edge load valid data and are never stored.
  var aOff: array<u32, TM>;   // !TRANS_A: vec4 index of A[row_i, 0]; TRANS_A (per group of 4 rows): vec4 index of A[0, rows]
  for (var i = 0u; i < TM; i++) {
    if (TRANS_A) { aOff[i] = (aBase + min(row0 + 4u * i, M - 4u)) / 4u; }
    else { aOff[i] = (aBase + min(row0 + i, M - 1u) * K) / 4u; }
  }
  var bOff: array<u32, TN>;   // !TRANS_B (per vec4 of columns): vec4 index of B[0, cols]; TRANS_B: vec4 index of B[col_j, 0]
  for (var j = 0u; j < TN; j++) {
    if (TRANS_B) { bOff[j] = (bBase + min(col0 + j, N - 1u) * K) / 4u; }
    else { bOff[j] = (bBase + min(col0 + 4u * j, N - 4u)) / 4u; }
  }
  let M4 = M / 4u;
  let N4 = N / 4u;

  var acc: array<array<vec4f, TN4>, TM>;
  let K4 = K / 4u;
  for (var k4 = 0u; k4 < K4; k4++) {
    // av[i] = A[row_i, 4k4 .. 4k4+3]
    var av: array<vec4f, TM>;
    if (TRANS_A) {
      for (var g = 0u; g < TM / 4u; g++) {
        let t0 = a4[aOff[g] + (4u * k4 + 0u) * M4];
        let t1 = a4[aOff[g] + (4u * k4 + 1u) * M4];
        let t2 = a4[aOff[g] + (4u * k4 + 2u) * M4];
        let t3 = a4[aOff[g] + (4u * k4 + 3u) * M4];
        av[4u * g + 0u] = vec4f(t0.x, t1.x, t2.x, t3.x);
        av[4u * g + 1u] = vec4f(t0.y, t1.y, t2.y, t3.y);
        av[4u * g + 2u] = vec4f(t0.z, t1.z, t2.z, t3.z);
        av[4u * g + 3u] = vec4f(t0.w, t1.w, t2.w, t3.w);
      }
    } else {
      for (var i = 0u; i < TM; i++) { av[i] = a4[aOff[i] + k4]; }
    }
    // bv[kk][c] = B[4k4 + kk, col0 + 4c .. +3]
    var bv: array<array<vec4f, TN4>, 4>;
    if (TRANS_B) {
      for (var c = 0u; c < TN4; c++) {
        let t0 = b4[bOff[4u * c + 0u] + k4];
        let t1 = b4[bOff[4u * c + 1u] + k4];
        let t2 = b4[bOff[4u * c + 2u] + k4];
        let t3 = b4[bOff[4u * c + 3u] + k4];
        bv[0][c] = vec4f(t0.x, t1.x, t2.x, t3.x);
        bv[1][c] = vec4f(t0.y, t1.y, t2.y, t3.y);
        bv[2][c] = vec4f(t0.z, t1.z, t2.z, t3.z);
        bv[3][c] = vec4f(t0.w, t1.w, t2.w, t3.w);
      }
    } else {
      for (var kk = 0u; kk < 4u; kk++) {
        for (var c = 0u; c < TN4; c++) { bv[kk][c] = b4[bOff[c] + (4u * k4 + kk) * N4]; }
      }
    }
    for (var kk = 0u; kk < 4u; kk++) {
      for (var i = 0u; i < TM; i++) {
        let s = vec4f(av[i][kk]);
        for (var c = 0u; c < TN4; c++) { acc[i][c] = fma(s, bv[kk][c], acc[i][c]); }
      }
    }
  }
  // K % 4 tail: only reachable with TRANS_A && !TRANS_B, the one layout where neither operand is contiguous along K.
  for (var k = 4u * K4; k < K; k++) {
    var ak: array<f32, TM>;
    for (var g = 0u; g < TM / 4u; g++) {
      let t = a4[aOff[g] + k * M4];
      ak[4u * g + 0u] = t.x;
      ak[4u * g + 1u] = t.y;
      ak[4u * g + 2u] = t.z;
      ak[4u * g + 3u] = t.w;
    }
    var bk: array<vec4f, TN4>;
    for (var c = 0u; c < TN4; c++) { bk[c] = b4[bOff[c] + k * N4]; }
    for (var i = 0u; i < TM; i++) {
      for (var c = 0u; c < TN4; c++) { acc[i][c] = fma(vec4f(ak[i]), bk[c], acc[i][c]); }
    }
  }

  for (var c = 0u; c < TN4; c++) {
    let col = col0 + 4u * c;
    if (col >= N) { break; }
    var bb = vec4f(0.0);
    if (p.bias != 0u) { bb = bias4[col / 4u]; }
    for (var i = 0u; i < TM; i++) {
      let row = row0 + i;
      if (row < M) { c4[(cBase + row * N + col) / 4u] = acc[i][c] + bb; }
    }
  }
}

// ------------------------------------------------------------------------------------------------ scalar register-blocked

@group(0) @binding(1) var<storage, read> a1: array<f32>;
@group(0) @binding(2) var<storage, read> b1: array<f32>;
@group(0) @binding(3) var<storage, read> bias1: array<f32>;
@group(0) @binding(4) var<storage, read_write> c1: array<f32>;

fn aIndex(m: u32, k: u32) -> u32 {
  if (TRANS_A) { return k * p.M + m; }
  return m * p.K + k;
}

fn bIndex(k: u32, n: u32) -> u32 {
  if (TRANS_B) { return n * p.K + k; }
  return k * p.N + n;
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_scalar(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wg.y * WG_Y + lid.y) * TM;
  let col0 = (wg.x * WG_X + lid.x) * TN;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let aBase = wg.z * p.sA;
  let bBase = wg.z * p.sB;
  let cBase = wg.z * p.sC;
  // Per-row / per-column start index and the step along k, clamped into range.
  let aStep = select(1u, p.M, TRANS_A);
  let bStep = select(p.N, 1u, TRANS_B);
  var aOff: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { aOff[i] = aBase + aIndex(min(row0 + i, p.M - 1u), 0u); }
  var bOff: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { bOff[j] = bBase + bIndex(0u, min(col0 + j, p.N - 1u)); }

  var acc: array<array<vec4f, TN4>, TM>;
  for (var k = 0u; k < p.K; k++) {
    var bk: array<vec4f, TN4>;
    for (var c = 0u; c < TN4; c++) {
      bk[c] = vec4f(b1[bOff[4u * c] + k * bStep], b1[bOff[4u * c + 1u] + k * bStep],
                    b1[bOff[4u * c + 2u] + k * bStep], b1[bOff[4u * c + 3u] + k * bStep]);
    }
    for (var i = 0u; i < TM; i++) {
      let s = vec4f(a1[aOff[i] + k * aStep]);
      for (var c = 0u; c < TN4; c++) { acc[i][c] = fma(s, bk[c], acc[i][c]); }
    }
  }
  for (var j = 0u; j < TN; j++) {
    let col = col0 + j;
    if (col >= p.N) { break; }
    var bb = 0.0;
    if (p.bias != 0u) { bb = bias1[col]; }
    for (var i = 0u; i < TM; i++) {
      let row = row0 + i;
      if (row < p.M) { c1[cBase + row * p.N + col] = acc[i][j / 4u][j % 4u] + bb; }
    }
  }
}

// ------------------------------------------------------------------------------------------------ shared-memory tiles

const BT: u32 = TILE * 4u;   // output tile edge: TILE×TILE invocations, 4×4 outputs each
const BK: u32 = 16u;
const TILE2: u32 = TILE * TILE;
const LDS: u32 = BT + 1u;   // padded row: transposing stores (consecutive k) fall in different banks
var<workgroup> tileA: array<f32, BK * LDS>;   // [k][m]
var<workgroup> tileB: array<f32, BK * LDS>;   // [k][n]

@compute @workgroup_size(TILE, TILE)
fn matmul_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
                @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * BT;
  let n0 = wg.x * BT;
  let aBase = wg.z * p.sA;
  let bBase = wg.z * p.sB;
  let cBase = wg.z * p.sC;
  var acc: array<array<f32, 4>, 4>;
  for (var kt = 0u; kt < p.K; kt += BK) {
    // Cooperative loads, zero-filled outside the matrix; consecutive invocations read consecutive addresses.
    for (var e = li; e < BK * BT; e += TILE2) {
      var m: u32; var ka: u32;
      if (TRANS_A) { ka = e / BT; m = e % BT; } else { m = e / BK; ka = e % BK; }
      var va = 0.0;
      if (m0 + m < p.M && kt + ka < p.K) { va = a1[aBase + aIndex(m0 + m, kt + ka)]; }
      tileA[ka * LDS + m] = va;
      var n: u32; var kb: u32;
      if (TRANS_B) { n = e / BK; kb = e % BK; } else { kb = e / BT; n = e % BT; }
      var vb = 0.0;
      if (n0 + n < p.N && kt + kb < p.K) { vb = b1[bBase + bIndex(kt + kb, n0 + n)]; }
      tileB[kb * LDS + n] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { av[i] = tileA[k * LDS + lid.y + i * TILE]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = tileB[k * LDS + lid.x + j * TILE]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = m0 + lid.y + i * TILE;
    for (var j = 0u; j < 4u; j++) {
      let col = n0 + lid.x + j * TILE;
      if (row < p.M && col < p.N) {
        var v = acc[i][j];
        if (p.bias != 0u) { v += bias1[col]; }
        c1[cBase + row * p.N + col] = v;
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------ naive baseline

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_naive(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row = wg.y * WG_Y + lid.y;
  let col = wg.x * WG_X + lid.x;
  if (row >= p.M || col >= p.N) { return; }
  let aBase = wg.z * p.sA;
  let bBase = wg.z * p.sB;
  var s = 0.0;
  for (var k = 0u; k < p.K; k++) {
    s = fma(a1[aBase + aIndex(row, k)], b1[bBase + bIndex(k, col)], s);
  }
  if (p.bias != 0u) { s += bias1[col]; }
  c1[wg.z * p.sC + row * p.N + col] = s;
}
