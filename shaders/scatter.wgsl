// Scatter-add along one axis, the adjoint of gather: out[o, r, i] = base[o, r, i] + the sum, over
// j in increasing order, of src[o, j, i] for every j with idx[j] == r. One workgroup owns one
// output row (o, r): it scans the index list in chunks of 64, marks the hits in workgroup
// memory, and every thread adds the hit rows of src into its own columns in registers. No
// atomics: the sum order is fixed, so the result is deterministic (bit-identical run to run) and
// equals a sequential f32 sum in index order. Out-of-range indices are clamped to [0, n - 1] like
// gather's. The dispatch covers the rows [lo, lo + win) of the scattered axis (a window of the
// output, for outputs bigger than one storage binding).
// Filled in by src/kernels/scatter.ts:
//   ENABLE     `enable f16;` for f16 tensors
//   T          storage element type of base, src and out
//   CT         accumulation type (f32 for f16 and f32)
//   IDX        index storage type (i32 or u32)
//   CLAMP      expression turning the raw index `raw` into a row in [0, n - 1]
//   K          columns per thread per pass (the pass covers 64 * K columns)
//   BASE_DECL  the binding of base, or nothing
//   BASE       the initial value for column `col` of output row `g` (base or zero)
//   BINDINGS   the bindings of idx, src and out
{{ENABLE}}

struct Params {
  rows: u32,
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
{{BASE_DECL}}
{{BINDINGS}}

var<workgroup> hit: array<u32, 64>;

@compute @workgroup_size(64)
fn main(
  @builtin(local_invocation_index) t: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= p.rows) {
    return;
  }
  let o = g / p.win;
  let r = p.lo + g % p.win;
  for (var c0 = 0u; c0 < p.inner; c0 = c0 + 64u * {{K}}u) {
    var acc: array<{{CT}}, {{K}}>;
    for (var k = 0u; k < {{K}}u; k = k + 1u) {
      let col = c0 + k * 64u + t;
      if (col < p.inner) {
        acc[k] = {{BASE}};
      }
    }
    for (var j0 = 0u; j0 < p.m; j0 = j0 + 64u) {
      let j = j0 + t;
      var h = 0u;
      if (j < p.m) {
        let raw = idx[p.idx_off + j];
        if ({{CLAMP}} == r) {
          h = 1u;
        }
      }
      hit[t] = h;
      workgroupBarrier();
      let cnt = min(64u, p.m - j0);
      for (var q = 0u; q < cnt; q = q + 1u) {
        if (hit[q] != 0u) {
          let srow = p.src_off + (o * p.m + j0 + q) * p.inner;
          for (var k = 0u; k < {{K}}u; k = k + 1u) {
            let col = c0 + k * 64u + t;
            if (col < p.inner) {
              acc[k] = acc[k] + {{CT}}(src[srow + col]);
            }
          }
        }
      }
      workgroupBarrier();
    }
    for (var k = 0u; k < {{K}}u; k = k + 1u) {
      let col = c0 + k * 64u + t;
      if (col < p.inner) {
        out[p.out_off + g * p.inner + col] = {{T}}(acc[k]);
      }
    }
  }
}
