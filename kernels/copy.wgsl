// Data movement: a block copy along the token axis (concat, slice and their backward passes), the transpose of the
// last two axes, and the embedding gather. Tensors are viewed as [outer, len, inner].

struct Params {
  outer: u32,
  len: u32,      // rows copied per outer index
  inner: u32,
  src_len: u32,  // row count of the source along the axis
  src_off: u32,  // first source row
  dst_len: u32,
  dst_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> ids: array<u32>;

fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid;
}

// dst[o, dst_off + j, i] = src[o, src_off + j, i]
@compute @workgroup_size(256)
fn copy_rows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.outer * p.len * p.inner) { return; }
  let i = t % p.inner;
  let j = (t / p.inner) % p.len;
  let o = t / (p.inner * p.len);
  dst[(o * p.dst_len + p.dst_off + j) * p.inner + i] = src[(o * p.src_len + p.src_off + j) * p.inner + i];
}

// [outer, len=M, inner=N] -> [outer, N, M]
@compute @workgroup_size(256)
fn transpose_last2(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.outer * p.len * p.inner) { return; }
  // t indexes the destination [o, n, m] so writes are contiguous
  let m = t % p.len;
  let n = (t / p.len) % p.inner;
  let o = t / (p.len * p.inner);
  dst[t] = src[(o * p.len + m) * p.inner + n];
}

// dst[r, i] = src[ids[r], i]   (outer = rows, inner = width)
@compute @workgroup_size(256)
fn embedding_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.outer * p.inner) { return; }
  let i = t % p.inner;
  let r = t / p.inner;
  dst[t] = src[ids[r] * p.inner + i];
}

// Scatter-add without float atomics: the host sorts the rows by id (CSR). ids = [offsets(len+1) | row indices];
// invocation (u, i) sums the gradient rows of unique id u and adds them into row id_u of the table gradient.
// Here `len` = unique ids, `src` = gradient of the output [rows, inner], `dst` = table gradient (zeroed).
@compute @workgroup_size(256)
fn embedding_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, nwg, lid);
  if (t >= p.len * p.inner) { return; }
  let i = t % p.inner;
  let u = t / p.inner;
  let start = ids[u];
  let end = ids[u + 1u];
  let base = p.len + 1u;
  var s = 0.0;
  for (var k = start; k < end; k++) { s += src[ids[base + k] * p.inner + i]; }
  let id = ids[base + p.outer + u];
  dst[id * p.inner + i] += s;
}
