// One-hot encoding: out[j, c] = 1 when idx[j] == c, else 0. An index outside [0, n) gives a row
// of zeros. Filled in by src/kernels/onehot.ts:
//   ENABLE   `enable f16;` for an f16 output
//   T        output element type
//   IDX      index storage type (i32 or u32)
//   MATCH    boolean expression: raw index `raw` equals class `c` (a u32 below n)
{{ENABLE}}

struct Params {
  total: u32,
  n: u32,
  idx_off: u32,
  _pad0: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> idx: array<{{IDX}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Grid-stride loop: a capped number of workgroups covers any size.
  for (var e = gid.x + gid.y * nwg.x * 256u; e < p.total; e = e + nwg.x * nwg.y * 256u) {
    let c = e % p.n;
    let raw = idx[p.idx_off + e / p.n];
    out[e] = select({{T}}(0), {{T}}(1), {{MATCH}});
  }
}
