// Gradient of slice: the incoming gradient G (any strides, rank <= 8) placed at `start` inside a
// zero tensor of the sliced input's shape. Filled in by src/kernels/autograd.ts:
//   ENABLE   `enable f16;` when the dtype is f16
//   T        the storage type of G and out
{{ENABLE}}

struct Params {
  n: u32,
  rank: u32,
  off_g: u32,
  _pad: u32,
  shape: array<vec4<u32>, 2>,
  start: array<vec4<u32>, 2>,
  end: array<vec4<u32>, 2>,
  stride_g: array<vec4<u32>, 2>,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) {
    return;
  }
  var rem = i;
  var ig = p.off_g;
  var inside = true;
  for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let size = p.shape[q][r];
    let coord = rem % size;
    rem = rem / size;
    let s = p.start[q][r];
    if (coord < s || coord >= p.end[q][r]) {
      inside = false;
    } else {
      ig = ig + (coord - s) * p.stride_g[q][r];
    }
  }
  if (inside) {
    out[i] = G[ig];
  } else {
    out[i] = {{T}}(0);
  }
}
