// Cross-entropy and log-probabilities of targets, one workgroup per row of logits.
//
// Entry point `rows`: each thread runs an online log-sum-exp over a strided part of the row
// (running max m and sum s of exp(x - m)), the workgroup merges the (m, s) pairs in a fixed
// tree order, and thread 0 writes
//   lse[row]  = m + log(s)
//   loss[row] = lse - x[target]   (p.mode 0: cross-entropy)
//             = x[target] - lse   (p.mode 1: log-probability of the target)
// A row whose target equals the ignore index gets 0; a target outside [0, vocab) gets NaN (the
// GPU cannot throw: NaN makes the bad target visible in the result).
//
// Entry point `reduce` (compiled with T = f32): one workgroup sums the per-row losses, bound as
// `x`, in a fixed order and writes loss[0] = the sum divided by the number of rows not ignored
// (p.mean 1) or the sum (p.mean 0). A mean over no rows is NaN.
//
// Filled in by src/kernels/cross_entropy.ts:
//   ENABLE   `enable f16;` for f16 logits
//   T        logits storage type
//   IDX      target storage type (i32 or u32)
//   WG       threads per workgroup (a power of two)
//   VALID    boolean expression: target `tg` is in [0, vocab)
//   IGNORED  boolean expression: target `tg` is the ignore index
{{ENABLE}}

struct Params {
  rows: u32,
  vocab: u32,
  x_off: u32,
  t_off: u32,
  ignore_bits: u32,
  has_ignore: u32,
  mode: u32,
  mean: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> targets: array<{{IDX}}>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;

const LOWEST: f32 = -3.4028234e38;

var<workgroup> wm: array<f32, {{WG}}>;
var<workgroup> ws: array<f32, {{WG}}>;

fn nan() -> f32 {
  // A runtime bitcast: constant NaN is rejected by some WGSL compilers.
  let bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}

fn is_ignored(tg: {{IDX}}) -> bool {
  return p.has_ignore != 0u && {{IGNORED}};
}

@compute @workgroup_size({{WG}})
fn rows(
  @builtin(local_invocation_index) t: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  let base = p.x_off + row * p.vocab;
  var m = LOWEST;
  var s = 0.0;
  for (var c = t; c < p.vocab; c = c + {{WG}}u) {
    let v = f32(x[base + c]);
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s = s + exp(v - m);
    }
  }
  wm[t] = m;
  ws[t] = s;
  workgroupBarrier();
  for (var half = {{WG}}u / 2u; half > 0u; half = half / 2u) {
    if (t < half) {
      let m1 = wm[t];
      let m2 = wm[t + half];
      let mm = max(m1, m2);
      ws[t] = ws[t] * exp(m1 - mm) + ws[t + half] * exp(m2 - mm);
      wm[t] = mm;
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let l = wm[0] + log(ws[0]);
    lse[row] = l;
    let tg = targets[p.t_off + row];
    var res: f32;
    if (is_ignored(tg)) {
      res = 0.0;
    } else if (!({{VALID}})) {
      res = nan();
    } else {
      let xt = f32(x[base + u32(tg)]);
      if (p.mode == 0u) {
        res = l - xt;
      } else {
        res = xt - l;
      }
    }
    loss[row] = res;
  }
}

var<workgroup> rs: array<f32, {{WG}}>;
var<workgroup> rc: array<u32, {{WG}}>;

@compute @workgroup_size({{WG}})
fn reduce(@builtin(local_invocation_index) t: u32) {
  var s = 0.0;
  var c = 0u;
  for (var r = t; r < p.rows; r = r + {{WG}}u) {
    s = s + f32(x[r]);
    if (!is_ignored(targets[p.t_off + r])) {
      c = c + 1u;
    }
  }
  rs[t] = s;
  rc[t] = c;
  workgroupBarrier();
  for (var half = {{WG}}u / 2u; half > 0u; half = half / 2u) {
    if (t < half) {
      rs[t] = rs[t] + rs[t + half];
      rc[t] = rc[t] + rc[t + half];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    if (p.mean == 1u) {
      if (rc[0] == 0u) {
        loss[0] = nan();
      } else {
        loss[0] = rs[0] / f32(rc[0]);
      }
    } else {
      loss[0] = rs[0];
    }
  }
}
