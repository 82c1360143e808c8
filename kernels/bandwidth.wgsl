// Memory bandwidth ceiling for the benchmarks (bench/ceilings.ts): a vec4 copy dst[i] = src[i] over n vec4s, one
// vec4 per invocation, workgroups folded into 2-D past the 65535 limit. Bytes moved = 2 · 16 · n (read + write).

struct Params {
  n: u32,   // vec4 count
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn copy_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.n) { return; }
  dst[i] = src[i];
}
