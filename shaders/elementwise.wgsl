// Elementwise map over up to three strided inputs with NumPy broadcasting (stride 0 on
// broadcast axes). Filled in by src/kernels/elementwise.ts:
//   ENABLE     `enable f16;` when a tensor is f16
//   BINDINGS   storage declarations a, b, c (read) and out (read_write)
//   LOADS      `let a = f32(A[ia]);` etc. in the compute type
//   EXPR       the value, in terms of a, b, c, the scalars s and s2, and the index i
//   OUT        the output storage type
//   CT         the compute type of the scalar
//   INDEX      index arithmetic unrolled for the rank (ia, ib, ic from i)
//   WG         workgroup size
{{ENABLE}}

struct Params {
  n: u32,
  rank: u32,
  scalar_bits: u32,
  scalar2_bits: u32,
  shape: array<vec4<u32>, 2>,
  stride_a: array<vec4<u32>, 2>,
  stride_b: array<vec4<u32>, 2>,
  stride_c: array<vec4<u32>, 2>,
  off_a: u32,
  off_b: u32,
  off_c: u32,
  _pad2: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
{{BINDINGS}}

fn tanh_s(x: f32) -> f32 {
  // tanh via exp of a non-positive argument: no overflow for large |x|.
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

fn sigmoid_s(x: f32) -> f32 {
  if (x >= 0.0) {
    return 1.0 / (1.0 + exp(-x));
  }
  let e = exp(x);
  return e / (1.0 + e);
}

fn erf_s(x: f32) -> f32 {
  // Abramowitz & Stegun 7.1.26 refined: |error| < 1.5e-7.
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
    + 0.254829592) * t * exp(-x * x);
  return sign(x) * y;
}

// inf and NaN come from a runtime expression: WGSL forbids them as constants (Tint rejects).
fn pow_s(a: f32, b: f32) -> f32 {
  if (a > 0.0) {
    return pow(a, b);
  }
  if (a == 0.0) {
    if (b > 0.0) { return 0.0; }
    if (b == 0.0) { return 1.0; }
    return bitcast<f32>(0x7f800000u | (p.n & 0u));
  }
  // Negative base: defined for integer exponents only.
  if (b != floor(b)) {
    return bitcast<f32>(0x7fc00000u | (p.n & 0u));
  }
  let m = pow(-a, b);
  if (fract(b * 0.5) != 0.0) { return -m; }
  return m;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * {{WG}}u;
  if (i >= p.n) {
    return;
  }
  {{INDEX}}
  let s = bitcast<{{CT}}>(p.scalar_bits);
  let s2 = bitcast<{{CT}}>(p.scalar2_bits);
  {{LOADS}}
  out[i] = {{OUT}}({{EXPR}});
}
