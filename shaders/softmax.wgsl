// Softmax / log-softmax along one axis (src/kernels/softmax.ts): one workgroup per row, all in
// one dispatch. Pass 1 reads the row once, keeping a running (max, sum of exp(x - max)) per
// invocation (the online softmax recurrence: one exp per element), then merges the pairs as a
// tree in workgroup memory. Pass 2 reads the row again and writes exp(x - max) / sum (or
// x - max - log(sum)).
//
// Masked entries (-Infinity inputs, and k > q + diag when causal) get probability 0 (log: -inf);
// a row with no unmasked entry is all 0 (log: all -inf) instead of PyTorch's NaN.
//
// Filled in by the kernel file:
//   ENABLE  `enable f16;` when a tensor is f16
//   IN, OUT storage types
//   WG      invocations per workgroup
//   LOG     true for log-softmax
{{ENABLE}}

struct Params {
  rows: u32,
  n: u32,
  outer_rank: u32,
  in_offset: u32,
  in_estride: u32,
  out_estride: u32,
  causal: u32,
  qlen: u32,
  diag: i32,
  inf_bits: u32,
  _p0: u32,
  _p1: u32,
  outer_shape: array<vec4<u32>, 2>,
  in_stride: array<vec4<u32>, 2>,
  out_stride: array<vec4<u32>, 2>,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<{{IN}}>;
@group(0) @binding(2) var<storage, read_write> Y: array<{{OUT}}>;

const WG = {{WG}}u;
const LOG = {{LOG}};

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;

fn pinf() -> f32 {
  return bitcast<f32>(p.inf_bits);
}

fn is_neg_inf(x: f32) -> bool {
  return bitcast<u32>(x) == 0xff800000u;
}

// s · exp(mm − m), or 0 when s is 0 (no entries seen: mm is -inf and m may be too).
fn rescale(s: f32, mm: f32, m: f32) -> f32 {
  return select(s * exp(mm - m), 0.0, s == 0.0);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  var rem = row;
  var ib = p.in_offset;
  var ob = 0u;
  for (var d = i32(p.outer_rank) - 1; d >= 0; d = d - 1) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let size = p.outer_shape[q][r];
    let c = rem % size;
    rem = rem / size;
    ib = ib + c * p.in_stride[q][r];
    ob = ob + c * p.out_stride[q][r];
  }
  // Last unmasked index (exclusive end) of this row.
  var end = p.n;
  if (p.causal != 0u) {
    end = u32(clamp(i32(row % p.qlen) + p.diag + 1, 0, i32(p.n)));
  }

  var m = -pinf();
  var s = 0.0;
  for (var j = lid; j < end; j = j + WG) {
    let x = f32(X[ib + j * p.in_estride]);
    if (!is_neg_inf(x)) {
      if (x > m) {
        s = s * exp(m - x) + 1.0;
        m = x;
      } else {
        s = s + exp(x - m);
      }
    }
  }
  sm[lid] = m;
  ss[lid] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h = h / 2u) {
    if (lid < h) {
      let ma = sm[lid];
      let mb = sm[lid + h];
      let mx = max(ma, mb);
      ss[lid] = rescale(ss[lid], ma, mx) + rescale(ss[lid + h], mb, mx);
      sm[lid] = mx;
    }
    workgroupBarrier();
  }
  m = sm[0];
  s = ss[0];
  let ls = log(s);

  for (var j = lid; j < p.n; j = j + WG) {
    let x = f32(X[ib + j * p.in_estride]);
    // A NaN sum (NaN input) must reach the output: test for zero, not for non-zero.
    let live = j < end && !is_neg_inf(x) && !(s == 0.0);
    var y: f32;
    if (LOG) {
      y = select(-pinf(), (x - m) - ls, live);
    } else {
      y = select(0.0, exp(x - m) / s, live);
    }
    Y[ob + j * p.out_estride] = {{OUT}}(y);
  }
}
