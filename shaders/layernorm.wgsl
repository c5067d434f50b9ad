// Layer norm over the last axis (src/kernels/layernorm.ts), TransformerLens's formula: one
// workgroup per row, all in one dispatch. Pass 1 sums the row (tree in workgroup memory) for a
// first mean m; pass 2 sums d = x − m and d² (corrected two-pass algorithm: δ = mean(d) fixes
// the rounding of m, var = mean(d²) − δ²); pass 3 writes y = ((x − m) − δ) / scale · w + b with
// scale = sqrt(var + eps), and scale itself when asked. Centring as (x − m) − δ never rounds the
// mean to f32, which matters when the mean is large next to the spread.
//
// Filled in by the kernel file:
//   ENABLE       `enable f16;` when a tensor is f16
//   BINDINGS     X (read), W and B (read, when present), Y and S (read_write; S when present)
//   LOAD_W       f32 weight of element j (1.0 when absent); LOAD_B likewise (0.0)
//   STORE_SCALE  statement writing `scale` for `row` (empty when not asked)
//   OUT          storage type of Y
//   WG           invocations per workgroup
{{ENABLE}}

struct Params {
  rows: u32,
  n: u32,
  outer_rank: u32,
  in_offset: u32,
  in_estride: u32,
  w_off: u32,
  b_off: u32,
  eps: f32,
  outer_shape: array<vec4<u32>, 2>,
  in_stride: array<vec4<u32>, 2>,
};

@group(0) @binding(0) var<uniform> p: Params;
{{BINDINGS}}

const WG = {{WG}}u;

var<workgroup> acc: array<vec2<f32>, WG>;

// Sum of every invocation's v; every invocation gets it.
fn tree_sum(lid: u32, v: vec2<f32>) -> vec2<f32> {
  acc[lid] = v;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h = h / 2u) {
    if (lid < h) {
      acc[lid] = acc[lid] + acc[lid + h];
    }
    workgroupBarrier();
  }
  let total = acc[0];
  // Nobody may overwrite acc[0] (next tree) before everyone has read it.
  workgroupBarrier();
  return total;
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
  for (var d = i32(p.outer_rank) - 1; d >= 0; d = d - 1) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let size = p.outer_shape[q][r];
    ib = ib + (rem % size) * p.in_stride[q][r];
    rem = rem / size;
  }
  let ob = row * p.n;
  let nf = f32(p.n);

  var s = 0.0;
  for (var j = lid; j < p.n; j = j + WG) {
    s = s + f32(X[ib + j * p.in_estride]);
  }
  let m = tree_sum(lid, vec2<f32>(s, 0.0)).x / nf;

  var s2 = vec2<f32>(0.0, 0.0);
  for (var j = lid; j < p.n; j = j + WG) {
    let d = f32(X[ib + j * p.in_estride]) - m;
    s2 = s2 + vec2<f32>(d, d * d);
  }
  let sums = tree_sum(lid, s2) / nf;
  let delta = sums.x;
  let scale = sqrt(max(sums.y - delta * delta, 0.0) + p.eps);

  for (var j = lid; j < p.n; j = j + WG) {
    let c = (f32(X[ib + j * p.in_estride]) - m) - delta;
    Y[ob + j] = {{OUT}}((c / scale) * {{LOAD_W}} + {{LOAD_B}});
  }
  if (lid == 0u) {
    {{STORE_SCALE}}
  }
}
