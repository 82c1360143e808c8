// Fused multi-head attention: O = softmax(Q·Kᵀ·scale + causal mask)·V, per batch and head, with heads split from
// contiguous channels: q [B, Lq, H·D], k/v [B, Lk, H·D], o [B, Lq, H·D]; head h owns channels h·D .. h·D+D-1.
// The forward keeps a running max / running sum (online softmax), never writes the Lq×Lk scores, and saves the
// per-row log-sum-exp (of the scaled, masked scores) for the backward. The backward recomputes the probabilities
// from it (flash-attention style): attention_backward_q writes dQ and Δ = rowsum(dO∘O); attention_backward_kv then
// writes dK and dV from one pass over the queries. No atomics: every output row has exactly one writer.
//
// The source is compiled with a prefix that defines (see src/ops/attention.ts):
//   const D4: u32    head dim / 4 (the rows are read as vec4)
//   const WG: u32    invocations per workgroup
//   const BK: u32    rows per shared tile (tiled entries)
//   const ROLL: bool keep the head-dim loops of the rows entries rolled (compile time on lavapipe)
//   const NR: u32    the rows forward gives each invocation 4·NR query rows...
//   const NK: u32    ...and walks the keys 4·NK at a time
//
// Two families of entry points:
//   * attention_*         (lavapipe) each invocation owns 4 rows of one (batch, head) (4·NR query rows in the
//                         forward) and walks the other sequence a few rows at a time in serial loops, the head dim in
//                         registers, no workgroup memory and no barriers. On lavapipe every storage load is a per-lane
//                         loop with bounds checks (its only "uniform" fast path needs constant or push-constant
//                         offsets), so the cost is the number of loads: blocking 4 rows × 4 (or 8) rows reuses each
//                         loaded value 4× and made the forward ~1.5–2× faster than one row per invocation.
//   * attention_*_tiled   (real GPUs) one row per invocation, the workgroup stages BK rows of the streamed operands
//                         (K/V, or Q/dO with lse/Δ) in workgroup memory cooperatively, behind barriers.
//
// Lavapipe trap met here: a loop-local `var x: T;` without an initializer was NOT re-zeroed on each iteration
// (the previous iteration's value survived), so every loop-local array is assigned explicitly before it is read.
//
// The causal mask (key j visible to query i iff j <= i) is applied with select() inside uniform loops whose bounds
// come from the workgroup's row range, so lanes of one workgroup never diverge in control flow.

struct Params {
  bh: u32,      // B·H
  heads: u32,   // H
  lq: u32,
  lk: u32,
  rowq: u32,    // vec4s per q/o row = H·D/4
  rowk: u32,    // vec4s per k/v row = H·D/4
  causal: u32,
  scale: f32,
}

const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: Params;
// Bindings 1-6 (q, k, v; the forward output o, its gradient dout and the forward's log-sum-exp lse [B·H, Lq], backward
// only) come with the prefix, with their loads ld_q(i) .. ld_dout(i) (vec4 i of the tensor), ld_lse(i) and ld_delta(i)
// (Δ, from stat): storage buffers, or on lavapipe, for the operands an entry point streams through its inner loop,
// read-only storage textures that hold copies of them (binding 10 then holds Δ; see src/ops/attention.ts).
@group(0) @binding(7) var<storage, read_write> out0: array<vec4f>;  // o | dq | dk
@group(0) @binding(8) var<storage, read_write> out1: array<vec4f>;  // dv (backward_kv)
@group(0) @binding(9) var<storage, read_write> stat: array<f32>;    // forward: lse out; backward_q: Δ out; backward_kv: Δ in

fn hsum(x: vec4f) -> f32 {
  return (x.x + x.y) + (x.z + x.w);
}

// Base vec4 index of row `r` of head `h` in batch `b` for a tensor of `len` rows and `row` vec4s per row.
fn rowBase(b: u32, h: u32, r: u32, len: u32, row: u32) -> u32 {
  return (b * len + r) * row + h * D4;
}

// ------------------------------------------------------------------------------------------------ rows (lavapipe)
// Each invocation owns 4 rows (query rows, or key rows in backward_kv) and walks the other sequence 4 rows at a
// time. Four rows' chunk c of the head dim is one mat4x4f whose columns are the rows, so a 4×4 block of dot
// products is transpose(A)·B and a 4×4 weighted sum is A·P: on lavapipe (which keeps matrices as 16 SIMD registers)
// the transposes are free, and every storage load (a per-lane loop with bounds checks there, the real cost) is
// reused by 4 rows instead of 1. All loops have constant or workgroup-uniform bounds; ragged edges are clamped on
// load and masked with select().

fn max4(x: vec4f) -> f32 {
  return max(max(x.x, x.y), max(x.z, x.w));
}

// Row bases (vec4 index of chunk 0) of 4 consecutive rows starting at r0 of a tensor of `len` rows per batch, clamped
// to row `last`.
fn rowBases4(b: u32, h: u32, r0: u32, last: u32, len: u32, row: u32) -> vec4u {
  let r = min(vec4u(r0, r0 + 1u, r0 + 2u, r0 + 3u), vec4u(last));
  return vec4u(rowBase(b, h, 0u, len, row)) + r * row;
}

@compute @workgroup_size(WG)
fn attention_forward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let rpi = 4u * NR;                // rows per invocation
  let rfirst = (wg.x * WG + lid) * rpi;
  // With ROLL the chunk loops' bound is not a constant, so the compiler keeps them rolled: a much smaller shader
  // (lavapipe's LLVM compile of the unrolled D=64 forward takes ~20 s) at little cost in speed.
  let d4 = select(D4, min(D4, p.rowq), ROLL);
  var qm: array<mat4x4f, D4 * NR>;   // qm[c·NR + n][r]: chunk c of query row rfirst + 4n + r, times scale
  var acc: array<mat4x4f, D4 * NR>;  // same layout: Σ_j exp(s_rj − m_r)·V_j
  for (var n = 0u; n < NR; n++) {
    let qb = rowBases4(b, h, rfirst + 4u * n, p.lq - 1u, p.lq, p.rowq);
    for (var c = 0u; c < d4; c++) {
      qm[c * NR + n] = mat4x4f(ld_q(qb.x + c), ld_q(qb.y + c), ld_q(qb.z + c), ld_q(qb.w + c)) * p.scale;
      acc[c * NR + n] = mat4x4f();
    }
  }
  let cz = vec4<bool>(p.causal != 0u);
  var kend = p.lk;
  if (p.causal != 0u) { kend = min(p.lk, min((wg.x + 1u) * WG * rpi, p.lq)); }
  var m: array<vec4f, NR>;
  var l: array<vec4f, NR>;
  for (var n = 0u; n < NR; n++) {
    m[n] = vec4f(NEG);
    l[n] = vec4f(0.0);
  }
  for (var j0 = 0u; j0 < kend; j0 += 4u * NK) {
    // keys j0 + 4g + t, g < NK, t < 4
    var kb: array<vec4u, NK>;
    for (var g = 0u; g < NK; g++) { kb[g] = rowBases4(b, h, j0 + 4u * g, kend - 1u, p.lk, p.rowk); }
    var st: array<mat4x4f, NR * NK>; // st[n·NK + g][r][t] = scale·Q_{rfirst+4n+r}·K_{j0+4g+t}
    for (var e = 0u; e < NR * NK; e++) { st[e] = mat4x4f(); } // explicit: lavapipe kept the previous block's sums
    for (var c = 0u; c < d4; c++) {
      for (var g = 0u; g < NK; g++) {
        let kt = transpose(mat4x4f(ld_k(kb[g].x + c), ld_k(kb[g].y + c), ld_k(kb[g].z + c), ld_k(kb[g].w + c)));
        for (var n = 0u; n < NR; n++) { st[n * NK + g] += kt * qm[c * NR + n]; }
      }
    }
    var pm: array<mat4x4f, NR * NK>;
    var corr: array<vec4f, NR>;
    for (var n = 0u; n < NR; n++) {
      let r = rfirst + 4u * n;
      var bm = vec4f(NEG);
      for (var g = 0u; g < NK; g++) {
        let js = vec4u(j0 + 4u * g) + vec4u(0u, 1u, 2u, 3u);
        let oob = js >= vec4u(kend);
        let sg = st[n * NK + g];
        let s0 = select(sg[0], vec4f(NEG), oob | (cz & (js > vec4u(r))));
        let s1 = select(sg[1], vec4f(NEG), oob | (cz & (js > vec4u(r + 1u))));
        let s2 = select(sg[2], vec4f(NEG), oob | (cz & (js > vec4u(r + 2u))));
        let s3 = select(sg[3], vec4f(NEG), oob | (cz & (js > vec4u(r + 3u))));
        st[n * NK + g] = mat4x4f(s0, s1, s2, s3);
        bm = max(bm, vec4f(max4(s0), max4(s1), max4(s2), max4(s3)));
      }
      let mn = max(m[n], bm);
      corr[n] = exp(m[n] - mn);
      var ln = l[n] * corr[n];
      for (var g = 0u; g < NK; g++) {
        let sg = st[n * NK + g];
        let pn = mat4x4f(exp(sg[0] - mn.x), exp(sg[1] - mn.y), exp(sg[2] - mn.z), exp(sg[3] - mn.w));
        pm[n * NK + g] = pn;
        ln += vec4f(hsum(pn[0]), hsum(pn[1]), hsum(pn[2]), hsum(pn[3]));
      }
      l[n] = ln;
      m[n] = mn;
    }
    for (var c = 0u; c < d4; c++) {
      var vc: array<mat4x4f, NK>;
      for (var g = 0u; g < NK; g++) {
        vc[g] = mat4x4f(ld_v(kb[g].x + c), ld_v(kb[g].y + c), ld_v(kb[g].z + c), ld_v(kb[g].w + c));
      }
      for (var n = 0u; n < NR; n++) {
        let a = acc[c * NR + n];
        let cr = corr[n];
        var x = mat4x4f(a[0] * cr.x, a[1] * cr.y, a[2] * cr.z, a[3] * cr.w);
        for (var g = 0u; g < NK; g++) { x += vc[g] * pm[n * NK + g]; }
        acc[c * NR + n] = x;
      }
    }
  }
  for (var n = 0u; n < NR; n++) {
    let inv = 1.0 / l[n];
    let ls = m[n] + log(l[n]);
    for (var r = 0u; r < 4u; r++) {
      let row = rfirst + 4u * n + r;
      if (row < p.lq) {
        let ob = rowBase(b, h, row, p.lq, p.rowq);
        for (var c = 0u; c < d4; c++) { out0[ob + c] = acc[c * NR + n][r] * inv[r]; }
        stat[bh * p.lq + row] = ls[r];
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------ backward

// The backward uses the same 4-row blocking as the forward (4 rows per invocation, the other sequence 4 rows at a
// time, head-dim loops rolled through ROLL), with every loop-local array fully assigned before it is read.

// dQ_i = scale · Σ_j P_ij (dO_i·V_j − Δ_i) K_j, with P_ij = exp(scale·Q_i·K_j − lse_i) and Δ_i = dO_i·O_i
@compute @workgroup_size(WG)
fn attention_backward_q(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let r0 = (wg.x * WG + lid) * 4u;
  let rows = vec4u(r0, r0 + 1u, r0 + 2u, r0 + 3u);
  let qb = rowBases4(b, h, r0, p.lq - 1u, p.lq, p.rowq);
  let d4 = select(D4, min(D4, p.rowq), ROLL);
  var qm: array<mat4x4f, D4>;
  var gm: array<mat4x4f, D4>;
  var acc: array<mat4x4f, D4>;
  var km: array<mat4x4f, D4>;
  var delta = vec4f(0.0);
  for (var c = 0u; c < d4; c++) {
    qm[c] = mat4x4f(ld_q(qb.x + c), ld_q(qb.y + c), ld_q(qb.z + c), ld_q(qb.w + c)) * p.scale;
    let g = mat4x4f(ld_dout(qb.x + c), ld_dout(qb.y + c), ld_dout(qb.z + c), ld_dout(qb.w + c));
    gm[c] = g;
    let om = mat4x4f(ld_o(qb.x + c), ld_o(qb.y + c), ld_o(qb.z + c), ld_o(qb.w + c));
    delta += vec4f(dot(g[0], om[0]), dot(g[1], om[1]), dot(g[2], om[2]), dot(g[3], om[3]));
    acc[c] = mat4x4f();
  }
  let rc = min(rows, vec4u(p.lq - 1u));
  let ls = vec4f(ld_lse(bh * p.lq + rc.x), ld_lse(bh * p.lq + rc.y), ld_lse(bh * p.lq + rc.z), ld_lse(bh * p.lq + rc.w));
  let cz = vec4<bool>(p.causal != 0u);
  var kend = p.lk;
  if (p.causal != 0u) { kend = min(p.lk, min((wg.x + 1u) * WG * 4u, p.lq)); }
  for (var j0 = 0u; j0 < kend; j0 += 4u) {
    let js = vec4u(j0, j0 + 1u, j0 + 2u, j0 + 3u);
    let kb = rowBases4(b, h, j0, kend - 1u, p.lk, p.rowk);
    var st = mat4x4f(); // st[r][t] = scale·Q_r·K_{j0+t}
    var dt = mat4x4f(); // dt[r][t] = dO_r·V_{j0+t}
    for (var c = 0u; c < d4; c++) {
      let kc = mat4x4f(ld_k(kb.x + c), ld_k(kb.y + c), ld_k(kb.z + c), ld_k(kb.w + c));
      km[c] = kc;
      st += transpose(kc) * qm[c];
      dt += transpose(mat4x4f(ld_v(kb.x + c), ld_v(kb.y + c), ld_v(kb.z + c), ld_v(kb.w + c))) * gm[c];
    }
    let oob = js >= vec4u(kend);
    let p0 = select(exp(st[0] - ls.x), vec4f(0.0), oob | (cz & (js > vec4u(rows.x))));
    let p1 = select(exp(st[1] - ls.y), vec4f(0.0), oob | (cz & (js > vec4u(rows.y))));
    let p2 = select(exp(st[2] - ls.z), vec4f(0.0), oob | (cz & (js > vec4u(rows.z))));
    let p3 = select(exp(st[3] - ls.w), vec4f(0.0), oob | (cz & (js > vec4u(rows.w))));
    let dsm = mat4x4f(p0 * (dt[0] - delta.x), p1 * (dt[1] - delta.y), p2 * (dt[2] - delta.z), p3 * (dt[3] - delta.w));
    for (var c = 0u; c < d4; c++) { acc[c] += km[c] * dsm; }
  }
  for (var r = 0u; r < 4u; r++) {
    if (rows[r] < p.lq) {
      let ob = rowBase(b, h, rows[r], p.lq, p.rowq);
      for (var c = 0u; c < d4; c++) { out0[ob + c] = acc[c][r] * p.scale; }
      stat[bh * p.lq + rows[r]] = delta[r];
    }
  }
}

// dV_j = Σ_i P_ij dO_i;  dK_j = scale · Σ_i P_ij (dO_i·V_j − Δ_i) Q_i   (each invocation owns 4 key rows)
@compute @workgroup_size(WG)
fn attention_backward_kv(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let r0 = (wg.x * WG + lid) * 4u;
  let keys = vec4u(r0, r0 + 1u, r0 + 2u, r0 + 3u);
  let kb = rowBases4(b, h, r0, p.lk - 1u, p.lk, p.rowk);
  let d4 = select(D4, min(D4, p.rowq), ROLL);
  var km: array<mat4x4f, D4>;
  var vm: array<mat4x4f, D4>;
  var dk: array<mat4x4f, D4>;
  var dv: array<mat4x4f, D4>;
  var qa: array<mat4x4f, D4>;
  var ga: array<mat4x4f, D4>;
  for (var c = 0u; c < d4; c++) {
    km[c] = mat4x4f(ld_k(kb.x + c), ld_k(kb.y + c), ld_k(kb.z + c), ld_k(kb.w + c)) * p.scale;
    vm[c] = mat4x4f(ld_v(kb.x + c), ld_v(kb.y + c), ld_v(kb.z + c), ld_v(kb.w + c));
    dk[c] = mat4x4f();
    dv[c] = mat4x4f();
  }
  let cz = vec4<bool>(p.causal != 0u);
  var istart = 0u;
  if (p.causal != 0u) { istart = wg.x * WG * 4u; } // earlier queries see none of this workgroup's keys
  for (var i0 = istart; i0 < p.lq; i0 += 4u) {
    let is = vec4u(i0, i0 + 1u, i0 + 2u, i0 + 3u);
    let qb = rowBases4(b, h, i0, p.lq - 1u, p.lq, p.rowq);
    var st = mat4x4f(); // st[r][t] = scale·Q_{i0+t}·K_r
    var dt = mat4x4f(); // dt[r][t] = dO_{i0+t}·V_r
    for (var c = 0u; c < d4; c++) {
      let qc = mat4x4f(ld_q(qb.x + c), ld_q(qb.y + c), ld_q(qb.z + c), ld_q(qb.w + c));
      let gc = mat4x4f(ld_dout(qb.x + c), ld_dout(qb.y + c), ld_dout(qb.z + c), ld_dout(qb.w + c));
      qa[c] = qc;
      ga[c] = gc;
      st += transpose(qc) * km[c];
      dt += transpose(gc) * vm[c];
    }
    let ic = bh * p.lq + min(is, vec4u(p.lq - 1u));
    let ls = vec4f(ld_lse(ic.x), ld_lse(ic.y), ld_lse(ic.z), ld_lse(ic.w));
    let dl = vec4f(ld_delta(ic.x), ld_delta(ic.y), ld_delta(ic.z), ld_delta(ic.w));
    let oob = is >= vec4u(p.lq);
    let p0 = select(exp(st[0] - ls), vec4f(0.0), oob | (cz & (vec4u(keys.x) > is)));
    let p1 = select(exp(st[1] - ls), vec4f(0.0), oob | (cz & (vec4u(keys.y) > is)));
    let p2 = select(exp(st[2] - ls), vec4f(0.0), oob | (cz & (vec4u(keys.z) > is)));
    let p3 = select(exp(st[3] - ls), vec4f(0.0), oob | (cz & (vec4u(keys.w) > is)));
    let pm = mat4x4f(p0, p1, p2, p3);
    let dsm = mat4x4f(p0 * (dt[0] - dl), p1 * (dt[1] - dl), p2 * (dt[2] - dl), p3 * (dt[3] - dl));
    for (var c = 0u; c < d4; c++) {
      dv[c] += ga[c] * pm;
      dk[c] += qa[c] * dsm;
    }
  }
  for (var r = 0u; r < 4u; r++) {
    if (keys[r] < p.lk) {
      let ob = rowBase(b, h, keys[r], p.lk, p.rowk);
      for (var c = 0u; c < d4; c++) {
        out0[ob + c] = dk[c][r] * p.scale;
        out1[ob + c] = dv[c][r];
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------ tiled (real GPUs)
// Same arithmetic as above; the workgroup stages BK rows of the streamed operands in workgroup memory. Loop bounds are
// uniform (they depend on the workgroup only), so every invocation reaches every barrier.

var<workgroup> tileA: array<vec4f, BK * D4>;
var<workgroup> tileB: array<vec4f, BK * D4>;
var<workgroup> tileL: array<f32, BK>;
var<workgroup> tileD: array<f32, BK>;

// Copies rows r0 .. r0+BK-1 (clamped to len-1) of x and y, head h of batch b, into tileA / tileB.
fn stageKV(lid: u32, b: u32, h: u32, r0: u32) {
  for (var e = lid; e < BK * D4; e += WG) {
    let r = min(r0 + e / D4, p.lk - 1u);
    let at = rowBase(b, h, r, p.lk, p.rowk) + e % D4;
    tileA[e] = ld_k(at);
    tileB[e] = ld_v(at);
  }
}

@compute @workgroup_size(WG)
fn attention_forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let i0 = wg.x * WG;
  let i = i0 + lid;
  let qi = min(i, p.lq - 1u);
  let qb = rowBase(b, h, qi, p.lq, p.rowq);
  var qr: array<vec4f, D4>;
  var acc: array<vec4f, D4>;
  for (var c = 0u; c < D4; c++) {
    qr[c] = ld_q(qb + c) * p.scale;
    acc[c] = vec4f(0.0);
  }
  var kend = p.lk;
  if (p.causal != 0u) { kend = min(p.lk, min(i0 + WG, p.lq)); }
  var m = NEG;
  var l = 0.0;
  var s: array<f32, BK>;
  for (var j0 = 0u; j0 < kend; j0 += BK) {
    workgroupBarrier();
    stageKV(lid, b, h, j0);
    workgroupBarrier();
    let tn = min(BK, kend - j0);
    var bm = NEG;
    for (var t = 0u; t < tn; t++) {
      var d = vec4f(0.0);
      for (var c = 0u; c < D4; c++) { d = fma(qr[c], tileA[t * D4 + c], d); }
      let x = select(hsum(d), NEG, p.causal != 0u && j0 + t > i);
      s[t] = x;
      bm = max(bm, x);
    }
    let mn = max(m, bm);
    let corr = exp(m - mn);
    l *= corr;
    for (var c = 0u; c < D4; c++) { acc[c] *= corr; }
    for (var t = 0u; t < tn; t++) {
      let pr = exp(s[t] - mn);
      l += pr;
      let pv = vec4f(pr);
      for (var c = 0u; c < D4; c++) { acc[c] = fma(pv, tileB[t * D4 + c], acc[c]); }
    }
    m = mn;
  }
  if (i < p.lq) {
    let inv = 1.0 / l;
    let ob = rowBase(b, h, i, p.lq, p.rowq);
    for (var c = 0u; c < D4; c++) { out0[ob + c] = acc[c] * inv; }
    stat[bh * p.lq + i] = m + log(l);
  }
}

@compute @workgroup_size(WG)
fn attention_backward_q_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let i0 = wg.x * WG;
  let i = i0 + lid;
  let qi = min(i, p.lq - 1u);
  let qb = rowBase(b, h, qi, p.lq, p.rowq);
  var qr: array<vec4f, D4>;
  var gr: array<vec4f, D4>;
  var acc: array<vec4f, D4>;
  var dd = vec4f(0.0);
  for (var c = 0u; c < D4; c++) {
    qr[c] = ld_q(qb + c) * p.scale;
    gr[c] = ld_dout(qb + c);
    dd = fma(gr[c], ld_o(qb + c), dd);
    acc[c] = vec4f(0.0);
  }
  let delta = hsum(dd);
  let ls = ld_lse(bh * p.lq + qi);
  var kend = p.lk;
  if (p.causal != 0u) { kend = min(p.lk, min(i0 + WG, p.lq)); }
  for (var j0 = 0u; j0 < kend; j0 += BK) {
    workgroupBarrier();
    stageKV(lid, b, h, j0);
    workgroupBarrier();
    let tn = min(BK, kend - j0);
    for (var t = 0u; t < tn; t++) {
      var sd = vec4f(0.0);
      var pd = vec4f(0.0);
      for (var c = 0u; c < D4; c++) {
        sd = fma(qr[c], tileA[t * D4 + c], sd);
        pd = fma(gr[c], tileB[t * D4 + c], pd);
      }
      let pr = select(exp(hsum(sd) - ls), 0.0, p.causal != 0u && j0 + t > i);
      let ds = vec4f(pr * (hsum(pd) - delta));
      for (var c = 0u; c < D4; c++) { acc[c] = fma(ds, tileA[t * D4 + c], acc[c]); }
    }
  }
  if (i < p.lq) {
    for (var c = 0u; c < D4; c++) { out0[qb + c] = acc[c] * p.scale; }
    stat[bh * p.lq + i] = delta;
  }
}

@compute @workgroup_size(WG)
fn attention_backward_kv_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let j0 = wg.x * WG;
  let j = j0 + lid;
  let kj = min(j, p.lk - 1u);
  let kb = rowBase(b, h, kj, p.lk, p.rowk);
  var kr: array<vec4f, D4>;
  var vr: array<vec4f, D4>;
  var dk: array<vec4f, D4>;
  var dv: array<vec4f, D4>;
  for (var c = 0u; c < D4; c++) {
    kr[c] = ld_k(kb + c) * p.scale;
    vr[c] = ld_v(kb + c);
    dk[c] = vec4f(0.0);
    dv[c] = vec4f(0.0);
  }
  var istart = 0u;
  if (p.causal != 0u) { istart = j0; }
  for (var r0 = istart; r0 < p.lq; r0 += BK) {
    workgroupBarrier();
    for (var e = lid; e < BK * D4; e += WG) {
      let r = min(r0 + e / D4, p.lq - 1u);
      let at = rowBase(b, h, r, p.lq, p.rowq) + e % D4;
      tileA[e] = ld_q(at);
      tileB[e] = ld_dout(at);
    }
    for (var e = lid; e < BK; e += WG) {
      let r = bh * p.lq + min(r0 + e, p.lq - 1u);
      tileL[e] = ld_lse(r);
      tileD[e] = ld_delta(r);
    }
    workgroupBarrier();
    let tn = min(BK, p.lq - r0);
    for (var t = 0u; t < tn; t++) {
      var sd = vec4f(0.0);
      var pd = vec4f(0.0);
      for (var c = 0u; c < D4; c++) {
        sd = fma(tileA[t * D4 + c], kr[c], sd);
        pd = fma(tileB[t * D4 + c], vr[c], pd);
      }
      let pr = select(exp(hsum(sd) - tileL[t]), 0.0, p.causal != 0u && j > r0 + t);
      let pv = vec4f(pr);
      let ds = vec4f(pr * (hsum(pd) - tileD[t]));
      for (var c = 0u; c < D4; c++) {
        dv[c] = fma(pv, tileB[t * D4 + c], dv[c]);
        dk[c] = fma(ds, tileA[t * D4 + c], dk[c]);
      }
    }
  }
  if (j < p.lk) {
    for (var c = 0u; c < D4; c++) {
      out0[kb + c] = dk[c] * p.scale;
      out1[kb + c] = dv[c];
    }
  }
}
