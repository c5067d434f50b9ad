// Synthetic training data for induction heads, generated on the GPU (src/kernels/train_data.ts).
//
// Each row is [BOS] + a random prefix of `s` tokens + r + r + random filler, where r is `len`
// random tokens. Every random number comes from the counter-based Philox-4x32-10 generator
// (as shaders/random.wgsl) keyed by the seed, with the counter (position, row, step, tag), so a
// token depends only on (seed, step, row, position) and any thread can make its own:
//   row draws   counter (0xffffffff, row, step, 1): x -> len in [min_len, len_max],
//               y -> s in [0, min(max_prefix, ctx - 1 - 2 len)]
//   token draws counter (q, row, step, 0): x -> a token in [0, vocab) other than BOS, where q is
//               the position, or q - len inside the second copy of r (so the copy is exact).
// An integer in [0, n) is the high word of x * n (no modulo bias beyond 2^-32 n).

struct Params {
  rows: u32,
  ctx: u32,
  seed_lo: u32,
  seed_hi: u32,
  step: u32,
  vocab: u32,
  bos: u32,
  min_len: u32,
  len_max: u32,
  max_prefix: u32,
  _pad0: u32,
  _pad1: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
// Token ids [rows, ctx].
@group(0) @binding(1) var<storage, read_write> tokens: array<i32>;
// Per row: (start of the first copy of r, len) [rows, 2].
@group(0) @binding(2) var<storage, read_write> runs: array<i32>;

// (hi, lo) of the 64-bit product of two u32, from 16-bit halves (WGSL has no mulhi).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let ll = a_lo * b_lo;
  let lh = a_lo * b_hi;
  let hl = a_hi * b_lo;
  let hh = a_hi * b_hi;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0; r < 10; r = r + 1) {
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}

// An integer in [0, n) from 32 random bits.
fn below(x: u32, n: u32) -> u32 {
  return mulhilo(x, n).x;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.rows * p.ctx) {
    return;
  }
  let row = t / p.ctx;
  let pos = t % p.ctx;
  let key = vec2<u32>(p.seed_lo, p.seed_hi);
  let rr = philox(vec4<u32>(0xffffffffu, row, p.step, 1u), key);
  let len = p.min_len + below(rr.x, p.len_max - p.min_len + 1u);
  let s_max = min(p.max_prefix, p.ctx - 1u - 2u * len);
  let start = 1u + below(rr.y, s_max + 1u);
  if (pos == 0u) {
    runs[row * 2u] = i32(start);
    runs[row * 2u + 1u] = i32(len);
    tokens[t] = i32(p.bos);
    return;
  }
  var q = pos;
  if (pos >= start + len && pos < start + 2u * len) {
    q = pos - len;
  }
  let x = philox(vec4<u32>(q, row, p.step, 0u), key).x;
  var v = below(x, p.vocab - 1u);
  if (v >= p.bos) {
    v = v + 1u;
  }
  tokens[t] = i32(v);
}
