// Workgroup-memory tiled batched matmul: the classic shape for discrete GPUs.
//
// A 16 x 16 workgroup computes a BM x BN tile of C; each invocation holds RM x RN results in
// registers, at rows ty + 16 i and columns tx + 16 j (so neighbouring invocations touch
// neighbouring addresses). Each step stages a BM x BK slice of A and a BK x BN slice of B in
// workgroup memory (A stored k-major so both inner-loop reads are rows); out-of-range elements
// load as zero. Filled in by src/kernels/matmul.ts:
//   ENABLE    `enable f16;` when an operand is f16
//   A_ELEM    storage element of A (f32 or f16), likewise B_ELEM, C_ELEM
//   BM BN BK  tile sizes
//   LOAD      code that fills As and Bs for the step starting at k index `k0`
//   DECL      accumulator declarations
//   INNER     loads from As/Bs and FMAs for one k index `kk` of the step
//   STORE     guarded stores of the invocation's results
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
  batch_shape: vec4<u32>,
  batch_a: vec4<u32>,
  batch_b: vec4<u32>,
  batch_c: vec4<u32>,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<{{A_ELEM}}>;
@group(0) @binding(2) var<storage, read> B: array<{{B_ELEM}}>;
@group(0) @binding(3) var<storage, read_write> C: array<{{C_ELEM}}>;

var<workgroup> As: array<f32, {{BK}} * {{BM}}>;
var<workgroup> Bs: array<f32, {{BK}} * {{BN}}>;

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

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let o = batch_offsets(wid.z);
  let row0 = wid.y * {{BM}}u;
  let col0 = wid.x * {{BN}}u;
  let tx = lid.x;
  let ty = lid.y;
{{DECL}}
  for (var k0 = 0u; k0 < p.k; k0 += {{BK}}u) {
{{LOAD}}
    workgroupBarrier();
    for (var kk = 0u; kk < {{BK}}u; kk++) {
{{INNER}}
    }
    workgroupBarrier();
  }
{{STORE}}
}
