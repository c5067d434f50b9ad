// Counter-based random numbers: Philox-4x32-10 (Salmon et al., "Parallel random numbers: as
// easy as 1, 2, 3", SC 2011). Element i of a tensor draws from counter (i / 4, offset, 0, 0)
// under key (seed_lo, seed_hi), so the stream depends only on the seed and the index, on any
// adapter. Filled in by src/kernels/random.ts: DIST is `uniform` or `normal`.

struct Params {
  n: u32,
  seed_lo: u32,
  seed_hi: u32,
  offset: u32,
  a: f32,
  b: f32,
  _pad0: u32,
  _pad1: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

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
  let lo = a * b;
  return vec2<u32>(hi, lo);
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

// [0, 1) with 24 random bits.
fn unit(x: u32) -> f32 {
  return f32(x >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // One thread makes 4 values (one Philox block).
  let t = gid.x + gid.y * nwg.x * 64u;
  let base = t * 4u;
  if (base >= p.n) {
    return;
  }
  let r = philox(vec4<u32>(t, p.offset, 0u, 0u), vec2<u32>(p.seed_lo, p.seed_hi));
  var v: vec4<f32>;
  if ({{NORMAL}}) {
    // Box-Muller on two pairs; u1 in (0, 1] so log is finite.
    let u1 = 1.0 - unit(r.x);
    let u2 = unit(r.y);
    let u3 = 1.0 - unit(r.z);
    let u4 = unit(r.w);
    let r1 = sqrt(-2.0 * log(u1));
    let r2 = sqrt(-2.0 * log(u3));
    let tau = 6.283185307179586;
    v = vec4<f32>(r1 * cos(tau * u2), r1 * sin(tau * u2), r2 * cos(tau * u4), r2 * sin(tau * u4));
    v = p.a + p.b * v;
  } else {
    v = vec4<f32>(unit(r.x), unit(r.y), unit(r.z), unit(r.w));
    v = p.a + (p.b - p.a) * v;
  }
  for (var j = 0u; j < 4u; j = j + 1u) {
    if (base + j < p.n) {
      out[base + j] = v[j];
    }
  }
}
