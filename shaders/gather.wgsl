// Gather along one axis (PyTorch index_select): out[o, j, i] = x[o, idx[j], i], where o runs over
// the axes before `axis`, j over the indices (flattened) and i over the axes after it. The
// kernel covers one window of rows [lo, hi) of the gathered axis; threads whose index falls
// outside the window write nothing, so a table bigger than one storage binding is covered by
// several dispatches over windows. Out-of-range indices are clamped to [0, n - 1].
// Filled in by src/kernels/gather.ts:
//   ENABLE   `enable f16;` for f16 tensors
//   T        element type moved (a scalar type, or vec4 of one when rows are multiples of 4)
//   IDX      index storage type (i32 or u32)
//   CLAMP    expression turning the raw index `raw` into a row in [0, n - 1]
{{ENABLE}}

struct Params {
  total: u32,
  inner: u32,
  m: u32,
  n: u32,
  lo: u32,
  hi: u32,
  x_off: u32,
  x_outer: u32,
  idx_off: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> idx: array<{{IDX}}>;
@group(0) @binding(3) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Grid-stride loop: a capped number of workgroups covers any size.
  for (var e = gid.x + gid.y * nwg.x * 256u; e < p.total; e = e + nwg.x * nwg.y * 256u) {
    let i = e % p.inner;
    let q = e / p.inner;
    let j = q % p.m;
    let o = q / p.m;
    let raw = idx[p.idx_off + j];
    let r = {{CLAMP}};
    if (r >= p.lo && r < p.hi) {
      out[e] = x[p.x_off + o * p.x_outer + (r - p.lo) * p.inner + i];
    }
  }
}
