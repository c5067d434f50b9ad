// Layer norm of the fused training step (src/kernels/train_fused.ts), TransformerLens's LN:
// y = (x - mean) / sqrt(var + eps) * w + b over the last axis (biased variance).
//
// Entry points (every one uses every binding); rows of d values, d a multiple of 4, offsets in
// vec4 units:
//   fwd    one thread per row: O = y, S[r] = (mean, 1 / sqrt(var + eps))
//   bwd_x  one thread per row: O (+)= dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dY w
//   bwd_w  one thread per 4 columns: G[gw_off + c] = sum_r dY xhat, G[gb_off + c] = sum_r dY
// With flags & NOAFFINE (LNPre): w = 1, b = 0 and bwd_w is not used.

struct Params {
  rows: u32,
  d4: u32,
  eps: f32,
  flags: u32,
  w_off: u32,
  b_off: u32,
  gw_off: u32,
  gb_off: u32,
};

const ACCUM: u32 = 1u;
const NOAFFINE: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> TH: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> DY: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> O: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> S: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> G: array<vec4<f32>>;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 64u;
}

fn weight(c: u32) -> vec4<f32> {
  if ((p.flags & NOAFFINE) != 0u) {
    return vec4<f32>(1.0);
  }
  return TH[p.w_off + c];
}

fn hsum(v: vec4<f32>) -> f32 {
  return v.x + v.y + v.z + v.w;
}

@compute @workgroup_size(64)
fn fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = index(gid, nwg);
  if (r >= p.rows) {
    return;
  }
  let o = r * p.d4;
  let n = f32(p.d4 * 4u);
  var s = vec4<f32>(0.0);
  for (var c = 0u; c < p.d4; c = c + 1u) {
    s = s + X[o + c];
  }
  let mean = hsum(s) / n;
  var v = vec4<f32>(0.0);
  for (var c = 0u; c < p.d4; c = c + 1u) {
    let x = X[o + c] - mean;
    v = v + x * x;
  }
  let rstd = 1.0 / sqrt(hsum(v) / n + p.eps);
  S[r] = vec2<f32>(mean, rstd);
  let affine = (p.flags & NOAFFINE) == 0u;
  for (var c = 0u; c < p.d4; c = c + 1u) {
    var y = (X[o + c] - mean) * rstd;
    if (affine) {
      y = y * TH[p.w_off + c] + TH[p.b_off + c];
    }
    O[o + c] = y;
  }
  if (p.flags == 0xffffffffu) {
    G[0] = DY[0];
  }
}

@compute @workgroup_size(64)
fn bwd_x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = index(gid, nwg);
  if (r >= p.rows) {
    return;
  }
  let o = r * p.d4;
  let n = f32(p.d4 * 4u);
  let st = S[r];
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  for (var c = 0u; c < p.d4; c = c + 1u) {
    let g = DY[o + c] * weight(c);
    c1 = c1 + g;
    c2 = c2 + g * (X[o + c] - st.x) * st.y;
  }
  let m1 = hsum(c1) / n;
  let m2 = hsum(c2) / n;
  let accum = (p.flags & ACCUM) != 0u;
  for (var c = 0u; c < p.d4; c = c + 1u) {
    let xhat = (X[o + c] - st.x) * st.y;
    var dx = st.y * (DY[o + c] * weight(c) - m1 - xhat * m2);
    if (accum) {
      dx = dx + O[o + c];
    }
    O[o + c] = dx;
  }
  if (p.flags == 0xffffffffu) {
    G[0] = vec4<f32>(0.0);
  }
}

@compute @workgroup_size(8)
fn bwd_w(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.x + gid.y * nwg.x * 8u;
  if (c >= p.d4) {
    return;
  }
  var gw = vec4<f32>(0.0);
  var gb = vec4<f32>(0.0);
  for (var r = 0u; r < p.rows; r = r + 1u) {
    let dy = DY[r * p.d4 + c];
    let st = S[r];
    gw = gw + dy * (X[r * p.d4 + c] - st.x) * st.y;
    gb = gb + dy;
  }
  G[p.gw_off + c] = gw;
  G[p.gb_off + c] = gb;
  if (p.flags == 0xffffffffu) {
    O[0] = TH[0];
  }
}
