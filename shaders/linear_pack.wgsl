// Pack (part of) a matrix into an rgba32float 2-D texture for the texture matmul kernel
// (shaders/matmul_texture.wgsl): texel (x0 + x, y0 + y) holds X(y, v0 + 4x .. v0 + 4x + 3), where
// X(u, v) is the element at offset + u * su + (v / group) * sg + (v % group) * sv. The group
// stride lets one texture hold several tensors side by side, or a [heads, d_model, d_head] weight
// read as [d_model, heads * d_head]. v at or past v_count reads as zero (the kernel needs no
// bounds checks). Used for a linear layer's weight (packed once and cached) and its input (rows
// along v). Invocations run along u (gid.x) and texels along gid.y, so the lanes of a SIMD
// vector on a CPU adapter read neighbouring elements where u is the contiguous axis (the input
// x, [rows, k] row-major). Filled in by src/kernels/linear.ts:
//   ENABLE  `enable f16;` when X is f16
//   X_ELEM  storage element (f32 or f16)
{{ENABLE}}

struct Params {
  u_count: u32,
  v_count: u32,
  su: u32,
  sv: u32,
  offset: u32,
  group: u32,
  sg: u32,
  v0: u32,
  x0: u32,
  y0: u32,
  width: u32,
  _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<{{X_ELEM}}>;
@group(0) @binding(2) var T: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let y = gid.x;
  let x = gid.y;
  if (x >= p.width || y >= p.u_count) {
    return;
  }
  var t = vec4<f32>(0.0);
  let row = p.offset + y * p.su;
  for (var c = 0u; c < 4u; c++) {
    let v = p.v0 + 4u * x + c;
    if (v < p.v_count) {
      t[c] = f32(X[row + (v / p.group) * p.sg + (v % p.group) * p.sv]);
    }
  }
  textureStore(T, vec2<i32>(i32(p.x0 + x), i32(p.y0 + y)), t);
}
