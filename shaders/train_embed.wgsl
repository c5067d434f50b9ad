// Token and positional embeddings of the fused training step (src/kernels/train_fused.ts).
//   fwd  one thread per (row n, 4 columns): O[n, d] = W_E[tok[n], d] + W_pos[n % pos, d]
//   bwd  one thread per (table row r, 16 columns): the gradient of W_E row r (r < vocab: the sum
//        of dR over the rows whose token is r) or of W_pos row r - vocab (the sum over the batch),
//        in vec4 units (d_model and the offsets are multiples of 4)
// Token ids are clamped to [0, vocab). Every entry point uses every binding.

struct Params {
  rows: u32,
  pos: u32,
  d: u32,
  vocab: u32,
  we_off: u32,
  wpos_off: u32,
  flags: u32,
  _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> TOK: array<i32>;
@group(0) @binding(2) var<storage, read> TH: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> DR: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> O: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> G: array<vec4<f32>>;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 64u;
}

fn token(n: u32) -> u32 {
  return u32(clamp(TOK[n], 0, i32(p.vocab) - 1));
}

@compute @workgroup_size(64)
fn fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = index(gid, nwg);
  let d4 = p.d / 4u;
  if (t >= p.rows * d4) {
    return;
  }
  let n = t / d4;
  let c = t % d4;
  O[t] = TH[p.we_off / 4u + token(n) * d4 + c] + TH[p.wpos_off / 4u + (n % p.pos) * d4 + c];
  if (p.flags == 0xffffffffu) {
    G[0] = DR[0];
  }
}

@compute @workgroup_size(8)
fn bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 8u;
  let d4 = p.d / 4u;
  let chunks = (d4 + 3u) / 4u;
  let r = t / chunks;
  let c0 = (t % chunks) * 4u;
  if (r >= p.vocab + p.pos) {
    return;
  }
  let cl = d4 - 1u;
  let o0 = min(c0, cl);
  let o1 = min(c0 + 1u, cl);
  let o2 = min(c0 + 2u, cl);
  let o3 = min(c0 + 3u, cl);
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var dst = 0u;
  if (r < p.vocab) {
    for (var n = 0u; n < p.rows; n = n + 1u) {
      if (token(n) == r) {
        let o = n * d4;
        a0 = a0 + DR[o + o0];
        a1 = a1 + DR[o + o1];
        a2 = a2 + DR[o + o2];
        a3 = a3 + DR[o + o3];
      }
    }
    dst = p.we_off / 4u + r * d4;
  } else {
    let ps = r - p.vocab;
    for (var n = ps; n < p.rows; n = n + p.pos) {
      let o = n * d4;
      a0 = a0 + DR[o + o0];
      a1 = a1 + DR[o + o1];
      a2 = a2 + DR[o + o2];
      a3 = a3 + DR[o + o3];
    }
    dst = p.wpos_off / 4u + ps * d4;
  }
  if (c0 < d4) { G[dst + c0] = a0; }
  if (c0 + 1u < d4) { G[dst + c0 + 1u] = a1; }
  if (c0 + 2u < d4) { G[dst + c0 + 2u] = a2; }
  if (c0 + 3u < d4) { G[dst + c0 + 3u] = a3; }
  if (p.flags == 0xffffffffu) {
    O[0] = TH[0];
  }
}
