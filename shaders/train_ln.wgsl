// Layer norm of the fused training step (src/kernels/train_fused.ts), TransformerLens's LN:
// y = (x - mean) / sqrt(var + eps) * w + b over the last axis (biased variance).
//
// Entry points (every one uses every binding):
//   fwd    one thread per row: O = y, S[2r] = mean, S[2r + 1] = 1 / sqrt(var + eps)
//   bwd_x  one thread per row: O (+)= dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dY w
//   bwd_w  one thread per column d: G[gw_off + d] = sum_r dY xhat, G[gb_off + d] = sum_r dY
// With flags & NOAFFINE (LNPre): w = 1, b = 0 and bwd_w is not used.

struct Params {
  rows: u32,
  d: u32,
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
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> TH: array<f32>;
@group(0) @binding(3) var<storage, read> DY: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> S: array<f32>;
@group(0) @binding(6) var<storage, read_write> G: array<f32>;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 64u;
}

fn weight(d: u32) -> f32 {
  if ((p.flags & NOAFFINE) != 0u) {
    return 1.0;
  }
  return TH[p.w_off + d];
}

@compute @workgroup_size(64)
fn fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = index(gid, nwg);
  if (r >= p.rows) {
    return;
  }
  let o = r * p.d;
  var s = 0.0;
  for (var d = 0u; d < p.d; d = d + 1u) {
    s = s + X[o + d];
  }
  let mean = s / f32(p.d);
  var v = 0.0;
  for (var d = 0u; d < p.d; d = d + 1u) {
    let c = X[o + d] - mean;
    v = v + c * c;
  }
  let rstd = 1.0 / sqrt(v / f32(p.d) + p.eps);
  S[2u * r] = mean;
  S[2u * r + 1u] = rstd;
  let affine = (p.flags & NOAFFINE) == 0u;
  for (var d = 0u; d < p.d; d = d + 1u) {
    var y = (X[o + d] - mean) * rstd;
    if (affine) {
      y = y * TH[p.w_off + d] + TH[p.b_off + d];
    }
    O[o + d] = y;
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
  let o = r * p.d;
  let mean = S[2u * r];
  let rstd = S[2u * r + 1u];
  var c1 = 0.0;
  var c2 = 0.0;
  for (var d = 0u; d < p.d; d = d + 1u) {
    let g = DY[o + d] * weight(d);
    c1 = c1 + g;
    c2 = c2 + g * (X[o + d] - mean) * rstd;
  }
  c1 = c1 / f32(p.d);
  c2 = c2 / f32(p.d);
  let accum = (p.flags & ACCUM) != 0u;
  for (var d = 0u; d < p.d; d = d + 1u) {
    let xhat = (X[o + d] - mean) * rstd;
    var dx = rstd * (DY[o + d] * weight(d) - c1 - xhat * c2);
    if (accum) {
      dx = dx + O[o + d];
    }
    O[o + d] = dx;
  }
  if (p.flags == 0xffffffffu) {
    G[0] = 0.0;
  }
}

@compute @workgroup_size(64)
fn bwd_w(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let d = index(gid, nwg);
  if (d >= p.d) {
    return;
  }
  var gw = 0.0;
  var gb = 0.0;
  for (var r = 0u; r < p.rows; r = r + 1u) {
    let dy = DY[r * p.d + d];
    gw = gw + dy * (X[r * p.d + d] - S[2u * r]) * S[2u * r + 1u];
    gb = gb + dy;
  }
  G[p.gw_off + d] = gw;
  G[p.gb_off + d] = gb;
  if (p.flags == 0xffffffffu) {
    O[0] = TH[0];
  }
}
