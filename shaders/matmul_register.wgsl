// Register-blocked batched matmul, no workgroup memory: the fast shape on CPU adapters
// (lavapipe/llvmpipe run each invocation as one SIMD lane, and every storage load is a
// per-lane loop there, so the kernel loads few, wide values and reuses each one many times).
//
// Each invocation computes a TM x TN block of C in fully unrolled scalar registers; the WG
// invocations of a workgroup sit side by side along n. Loads use clamped indices (rows past m
// and columns past n read the last valid row or column), so they never leave the operand; the
// stores are guarded. Filled in by src/kernels/matmul.ts:
//   ENABLE    `enable f16;` when an operand is f16
//   A_ELEM    storage element of A (f32, f16, vec4<f32> or vec4<f16>), likewise B_ELEM, C_ELEM
//   WG        invocations per workgroup
//   SETUP     per-invocation base indices (clamped rows and columns)
//   DECL      accumulator declarations
//   K_MAIN    end of the main k loop (a multiple of KU)
//   KU        k values per main-loop iteration
//   BODY      loads and FMAs of one main-loop iteration, at k index `kk`
//   TAIL      a loop over the remaining k values (when KU > 1)
//   STORE     guarded stores of the block
{{ENABLE}}

struct Params {
  m: u32,
  n: u32,
  k: u32,
  batch_base: u32,
  lda: u32,
  ldb: u32,
  ldc: u32,
  accumulate: u32,
  off_a: u32,
  off_b: u32,
  off_c: u32,
  _pad: u32,
  // Batch axes, outermost first, padded in front with size 1; strides in elements.
  batch_shape: vec4<u32>,
  batch_a: vec4<u32>,
  batch_b: vec4<u32>,
  batch_c: vec4<u32>,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<{{A_ELEM}}>;
@group(0) @binding(2) var<storage, read> B: array<{{B_ELEM}}>;
@group(0) @binding(3) var<storage, read_write> C: array<{{C_ELEM}}>;

// Element offsets of batch item z in A, B and C.
fn batch_offsets(z: u32) -> vec3<u32> {
  var rem = z + p.batch_base;
  var o = vec3<u32>(p.off_a, p.off_b, p.off_c);
  let i3 = rem % p.batch_shape.w;
  rem = rem / p.batch_shape.w;
  o += i3 * vec3<u32>(p.batch_a.w, p.batch_b.w, p.batch_c.w);
  let i2 = rem % p.batch_shape.z;
  rem = rem / p.batch_shape.z;
  o += i2 * vec3<u32>(p.batch_a.z, p.batch_b.z, p.batch_c.z);
  let i1 = rem % p.batch_shape.y;
  rem = rem / p.batch_shape.y;
  o += i1 * vec3<u32>(p.batch_a.y, p.batch_b.y, p.batch_c.y);
  o += rem * vec3<u32>(p.batch_a.x, p.batch_b.x, p.batch_c.x);
  return o;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = batch_offsets(wid.z);
  let row0 = wid.y * {{TM}}u;
  let col0 = (wid.x * {{WG}}u + lid.x) * {{TN}}u;
  let mlast = p.m - 1u;
  let nlast = p.n - 1u;
{{SETUP}}
{{DECL}}
  for (var kk = 0u; kk < {{K_MAIN}}; kk += {{KU}}u) {
{{BODY}}
  }
{{TAIL}}
{{STORE}}
}
