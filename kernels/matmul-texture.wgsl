// Batched matmul C[z] = op(A[z]) · op(B[z]) (+ bias) with both operands read from textures: lavapipe's fast path for
// all but small products (src/ops/matmul.ts, variant 'texture'). Same conventions as matmul.wgsl (shapes, TRANS_A/TRANS_B,
// the TM/TN prefix, WG_X/WG_Y); a file of its own because it needs the WGSL language feature
// readonly_and_readwrite_storage_textures, which the buffer kernels of matmul.wgsl must not depend on.
// Entry points:
//   matmul_pack    copies op(X) of one operand into an rgba32float storage texture (4 columns per texel, zero-padded)
//                  in the blocked order matmul_texture reads; the transposes of TRANS_A/TRANS_B happen here.
//   matmul_pack_vec4  the same, four rows per invocation with vec4 loads, where the stored rows are whole texels.
//   matmul_texture register-blocked (TM×TN per invocation, 16×16 by default) with both operands read from textures
//                  that matmul_pack filled or a copy (A_ROWS / B_ROWS): the fast path on lavapipe for all but
//                  small products. There a storage-buffer load is a per-lane, per-component branch with a bounds
//                  check (only constant addresses take a scalar path; workgroup-uniform ones do not), while a
//                  read-only storage-texture load is a short
//                  branch-free function: eight 16-byte loads and a transpose for 8 lanes. (Sampled-texture fetches go
//                  through the generic sampler code, about 1.7× slower.) Needs the WGSL language feature
//                  readonly_and_readwrite_storage_textures, which dawn.node has.
//
// Results equal the buffer kernels' to float rounding: the sum runs over k in the same order.

override TRANS_A: bool = false;
// The operand was copied into its texture as stored (copyBufferToTexture, not matmul_pack): op(A) row-major, row r's
// texels at r·K4 (batch entries aBatch texels apart); op(B) row-major, row k's at k·N/4. Only where rows are whole
// texels (K, and N for B, multiples of 4): a copy is a memcpy on lavapipe, where matmul_pack's texture stores cost as
// much as the product itself. Rows and columns past the matrix then read whatever follows (or, past the texture, what
// robustness returns): they only reach outputs past M or N, which are never stored, as every output sums over its own
// row of A and column of B.
override A_ROWS: bool = false;
override B_ROWS: bool = false;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

const TN4: u32 = TN / 4u;

// The product's bias and output, as in matmul.wgsl's scalar kernel (bindings 3 and 4).
@group(0) @binding(3) var<storage, read> bias1: array<f32>;
@group(0) @binding(4) var<storage, read_write> c1: array<f32>;

// A packed operand is a flat array of texels in a texture TEX_W texels wide (texel i at (i % TEX_W, i / TEX_W)): any
// shape fits under the 2-D size limit, and one texture per role serves every product. The texels are laid out in the
// order matmul_texture reads them, so that each 8-lane SIMD group streams through memory sequentially (with a long K,
// row-major operands were fetched from 32 scattered rows at a time and ran at half the speed):
//   op(A) [M, K]: blocks of TM rows; per block, for each k4, the TM texels of its rows: texel (b·K4 + k4)·TM + i.
//   op(B) [K, N]: panels of PW = WG_X·TN/4 texels (one workgroup's columns); per panel, row after row of PW texels.
// Rows and columns past the matrix (to whole blocks and panels, and K to a multiple of 4) are zero.
const TEX_SHIFT: u32 = 13u;
const TEX_W: u32 = 1u << TEX_SHIFT;

struct PackParams {
  R: u32,        // rows of op(X)
  C: u32,        // columns of op(X)
  rows: u32,     // packed rows (R padded)
  C4: u32,       // packed texels per row (C / 4 padded)
  stride: u32,   // elements between batch entries of X
  zStride: u32,  // texels between packed batch entries
  // One formula for both layouts (blocks and sizes powers of two): texel (r, c4) goes to
  // (r >> rShift)·sRb + (r % 2^rShift)·sRi + (c4 >> cShift)·sCb + (c4 % 2^cShift)·sCi.
  rShift: u32,
  sRb: u32,
  sRi: u32,
  cShift: u32,
  sCb: u32,
  sCi: u32,
}

@group(0) @binding(0) var<uniform> pk: PackParams;
@group(0) @binding(1) var<storage, read> packSrc: array<f32>;
@group(0) @binding(2) var packDst: texture_storage_2d<rgba32float, write>;

// Texel (r, c4) of batch entry z of op(X), at its place in the blocked order.
fn packStore(r: u32, c4: u32, z: u32, v: vec4f) {
  let t = z * pk.zStride + (r >> pk.rShift) * pk.sRb + (r & ((1u << pk.rShift) - 1u)) * pk.sRi
        + (c4 >> pk.cShift) * pk.sCb + (c4 & ((1u << pk.cShift) - 1u)) * pk.sCi;
  textureStore(packDst, vec2u(t & (TEX_W - 1u), t >> TEX_SHIFT), v);
}

// TRANS_A here means X is stored transposed ([C, R]). Grid: (texels per row, rows, batch entries).
@compute @workgroup_size(8, 8)
fn matmul_pack(@builtin(global_invocation_id) id: vec3u) {
  let c4 = id.x;
  let r = id.y;
  let z = id.z;
  if (c4 >= pk.C4 || r >= pk.rows) { return; }
  var v = vec4f(0.0);
  if (r < pk.R) {
    for (var j = 0u; j < 4u; j++) {
      let c = 4u * c4 + j;
      if (c < pk.C) {
        if (TRANS_A) { v[j] = packSrc[z * pk.stride + c * pk.R + r]; }
        else { v[j] = packSrc[z * pk.stride + r * pk.C + c]; }
      }
    }
  }
  packStore(r, c4, z, v);
}

// The same packing four rows at a time with vec4 loads, where the stored rows are whole texels: X [R, C] with C and the
// batch stride multiples of 4 (a texel is one load), or Xᵀ [C, R] with R and the stride multiples of 4 (four loads of
// four rows, transposed in registers). On lavapipe each storage-buffer load is a per-lane loop with bounds checks, so
// four vec4 loads for four texels replace sixteen scalar ones. Grid: (texels per row, rows / 4,
// batch entries); rows is a multiple of 4 (whole TM blocks for op(A), 4·K4 for op(B)).
@group(0) @binding(1) var<storage, read> packSrc4: array<vec4f>;

@compute @workgroup_size(8, 8)
fn matmul_pack_vec4(@builtin(global_invocation_id) id: vec3u) {
  let c4 = id.x;
  let r0 = 4u * id.y;
  let z = id.z;
  if (c4 >= pk.C4 || r0 >= pk.rows) { return; }
  let base = (z * pk.stride) / 4u;
  if (TRANS_A) {
    var col: array<vec4f, 4>;
    if (r0 < pk.R) {
      for (var j = 0u; j < 4u; j++) {
        let c = 4u * c4 + j;
        if (c < pk.C) { col[j] = packSrc4[base + (c * pk.R + r0) / 4u]; }
      }
    }
    for (var i = 0u; i < 4u; i++) { packStore(r0 + i, c4, z, vec4f(col[0][i], col[1][i], col[2][i], col[3][i])); }
  } else {
    let inRow = 4u * c4 < pk.C;
    for (var i = 0u; i < 4u; i++) {
      let r = r0 + i;
      var v = vec4f(0.0);
      if (inRow && r < pk.R) { v = packSrc4[base + (r * pk.C) / 4u + c4]; }
      packStore(r, c4, z, v);
    }
  }
}

struct TexParams {
  M: u32,
  N: u32,
  K4: u32,      // texels along K (op(B) has 4·K4 packed rows)
  aBatch: u32,  // texels between packed batch entries of op(A), 0 when A is broadcast
  bBatch: u32,  // same for op(B)
  sC: u32,
  bias: u32,
}

@group(0) @binding(0) var<uniform> q: TexParams;
@group(0) @binding(1) var texA: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var texB: texture_storage_2d<rgba32float, read>;

fn texelA(i: u32) -> vec4f {
  return textureLoad(texA, vec2u(i & (TEX_W - 1u), i >> TEX_SHIFT));
}
fn texelB(i: u32) -> vec4f {
  return textureLoad(texB, vec2u(i & (TEX_W - 1u), i >> TEX_SHIFT));
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_texture(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wg.y * WG_Y + lid.y) * TM;
  let col0 = (wg.x * WG_X + lid.x) * TN;
  if (row0 >= q.M || col0 >= q.N) { return; }
  let K4 = q.K4;
  let PW = WG_X * TN4;
  // padding makes every block and panel whole: no clamping in the loop
  var aBase = wg.z * q.aBatch + (row0 / TM) * K4 * TM;
  var aK = TM;  // texels between k4 steps, and between rows
  var aI = 1u;
  if (A_ROWS) {
    aBase = wg.z * q.aBatch + row0 * K4;
    aK = 1u;
    aI = K4;
  }
  var bBase = wg.z * q.bBatch + wg.x * 4u * K4 * PW + lid.x * TN4;
  var bRow = PW;  // texels between rows of op(B)
  if (B_ROWS) {
    bBase = wg.z * q.bBatch + col0 / 4u;
    bRow = q.N / 4u;
  }

  var acc: array<array<vec4f, TN4>, TM>;
  for (var k4 = 0u; k4 < K4; k4++) {
    var av: array<vec4f, TM>;
    for (var i = 0u; i < TM; i++) { av[i] = texelA(aBase + k4 * aK + i * aI); }
    var bv: array<array<vec4f, TN4>, 4>;
    for (var kk = 0u; kk < 4u; kk++) {
      for (var c = 0u; c < TN4; c++) { bv[kk][c] = texelB(bBase + (4u * k4 + kk) * bRow + c); }
    }
    // k innermost: each accumulator is loaded and stored once per step (they live on the stack at this size); columns
    // outermost keeps one column's B values in registers across the rows (5% faster than rows outermost).
    for (var c = 0u; c < TN4; c++) {
      for (var i = 0u; i < TM; i++) {
        var s = acc[i][c];
        s = fma(vec4f(av[i].x), bv[0][c], s);
        s = fma(vec4f(av[i].y), bv[1][c], s);
        s = fma(vec4f(av[i].z), bv[2][c], s);
        s = fma(vec4f(av[i].w), bv[3][c], s);
        acc[i][c] = s;
      }
    }
  }

  // Scalar stores: on lavapipe a vec4 store is four bounds-checked lane stores anyway, and N need not be a multiple of 4.
  let cBase = wg.z * q.sC;
  for (var j = 0u; j < TN; j++) {
    let col = col0 + j;
    if (col < q.N) {
      var bb = 0.0;
      if (q.bias != 0u) { bb = bias1[col]; }
      for (var i = 0u; i < TM; i++) {
        let row = row0 + i;
        if (row < q.M) { c1[cBase + row * q.N + col] = acc[i][j / 4u][j % 4u] + bb; }
      }
    }
  }
}
