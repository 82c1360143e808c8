// The adapter's fp32 fma ceiling: CHAINS independent vec4 accumulators per invocation, each advanced by a fused
// multiply-add 8 times per loop iteration (unrolled), all in registers, no memory traffic but one store at the end.
// FLOP per invocation = iters · 8 (unroll) · CHAINS · 4 (lanes) · 2 (mul + add).  CHAINS is 4; see bench/harness.ts.

struct Params {
  iters: u32,
  mul: f32,   // ~1 from the host, so the compiler cannot fold the chains
  add: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn peak(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.y * nwg.x * WG + gid.x;
  let x = vec4f(f32(idx & 1023u) * 1e-4);
  let m = vec4f(p.mul);
  let c = vec4f(p.add);
  var a0 = x;
  var a1 = x + vec4f(0.25);
  var a2 = x + vec4f(0.5);
  var a3 = x + vec4f(0.75);
  for (var i = 0u; i < p.iters; i++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
  }
  out[idx] = a0 + a1 + a2 + a3;
}
