// Strided copy of one input of concat into its slice of the output: thread i walks the input's
// (merged) shape, reads the input through its strides and writes the output through the
// output's strides, starting at the slice's offset. One dispatch per input.
// Filled in by src/kernels/concat.ts:
//   ENABLE   `enable f16;` for f16 tensors
//   T        element type
{{ENABLE}}

struct Params {
  n: u32,
  rank: u32,
  src_off: u32,
  dst_off: u32,
  shape: array<vec4<u32>, 2>,
  src_stride: array<vec4<u32>, 2>,
  dst_stride: array<vec4<u32>, 2>,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Grid-stride loop: a capped number of workgroups covers any size.
  for (var i = gid.x + gid.y * nwg.x * 256u; i < p.n; i = i + nwg.x * nwg.y * 256u) {
    var rem = i;
    var si = p.src_off;
    var di = p.dst_off;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
      let q = u32(d) / 4u;
      let r = u32(d) % 4u;
      let size = p.shape[q][r];
      let coord = rem % size;
      rem = rem / size;
      si = si + coord * p.src_stride[q][r];
      di = di + coord * p.dst_stride[q][r];
    }
    dst[di] = src[si];
  }
}
