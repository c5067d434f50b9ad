// Scatter-add along one axis, the adjoint of gather: out[o, r, i] = base[o, r, i] plus the sum,
// over j in increasing order, of src[o, j, i] for every j with clamp(idx[j]) == r. No atomics and
// no workgroup memory: every output element is summed by one thread in a fixed order, so the
// result is deterministic (bit-identical run to run) and equals a sequential f32 sum
// base + src[j1] + src[j2] + ... in index order. Indices are clamped to [0, n - 1] like gather's.
//
// Two strategies, both covering the output rows [lo, lo + win) of the scattered axis (a window
// of the output, for outputs bigger than one storage binding):
//   `rows`: one thread per output element scans the whole index list (work ~ outer n inner m).
//           With m = 0 it just writes base (or zeros): the fill step of `ids`.
//   `ids`:  after a fill, one thread per (o, j, i): if j is the first index hitting its row r, it
//           adds src[o, j', i] for every later j' hitting r into out[o, r, i] (work ~ outer m^2
//           inner). The host picks `ids` when there are fewer indices than rows (an embedding
//           gradient: 50257 rows, 128 token ids).
// Elements are scalars, or vec4 of them when rows are multiples of 4 (then `inner` counts vec4s).
// Filled in by src/kernels/scatter.ts:
//   ENABLE       `enable f16;` for f16 tensors
//   T            storage element type (scalar or vec4)
//   CT           accumulation type (f32 or vec4<f32> for f16 and f32)
//   IDX          index storage type (i32 or u32)
//   CLAMP        expression turning the raw index `raw` into a row in [0, n - 1]
//   BASE_DECL    the binding of base (binding 3), or nothing
//   OUT_BINDING  binding number of `out` (3, or 4 after base)
//   BASE         the initial value of output element `e` of the window (from base, or zero)
{{ENABLE}}

struct Params {
  total: u32,
  win: u32,
  lo: u32,
  n: u32,
  inner: u32,
  m: u32,
  out_off: u32,
  base_off: u32,
  src_off: u32,
  idx_off: u32,
  _pad0: u32,
  _pad1: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> idx: array<{{IDX}}>;
@group(0) @binding(2) var<storage, read> src: array<{{T}}>;
{{BASE_DECL}}
// Entry point rows writes `out`; entry point ids updates `dst` in place (binding 3 in both when
// there is no base: different entry points may share a binding).
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> dst: array<{{T}}>;

fn row_of(j: u32) -> u32 {
  let raw = idx[p.idx_off + j];
  return {{CLAMP}};
}

@compute @workgroup_size(256)
fn rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Grid-stride loop: a capped number of workgroups covers any size.
  for (var e = gid.x + gid.y * nwg.x * 256u; e < p.total; e = e + nwg.x * nwg.y * 256u) {
    let i = e % p.inner;
    let g = e / p.inner;
    let o = g / p.win;
    let r = p.lo + g % p.win;
    var acc: {{CT}} = {{BASE}};
    for (var j = 0u; j < p.m; j = j + 1u) {
      if (row_of(j) == r) {
        acc = acc + {{CT}}(src[p.src_off + (o * p.m + j) * p.inner + i]);
      }
    }
    out[p.out_off + e] = {{T}}(acc);
  }
}

@compute @workgroup_size(256)
fn ids(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= p.total) {
    return;
  }
  let i = e % p.inner;
  let q = e / p.inner;
  let j = q % p.m;
  let o = q / p.m;
  let r = row_of(j);
  if (r < p.lo || r >= p.lo + p.win) {
    return;
  }
  for (var k = 0u; k < j; k = k + 1u) {
    if (row_of(k) == r) {
      return;
    }
  }
  let at = p.out_off + (o * p.win + r - p.lo) * p.inner + i;
  var acc = {{CT}}(dst[at]);
  for (var k = j; k < p.m; k = k + 1u) {
    if (row_of(k) == r) {
      acc = acc + {{CT}}(src[p.src_off + (o * p.m + k) * p.inner + i]);
    }
  }
  dst[at] = {{T}}(acc);
}
