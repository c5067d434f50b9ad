// Repack one operand of a batched matmul into an rgba32float texture array for the texture
// matmul kernel: texel (x, y) of layer z holds X[z](y, 4x .. 4x + 3), where X(u, v) is the
// element at offset + u * su + v * sv (u runs along k, v along m for A or n for B); v past
// v_count reads as zero, so the kernel needs no bounds checks. Filled in by
// src/kernels/matmul.ts:
//   ENABLE    `enable f16;` when the operand is f16
//   X_ELEM    storage element (f32, f16, vec4<f32> or vec4<f16>)
//   LOAD      code that sets `v: vec4<f32>` from X at element index `e` (the texel's first value)
//   T_TYPE    texture_storage_2d_array (several layers) or texture_storage_2d (one layer: the GL
//             backend cannot view a one-layer texture as an array)
//   STORE     the textureStore call
{{ENABLE}}

struct Params {
  u_count: u32,
  v_count: u32,
  su: u32,
  sv: u32,
  offset: u32,
  batch_base: u32,
  width: u32,
  _pad: u32,
  batch_shape: vec4<u32>,
  batch_s: vec4<u32>,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<{{X_ELEM}}>;
@group(0) @binding(2) var T: {{T_TYPE}}<rgba32float, write>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let x = gid.x;
  let y = gid.y;
  if (x >= p.width || y >= p.u_count) {
    return;
  }
  var rem = gid.z + p.batch_base;
  var o = p.offset;
  o += (rem % p.batch_shape.w) * p.batch_s.w;
  rem = rem / p.batch_shape.w;
  o += (rem % p.batch_shape.z) * p.batch_s.z;
  rem = rem / p.batch_shape.z;
  o += (rem % p.batch_shape.y) * p.batch_s.y;
  rem = rem / p.batch_shape.y;
  o += rem * p.batch_s.x;
  let v0 = 4u * x;
  let e = o + y * p.su + v0 * p.sv;
  var v = vec4<f32>(0.0);
{{LOAD}}
  {{STORE}}
}
