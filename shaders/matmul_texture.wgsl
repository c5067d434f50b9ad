// Batched matmul reading A and B from rgba32float texture arrays (filled by
// shaders/matmul_pack.wgsl): the fastest shape found on CPU adapters, where a texel fetch is a
// cheap vector gather while every storage-buffer load is a per-lane loop. Texel (x, k) of A's
// layer holds rows 4x .. 4x + 3 at column k; texel (x, k) of B's layer holds columns
// 4x .. 4x + 3 of row k. The textures are padded with zeros to whole blocks, so loads need no
// bounds checks; the stores are guarded.
//
// Each invocation computes TM rows x TN columns in fully unrolled scalar registers. The WG
// invocations of a workgroup interleave texel by texel along n: invocation l owns texels
// bx0 + q * WG (q < TN / 4), so at each step the workgroup fetches neighbouring texels of B
// (measured 14% faster on lavapipe than giving each invocation TN adjacent columns).
// Filled in by src/kernels/matmul.ts:
//   ENABLE  `enable f16;` when C is f16
//   T_TYPE  texture_2d_array (several layers) or texture_2d (one layer: the GL backend cannot view
//           a one-layer texture as an array)
//   C_ELEM  storage element of C (f32, f16, vec4<f32> or vec4<f16>)
//   WG TM TN  invocations per workgroup, block rows and columns
//   DECL    accumulator declarations
//   BODY    texel loads and FMAs for one k index `kk`
//   STORE   guarded stores of the block
//   BIAS    the bias binding (a linear layer's b, added per column at off_bias + column), or nothing
//   EPI     an activation epilogue (the binding Pre that keeps the values before it, and act()),
//           or nothing
{{ENABLE}}

struct Params {
  m: u32,
  n: u32,
  k: u32,
  batch_base: u32,
  ldc: u32,
  accumulate: u32,
  off_c: u32,
  off_bias: u32,
  batch_shape: vec4<u32>,
  batch_c: vec4<u32>,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var At: {{T_TYPE}}<f32>;
@group(0) @binding(2) var Bt: {{T_TYPE}}<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<{{C_ELEM}}>;
{{BIAS}}
{{EPI}}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  var rem = wid.z + p.batch_base;
  var oc = p.off_c;
  oc += (rem % p.batch_shape.w) * p.batch_c.w;
  rem = rem / p.batch_shape.w;
  oc += (rem % p.batch_shape.z) * p.batch_c.z;
  rem = rem / p.batch_shape.z;
  oc += (rem % p.batch_shape.y) * p.batch_c.y;
  rem = rem / p.batch_shape.y;
  oc += rem * p.batch_c.x;
  let layer = i32(wid.z);
  let row0 = wid.y * {{TM}}u;
  let bx0 = wid.x * ({{WG}}u * {{TN}}u / 4u) + lid.x;
  let ax = i32(row0 >> 2u);
  let bx = i32(bx0);
{{DECL}}
  for (var kk = 0u; kk < p.k; kk++) {
    let ky = i32(kk);
{{BODY}}
  }
{{STORE}}
}
