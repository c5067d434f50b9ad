// Linear layers of the fused training step (src/kernels/train_fused.ts), forward and backward,
// with the weight read in place from the flat parameter (or gradient) buffer.
//
// A weight W is a K x N matrix stored in groups of G columns, each group a row-major K x G
// block: W(k, n) = buf[w_off + (n / G) * K * G + k * G + n % G]. G = N is a plain row-major
// [K, N] matrix (W_O viewed as [H*E, D], W_U); G = d_head with N = 3*H*E reads TransformerLens's
// W_Q, W_K, W_V [H, D, E] (stored one after the other) as a single [D, 3*H*E] matrix.
//
// Entry points (every one uses every binding; unused ones get small dummy buffers):
//   fwd  O[m, n]  = sum_k X[m, k] W(k, n) (+ bias[n] from Y) (+ R[m, n])       X: A, Y: params
//   dx   O[m, k] (+)= sum_n X[m, n] W(k, n)                                    X: dY, Y: params
//   dw   O(W(k, n)) = sum_m X[m, k] Y[m, n]; O[b_off + n] = sum_m Y[m, n]      X: A, Y: dY, O: grads
//
// Lavapipe runs each invocation as one SIMD lane and every storage load as a per-lane loop, so
// each invocation computes a 16 x 16 tile, unrolled by hand into scalar registers, from vec4
// loads: 8 loads feed 256 multiply-adds. Every size, offset, row stride and G is a multiple of 4
// (all are in vec4 units below); loads clamp rows and columns to the matrix and stores are
// guarded. No workgroup memory, no barriers.

struct Params {
  m: u32,
  n4: u32,
  k4: u32,
  g4: u32,
  x_off: u32,
  ldx: u32,
  y_off: u32,
  ldy: u32,
  r_off: u32,
  ldr: u32,
  o_off: u32,
  ldo: u32,
  w_off: u32,
  b_off: u32,
  flags: u32,
  n: u32,
};

const BIAS: u32 = 1u;
const RESID: u32 = 2u;
const ACCUM: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> Y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> R: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> O: array<vec4<f32>>;

fn tile_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 8u;
}

// vec4 index of W(0, 4 * c4): W(k, 4 c4 .. 4 c4 + 3) is at wcol(c4) + k * g4.
fn wcol(c4: u32) -> u32 {
  return p.w_off + (c4 / p.g4) * p.k4 * 4u * p.g4 + c4 % p.g4;
}

// O[m, n] = sum_k X[m, k] W(k, n) (+ bias) (+ R): rows m0..m0+15, vec4 columns c0..c0+3.
@compute @workgroup_size(8)
fn fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = tile_id(gid, nwg);
  let tiles_n = (p.n4 + 3u) / 4u;
  let m0 = (t / tiles_n) * 16u;
  let c0 = (t % tiles_n) * 4u;
  if (m0 >= p.m) {
    return;
  }
  let mlast = p.m - 1u;
  let clast = p.n4 - 1u;
  let x0 = p.x_off + min(m0 + 0u, mlast) * p.ldx;
  let x1 = p.x_off + min(m0 + 1u, mlast) * p.ldx;
  let x2 = p.x_off + min(m0 + 2u, mlast) * p.ldx;
  let x3 = p.x_off + min(m0 + 3u, mlast) * p.ldx;
  let x4 = p.x_off + min(m0 + 4u, mlast) * p.ldx;
  let x5 = p.x_off + min(m0 + 5u, mlast) * p.ldx;
  let x6 = p.x_off + min(m0 + 6u, mlast) * p.ldx;
  let x7 = p.x_off + min(m0 + 7u, mlast) * p.ldx;
  let x8 = p.x_off + min(m0 + 8u, mlast) * p.ldx;
  let x9 = p.x_off + min(m0 + 9u, mlast) * p.ldx;
  let x10 = p.x_off + min(m0 + 10u, mlast) * p.ldx;
  let x11 = p.x_off + min(m0 + 11u, mlast) * p.ldx;
  let x12 = p.x_off + min(m0 + 12u, mlast) * p.ldx;
  let x13 = p.x_off + min(m0 + 13u, mlast) * p.ldx;
  let x14 = p.x_off + min(m0 + 14u, mlast) * p.ldx;
  let x15 = p.x_off + min(m0 + 15u, mlast) * p.ldx;
  let w0 = wcol(min(c0 + 0u, clast));
  let w1 = wcol(min(c0 + 1u, clast));
  let w2 = wcol(min(c0 + 2u, clast));
  let w3 = wcol(min(c0 + 3u, clast));
  var a0_0 = vec4<f32>(0.0); var a0_1 = vec4<f32>(0.0); var a0_2 = vec4<f32>(0.0); var a0_3 = vec4<f32>(0.0);
  var a1_0 = vec4<f32>(0.0); var a1_1 = vec4<f32>(0.0); var a1_2 = vec4<f32>(0.0); var a1_3 = vec4<f32>(0.0);
  var a2_0 = vec4<f32>(0.0); var a2_1 = vec4<f32>(0.0); var a2_2 = vec4<f32>(0.0); var a2_3 = vec4<f32>(0.0);
  var a3_0 = vec4<f32>(0.0); var a3_1 = vec4<f32>(0.0); var a3_2 = vec4<f32>(0.0); var a3_3 = vec4<f32>(0.0);
  var a4_0 = vec4<f32>(0.0); var a4_1 = vec4<f32>(0.0); var a4_2 = vec4<f32>(0.0); var a4_3 = vec4<f32>(0.0);
  var a5_0 = vec4<f32>(0.0); var a5_1 = vec4<f32>(0.0); var a5_2 = vec4<f32>(0.0); var a5_3 = vec4<f32>(0.0);
  var a6_0 = vec4<f32>(0.0); var a6_1 = vec4<f32>(0.0); var a6_2 = vec4<f32>(0.0); var a6_3 = vec4<f32>(0.0);
  var a7_0 = vec4<f32>(0.0); var a7_1 = vec4<f32>(0.0); var a7_2 = vec4<f32>(0.0); var a7_3 = vec4<f32>(0.0);
  var a8_0 = vec4<f32>(0.0); var a8_1 = vec4<f32>(0.0); var a8_2 = vec4<f32>(0.0); var a8_3 = vec4<f32>(0.0);
  var a9_0 = vec4<f32>(0.0); var a9_1 = vec4<f32>(0.0); var a9_2 = vec4<f32>(0.0); var a9_3 = vec4<f32>(0.0);
  var a10_0 = vec4<f32>(0.0); var a10_1 = vec4<f32>(0.0); var a10_2 = vec4<f32>(0.0); var a10_3 = vec4<f32>(0.0);
  var a11_0 = vec4<f32>(0.0); var a11_1 = vec4<f32>(0.0); var a11_2 = vec4<f32>(0.0); var a11_3 = vec4<f32>(0.0);
  var a12_0 = vec4<f32>(0.0); var a12_1 = vec4<f32>(0.0); var a12_2 = vec4<f32>(0.0); var a12_3 = vec4<f32>(0.0);
  var a13_0 = vec4<f32>(0.0); var a13_1 = vec4<f32>(0.0); var a13_2 = vec4<f32>(0.0); var a13_3 = vec4<f32>(0.0);
  var a14_0 = vec4<f32>(0.0); var a14_1 = vec4<f32>(0.0); var a14_2 = vec4<f32>(0.0); var a14_3 = vec4<f32>(0.0);
  var a15_0 = vec4<f32>(0.0); var a15_1 = vec4<f32>(0.0); var a15_2 = vec4<f32>(0.0); var a15_3 = vec4<f32>(0.0);
  for (var kk = 0u; kk < p.k4; kk = kk + 1u) {
    let ko = kk * 4u * p.g4;
    let b0_0 = Y[w0 + ko + 0u * p.g4]; let b0_1 = Y[w1 + ko + 0u * p.g4]; let b0_2 = Y[w2 + ko + 0u * p.g4]; let b0_3 = Y[w3 + ko + 0u * p.g4];
    let b1_0 = Y[w0 + ko + 1u * p.g4]; let b1_1 = Y[w1 + ko + 1u * p.g4]; let b1_2 = Y[w2 + ko + 1u * p.g4]; let b1_3 = Y[w3 + ko + 1u * p.g4];
    let b2_0 = Y[w0 + ko + 2u * p.g4]; let b2_1 = Y[w1 + ko + 2u * p.g4]; let b2_2 = Y[w2 + ko + 2u * p.g4]; let b2_3 = Y[w3 + ko + 2u * p.g4];
    let b3_0 = Y[w0 + ko + 3u * p.g4]; let b3_1 = Y[w1 + ko + 3u * p.g4]; let b3_2 = Y[w2 + ko + 3u * p.g4]; let b3_3 = Y[w3 + ko + 3u * p.g4];
    let v0 = X[x0 + kk];
    a0_0 = a0_0 + v0.x * b0_0 + v0.y * b1_0 + v0.z * b2_0 + v0.w * b3_0;
    a0_1 = a0_1 + v0.x * b0_1 + v0.y * b1_1 + v0.z * b2_1 + v0.w * b3_1;
    a0_2 = a0_2 + v0.x * b0_2 + v0.y * b1_2 + v0.z * b2_2 + v0.w * b3_2;
    a0_3 = a0_3 + v0.x * b0_3 + v0.y * b1_3 + v0.z * b2_3 + v0.w * b3_3;
    let v1 = X[x1 + kk];
    a1_0 = a1_0 + v1.x * b0_0 + v1.y * b1_0 + v1.z * b2_0 + v1.w * b3_0;
    a1_1 = a1_1 + v1.x * b0_1 + v1.y * b1_1 + v1.z * b2_1 + v1.w * b3_1;
    a1_2 = a1_2 + v1.x * b0_2 + v1.y * b1_2 + v1.z * b2_2 + v1.w * b3_2;
    a1_3 = a1_3 + v1.x * b0_3 + v1.y * b1_3 + v1.z * b2_3 + v1.w * b3_3;
    let v2 = X[x2 + kk];
    a2_0 = a2_0 + v2.x * b0_0 + v2.y * b1_0 + v2.z * b2_0 + v2.w * b3_0;
    a2_1 = a2_1 + v2.x * b0_1 + v2.y * b1_1 + v2.z * b2_1 + v2.w * b3_1;
    a2_2 = a2_2 + v2.x * b0_2 + v2.y * b1_2 + v2.z * b2_2 + v2.w * b3_2;
    a2_3 = a2_3 + v2.x * b0_3 + v2.y * b1_3 + v2.z * b2_3 + v2.w * b3_3;
    let v3 = X[x3 + kk];
    a3_0 = a3_0 + v3.x * b0_0 + v3.y * b1_0 + v3.z * b2_0 + v3.w * b3_0;
    a3_1 = a3_1 + v3.x * b0_1 + v3.y * b1_1 + v3.z * b2_1 + v3.w * b3_1;
    a3_2 = a3_2 + v3.x * b0_2 + v3.y * b1_2 + v3.z * b2_2 + v3.w * b3_2;
    a3_3 = a3_3 + v3.x * b0_3 + v3.y * b1_3 + v3.z * b2_3 + v3.w * b3_3;
    let v4 = X[x4 + kk];
    a4_0 = a4_0 + v4.x * b0_0 + v4.y * b1_0 + v4.z * b2_0 + v4.w * b3_0;
    a4_1 = a4_1 + v4.x * b0_1 + v4.y * b1_1 + v4.z * b2_1 + v4.w * b3_1;
    a4_2 = a4_2 + v4.x * b0_2 + v4.y * b1_2 + v4.z * b2_2 + v4.w * b3_2;
    a4_3 = a4_3 + v4.x * b0_3 + v4.y * b1_3 + v4.z * b2_3 + v4.w * b3_3;
    let v5 = X[x5 + kk];
    a5_0 = a5_0 + v5.x * b0_0 + v5.y * b1_0 + v5.z * b2_0 + v5.w * b3_0;
    a5_1 = a5_1 + v5.x * b0_1 + v5.y * b1_1 + v5.z * b2_1 + v5.w * b3_1;
    a5_2 = a5_2 + v5.x * b0_2 + v5.y * b1_2 + v5.z * b2_2 + v5.w * b3_2;
    a5_3 = a5_3 + v5.x * b0_3 + v5.y * b1_3 + v5.z * b2_3 + v5.w * b3_3;
    let v6 = X[x6 + kk];
    a6_0 = a6_0 + v6.x * b0_0 + v6.y * b1_0 + v6.z * b2_0 + v6.w * b3_0;
    a6_1 = a6_1 + v6.x * b0_1 + v6.y * b1_1 + v6.z * b2_1 + v6.w * b3_1;
    a6_2 = a6_2 + v6.x * b0_2 + v6.y * b1_2 + v6.z * b2_2 + v6.w * b3_2;
    a6_3 = a6_3 + v6.x * b0_3 + v6.y * b1_3 + v6.z * b2_3 + v6.w * b3_3;
    let v7 = X[x7 + kk];
    a7_0 = a7_0 + v7.x * b0_0 + v7.y * b1_0 + v7.z * b2_0 + v7.w * b3_0;
    a7_1 = a7_1 + v7.x * b0_1 + v7.y * b1_1 + v7.z * b2_1 + v7.w * b3_1;
    a7_2 = a7_2 + v7.x * b0_2 + v7.y * b1_2 + v7.z * b2_2 + v7.w * b3_2;
    a7_3 = a7_3 + v7.x * b0_3 + v7.y * b1_3 + v7.z * b2_3 + v7.w * b3_3;
    let v8 = X[x8 + kk];
    a8_0 = a8_0 + v8.x * b0_0 + v8.y * b1_0 + v8.z * b2_0 + v8.w * b3_0;
    a8_1 = a8_1 + v8.x * b0_1 + v8.y * b1_1 + v8.z * b2_1 + v8.w * b3_1;
    a8_2 = a8_2 + v8.x * b0_2 + v8.y * b1_2 + v8.z * b2_2 + v8.w * b3_2;
    a8_3 = a8_3 + v8.x * b0_3 + v8.y * b1_3 + v8.z * b2_3 + v8.w * b3_3;
    let v9 = X[x9 + kk];
    a9_0 = a9_0 + v9.x * b0_0 + v9.y * b1_0 + v9.z * b2_0 + v9.w * b3_0;
    a9_1 = a9_1 + v9.x * b0_1 + v9.y * b1_1 + v9.z * b2_1 + v9.w * b3_1;
    a9_2 = a9_2 + v9.x * b0_2 + v9.y * b1_2 + v9.z * b2_2 + v9.w * b3_2;
    a9_3 = a9_3 + v9.x * b0_3 + v9.y * b1_3 + v9.z * b2_3 + v9.w * b3_3;
    let v10 = X[x10 + kk];
    a10_0 = a10_0 + v10.x * b0_0 + v10.y * b1_0 + v10.z * b2_0 + v10.w * b3_0;
    a10_1 = a10_1 + v10.x * b0_1 + v10.y * b1_1 + v10.z * b2_1 + v10.w * b3_1;
    a10_2 = a10_2 + v10.x * b0_2 + v10.y * b1_2 + v10.z * b2_2 + v10.w * b3_2;
    a10_3 = a10_3 + v10.x * b0_3 + v10.y * b1_3 + v10.z * b2_3 + v10.w * b3_3;
    let v11 = X[x11 + kk];
    a11_0 = a11_0 + v11.x * b0_0 + v11.y * b1_0 + v11.z * b2_0 + v11.w * b3_0;
    a11_1 = a11_1 + v11.x * b0_1 + v11.y * b1_1 + v11.z * b2_1 + v11.w * b3_1;
    a11_2 = a11_2 + v11.x * b0_2 + v11.y * b1_2 + v11.z * b2_2 + v11.w * b3_2;
    a11_3 = a11_3 + v11.x * b0_3 + v11.y * b1_3 + v11.z * b2_3 + v11.w * b3_3;
    let v12 = X[x12 + kk];
    a12_0 = a12_0 + v12.x * b0_0 + v12.y * b1_0 + v12.z * b2_0 + v12.w * b3_0;
    a12_1 = a12_1 + v12.x * b0_1 + v12.y * b1_1 + v12.z * b2_1 + v12.w * b3_1;
    a12_2 = a12_2 + v12.x * b0_2 + v12.y * b1_2 + v12.z * b2_2 + v12.w * b3_2;
    a12_3 = a12_3 + v12.x * b0_3 + v12.y * b1_3 + v12.z * b2_3 + v12.w * b3_3;
    let v13 = X[x13 + kk];
    a13_0 = a13_0 + v13.x * b0_0 + v13.y * b1_0 + v13.z * b2_0 + v13.w * b3_0;
    a13_1 = a13_1 + v13.x * b0_1 + v13.y * b1_1 + v13.z * b2_1 + v13.w * b3_1;
    a13_2 = a13_2 + v13.x * b0_2 + v13.y * b1_2 + v13.z * b2_2 + v13.w * b3_2;
    a13_3 = a13_3 + v13.x * b0_3 + v13.y * b1_3 + v13.z * b2_3 + v13.w * b3_3;
    let v14 = X[x14 + kk];
    a14_0 = a14_0 + v14.x * b0_0 + v14.y * b1_0 + v14.z * b2_0 + v14.w * b3_0;
    a14_1 = a14_1 + v14.x * b0_1 + v14.y * b1_1 + v14.z * b2_1 + v14.w * b3_1;
    a14_2 = a14_2 + v14.x * b0_2 + v14.y * b1_2 + v14.z * b2_2 + v14.w * b3_2;
    a14_3 = a14_3 + v14.x * b0_3 + v14.y * b1_3 + v14.z * b2_3 + v14.w * b3_3;
    let v15 = X[x15 + kk];
    a15_0 = a15_0 + v15.x * b0_0 + v15.y * b1_0 + v15.z * b2_0 + v15.w * b3_0;
    a15_1 = a15_1 + v15.x * b0_1 + v15.y * b1_1 + v15.z * b2_1 + v15.w * b3_1;
    a15_2 = a15_2 + v15.x * b0_2 + v15.y * b1_2 + v15.z * b2_2 + v15.w * b3_2;
    a15_3 = a15_3 + v15.x * b0_3 + v15.y * b1_3 + v15.z * b2_3 + v15.w * b3_3;
  }
  let bias = (p.flags & BIAS) != 0u;
  let resid = (p.flags & RESID) != 0u;
  var bb0 = vec4<f32>(0.0);
  var bb1 = vec4<f32>(0.0);
  var bb2 = vec4<f32>(0.0);
  var bb3 = vec4<f32>(0.0);
  if (bias) {
    bb0 = Y[p.b_off + min(c0 + 0u, clast)];
    bb1 = Y[p.b_off + min(c0 + 1u, clast)];
    bb2 = Y[p.b_off + min(c0 + 2u, clast)];
    bb3 = Y[p.b_off + min(c0 + 3u, clast)];
  }
  if (m0 + 0u <= mlast) {
    let ro = p.r_off + (m0 + 0u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 0u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a0_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a0_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a0_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a0_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 1u <= mlast) {
    let ro = p.r_off + (m0 + 1u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 1u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a1_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a1_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a1_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a1_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 2u <= mlast) {
    let ro = p.r_off + (m0 + 2u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 2u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a2_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a2_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a2_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a2_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 3u <= mlast) {
    let ro = p.r_off + (m0 + 3u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 3u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a3_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a3_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a3_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a3_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 4u <= mlast) {
    let ro = p.r_off + (m0 + 4u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 4u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a4_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a4_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a4_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a4_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 5u <= mlast) {
    let ro = p.r_off + (m0 + 5u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 5u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a5_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a5_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a5_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a5_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 6u <= mlast) {
    let ro = p.r_off + (m0 + 6u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 6u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a6_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a6_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a6_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a6_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 7u <= mlast) {
    let ro = p.r_off + (m0 + 7u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 7u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a7_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a7_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a7_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a7_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 8u <= mlast) {
    let ro = p.r_off + (m0 + 8u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 8u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a8_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a8_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a8_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a8_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 9u <= mlast) {
    let ro = p.r_off + (m0 + 9u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 9u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a9_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a9_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a9_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a9_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 10u <= mlast) {
    let ro = p.r_off + (m0 + 10u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 10u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a10_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a10_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a10_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a10_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 11u <= mlast) {
    let ro = p.r_off + (m0 + 11u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 11u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a11_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a11_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a11_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a11_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 12u <= mlast) {
    let ro = p.r_off + (m0 + 12u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 12u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a12_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a12_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a12_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a12_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 13u <= mlast) {
    let ro = p.r_off + (m0 + 13u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 13u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a13_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a13_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a13_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a13_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 14u <= mlast) {
    let ro = p.r_off + (m0 + 14u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 14u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a14_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a14_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a14_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a14_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 15u <= mlast) {
    let ro = p.r_off + (m0 + 15u) * p.ldr + c0;
    let oo = p.o_off + (m0 + 15u) * p.ldo + c0;
    if (c0 + 0u <= clast) { var v = a15_0 + bb0; if (resid) { v = v + R[ro + 0u]; } O[oo + 0u] = v; }
    if (c0 + 1u <= clast) { var v = a15_1 + bb1; if (resid) { v = v + R[ro + 1u]; } O[oo + 1u] = v; }
    if (c0 + 2u <= clast) { var v = a15_2 + bb2; if (resid) { v = v + R[ro + 2u]; } O[oo + 2u] = v; }
    if (c0 + 3u <= clast) { var v = a15_3 + bb3; if (resid) { v = v + R[ro + 3u]; } O[oo + 3u] = v; }
  }
}

// O[m, k] (+)= sum_n X[m, n] W(k, n): rows m0..m0+15, k columns 4 k0 .. 4 k0 + 15 (vec4 k0..k0+3).
// N is a multiple of G.
@compute @workgroup_size(8)
fn dx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = tile_id(gid, nwg);
  let tiles_k = (p.k4 + 3u) / 4u;
  let m0 = (t / tiles_k) * 16u;
  let k0 = (t % tiles_k) * 4u;
  if (m0 >= p.m) {
    return;
  }
  let mlast = p.m - 1u;
  let klast = p.k4 * 4u - 1u;
  let x0 = p.x_off + min(m0 + 0u, mlast) * p.ldx;
  let x1 = p.x_off + min(m0 + 1u, mlast) * p.ldx;
  let x2 = p.x_off + min(m0 + 2u, mlast) * p.ldx;
  let x3 = p.x_off + min(m0 + 3u, mlast) * p.ldx;
  let x4 = p.x_off + min(m0 + 4u, mlast) * p.ldx;
  let x5 = p.x_off + min(m0 + 5u, mlast) * p.ldx;
  let x6 = p.x_off + min(m0 + 6u, mlast) * p.ldx;
  let x7 = p.x_off + min(m0 + 7u, mlast) * p.ldx;
  let x8 = p.x_off + min(m0 + 8u, mlast) * p.ldx;
  let x9 = p.x_off + min(m0 + 9u, mlast) * p.ldx;
  let x10 = p.x_off + min(m0 + 10u, mlast) * p.ldx;
  let x11 = p.x_off + min(m0 + 11u, mlast) * p.ldx;
  let x12 = p.x_off + min(m0 + 12u, mlast) * p.ldx;
  let x13 = p.x_off + min(m0 + 13u, mlast) * p.ldx;
  let x14 = p.x_off + min(m0 + 14u, mlast) * p.ldx;
  let x15 = p.x_off + min(m0 + 15u, mlast) * p.ldx;
  let kr0 = min(k0 * 4u + 0u, klast) * p.g4;
  let kr1 = min(k0 * 4u + 1u, klast) * p.g4;
  let kr2 = min(k0 * 4u + 2u, klast) * p.g4;
  let kr3 = min(k0 * 4u + 3u, klast) * p.g4;
  let kr4 = min(k0 * 4u + 4u, klast) * p.g4;
  let kr5 = min(k0 * 4u + 5u, klast) * p.g4;
  let kr6 = min(k0 * 4u + 6u, klast) * p.g4;
  let kr7 = min(k0 * 4u + 7u, klast) * p.g4;
  let kr8 = min(k0 * 4u + 8u, klast) * p.g4;
  let kr9 = min(k0 * 4u + 9u, klast) * p.g4;
  let kr10 = min(k0 * 4u + 10u, klast) * p.g4;
  let kr11 = min(k0 * 4u + 11u, klast) * p.g4;
  let kr12 = min(k0 * 4u + 12u, klast) * p.g4;
  let kr13 = min(k0 * 4u + 13u, klast) * p.g4;
  let kr14 = min(k0 * 4u + 14u, klast) * p.g4;
  let kr15 = min(k0 * 4u + 15u, klast) * p.g4;
  var a0_0 = vec4<f32>(0.0); var a0_1 = vec4<f32>(0.0); var a0_2 = vec4<f32>(0.0); var a0_3 = vec4<f32>(0.0);
  var a1_0 = vec4<f32>(0.0); var a1_1 = vec4<f32>(0.0); var a1_2 = vec4<f32>(0.0); var a1_3 = vec4<f32>(0.0);
  var a2_0 = vec4<f32>(0.0); var a2_1 = vec4<f32>(0.0); var a2_2 = vec4<f32>(0.0); var a2_3 = vec4<f32>(0.0);
  var a3_0 = vec4<f32>(0.0); var a3_1 = vec4<f32>(0.0); var a3_2 = vec4<f32>(0.0); var a3_3 = vec4<f32>(0.0);
  var a4_0 = vec4<f32>(0.0); var a4_1 = vec4<f32>(0.0); var a4_2 = vec4<f32>(0.0); var a4_3 = vec4<f32>(0.0);
  var a5_0 = vec4<f32>(0.0); var a5_1 = vec4<f32>(0.0); var a5_2 = vec4<f32>(0.0); var a5_3 = vec4<f32>(0.0);
  var a6_0 = vec4<f32>(0.0); var a6_1 = vec4<f32>(0.0); var a6_2 = vec4<f32>(0.0); var a6_3 = vec4<f32>(0.0);
  var a7_0 = vec4<f32>(0.0); var a7_1 = vec4<f32>(0.0); var a7_2 = vec4<f32>(0.0); var a7_3 = vec4<f32>(0.0);
  var a8_0 = vec4<f32>(0.0); var a8_1 = vec4<f32>(0.0); var a8_2 = vec4<f32>(0.0); var a8_3 = vec4<f32>(0.0);
  var a9_0 = vec4<f32>(0.0); var a9_1 = vec4<f32>(0.0); var a9_2 = vec4<f32>(0.0); var a9_3 = vec4<f32>(0.0);
  var a10_0 = vec4<f32>(0.0); var a10_1 = vec4<f32>(0.0); var a10_2 = vec4<f32>(0.0); var a10_3 = vec4<f32>(0.0);
  var a11_0 = vec4<f32>(0.0); var a11_1 = vec4<f32>(0.0); var a11_2 = vec4<f32>(0.0); var a11_3 = vec4<f32>(0.0);
  var a12_0 = vec4<f32>(0.0); var a12_1 = vec4<f32>(0.0); var a12_2 = vec4<f32>(0.0); var a12_3 = vec4<f32>(0.0);
  var a13_0 = vec4<f32>(0.0); var a13_1 = vec4<f32>(0.0); var a13_2 = vec4<f32>(0.0); var a13_3 = vec4<f32>(0.0);
  var a14_0 = vec4<f32>(0.0); var a14_1 = vec4<f32>(0.0); var a14_2 = vec4<f32>(0.0); var a14_3 = vec4<f32>(0.0);
  var a15_0 = vec4<f32>(0.0); var a15_1 = vec4<f32>(0.0); var a15_2 = vec4<f32>(0.0); var a15_3 = vec4<f32>(0.0);
  let groups = p.n4 / p.g4;
  for (var g = 0u; g < groups; g = g + 1u) {
    let gb = p.w_off + g * p.k4 * 4u * p.g4;
    for (var e = 0u; e < p.g4; e = e + 1u) {
      let nn = g * p.g4 + e;
      let wb = gb + e;
      let b0 = Y[wb + kr0];
      let b1 = Y[wb + kr1];
      let b2 = Y[wb + kr2];
      let b3 = Y[wb + kr3];
      let b4 = Y[wb + kr4];
      let b5 = Y[wb + kr5];
      let b6 = Y[wb + kr6];
      let b7 = Y[wb + kr7];
      let b8 = Y[wb + kr8];
      let b9 = Y[wb + kr9];
      let b10 = Y[wb + kr10];
      let b11 = Y[wb + kr11];
      let b12 = Y[wb + kr12];
      let b13 = Y[wb + kr13];
      let b14 = Y[wb + kr14];
      let b15 = Y[wb + kr15];
      let v0 = X[x0 + nn];
      a0_0 = a0_0 + vec4<f32>(dot(v0, b0), dot(v0, b1), dot(v0, b2), dot(v0, b3));
      a0_1 = a0_1 + vec4<f32>(dot(v0, b4), dot(v0, b5), dot(v0, b6), dot(v0, b7));
      a0_2 = a0_2 + vec4<f32>(dot(v0, b8), dot(v0, b9), dot(v0, b10), dot(v0, b11));
      a0_3 = a0_3 + vec4<f32>(dot(v0, b12), dot(v0, b13), dot(v0, b14), dot(v0, b15));
      let v1 = X[x1 + nn];
      a1_0 = a1_0 + vec4<f32>(dot(v1, b0), dot(v1, b1), dot(v1, b2), dot(v1, b3));
      a1_1 = a1_1 + vec4<f32>(dot(v1, b4), dot(v1, b5), dot(v1, b6), dot(v1, b7));
      a1_2 = a1_2 + vec4<f32>(dot(v1, b8), dot(v1, b9), dot(v1, b10), dot(v1, b11));
      a1_3 = a1_3 + vec4<f32>(dot(v1, b12), dot(v1, b13), dot(v1, b14), dot(v1, b15));
      let v2 = X[x2 + nn];
      a2_0 = a2_0 + vec4<f32>(dot(v2, b0), dot(v2, b1), dot(v2, b2), dot(v2, b3));
      a2_1 = a2_1 + vec4<f32>(dot(v2, b4), dot(v2, b5), dot(v2, b6), dot(v2, b7));
      a2_2 = a2_2 + vec4<f32>(dot(v2, b8), dot(v2, b9), dot(v2, b10), dot(v2, b11));
      a2_3 = a2_3 + vec4<f32>(dot(v2, b12), dot(v2, b13), dot(v2, b14), dot(v2, b15));
      let v3 = X[x3 + nn];
      a3_0 = a3_0 + vec4<f32>(dot(v3, b0), dot(v3, b1), dot(v3, b2), dot(v3, b3));
      a3_1 = a3_1 + vec4<f32>(dot(v3, b4), dot(v3, b5), dot(v3, b6), dot(v3, b7));
      a3_2 = a3_2 + vec4<f32>(dot(v3, b8), dot(v3, b9), dot(v3, b10), dot(v3, b11));
      a3_3 = a3_3 + vec4<f32>(dot(v3, b12), dot(v3, b13), dot(v3, b14), dot(v3, b15));
      let v4 = X[x4 + nn];
      a4_0 = a4_0 + vec4<f32>(dot(v4, b0), dot(v4, b1), dot(v4, b2), dot(v4, b3));
      a4_1 = a4_1 + vec4<f32>(dot(v4, b4), dot(v4, b5), dot(v4, b6), dot(v4, b7));
      a4_2 = a4_2 + vec4<f32>(dot(v4, b8), dot(v4, b9), dot(v4, b10), dot(v4, b11));
      a4_3 = a4_3 + vec4<f32>(dot(v4, b12), dot(v4, b13), dot(v4, b14), dot(v4, b15));
      let v5 = X[x5 + nn];
      a5_0 = a5_0 + vec4<f32>(dot(v5, b0), dot(v5, b1), dot(v5, b2), dot(v5, b3));
      a5_1 = a5_1 + vec4<f32>(dot(v5, b4), dot(v5, b5), dot(v5, b6), dot(v5, b7));
      a5_2 = a5_2 + vec4<f32>(dot(v5, b8), dot(v5, b9), dot(v5, b10), dot(v5, b11));
      a5_3 = a5_3 + vec4<f32>(dot(v5, b12), dot(v5, b13), dot(v5, b14), dot(v5, b15));
      let v6 = X[x6 + nn];
      a6_0 = a6_0 + vec4<f32>(dot(v6, b0), dot(v6, b1), dot(v6, b2), dot(v6, b3));
      a6_1 = a6_1 + vec4<f32>(dot(v6, b4), dot(v6, b5), dot(v6, b6), dot(v6, b7));
      a6_2 = a6_2 + vec4<f32>(dot(v6, b8), dot(v6, b9), dot(v6, b10), dot(v6, b11));
      a6_3 = a6_3 + vec4<f32>(dot(v6, b12), dot(v6, b13), dot(v6, b14), dot(v6, b15));
      let v7 = X[x7 + nn];
      a7_0 = a7_0 + vec4<f32>(dot(v7, b0), dot(v7, b1), dot(v7, b2), dot(v7, b3));
      a7_1 = a7_1 + vec4<f32>(dot(v7, b4), dot(v7, b5), dot(v7, b6), dot(v7, b7));
      a7_2 = a7_2 + vec4<f32>(dot(v7, b8), dot(v7, b9), dot(v7, b10), dot(v7, b11));
      a7_3 = a7_3 + vec4<f32>(dot(v7, b12), dot(v7, b13), dot(v7, b14), dot(v7, b15));
      let v8 = X[x8 + nn];
      a8_0 = a8_0 + vec4<f32>(dot(v8, b0), dot(v8, b1), dot(v8, b2), dot(v8, b3));
      a8_1 = a8_1 + vec4<f32>(dot(v8, b4), dot(v8, b5), dot(v8, b6), dot(v8, b7));
      a8_2 = a8_2 + vec4<f32>(dot(v8, b8), dot(v8, b9), dot(v8, b10), dot(v8, b11));
      a8_3 = a8_3 + vec4<f32>(dot(v8, b12), dot(v8, b13), dot(v8, b14), dot(v8, b15));
      let v9 = X[x9 + nn];
      a9_0 = a9_0 + vec4<f32>(dot(v9, b0), dot(v9, b1), dot(v9, b2), dot(v9, b3));
      a9_1 = a9_1 + vec4<f32>(dot(v9, b4), dot(v9, b5), dot(v9, b6), dot(v9, b7));
      a9_2 = a9_2 + vec4<f32>(dot(v9, b8), dot(v9, b9), dot(v9, b10), dot(v9, b11));
      a9_3 = a9_3 + vec4<f32>(dot(v9, b12), dot(v9, b13), dot(v9, b14), dot(v9, b15));
      let v10 = X[x10 + nn];
      a10_0 = a10_0 + vec4<f32>(dot(v10, b0), dot(v10, b1), dot(v10, b2), dot(v10, b3));
      a10_1 = a10_1 + vec4<f32>(dot(v10, b4), dot(v10, b5), dot(v10, b6), dot(v10, b7));
      a10_2 = a10_2 + vec4<f32>(dot(v10, b8), dot(v10, b9), dot(v10, b10), dot(v10, b11));
      a10_3 = a10_3 + vec4<f32>(dot(v10, b12), dot(v10, b13), dot(v10, b14), dot(v10, b15));
      let v11 = X[x11 + nn];
      a11_0 = a11_0 + vec4<f32>(dot(v11, b0), dot(v11, b1), dot(v11, b2), dot(v11, b3));
      a11_1 = a11_1 + vec4<f32>(dot(v11, b4), dot(v11, b5), dot(v11, b6), dot(v11, b7));
      a11_2 = a11_2 + vec4<f32>(dot(v11, b8), dot(v11, b9), dot(v11, b10), dot(v11, b11));
      a11_3 = a11_3 + vec4<f32>(dot(v11, b12), dot(v11, b13), dot(v11, b14), dot(v11, b15));
      let v12 = X[x12 + nn];
      a12_0 = a12_0 + vec4<f32>(dot(v12, b0), dot(v12, b1), dot(v12, b2), dot(v12, b3));
      a12_1 = a12_1 + vec4<f32>(dot(v12, b4), dot(v12, b5), dot(v12, b6), dot(v12, b7));
      a12_2 = a12_2 + vec4<f32>(dot(v12, b8), dot(v12, b9), dot(v12, b10), dot(v12, b11));
      a12_3 = a12_3 + vec4<f32>(dot(v12, b12), dot(v12, b13), dot(v12, b14), dot(v12, b15));
      let v13 = X[x13 + nn];
      a13_0 = a13_0 + vec4<f32>(dot(v13, b0), dot(v13, b1), dot(v13, b2), dot(v13, b3));
      a13_1 = a13_1 + vec4<f32>(dot(v13, b4), dot(v13, b5), dot(v13, b6), dot(v13, b7));
      a13_2 = a13_2 + vec4<f32>(dot(v13, b8), dot(v13, b9), dot(v13, b10), dot(v13, b11));
      a13_3 = a13_3 + vec4<f32>(dot(v13, b12), dot(v13, b13), dot(v13, b14), dot(v13, b15));
      let v14 = X[x14 + nn];
      a14_0 = a14_0 + vec4<f32>(dot(v14, b0), dot(v14, b1), dot(v14, b2), dot(v14, b3));
      a14_1 = a14_1 + vec4<f32>(dot(v14, b4), dot(v14, b5), dot(v14, b6), dot(v14, b7));
      a14_2 = a14_2 + vec4<f32>(dot(v14, b8), dot(v14, b9), dot(v14, b10), dot(v14, b11));
      a14_3 = a14_3 + vec4<f32>(dot(v14, b12), dot(v14, b13), dot(v14, b14), dot(v14, b15));
      let v15 = X[x15 + nn];
      a15_0 = a15_0 + vec4<f32>(dot(v15, b0), dot(v15, b1), dot(v15, b2), dot(v15, b3));
      a15_1 = a15_1 + vec4<f32>(dot(v15, b4), dot(v15, b5), dot(v15, b6), dot(v15, b7));
      a15_2 = a15_2 + vec4<f32>(dot(v15, b8), dot(v15, b9), dot(v15, b10), dot(v15, b11));
      a15_3 = a15_3 + vec4<f32>(dot(v15, b12), dot(v15, b13), dot(v15, b14), dot(v15, b15));
    }
  }
  let accum = (p.flags & ACCUM) != 0u;
  let kl4 = p.k4 - 1u;
  if (m0 + 0u <= mlast) {
    let oo = p.o_off + (m0 + 0u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a0_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a0_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a0_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a0_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 1u <= mlast) {
    let oo = p.o_off + (m0 + 1u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a1_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a1_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a1_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a1_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 2u <= mlast) {
    let oo = p.o_off + (m0 + 2u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a2_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a2_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a2_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a2_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 3u <= mlast) {
    let oo = p.o_off + (m0 + 3u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a3_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a3_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a3_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a3_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 4u <= mlast) {
    let oo = p.o_off + (m0 + 4u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a4_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a4_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a4_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a4_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 5u <= mlast) {
    let oo = p.o_off + (m0 + 5u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a5_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a5_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a5_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a5_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 6u <= mlast) {
    let oo = p.o_off + (m0 + 6u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a6_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a6_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a6_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a6_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 7u <= mlast) {
    let oo = p.o_off + (m0 + 7u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a7_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a7_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a7_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a7_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 8u <= mlast) {
    let oo = p.o_off + (m0 + 8u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a8_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a8_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a8_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a8_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 9u <= mlast) {
    let oo = p.o_off + (m0 + 9u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a9_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a9_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a9_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a9_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 10u <= mlast) {
    let oo = p.o_off + (m0 + 10u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a10_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a10_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a10_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a10_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 11u <= mlast) {
    let oo = p.o_off + (m0 + 11u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a11_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a11_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a11_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a11_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 12u <= mlast) {
    let oo = p.o_off + (m0 + 12u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a12_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a12_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a12_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a12_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 13u <= mlast) {
    let oo = p.o_off + (m0 + 13u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a13_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a13_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a13_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a13_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 14u <= mlast) {
    let oo = p.o_off + (m0 + 14u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a14_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a14_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a14_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a14_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (m0 + 15u <= mlast) {
    let oo = p.o_off + (m0 + 15u) * p.ldo + k0;
    if (k0 + 0u <= kl4) { var v = a15_0; if (accum) { v = v + O[oo + 0u]; } O[oo + 0u] = v; }
    if (k0 + 1u <= kl4) { var v = a15_1; if (accum) { v = v + O[oo + 1u]; } O[oo + 1u] = v; }
    if (k0 + 2u <= kl4) { var v = a15_2; if (accum) { v = v + O[oo + 2u]; } O[oo + 2u] = v; }
    if (k0 + 3u <= kl4) { var v = a15_3; if (accum) { v = v + O[oo + 3u]; } O[oo + 3u] = v; }
  }
  if (p.flags == 0xffffffffu) {
    O[0] = R[0];
  }
}

// O(W(k, n)) = sum_m X[m, k] Y[m, n] for k = 4 k0 .. 4 k0 + 15 (vec4 k0..k0+3 of X's rows) and
// vec4 columns c0..c0+3; with BIAS the invocations with k0 = 0 also write O[b_off + c] = sum_m Y[m, c].
@compute @workgroup_size(8)
fn dw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = tile_id(gid, nwg);
  let tiles_n = (p.n4 + 3u) / 4u;
  let k0 = (t / tiles_n) * 4u;
  let c0 = (t % tiles_n) * 4u;
  if (k0 >= p.k4) {
    return;
  }
  let klast = p.k4 - 1u;
  let clast = p.n4 - 1u;
  let xk0 = p.x_off + min(k0 + 0u, klast);
  let xk1 = p.x_off + min(k0 + 1u, klast);
  let xk2 = p.x_off + min(k0 + 2u, klast);
  let xk3 = p.x_off + min(k0 + 3u, klast);
  let yc0 = p.y_off + min(c0 + 0u, clast);
  let yc1 = p.y_off + min(c0 + 1u, clast);
  let yc2 = p.y_off + min(c0 + 2u, clast);
  let yc3 = p.y_off + min(c0 + 3u, clast);
  var a0_0 = vec4<f32>(0.0); var a0_1 = vec4<f32>(0.0); var a0_2 = vec4<f32>(0.0); var a0_3 = vec4<f32>(0.0);
  var a1_0 = vec4<f32>(0.0); var a1_1 = vec4<f32>(0.0); var a1_2 = vec4<f32>(0.0); var a1_3 = vec4<f32>(0.0);
  var a2_0 = vec4<f32>(0.0); var a2_1 = vec4<f32>(0.0); var a2_2 = vec4<f32>(0.0); var a2_3 = vec4<f32>(0.0);
  var a3_0 = vec4<f32>(0.0); var a3_1 = vec4<f32>(0.0); var a3_2 = vec4<f32>(0.0); var a3_3 = vec4<f32>(0.0);
  var a4_0 = vec4<f32>(0.0); var a4_1 = vec4<f32>(0.0); var a4_2 = vec4<f32>(0.0); var a4_3 = vec4<f32>(0.0);
  var a5_0 = vec4<f32>(0.0); var a5_1 = vec4<f32>(0.0); var a5_2 = vec4<f32>(0.0); var a5_3 = vec4<f32>(0.0);
  var a6_0 = vec4<f32>(0.0); var a6_1 = vec4<f32>(0.0); var a6_2 = vec4<f32>(0.0); var a6_3 = vec4<f32>(0.0);
  var a7_0 = vec4<f32>(0.0); var a7_1 = vec4<f32>(0.0); var a7_2 = vec4<f32>(0.0); var a7_3 = vec4<f32>(0.0);
  var a8_0 = vec4<f32>(0.0); var a8_1 = vec4<f32>(0.0); var a8_2 = vec4<f32>(0.0); var a8_3 = vec4<f32>(0.0);
  var a9_0 = vec4<f32>(0.0); var a9_1 = vec4<f32>(0.0); var a9_2 = vec4<f32>(0.0); var a9_3 = vec4<f32>(0.0);
  var a10_0 = vec4<f32>(0.0); var a10_1 = vec4<f32>(0.0); var a10_2 = vec4<f32>(0.0); var a10_3 = vec4<f32>(0.0);
  var a11_0 = vec4<f32>(0.0); var a11_1 = vec4<f32>(0.0); var a11_2 = vec4<f32>(0.0); var a11_3 = vec4<f32>(0.0);
  var a12_0 = vec4<f32>(0.0); var a12_1 = vec4<f32>(0.0); var a12_2 = vec4<f32>(0.0); var a12_3 = vec4<f32>(0.0);
  var a13_0 = vec4<f32>(0.0); var a13_1 = vec4<f32>(0.0); var a13_2 = vec4<f32>(0.0); var a13_3 = vec4<f32>(0.0);
  var a14_0 = vec4<f32>(0.0); var a14_1 = vec4<f32>(0.0); var a14_2 = vec4<f32>(0.0); var a14_3 = vec4<f32>(0.0);
  var a15_0 = vec4<f32>(0.0); var a15_1 = vec4<f32>(0.0); var a15_2 = vec4<f32>(0.0); var a15_3 = vec4<f32>(0.0);
  var s0 = vec4<f32>(0.0); var s1 = vec4<f32>(0.0); var s2 = vec4<f32>(0.0); var s3 = vec4<f32>(0.0);
  for (var m = 0u; m < p.m; m = m + 1u) {
    let xo = m * p.ldx;
    let yo = m * p.ldy;
    let d0 = Y[yc0 + yo];
    let d1 = Y[yc1 + yo];
    let d2 = Y[yc2 + yo];
    let d3 = Y[yc3 + yo];
    s0 = s0 + d0; s1 = s1 + d1; s2 = s2 + d2; s3 = s3 + d3;
    let u0 = X[xk0 + xo];
    a0_0 = a0_0 + u0.x * d0; a0_1 = a0_1 + u0.x * d1; a0_2 = a0_2 + u0.x * d2; a0_3 = a0_3 + u0.x * d3;
    a1_0 = a1_0 + u0.y * d0; a1_1 = a1_1 + u0.y * d1; a1_2 = a1_2 + u0.y * d2; a1_3 = a1_3 + u0.y * d3;
    a2_0 = a2_0 + u0.z * d0; a2_1 = a2_1 + u0.z * d1; a2_2 = a2_2 + u0.z * d2; a2_3 = a2_3 + u0.z * d3;
    a3_0 = a3_0 + u0.w * d0; a3_1 = a3_1 + u0.w * d1; a3_2 = a3_2 + u0.w * d2; a3_3 = a3_3 + u0.w * d3;
    let u1 = X[xk1 + xo];
    a4_0 = a4_0 + u1.x * d0; a4_1 = a4_1 + u1.x * d1; a4_2 = a4_2 + u1.x * d2; a4_3 = a4_3 + u1.x * d3;
    a5_0 = a5_0 + u1.y * d0; a5_1 = a5_1 + u1.y * d1; a5_2 = a5_2 + u1.y * d2; a5_3 = a5_3 + u1.y * d3;
    a6_0 = a6_0 + u1.z * d0; a6_1 = a6_1 + u1.z * d1; a6_2 = a6_2 + u1.z * d2; a6_3 = a6_3 + u1.z * d3;
    a7_0 = a7_0 + u1.w * d0; a7_1 = a7_1 + u1.w * d1; a7_2 = a7_2 + u1.w * d2; a7_3 = a7_3 + u1.w * d3;
    let u2 = X[xk2 + xo];
    a8_0 = a8_0 + u2.x * d0; a8_1 = a8_1 + u2.x * d1; a8_2 = a8_2 + u2.x * d2; a8_3 = a8_3 + u2.x * d3;
    a9_0 = a9_0 + u2.y * d0; a9_1 = a9_1 + u2.y * d1; a9_2 = a9_2 + u2.y * d2; a9_3 = a9_3 + u2.y * d3;
    a10_0 = a10_0 + u2.z * d0; a10_1 = a10_1 + u2.z * d1; a10_2 = a10_2 + u2.z * d2; a10_3 = a10_3 + u2.z * d3;
    a11_0 = a11_0 + u2.w * d0; a11_1 = a11_1 + u2.w * d1; a11_2 = a11_2 + u2.w * d2; a11_3 = a11_3 + u2.w * d3;
    let u3 = X[xk3 + xo];
    a12_0 = a12_0 + u3.x * d0; a12_1 = a12_1 + u3.x * d1; a12_2 = a12_2 + u3.x * d2; a12_3 = a12_3 + u3.x * d3;
    a13_0 = a13_0 + u3.y * d0; a13_1 = a13_1 + u3.y * d1; a13_2 = a13_2 + u3.y * d2; a13_3 = a13_3 + u3.y * d3;
    a14_0 = a14_0 + u3.z * d0; a14_1 = a14_1 + u3.z * d1; a14_2 = a14_2 + u3.z * d2; a14_3 = a14_3 + u3.z * d3;
    a15_0 = a15_0 + u3.w * d0; a15_1 = a15_1 + u3.w * d1; a15_2 = a15_2 + u3.w * d2; a15_3 = a15_3 + u3.w * d3;
  }
  if (k0 * 4u + 0u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 0u) * p.g4] = a0_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 0u) * p.g4] = a0_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 0u) * p.g4] = a0_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 0u) * p.g4] = a0_3; }
  }
  if (k0 * 4u + 1u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 1u) * p.g4] = a1_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 1u) * p.g4] = a1_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 1u) * p.g4] = a1_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 1u) * p.g4] = a1_3; }
  }
  if (k0 * 4u + 2u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 2u) * p.g4] = a2_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 2u) * p.g4] = a2_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 2u) * p.g4] = a2_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 2u) * p.g4] = a2_3; }
  }
  if (k0 * 4u + 3u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 3u) * p.g4] = a3_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 3u) * p.g4] = a3_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 3u) * p.g4] = a3_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 3u) * p.g4] = a3_3; }
  }
  if (k0 * 4u + 4u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 4u) * p.g4] = a4_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 4u) * p.g4] = a4_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 4u) * p.g4] = a4_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 4u) * p.g4] = a4_3; }
  }
  if (k0 * 4u + 5u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 5u) * p.g4] = a5_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 5u) * p.g4] = a5_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 5u) * p.g4] = a5_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 5u) * p.g4] = a5_3; }
  }
  if (k0 * 4u + 6u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 6u) * p.g4] = a6_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 6u) * p.g4] = a6_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 6u) * p.g4] = a6_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 6u) * p.g4] = a6_3; }
  }
  if (k0 * 4u + 7u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 7u) * p.g4] = a7_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 7u) * p.g4] = a7_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 7u) * p.g4] = a7_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 7u) * p.g4] = a7_3; }
  }
  if (k0 * 4u + 8u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 8u) * p.g4] = a8_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 8u) * p.g4] = a8_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 8u) * p.g4] = a8_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 8u) * p.g4] = a8_3; }
  }
  if (k0 * 4u + 9u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 9u) * p.g4] = a9_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 9u) * p.g4] = a9_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 9u) * p.g4] = a9_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 9u) * p.g4] = a9_3; }
  }
  if (k0 * 4u + 10u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 10u) * p.g4] = a10_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 10u) * p.g4] = a10_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 10u) * p.g4] = a10_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 10u) * p.g4] = a10_3; }
  }
  if (k0 * 4u + 11u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 11u) * p.g4] = a11_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 11u) * p.g4] = a11_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 11u) * p.g4] = a11_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 11u) * p.g4] = a11_3; }
  }
  if (k0 * 4u + 12u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 12u) * p.g4] = a12_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 12u) * p.g4] = a12_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 12u) * p.g4] = a12_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 12u) * p.g4] = a12_3; }
  }
  if (k0 * 4u + 13u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 13u) * p.g4] = a13_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 13u) * p.g4] = a13_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 13u) * p.g4] = a13_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 13u) * p.g4] = a13_3; }
  }
  if (k0 * 4u + 14u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 14u) * p.g4] = a14_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 14u) * p.g4] = a14_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 14u) * p.g4] = a14_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 14u) * p.g4] = a14_3; }
  }
  if (k0 * 4u + 15u <= klast * 4u + 3u) {
    if (c0 + 0u <= clast) { O[wcol(c0 + 0u) + (k0 * 4u + 15u) * p.g4] = a15_0; }
    if (c0 + 1u <= clast) { O[wcol(c0 + 1u) + (k0 * 4u + 15u) * p.g4] = a15_1; }
    if (c0 + 2u <= clast) { O[wcol(c0 + 2u) + (k0 * 4u + 15u) * p.g4] = a15_2; }
    if (c0 + 3u <= clast) { O[wcol(c0 + 3u) + (k0 * 4u + 15u) * p.g4] = a15_3; }
  }
  if (k0 == 0u && (p.flags & BIAS) != 0u) {
    if (c0 + 0u <= clast) { O[p.b_off + c0 + 0u] = s0; }
    if (c0 + 1u <= clast) { O[p.b_off + c0 + 1u] = s1; }
    if (c0 + 2u <= clast) { O[p.b_off + c0 + 2u] = s2; }
    if (c0 + 3u <= clast) { O[p.b_off + c0 + 3u] = s3; }
  }
  if (p.flags == 0xffffffffu) {
    O[0] = R[0];
  }
}
