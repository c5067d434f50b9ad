// Reductions over rows (src/kernels/reduce.ts). A "row" is the set of input elements that reduce
// into one output element: its start comes from the kept (outer) axes, the element offsets from
// the reduced (inner) axes, both given as shapes and strides in the params, so transposed and
// sliced views are read in place.
//
// Each reduction is a state with init / acc (one element) / merge (two states) / save / load (to
// the u32 partials buffer) and an output function; the entry point picks them by name:
//   S      state family: sum, max, min, argmax, argmin, var
//   FIN    output function: sum_out, mean_out, max_out, min_out, argmax_out, argmin_out,
//          var_out, std_out
//   SW     u32 words per saved state
//   T      compute type of the input (f32, i32, u32)
//   SRC    storage type bound at binding 1 (the input dtype, or u32 for the partials)
//   DST    storage type bound at binding 2 (the output dtype, or u32 for the partials)
//   OUTC   the type FIN returns
//   LOWEST, HIGHEST   extreme values of T
//   ISNAN  expression in x: whether x of type T is NaN (false for integers)
//   WG, TWG   threads per workgroup for the row kernels and for the thread-per-row kernel
//   ENABLE `enable f16;` when a tensor is f16
//
// Entry points:
//   main_final    one workgroup per row: strided loads, tree merge in workgroup memory, output
//   main_partial  one workgroup per (row, chunk) of a long row: saves the chunk's state
//   main_combine  one workgroup per row: merges the row's saved chunk states, output
//   main_thread   one invocation per row, sequential (short rows and strided rows)
{{ENABLE}}

struct Params {
  rows: u32,
  n: u32,
  chunk: u32,
  nchunks: u32,
  outer_rank: u32,
  inner_rank: u32,
  offset: u32,
  inf_bits: u32,
  correction: f32,
  // Both 1.0: multiplying by them hides TwoSum's algebra from the shader compiler.
  one_a: f32,
  one_b: f32,
  _p2: u32,
  outer_shape: array<vec4<u32>, 2>,
  outer_stride: array<vec4<u32>, 2>,
  inner_shape: array<vec4<u32>, 2>,
  inner_stride: array<vec4<u32>, 2>,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<{{SRC}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{DST}}>;

const WG = {{WG}}u;
const TWG = {{TWG}}u;

// +inf and NaN come from the params at run time (constant expressions may not hold them).
fn pinf() -> f32 {
  return bitcast<f32>(p.inf_bits);
}

fn qnan() -> f32 {
  return bitcast<f32>(p.inf_bits | 0x400000u);
}

fn f_is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn t_is_nan(x: {{T}}) -> bool {
  return {{ISNAN}};
}

fn load_x(i: u32) -> {{T}} {
  return {{T}}(src[i]);
}

fn load_part(i: u32) -> u32 {
  return u32(src[i]);
}

fn store_part(i: u32, w: u32) {
  dst[i] = {{DST}}(w);
}

fn store_out(i: u32, v: {{OUTC}}) {
  dst[i] = {{DST}}(v);
}

// Element offset of the start of output row `row`.
fn row_base(row: u32) -> u32 {
  var rem = row;
  var off = p.offset;
  for (var d = i32(p.outer_rank) - 1; d >= 0; d = d - 1) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let size = p.outer_shape[q][r];
    off = off + (rem % size) * p.outer_stride[q][r];
    rem = rem / size;
  }
  return off;
}

// Element offset of the j-th reduced element (row-major over the reduced axes) from a row start.
fn elem_off(j: u32) -> u32 {
  if (p.inner_rank == 1u) {
    return j * p.inner_stride[0][0];
  }
  var rem = j;
  var off = 0u;
  for (var d = i32(p.inner_rank) - 1; d >= 0; d = d - 1) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let size = p.inner_shape[q][r];
    off = off + (rem % size) * p.inner_stride[q][r];
    rem = rem / size;
  }
  return off;
}

// ---------------------------------------------------------------- sum (compensated)
// s + c carries about twice the precision of T: every addition keeps its rounding error (TwoSum).
// Shader compilers may rewrite (s + v) − s as v (Mesa's NIR does, in loops), which would zero the
// error term; the two copies of t below are multiplied by run-time ones (p.one_a, p.one_b) so that
// no such identity is visible. Numerically they are t itself.

struct sum_State {
  s: {{T}},
  c: {{T}},
};

fn sum_init() -> sum_State {
  return sum_State({{T}}(0), {{T}}(0));
}

fn sum_add(st: sum_State, v: {{T}}) -> sum_State {
  let t = st.s + v;
  let t1 = t * {{T}}(p.one_a);
  let t2 = t * {{T}}(p.one_b);
  let bp = t1 - st.s;
  let e = (st.s - (t2 - bp)) + (v - bp);
  return sum_State(t, st.c + e);
}

fn sum_acc(st: sum_State, v: {{T}}, j: u32) -> sum_State {
  return sum_add(st, v);
}

fn sum_merge(a: sum_State, b: sum_State) -> sum_State {
  let r = sum_add(a, b.s);
  return sum_State(r.s, r.c + b.c);
}

fn sum_save(st: sum_State, w: u32) {
  store_part(w, bitcast<u32>(st.s));
  store_part(w + 1u, bitcast<u32>(st.c));
}

fn sum_load(w: u32) -> sum_State {
  return sum_State(bitcast<{{T}}>(load_part(w)), bitcast<{{T}}>(load_part(w + 1u)));
}

fn sum_value(st: sum_State) -> {{T}} {
  // Past an infinity the error term is NaN and means nothing: the sum is then s alone.
  return select(st.s + st.c, st.s, t_is_nan(st.c) && !t_is_nan(st.s));
}

fn sum_out(st: sum_State) -> {{T}} {
  return sum_value(st);
}

fn mean_out(st: sum_State) -> f32 {
  return f32(sum_value(st)) / f32(p.n);
}

// ---------------------------------------------------------------- max / min (NaN propagates)

struct max_State {
  v: {{T}},
};

fn pick_max(a: {{T}}, b: {{T}}) -> {{T}} {
  return select(select(a, b, b > a || t_is_nan(b)), a, t_is_nan(a));
}

fn pick_min(a: {{T}}, b: {{T}}) -> {{T}} {
  return select(select(a, b, b < a || t_is_nan(b)), a, t_is_nan(a));
}

fn max_init() -> max_State {
  return max_State({{LOWEST}});
}

fn max_acc(st: max_State, v: {{T}}, j: u32) -> max_State {
  return max_State(pick_max(st.v, v));
}

fn max_merge(a: max_State, b: max_State) -> max_State {
  return max_State(pick_max(a.v, b.v));
}

fn max_save(st: max_State, w: u32) {
  store_part(w, bitcast<u32>(st.v));
}

fn max_load(w: u32) -> max_State {
  return max_State(bitcast<{{T}}>(load_part(w)));
}

fn max_out(st: max_State) -> {{T}} {
  return st.v;
}

struct min_State {
  v: {{T}},
};

fn min_init() -> min_State {
  return min_State({{HIGHEST}});
}

fn min_acc(st: min_State, v: {{T}}, j: u32) -> min_State {
  return min_State(pick_min(st.v, v));
}

fn min_merge(a: min_State, b: min_State) -> min_State {
  return min_State(pick_min(a.v, b.v));
}

fn min_save(st: min_State, w: u32) {
  store_part(w, bitcast<u32>(st.v));
}

fn min_load(w: u32) -> min_State {
  return min_State(bitcast<{{T}}>(load_part(w)));
}

fn min_out(st: min_State) -> {{T}} {
  return st.v;
}

// ---------------------------------------------------------------- argmax / argmin
// Ties go to the lowest index; a NaN beats every number (the first NaN wins), as in PyTorch.

fn arg_better(bv: {{T}}, bi: u32, av: {{T}}, ai: u32, want_max: bool) -> bool {
  let an = t_is_nan(av);
  let bn = t_is_nan(bv);
  if (an || bn) {
    return bn && (!an || bi < ai);
  }
  if (bv == av) {
    return bi < ai;
  }
  return select((bv < av), (bv > av), want_max);
}

struct argmax_State {
  v: {{T}},
  i: u32,
};

fn argmax_init() -> argmax_State {
  return argmax_State({{LOWEST}}, 0xffffffffu);
}

fn argmax_acc(st: argmax_State, v: {{T}}, j: u32) -> argmax_State {
  if (arg_better(v, j, st.v, st.i, true)) {
    return argmax_State(v, j);
  }
  return st;
}

fn argmax_merge(a: argmax_State, b: argmax_State) -> argmax_State {
  if (arg_better(b.v, b.i, a.v, a.i, true)) {
    return b;
  }
  return a;
}

fn argmax_save(st: argmax_State, w: u32) {
  store_part(w, bitcast<u32>(st.v));
  store_part(w + 1u, st.i);
}

fn argmax_load(w: u32) -> argmax_State {
  return argmax_State(bitcast<{{T}}>(load_part(w)), load_part(w + 1u));
}

fn argmax_out(st: argmax_State) -> i32 {
  return i32(st.i);
}

struct argmin_State {
  v: {{T}},
  i: u32,
};

fn argmin_init() -> argmin_State {
  return argmin_State({{HIGHEST}}, 0xffffffffu);
}

fn argmin_acc(st: argmin_State, v: {{T}}, j: u32) -> argmin_State {
  if (arg_better(v, j, st.v, st.i, false)) {
    return argmin_State(v, j);
  }
  return st;
}

fn argmin_merge(a: argmin_State, b: argmin_State) -> argmin_State {
  if (arg_better(b.v, b.i, a.v, a.i, false)) {
    return b;
  }
  return a;
}

fn argmin_save(st: argmin_State, w: u32) {
  store_part(w, bitcast<u32>(st.v));
  store_part(w + 1u, st.i);
}

fn argmin_load(w: u32) -> argmin_State {
  return argmin_State(bitcast<{{T}}>(load_part(w)), load_part(w + 1u));
}

fn argmin_out(st: argmin_State) -> i32 {
  return i32(st.i);
}

// ---------------------------------------------------------------- var / std
// Welford within an invocation, Chan et al.'s pairwise update across invocations and chunks.

struct var_State {
  n: f32,
  m: f32,
  m2: f32,
};

fn var_init() -> var_State {
  return var_State(0.0, 0.0, 0.0);
}

fn var_acc(st: var_State, v: {{T}}, j: u32) -> var_State {
  let x = f32(v);
  let n = st.n + 1.0;
  let d = x - st.m;
  let m = st.m + d / n;
  return var_State(n, m, st.m2 + d * (x - m));
}

fn var_merge(a: var_State, b: var_State) -> var_State {
  if (b.n == 0.0) {
    return a;
  }
  if (a.n == 0.0) {
    return b;
  }
  let n = a.n + b.n;
  let d = b.m - a.m;
  let fb = b.n / n;
  return var_State(n, a.m + d * fb, a.m2 + b.m2 + d * d * a.n * fb);
}

fn var_save(st: var_State, w: u32) {
  store_part(w, bitcast<u32>(st.n));
  store_part(w + 1u, bitcast<u32>(st.m));
  store_part(w + 2u, bitcast<u32>(st.m2));
}

fn var_load(w: u32) -> var_State {
  return var_State(
    bitcast<f32>(load_part(w)),
    bitcast<f32>(load_part(w + 1u)),
    bitcast<f32>(load_part(w + 2u)),
  );
}

fn var_out(st: var_State) -> f32 {
  let m2 = select(max(st.m2, 0.0), st.m2, f_is_nan(st.m2));
  let den = max(st.n - p.correction, 0.0);
  if (den == 0.0) {
    // IEEE: 0/0 is NaN, x/0 is +inf (PyTorch's answer when correction >= n).
    return select(pinf(), qnan(), m2 == 0.0 || f_is_nan(m2));
  }
  return m2 / den;
}

fn std_out(st: var_State) -> f32 {
  return sqrt(var_out(st));
}

// ---------------------------------------------------------------- kernels

var<workgroup> sh: array<{{S}}_State, WG>;

// Tree merge of one state per invocation; every invocation gets the result.
fn tree(lid: u32, st: {{S}}_State) -> {{S}}_State {
  sh[lid] = st;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) {
      sh[lid] = {{S}}_merge(sh[lid], sh[lid + s]);
    }
    workgroupBarrier();
  }
  return sh[0];
}

// The state of chunk `g % nchunks` of row `g / nchunks`.
fn chunk_state(g: u32, lid: u32) -> {{S}}_State {
  let row = g / p.nchunks;
  let c = g % p.nchunks;
  let base = row_base(row);
  let start = c * p.chunk;
  let end = min(start + p.chunk, p.n);
  var st = {{S}}_init();
  if (p.inner_rank <= 1u) {
    // One reduced axis (the common case): a tight loop without index decoding.
    let es = p.inner_stride[0][0];
    for (var j = start + lid; j < end; j = j + WG) {
      st = {{S}}_acc(st, load_x(base + j * es), j);
    }
  } else {
    for (var j = start + lid; j < end; j = j + WG) {
      st = {{S}}_acc(st, load_x(base + elem_off(j)), j);
    }
  }
  return tree(lid, st);
}

@compute @workgroup_size(WG)
fn main_final(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= p.rows) {
    return;
  }
  let r = chunk_state(g, lid);
  if (lid == 0u) {
    store_out(g, {{FIN}}(r));
  }
}

@compute @workgroup_size(WG)
fn main_partial(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= p.rows * p.nchunks) {
    return;
  }
  let r = chunk_state(g, lid);
  if (lid == 0u) {
    {{S}}_save(r, g * {{SW}}u);
  }
}

@compute @workgroup_size(WG)
fn main_combine(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  var st = {{S}}_init();
  for (var c = lid; c < p.nchunks; c = c + WG) {
    st = {{S}}_merge(st, {{S}}_load((row * p.nchunks + c) * {{SW}}u));
  }
  let r = tree(lid, st);
  if (lid == 0u) {
    store_out(row, {{FIN}}(r));
  }
}

@compute @workgroup_size(TWG)
fn main_thread(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * TWG;
  if (row >= p.rows) {
    return;
  }
  let base = row_base(row);
  var st = {{S}}_init();
  if (p.inner_rank <= 1u) {
    let es = p.inner_stride[0][0];
    for (var j = 0u; j < p.n; j = j + 1u) {
      st = {{S}}_acc(st, load_x(base + j * es), j);
    }
  } else {
    for (var j = 0u; j < p.n; j = j + 1u) {
      st = {{S}}_acc(st, load_x(base + elem_off(j)), j);
    }
  }
  store_out(row, {{FIN}}(st));
}
