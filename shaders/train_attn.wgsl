// Causal multi-head attention of the fused training step (src/kernels/train_fused.ts), forward
// and backward, as TransformerLens computes it: scores = q.k / sqrt(d_head) with the future
// masked, pattern = softmax(scores), z = pattern @ v.
//
// QKV [batch * pos, 3 * H * E] holds per row q (h, e), then k (h, e), then v (h, e).
// PAT is the pattern [batch, H, pos, pp] (TransformerLens's hook_pattern with its rows padded to
// pp = 4 * pp4, a multiple of 8, >= pos), zeros above the diagonal and in the padding; DS
// (dL/dscores) likewise.
// Z and dZ are [batch * pos, H * E] (hook_z's layout [batch, pos, head, d_head]).
//
// Entry points (one thread per (row b, head h, a tile of consecutive positions: QT queries for
// fwd and bwd_q, KT keys for bwd_kv); every entry point uses every binding):
//   fwd     i = queries: PAT rows, and Z[b, i, h]                          OUT = Z
//   bwd_q   i = queries: dS rows into DS, dq into OUT[b, i, q-part of h]   OUT = dQKV
//   bwd_kv  i = keys:    dk and dv into OUT[b, i, k- and v-parts of h]     OUT = dQKV
// with dP = dZ v^T, dS = P * (dP - rowsum(P * dP)), dq = scale dS k, dk = scale dS^T q,
// dv = P^T dZ, scale = 1 / sqrt(E).
//
// Lavapipe runs an invocation as one SIMD lane with every storage load a per-lane loop, so a
// thread takes a tile of positions against blocks of 4 keys (or single queries): each head
// vector it loads serves the whole tile and each PAT / DS access moves 4 values, all unrolled
// into registers. The
// softmax's max and sum (online, in the pass computing the last chunk of the scores) and
// bwd_q's rowsum(P * dP) come out of the passes over keys. E is a multiple of 4; head vectors
// go 16 values (4 vec4) at a time, the dot products of later chunks added into the PAT or DS
// rows. Loads past E or past the last position are clamped (and masked where it matters);
// positions past the last (threads of the last block) compute nothing they store.
// Indices are in vec4 units.

struct Params {
  batch: u32,
  heads: u32,
  pos: u32,
  e4: u32,
  scale: f32,
  flags: u32,
  pp4: u32,
  _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> QKV: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> DZ: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> PAT: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> DS: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> OUT: array<vec4<f32>>;

const LOW: f32 = -3.0e38;

struct Ids {
  ok: bool,
  b: u32,
  h: u32,
  // First position of the tile (a multiple of 4).
  i0: u32,
};

// Thread t takes positions i0 .. i0 + T - 1 of one (row, head). Consecutive threads (the SIMD
// lanes of a workgroup on lavapipe) take the same positions of different (row, head) pairs, so
// their loops over keys (or queries) have the same length: causal attention's triangle does
// not leave lanes idle.
fn ids(gid: vec3<u32>, nwg: vec3<u32>, T: u32) -> Ids {
  let t = gid.x + gid.y * nwg.x * 8u;
  let tiles = (p.pos + T - 1u) / T;
  let nbh = p.batch * p.heads;
  let bh = t % nbh;
  return Ids(t < nbh * tiles, bh / p.heads, bh % p.heads, (t / nbh) * T);
}

// vec4 index of q (which 0), k (1) or v (2) of head h at row (b, i).
fn at(which: u32, b: u32, i: u32, h: u32) -> u32 {
  let he4 = p.heads * p.e4;
  return (b * p.pos + i) * 3u * he4 + which * he4 + h * p.e4;
}

// vec4 index of z / dz of head h at row (b, i).
fn zat(b: u32, i: u32, h: u32) -> u32 {
  return (b * p.pos + i) * p.heads * p.e4 + h * p.e4;
}

// Clamped offset of vec4 j of chunk c, and 1 where it is inside the head (else 0).
fn ce(c: u32, j: u32) -> u32 {
  return min(4u * c + j, p.e4 - 1u);
}

fn cm(c: u32, j: u32) -> f32 {
  return select(0.0, 1.0, 4u * c + j < p.e4);
}

// Which of keys 4 kb .. 4 kb + 3 query i may see.
fn seen(kb: u32, i: u32) -> vec4<bool> {
  return vec4<u32>(4u * kb) + vec4<u32>(0u, 1u, 2u, 3u) <= vec4<u32>(i);
}

fn max4(v: vec4<f32>) -> f32 {
  return max(max(v.x, v.y), max(v.z, v.w));
}

@compute @workgroup_size(8)
fn fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = ids(gid, nwg, 8u);
  if (!id.ok) {
    return;
  }
  let P = p.pos;
  let plast = P - 1u;
  let chunks = (p.e4 + 3u) / 4u;
  let rb = (id.b * p.heads + id.h) * P * p.pp4;
  let i0 = min(id.i0 + 0u, plast);
  let ok0 = id.i0 + 0u < P;
  let row0 = rb + i0 * p.pp4;
  let i1 = min(id.i0 + 1u, plast);
  let ok1 = id.i0 + 1u < P;
  let row1 = rb + i1 * p.pp4;
  let i2 = min(id.i0 + 2u, plast);
  let ok2 = id.i0 + 2u < P;
  let row2 = rb + i2 * p.pp4;
  let i3 = min(id.i0 + 3u, plast);
  let ok3 = id.i0 + 3u < P;
  let row3 = rb + i3 * p.pp4;
  let i4 = min(id.i0 + 4u, plast);
  let ok4 = id.i0 + 4u < P;
  let row4 = rb + i4 * p.pp4;
  let i5 = min(id.i0 + 5u, plast);
  let ok5 = id.i0 + 5u < P;
  let row5 = rb + i5 * p.pp4;
  let i6 = min(id.i0 + 6u, plast);
  let ok6 = id.i0 + 6u < P;
  let row6 = rb + i6 * p.pp4;
  let i7 = min(id.i0 + 7u, plast);
  let ok7 = id.i0 + 7u < P;
  let row7 = rb + i7 * p.pp4;
  let imax = i7;
  let kbmax = imax / 4u;
  var mx0 = LOW;
  var sum0 = 0.0;
  var mx1 = LOW;
  var sum1 = 0.0;
  var mx2 = LOW;
  var sum2 = 0.0;
  var mx3 = LOW;
  var sum3 = 0.0;
  var mx4 = LOW;
  var sum4 = 0.0;
  var mx5 = LOW;
  var sum5 = 0.0;
  var mx6 = LOW;
  var sum6 = 0.0;
  var mx7 = LOW;
  var sum7 = 0.0;
  // Scores into the PAT rows, 16 head dimensions at a time; the softmax's max and sum online.
  for (var c = 0u; c < chunks; c = c + 1u) {
    let last = c + 1u == chunks;
    let qb0 = at(0u, id.b, i0, id.h);
    let q0_0 = QKV[qb0 + ce(c, 0u)] * (p.scale * cm(c, 0u)); let q0_1 = QKV[qb0 + ce(c, 1u)] * (p.scale * cm(c, 1u)); let q0_2 = QKV[qb0 + ce(c, 2u)] * (p.scale * cm(c, 2u)); let q0_3 = QKV[qb0 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb1 = at(0u, id.b, i1, id.h);
    let q1_0 = QKV[qb1 + ce(c, 0u)] * (p.scale * cm(c, 0u)); let q1_1 = QKV[qb1 + ce(c, 1u)] * (p.scale * cm(c, 1u)); let q1_2 = QKV[qb1 + ce(c, 2u)] * (p.scale * cm(c, 2u)); let q1_3 = QKV[qb1 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb2 = at(0u, id.b, i2, id.h);
    let q2_0 = QKV[qb2 + ce(c, 0u)] * (p.scale * cm(c, 0u)); let q2_1 = QKV[qb2 + ce(c, 1u)] * (p.scale * cm(c, 1u)); let q2_2 = QKV[qb2 + ce(c, 2u)] * (p.scale * cm(c, 2u)); let q2_3 = QKV[qb2 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb3 = at(0u, id.b, i3, id.h);
    let q3_0 = QKV[qb3 + ce(c, 0u)] * (p.scale * cm(c, 0u)); let q3_1 = QKV[qb3 + ce(c, 1u)] * (p.scale * cm(c, 1u)); let q3_2 = QKV[qb3 + ce(c, 2u)] * (p.scale * cm(c, 2u)); let q3_3 = QKV[qb3 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb4 = at(0u, id.b, i4, id.h);
    let q4_0 = QKV[qb4 + ce(c, 0u)] * (p.scale * cm(c, 0u)); let q4_1 = QKV[qb4 + ce(c, 1u)] * (p.scale * cm(c, 1u)); let q4_2 = QKV[qb4 + ce(c, 2u)] * (p.scale * cm(c, 2u)); let q4_3 = QKV[qb4 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb5 = at(0u, id.b, i5, id.h);
    let q5_0 = QKV[qb5 + ce(c, 0u)] * (p.scale * cm(c, 0u)); let q5_1 = QKV[qb5 + ce(c, 1u)] * (p.scale * cm(c, 1u)); let q5_2 = QKV[qb5 + ce(c, 2u)] * (p.scale * cm(c, 2u)); let q5_3 = QKV[qb5 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb6 = at(0u, id.b, i6, id.h);
    let q6_0 = QKV[qb6 + ce(c, 0u)] * (p.scale * cm(c, 0u)); let q6_1 = QKV[qb6 + ce(c, 1u)] * (p.scale * cm(c, 1u)); let q6_2 = QKV[qb6 + ce(c, 2u)] * (p.scale * cm(c, 2u)); let q6_3 = QKV[qb6 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb7 = at(0u, id.b, i7, id.h);
    let q7_0 = QKV[qb7 + ce(c, 0u)] * (p.scale * cm(c, 0u)); let q7_1 = QKV[qb7 + ce(c, 1u)] * (p.scale * cm(c, 1u)); let q7_2 = QKV[qb7 + ce(c, 2u)] * (p.scale * cm(c, 2u)); let q7_3 = QKV[qb7 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    for (var kb = 0u; kb <= kbmax; kb = kb + 1u) {
      let kb0 = at(1u, id.b, min(4u * kb + 0u, plast), id.h);
      let k0_0 = QKV[kb0 + ce(c, 0u)]; let k0_1 = QKV[kb0 + ce(c, 1u)]; let k0_2 = QKV[kb0 + ce(c, 2u)]; let k0_3 = QKV[kb0 + ce(c, 3u)];
      let kb1 = at(1u, id.b, min(4u * kb + 1u, plast), id.h);
      let k1_0 = QKV[kb1 + ce(c, 0u)]; let k1_1 = QKV[kb1 + ce(c, 1u)]; let k1_2 = QKV[kb1 + ce(c, 2u)]; let k1_3 = QKV[kb1 + ce(c, 3u)];
      let kb2 = at(1u, id.b, min(4u * kb + 2u, plast), id.h);
      let k2_0 = QKV[kb2 + ce(c, 0u)]; let k2_1 = QKV[kb2 + ce(c, 1u)]; let k2_2 = QKV[kb2 + ce(c, 2u)]; let k2_3 = QKV[kb2 + ce(c, 3u)];
      let kb3 = at(1u, id.b, min(4u * kb + 3u, plast), id.h);
      let k3_0 = QKV[kb3 + ce(c, 0u)]; let k3_1 = QKV[kb3 + ce(c, 1u)]; let k3_2 = QKV[kb3 + ce(c, 2u)]; let k3_3 = QKV[kb3 + ce(c, 3u)];
      if (ok0 && 4u * kb <= i0) {
        var s = vec4<f32>(dot(q0_0, k0_0) + dot(q0_1, k0_1) + dot(q0_2, k0_2) + dot(q0_3, k0_3), dot(q0_0, k1_0) + dot(q0_1, k1_1) + dot(q0_2, k1_2) + dot(q0_3, k1_3), dot(q0_0, k2_0) + dot(q0_1, k2_1) + dot(q0_2, k2_2) + dot(q0_3, k2_3), dot(q0_0, k3_0) + dot(q0_1, k3_1) + dot(q0_2, k3_2) + dot(q0_3, k3_3));
        if (c > 0u) { s = s + PAT[row0 + kb]; }
        PAT[row0 + kb] = s;
        if (last) {
          let sm = select(vec4<f32>(LOW), s, seen(kb, i0));
          let m = max(mx0, max4(sm));
          let e = exp(sm - m);
          sum0 = sum0 * exp(mx0 - m) + e.x + e.y + e.z + e.w;
          mx0 = m;
        }
      }
      if (ok1 && 4u * kb <= i1) {
        var s = vec4<f32>(dot(q1_0, k0_0) + dot(q1_1, k0_1) + dot(q1_2, k0_2) + dot(q1_3, k0_3), dot(q1_0, k1_0) + dot(q1_1, k1_1) + dot(q1_2, k1_2) + dot(q1_3, k1_3), dot(q1_0, k2_0) + dot(q1_1, k2_1) + dot(q1_2, k2_2) + dot(q1_3, k2_3), dot(q1_0, k3_0) + dot(q1_1, k3_1) + dot(q1_2, k3_2) + dot(q1_3, k3_3));
        if (c > 0u) { s = s + PAT[row1 + kb]; }
        PAT[row1 + kb] = s;
        if (last) {
          let sm = select(vec4<f32>(LOW), s, seen(kb, i1));
          let m = max(mx1, max4(sm));
          let e = exp(sm - m);
          sum1 = sum1 * exp(mx1 - m) + e.x + e.y + e.z + e.w;
          mx1 = m;
        }
      }
      if (ok2 && 4u * kb <= i2) {
        var s = vec4<f32>(dot(q2_0, k0_0) + dot(q2_1, k0_1) + dot(q2_2, k0_2) + dot(q2_3, k0_3), dot(q2_0, k1_0) + dot(q2_1, k1_1) + dot(q2_2, k1_2) + dot(q2_3, k1_3), dot(q2_0, k2_0) + dot(q2_1, k2_1) + dot(q2_2, k2_2) + dot(q2_3, k2_3), dot(q2_0, k3_0) + dot(q2_1, k3_1) + dot(q2_2, k3_2) + dot(q2_3, k3_3));
        if (c > 0u) { s = s + PAT[row2 + kb]; }
        PAT[row2 + kb] = s;
        if (last) {
          let sm = select(vec4<f32>(LOW), s, seen(kb, i2));
          let m = max(mx2, max4(sm));
          let e = exp(sm - m);
          sum2 = sum2 * exp(mx2 - m) + e.x + e.y + e.z + e.w;
          mx2 = m;
        }
      }
      if (ok3 && 4u * kb <= i3) {
        var s = vec4<f32>(dot(q3_0, k0_0) + dot(q3_1, k0_1) + dot(q3_2, k0_2) + dot(q3_3, k0_3), dot(q3_0, k1_0) + dot(q3_1, k1_1) + dot(q3_2, k1_2) + dot(q3_3, k1_3), dot(q3_0, k2_0) + dot(q3_1, k2_1) + dot(q3_2, k2_2) + dot(q3_3, k2_3), dot(q3_0, k3_0) + dot(q3_1, k3_1) + dot(q3_2, k3_2) + dot(q3_3, k3_3));
        if (c > 0u) { s = s + PAT[row3 + kb]; }
        PAT[row3 + kb] = s;
        if (last) {
          let sm = select(vec4<f32>(LOW), s, seen(kb, i3));
          let m = max(mx3, max4(sm));
          let e = exp(sm - m);
          sum3 = sum3 * exp(mx3 - m) + e.x + e.y + e.z + e.w;
          mx3 = m;
        }
      }
      if (ok4 && 4u * kb <= i4) {
        var s = vec4<f32>(dot(q4_0, k0_0) + dot(q4_1, k0_1) + dot(q4_2, k0_2) + dot(q4_3, k0_3), dot(q4_0, k1_0) + dot(q4_1, k1_1) + dot(q4_2, k1_2) + dot(q4_3, k1_3), dot(q4_0, k2_0) + dot(q4_1, k2_1) + dot(q4_2, k2_2) + dot(q4_3, k2_3), dot(q4_0, k3_0) + dot(q4_1, k3_1) + dot(q4_2, k3_2) + dot(q4_3, k3_3));
        if (c > 0u) { s = s + PAT[row4 + kb]; }
        PAT[row4 + kb] = s;
        if (last) {
          let sm = select(vec4<f32>(LOW), s, seen(kb, i4));
          let m = max(mx4, max4(sm));
          let e = exp(sm - m);
          sum4 = sum4 * exp(mx4 - m) + e.x + e.y + e.z + e.w;
          mx4 = m;
        }
      }
      if (ok5 && 4u * kb <= i5) {
        var s = vec4<f32>(dot(q5_0, k0_0) + dot(q5_1, k0_1) + dot(q5_2, k0_2) + dot(q5_3, k0_3), dot(q5_0, k1_0) + dot(q5_1, k1_1) + dot(q5_2, k1_2) + dot(q5_3, k1_3), dot(q5_0, k2_0) + dot(q5_1, k2_1) + dot(q5_2, k2_2) + dot(q5_3, k2_3), dot(q5_0, k3_0) + dot(q5_1, k3_1) + dot(q5_2, k3_2) + dot(q5_3, k3_3));
        if (c > 0u) { s = s + PAT[row5 + kb]; }
        PAT[row5 + kb] = s;
        if (last) {
          let sm = select(vec4<f32>(LOW), s, seen(kb, i5));
          let m = max(mx5, max4(sm));
          let e = exp(sm - m);
          sum5 = sum5 * exp(mx5 - m) + e.x + e.y + e.z + e.w;
          mx5 = m;
        }
      }
      if (ok6 && 4u * kb <= i6) {
        var s = vec4<f32>(dot(q6_0, k0_0) + dot(q6_1, k0_1) + dot(q6_2, k0_2) + dot(q6_3, k0_3), dot(q6_0, k1_0) + dot(q6_1, k1_1) + dot(q6_2, k1_2) + dot(q6_3, k1_3), dot(q6_0, k2_0) + dot(q6_1, k2_1) + dot(q6_2, k2_2) + dot(q6_3, k2_3), dot(q6_0, k3_0) + dot(q6_1, k3_1) + dot(q6_2, k3_2) + dot(q6_3, k3_3));
        if (c > 0u) { s = s + PAT[row6 + kb]; }
        PAT[row6 + kb] = s;
        if (last) {
          let sm = select(vec4<f32>(LOW), s, seen(kb, i6));
          let m = max(mx6, max4(sm));
          let e = exp(sm - m);
          sum6 = sum6 * exp(mx6 - m) + e.x + e.y + e.z + e.w;
          mx6 = m;
        }
      }
      if (ok7 && 4u * kb <= i7) {
        var s = vec4<f32>(dot(q7_0, k0_0) + dot(q7_1, k0_1) + dot(q7_2, k0_2) + dot(q7_3, k0_3), dot(q7_0, k1_0) + dot(q7_1, k1_1) + dot(q7_2, k1_2) + dot(q7_3, k1_3), dot(q7_0, k2_0) + dot(q7_1, k2_1) + dot(q7_2, k2_2) + dot(q7_3, k2_3), dot(q7_0, k3_0) + dot(q7_1, k3_1) + dot(q7_2, k3_2) + dot(q7_3, k3_3));
        if (c > 0u) { s = s + PAT[row7 + kb]; }
        PAT[row7 + kb] = s;
        if (last) {
          let sm = select(vec4<f32>(LOW), s, seen(kb, i7));
          let m = max(mx7, max4(sm));
          let e = exp(sm - m);
          sum7 = sum7 * exp(mx7 - m) + e.x + e.y + e.z + e.w;
          mx7 = m;
        }
      }
    }
  }
  let inv0 = 1.0 / sum0;
  let inv1 = 1.0 / sum1;
  let inv2 = 1.0 / sum2;
  let inv3 = 1.0 / sum3;
  let inv4 = 1.0 / sum4;
  let inv5 = 1.0 / sum5;
  let inv6 = 1.0 / sum6;
  let inv7 = 1.0 / sum7;
  // z = P v; the first pass also turns the scores into probabilities.
  for (var c = 0u; c < chunks; c = c + 1u) {
    var z0_0 = vec4<f32>(0.0); var z0_1 = vec4<f32>(0.0); var z0_2 = vec4<f32>(0.0); var z0_3 = vec4<f32>(0.0);
    var z1_0 = vec4<f32>(0.0); var z1_1 = vec4<f32>(0.0); var z1_2 = vec4<f32>(0.0); var z1_3 = vec4<f32>(0.0);
    var z2_0 = vec4<f32>(0.0); var z2_1 = vec4<f32>(0.0); var z2_2 = vec4<f32>(0.0); var z2_3 = vec4<f32>(0.0);
    var z3_0 = vec4<f32>(0.0); var z3_1 = vec4<f32>(0.0); var z3_2 = vec4<f32>(0.0); var z3_3 = vec4<f32>(0.0);
    var z4_0 = vec4<f32>(0.0); var z4_1 = vec4<f32>(0.0); var z4_2 = vec4<f32>(0.0); var z4_3 = vec4<f32>(0.0);
    var z5_0 = vec4<f32>(0.0); var z5_1 = vec4<f32>(0.0); var z5_2 = vec4<f32>(0.0); var z5_3 = vec4<f32>(0.0);
    var z6_0 = vec4<f32>(0.0); var z6_1 = vec4<f32>(0.0); var z6_2 = vec4<f32>(0.0); var z6_3 = vec4<f32>(0.0);
    var z7_0 = vec4<f32>(0.0); var z7_1 = vec4<f32>(0.0); var z7_2 = vec4<f32>(0.0); var z7_3 = vec4<f32>(0.0);
    for (var kb = 0u; kb <= kbmax; kb = kb + 1u) {
      let vb0 = at(2u, id.b, min(4u * kb + 0u, plast), id.h);
      let v0_0 = QKV[vb0 + ce(c, 0u)]; let v0_1 = QKV[vb0 + ce(c, 1u)]; let v0_2 = QKV[vb0 + ce(c, 2u)]; let v0_3 = QKV[vb0 + ce(c, 3u)];
      let vb1 = at(2u, id.b, min(4u * kb + 1u, plast), id.h);
      let v1_0 = QKV[vb1 + ce(c, 0u)]; let v1_1 = QKV[vb1 + ce(c, 1u)]; let v1_2 = QKV[vb1 + ce(c, 2u)]; let v1_3 = QKV[vb1 + ce(c, 3u)];
      let vb2 = at(2u, id.b, min(4u * kb + 2u, plast), id.h);
      let v2_0 = QKV[vb2 + ce(c, 0u)]; let v2_1 = QKV[vb2 + ce(c, 1u)]; let v2_2 = QKV[vb2 + ce(c, 2u)]; let v2_3 = QKV[vb2 + ce(c, 3u)];
      let vb3 = at(2u, id.b, min(4u * kb + 3u, plast), id.h);
      let v3_0 = QKV[vb3 + ce(c, 0u)]; let v3_1 = QKV[vb3 + ce(c, 1u)]; let v3_2 = QKV[vb3 + ce(c, 2u)]; let v3_3 = QKV[vb3 + ce(c, 3u)];
      if (ok0 && 4u * kb <= i0) {
        var pr = PAT[row0 + kb];
        if (c == 0u) {
          pr = select(vec4<f32>(0.0), exp(pr - mx0) * inv0, seen(kb, i0));
          PAT[row0 + kb] = pr;
        }
        z0_0 = z0_0 + pr.x * v0_0 + pr.y * v1_0 + pr.z * v2_0 + pr.w * v3_0;
        z0_1 = z0_1 + pr.x * v0_1 + pr.y * v1_1 + pr.z * v2_1 + pr.w * v3_1;
        z0_2 = z0_2 + pr.x * v0_2 + pr.y * v1_2 + pr.z * v2_2 + pr.w * v3_2;
        z0_3 = z0_3 + pr.x * v0_3 + pr.y * v1_3 + pr.z * v2_3 + pr.w * v3_3;
      }
      if (ok1 && 4u * kb <= i1) {
        var pr = PAT[row1 + kb];
        if (c == 0u) {
          pr = select(vec4<f32>(0.0), exp(pr - mx1) * inv1, seen(kb, i1));
          PAT[row1 + kb] = pr;
        }
        z1_0 = z1_0 + pr.x * v0_0 + pr.y * v1_0 + pr.z * v2_0 + pr.w * v3_0;
        z1_1 = z1_1 + pr.x * v0_1 + pr.y * v1_1 + pr.z * v2_1 + pr.w * v3_1;
        z1_2 = z1_2 + pr.x * v0_2 + pr.y * v1_2 + pr.z * v2_2 + pr.w * v3_2;
        z1_3 = z1_3 + pr.x * v0_3 + pr.y * v1_3 + pr.z * v2_3 + pr.w * v3_3;
      }
      if (ok2 && 4u * kb <= i2) {
        var pr = PAT[row2 + kb];
        if (c == 0u) {
          pr = select(vec4<f32>(0.0), exp(pr - mx2) * inv2, seen(kb, i2));
          PAT[row2 + kb] = pr;
        }
        z2_0 = z2_0 + pr.x * v0_0 + pr.y * v1_0 + pr.z * v2_0 + pr.w * v3_0;
        z2_1 = z2_1 + pr.x * v0_1 + pr.y * v1_1 + pr.z * v2_1 + pr.w * v3_1;
        z2_2 = z2_2 + pr.x * v0_2 + pr.y * v1_2 + pr.z * v2_2 + pr.w * v3_2;
        z2_3 = z2_3 + pr.x * v0_3 + pr.y * v1_3 + pr.z * v2_3 + pr.w * v3_3;
      }
      if (ok3 && 4u * kb <= i3) {
        var pr = PAT[row3 + kb];
        if (c == 0u) {
          pr = select(vec4<f32>(0.0), exp(pr - mx3) * inv3, seen(kb, i3));
          PAT[row3 + kb] = pr;
        }
        z3_0 = z3_0 + pr.x * v0_0 + pr.y * v1_0 + pr.z * v2_0 + pr.w * v3_0;
        z3_1 = z3_1 + pr.x * v0_1 + pr.y * v1_1 + pr.z * v2_1 + pr.w * v3_1;
        z3_2 = z3_2 + pr.x * v0_2 + pr.y * v1_2 + pr.z * v2_2 + pr.w * v3_2;
        z3_3 = z3_3 + pr.x * v0_3 + pr.y * v1_3 + pr.z * v2_3 + pr.w * v3_3;
      }
      if (ok4 && 4u * kb <= i4) {
        var pr = PAT[row4 + kb];
        if (c == 0u) {
          pr = select(vec4<f32>(0.0), exp(pr - mx4) * inv4, seen(kb, i4));
          PAT[row4 + kb] = pr;
        }
        z4_0 = z4_0 + pr.x * v0_0 + pr.y * v1_0 + pr.z * v2_0 + pr.w * v3_0;
        z4_1 = z4_1 + pr.x * v0_1 + pr.y * v1_1 + pr.z * v2_1 + pr.w * v3_1;
        z4_2 = z4_2 + pr.x * v0_2 + pr.y * v1_2 + pr.z * v2_2 + pr.w * v3_2;
        z4_3 = z4_3 + pr.x * v0_3 + pr.y * v1_3 + pr.z * v2_3 + pr.w * v3_3;
      }
      if (ok5 && 4u * kb <= i5) {
        var pr = PAT[row5 + kb];
        if (c == 0u) {
          pr = select(vec4<f32>(0.0), exp(pr - mx5) * inv5, seen(kb, i5));
          PAT[row5 + kb] = pr;
        }
        z5_0 = z5_0 + pr.x * v0_0 + pr.y * v1_0 + pr.z * v2_0 + pr.w * v3_0;
        z5_1 = z5_1 + pr.x * v0_1 + pr.y * v1_1 + pr.z * v2_1 + pr.w * v3_1;
        z5_2 = z5_2 + pr.x * v0_2 + pr.y * v1_2 + pr.z * v2_2 + pr.w * v3_2;
        z5_3 = z5_3 + pr.x * v0_3 + pr.y * v1_3 + pr.z * v2_3 + pr.w * v3_3;
      }
      if (ok6 && 4u * kb <= i6) {
        var pr = PAT[row6 + kb];
        if (c == 0u) {
          pr = select(vec4<f32>(0.0), exp(pr - mx6) * inv6, seen(kb, i6));
          PAT[row6 + kb] = pr;
        }
        z6_0 = z6_0 + pr.x * v0_0 + pr.y * v1_0 + pr.z * v2_0 + pr.w * v3_0;
        z6_1 = z6_1 + pr.x * v0_1 + pr.y * v1_1 + pr.z * v2_1 + pr.w * v3_1;
        z6_2 = z6_2 + pr.x * v0_2 + pr.y * v1_2 + pr.z * v2_2 + pr.w * v3_2;
        z6_3 = z6_3 + pr.x * v0_3 + pr.y * v1_3 + pr.z * v2_3 + pr.w * v3_3;
      }
      if (ok7 && 4u * kb <= i7) {
        var pr = PAT[row7 + kb];
        if (c == 0u) {
          pr = select(vec4<f32>(0.0), exp(pr - mx7) * inv7, seen(kb, i7));
          PAT[row7 + kb] = pr;
        }
        z7_0 = z7_0 + pr.x * v0_0 + pr.y * v1_0 + pr.z * v2_0 + pr.w * v3_0;
        z7_1 = z7_1 + pr.x * v0_1 + pr.y * v1_1 + pr.z * v2_1 + pr.w * v3_1;
        z7_2 = z7_2 + pr.x * v0_2 + pr.y * v1_2 + pr.z * v2_2 + pr.w * v3_2;
        z7_3 = z7_3 + pr.x * v0_3 + pr.y * v1_3 + pr.z * v2_3 + pr.w * v3_3;
      }
    }
    if (4u * c + 0u < p.e4) {
      if (ok0) { OUT[zat(id.b, i0, id.h) + 4u * c + 0u] = z0_0; }
      if (ok1) { OUT[zat(id.b, i1, id.h) + 4u * c + 0u] = z1_0; }
      if (ok2) { OUT[zat(id.b, i2, id.h) + 4u * c + 0u] = z2_0; }
      if (ok3) { OUT[zat(id.b, i3, id.h) + 4u * c + 0u] = z3_0; }
      if (ok4) { OUT[zat(id.b, i4, id.h) + 4u * c + 0u] = z4_0; }
      if (ok5) { OUT[zat(id.b, i5, id.h) + 4u * c + 0u] = z5_0; }
      if (ok6) { OUT[zat(id.b, i6, id.h) + 4u * c + 0u] = z6_0; }
      if (ok7) { OUT[zat(id.b, i7, id.h) + 4u * c + 0u] = z7_0; }
    }
    if (4u * c + 1u < p.e4) {
      if (ok0) { OUT[zat(id.b, i0, id.h) + 4u * c + 1u] = z0_1; }
      if (ok1) { OUT[zat(id.b, i1, id.h) + 4u * c + 1u] = z1_1; }
      if (ok2) { OUT[zat(id.b, i2, id.h) + 4u * c + 1u] = z2_1; }
      if (ok3) { OUT[zat(id.b, i3, id.h) + 4u * c + 1u] = z3_1; }
      if (ok4) { OUT[zat(id.b, i4, id.h) + 4u * c + 1u] = z4_1; }
      if (ok5) { OUT[zat(id.b, i5, id.h) + 4u * c + 1u] = z5_1; }
      if (ok6) { OUT[zat(id.b, i6, id.h) + 4u * c + 1u] = z6_1; }
      if (ok7) { OUT[zat(id.b, i7, id.h) + 4u * c + 1u] = z7_1; }
    }
    if (4u * c + 2u < p.e4) {
      if (ok0) { OUT[zat(id.b, i0, id.h) + 4u * c + 2u] = z0_2; }
      if (ok1) { OUT[zat(id.b, i1, id.h) + 4u * c + 2u] = z1_2; }
      if (ok2) { OUT[zat(id.b, i2, id.h) + 4u * c + 2u] = z2_2; }
      if (ok3) { OUT[zat(id.b, i3, id.h) + 4u * c + 2u] = z3_2; }
      if (ok4) { OUT[zat(id.b, i4, id.h) + 4u * c + 2u] = z4_2; }
      if (ok5) { OUT[zat(id.b, i5, id.h) + 4u * c + 2u] = z5_2; }
      if (ok6) { OUT[zat(id.b, i6, id.h) + 4u * c + 2u] = z6_2; }
      if (ok7) { OUT[zat(id.b, i7, id.h) + 4u * c + 2u] = z7_2; }
    }
    if (4u * c + 3u < p.e4) {
      if (ok0) { OUT[zat(id.b, i0, id.h) + 4u * c + 3u] = z0_3; }
      if (ok1) { OUT[zat(id.b, i1, id.h) + 4u * c + 3u] = z1_3; }
      if (ok2) { OUT[zat(id.b, i2, id.h) + 4u * c + 3u] = z2_3; }
      if (ok3) { OUT[zat(id.b, i3, id.h) + 4u * c + 3u] = z3_3; }
      if (ok4) { OUT[zat(id.b, i4, id.h) + 4u * c + 3u] = z4_3; }
      if (ok5) { OUT[zat(id.b, i5, id.h) + 4u * c + 3u] = z5_3; }
      if (ok6) { OUT[zat(id.b, i6, id.h) + 4u * c + 3u] = z6_3; }
      if (ok7) { OUT[zat(id.b, i7, id.h) + 4u * c + 3u] = z7_3; }
    }
  }
  if (ok0) {
    for (var kb = i0 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      PAT[row0 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok1) {
    for (var kb = i1 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      PAT[row1 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok2) {
    for (var kb = i2 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      PAT[row2 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok3) {
    for (var kb = i3 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      PAT[row3 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok4) {
    for (var kb = i4 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      PAT[row4 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok5) {
    for (var kb = i5 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      PAT[row5 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok6) {
    for (var kb = i6 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      PAT[row6 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok7) {
    for (var kb = i7 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      PAT[row7 + kb] = vec4<f32>(0.0);
    }
  }
  if (p.flags == 0xffffffffu) {
    DS[0] = DZ[0];
  }
}

@compute @workgroup_size(8)
fn bwd_q(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = ids(gid, nwg, 8u);
  if (!id.ok) {
    return;
  }
  let P = p.pos;
  let plast = P - 1u;
  let chunks = (p.e4 + 3u) / 4u;
  let rb = (id.b * p.heads + id.h) * P * p.pp4;
  let i0 = min(id.i0 + 0u, plast);
  let ok0 = id.i0 + 0u < P;
  let row0 = rb + i0 * p.pp4;
  let i1 = min(id.i0 + 1u, plast);
  let ok1 = id.i0 + 1u < P;
  let row1 = rb + i1 * p.pp4;
  let i2 = min(id.i0 + 2u, plast);
  let ok2 = id.i0 + 2u < P;
  let row2 = rb + i2 * p.pp4;
  let i3 = min(id.i0 + 3u, plast);
  let ok3 = id.i0 + 3u < P;
  let row3 = rb + i3 * p.pp4;
  let i4 = min(id.i0 + 4u, plast);
  let ok4 = id.i0 + 4u < P;
  let row4 = rb + i4 * p.pp4;
  let i5 = min(id.i0 + 5u, plast);
  let ok5 = id.i0 + 5u < P;
  let row5 = rb + i5 * p.pp4;
  let i6 = min(id.i0 + 6u, plast);
  let ok6 = id.i0 + 6u < P;
  let row6 = rb + i6 * p.pp4;
  let i7 = min(id.i0 + 7u, plast);
  let ok7 = id.i0 + 7u < P;
  let row7 = rb + i7 * p.pp4;
  let imax = i7;
  let kbmax = imax / 4u;
  var acc0 = 0.0;
  var acc1 = 0.0;
  var acc2 = 0.0;
  var acc3 = 0.0;
  var acc4 = 0.0;
  var acc5 = 0.0;
  var acc6 = 0.0;
  var acc7 = 0.0;
  // dP = dz . v into the DS rows; rowsum(P * dP) online.
  for (var c = 0u; c < chunks; c = c + 1u) {
    let last = c + 1u == chunks;
    let zb0 = zat(id.b, i0, id.h);
    let d0_0 = DZ[zb0 + ce(c, 0u)] * cm(c, 0u); let d0_1 = DZ[zb0 + ce(c, 1u)] * cm(c, 1u); let d0_2 = DZ[zb0 + ce(c, 2u)] * cm(c, 2u); let d0_3 = DZ[zb0 + ce(c, 3u)] * cm(c, 3u);
    let zb1 = zat(id.b, i1, id.h);
    let d1_0 = DZ[zb1 + ce(c, 0u)] * cm(c, 0u); let d1_1 = DZ[zb1 + ce(c, 1u)] * cm(c, 1u); let d1_2 = DZ[zb1 + ce(c, 2u)] * cm(c, 2u); let d1_3 = DZ[zb1 + ce(c, 3u)] * cm(c, 3u);
    let zb2 = zat(id.b, i2, id.h);
    let d2_0 = DZ[zb2 + ce(c, 0u)] * cm(c, 0u); let d2_1 = DZ[zb2 + ce(c, 1u)] * cm(c, 1u); let d2_2 = DZ[zb2 + ce(c, 2u)] * cm(c, 2u); let d2_3 = DZ[zb2 + ce(c, 3u)] * cm(c, 3u);
    let zb3 = zat(id.b, i3, id.h);
    let d3_0 = DZ[zb3 + ce(c, 0u)] * cm(c, 0u); let d3_1 = DZ[zb3 + ce(c, 1u)] * cm(c, 1u); let d3_2 = DZ[zb3 + ce(c, 2u)] * cm(c, 2u); let d3_3 = DZ[zb3 + ce(c, 3u)] * cm(c, 3u);
    let zb4 = zat(id.b, i4, id.h);
    let d4_0 = DZ[zb4 + ce(c, 0u)] * cm(c, 0u); let d4_1 = DZ[zb4 + ce(c, 1u)] * cm(c, 1u); let d4_2 = DZ[zb4 + ce(c, 2u)] * cm(c, 2u); let d4_3 = DZ[zb4 + ce(c, 3u)] * cm(c, 3u);
    let zb5 = zat(id.b, i5, id.h);
    let d5_0 = DZ[zb5 + ce(c, 0u)] * cm(c, 0u); let d5_1 = DZ[zb5 + ce(c, 1u)] * cm(c, 1u); let d5_2 = DZ[zb5 + ce(c, 2u)] * cm(c, 2u); let d5_3 = DZ[zb5 + ce(c, 3u)] * cm(c, 3u);
    let zb6 = zat(id.b, i6, id.h);
    let d6_0 = DZ[zb6 + ce(c, 0u)] * cm(c, 0u); let d6_1 = DZ[zb6 + ce(c, 1u)] * cm(c, 1u); let d6_2 = DZ[zb6 + ce(c, 2u)] * cm(c, 2u); let d6_3 = DZ[zb6 + ce(c, 3u)] * cm(c, 3u);
    let zb7 = zat(id.b, i7, id.h);
    let d7_0 = DZ[zb7 + ce(c, 0u)] * cm(c, 0u); let d7_1 = DZ[zb7 + ce(c, 1u)] * cm(c, 1u); let d7_2 = DZ[zb7 + ce(c, 2u)] * cm(c, 2u); let d7_3 = DZ[zb7 + ce(c, 3u)] * cm(c, 3u);
    for (var kb = 0u; kb <= kbmax; kb = kb + 1u) {
      let vb0 = at(2u, id.b, min(4u * kb + 0u, plast), id.h);
      let v0_0 = QKV[vb0 + ce(c, 0u)]; let v0_1 = QKV[vb0 + ce(c, 1u)]; let v0_2 = QKV[vb0 + ce(c, 2u)]; let v0_3 = QKV[vb0 + ce(c, 3u)];
      let vb1 = at(2u, id.b, min(4u * kb + 1u, plast), id.h);
      let v1_0 = QKV[vb1 + ce(c, 0u)]; let v1_1 = QKV[vb1 + ce(c, 1u)]; let v1_2 = QKV[vb1 + ce(c, 2u)]; let v1_3 = QKV[vb1 + ce(c, 3u)];
      let vb2 = at(2u, id.b, min(4u * kb + 2u, plast), id.h);
      let v2_0 = QKV[vb2 + ce(c, 0u)]; let v2_1 = QKV[vb2 + ce(c, 1u)]; let v2_2 = QKV[vb2 + ce(c, 2u)]; let v2_3 = QKV[vb2 + ce(c, 3u)];
      let vb3 = at(2u, id.b, min(4u * kb + 3u, plast), id.h);
      let v3_0 = QKV[vb3 + ce(c, 0u)]; let v3_1 = QKV[vb3 + ce(c, 1u)]; let v3_2 = QKV[vb3 + ce(c, 2u)]; let v3_3 = QKV[vb3 + ce(c, 3u)];
      if (ok0 && 4u * kb <= i0) {
        var s = vec4<f32>(dot(d0_0, v0_0) + dot(d0_1, v0_1) + dot(d0_2, v0_2) + dot(d0_3, v0_3), dot(d0_0, v1_0) + dot(d0_1, v1_1) + dot(d0_2, v1_2) + dot(d0_3, v1_3), dot(d0_0, v2_0) + dot(d0_1, v2_1) + dot(d0_2, v2_2) + dot(d0_3, v2_3), dot(d0_0, v3_0) + dot(d0_1, v3_1) + dot(d0_2, v3_2) + dot(d0_3, v3_3));
        if (c > 0u) { s = s + DS[row0 + kb]; }
        DS[row0 + kb] = s;
        if (last) { acc0 = acc0 + dot(PAT[row0 + kb], s); }
      }
      if (ok1 && 4u * kb <= i1) {
        var s = vec4<f32>(dot(d1_0, v0_0) + dot(d1_1, v0_1) + dot(d1_2, v0_2) + dot(d1_3, v0_3), dot(d1_0, v1_0) + dot(d1_1, v1_1) + dot(d1_2, v1_2) + dot(d1_3, v1_3), dot(d1_0, v2_0) + dot(d1_1, v2_1) + dot(d1_2, v2_2) + dot(d1_3, v2_3), dot(d1_0, v3_0) + dot(d1_1, v3_1) + dot(d1_2, v3_2) + dot(d1_3, v3_3));
        if (c > 0u) { s = s + DS[row1 + kb]; }
        DS[row1 + kb] = s;
        if (last) { acc1 = acc1 + dot(PAT[row1 + kb], s); }
      }
      if (ok2 && 4u * kb <= i2) {
        var s = vec4<f32>(dot(d2_0, v0_0) + dot(d2_1, v0_1) + dot(d2_2, v0_2) + dot(d2_3, v0_3), dot(d2_0, v1_0) + dot(d2_1, v1_1) + dot(d2_2, v1_2) + dot(d2_3, v1_3), dot(d2_0, v2_0) + dot(d2_1, v2_1) + dot(d2_2, v2_2) + dot(d2_3, v2_3), dot(d2_0, v3_0) + dot(d2_1, v3_1) + dot(d2_2, v3_2) + dot(d2_3, v3_3));
        if (c > 0u) { s = s + DS[row2 + kb]; }
        DS[row2 + kb] = s;
        if (last) { acc2 = acc2 + dot(PAT[row2 + kb], s); }
      }
      if (ok3 && 4u * kb <= i3) {
        var s = vec4<f32>(dot(d3_0, v0_0) + dot(d3_1, v0_1) + dot(d3_2, v0_2) + dot(d3_3, v0_3), dot(d3_0, v1_0) + dot(d3_1, v1_1) + dot(d3_2, v1_2) + dot(d3_3, v1_3), dot(d3_0, v2_0) + dot(d3_1, v2_1) + dot(d3_2, v2_2) + dot(d3_3, v2_3), dot(d3_0, v3_0) + dot(d3_1, v3_1) + dot(d3_2, v3_2) + dot(d3_3, v3_3));
        if (c > 0u) { s = s + DS[row3 + kb]; }
        DS[row3 + kb] = s;
        if (last) { acc3 = acc3 + dot(PAT[row3 + kb], s); }
      }
      if (ok4 && 4u * kb <= i4) {
        var s = vec4<f32>(dot(d4_0, v0_0) + dot(d4_1, v0_1) + dot(d4_2, v0_2) + dot(d4_3, v0_3), dot(d4_0, v1_0) + dot(d4_1, v1_1) + dot(d4_2, v1_2) + dot(d4_3, v1_3), dot(d4_0, v2_0) + dot(d4_1, v2_1) + dot(d4_2, v2_2) + dot(d4_3, v2_3), dot(d4_0, v3_0) + dot(d4_1, v3_1) + dot(d4_2, v3_2) + dot(d4_3, v3_3));
        if (c > 0u) { s = s + DS[row4 + kb]; }
        DS[row4 + kb] = s;
        if (last) { acc4 = acc4 + dot(PAT[row4 + kb], s); }
      }
      if (ok5 && 4u * kb <= i5) {
        var s = vec4<f32>(dot(d5_0, v0_0) + dot(d5_1, v0_1) + dot(d5_2, v0_2) + dot(d5_3, v0_3), dot(d5_0, v1_0) + dot(d5_1, v1_1) + dot(d5_2, v1_2) + dot(d5_3, v1_3), dot(d5_0, v2_0) + dot(d5_1, v2_1) + dot(d5_2, v2_2) + dot(d5_3, v2_3), dot(d5_0, v3_0) + dot(d5_1, v3_1) + dot(d5_2, v3_2) + dot(d5_3, v3_3));
        if (c > 0u) { s = s + DS[row5 + kb]; }
        DS[row5 + kb] = s;
        if (last) { acc5 = acc5 + dot(PAT[row5 + kb], s); }
      }
      if (ok6 && 4u * kb <= i6) {
        var s = vec4<f32>(dot(d6_0, v0_0) + dot(d6_1, v0_1) + dot(d6_2, v0_2) + dot(d6_3, v0_3), dot(d6_0, v1_0) + dot(d6_1, v1_1) + dot(d6_2, v1_2) + dot(d6_3, v1_3), dot(d6_0, v2_0) + dot(d6_1, v2_1) + dot(d6_2, v2_2) + dot(d6_3, v2_3), dot(d6_0, v3_0) + dot(d6_1, v3_1) + dot(d6_2, v3_2) + dot(d6_3, v3_3));
        if (c > 0u) { s = s + DS[row6 + kb]; }
        DS[row6 + kb] = s;
        if (last) { acc6 = acc6 + dot(PAT[row6 + kb], s); }
      }
      if (ok7 && 4u * kb <= i7) {
        var s = vec4<f32>(dot(d7_0, v0_0) + dot(d7_1, v0_1) + dot(d7_2, v0_2) + dot(d7_3, v0_3), dot(d7_0, v1_0) + dot(d7_1, v1_1) + dot(d7_2, v1_2) + dot(d7_3, v1_3), dot(d7_0, v2_0) + dot(d7_1, v2_1) + dot(d7_2, v2_2) + dot(d7_3, v2_3), dot(d7_0, v3_0) + dot(d7_1, v3_1) + dot(d7_2, v3_2) + dot(d7_3, v3_3));
        if (c > 0u) { s = s + DS[row7 + kb]; }
        DS[row7 + kb] = s;
        if (last) { acc7 = acc7 + dot(PAT[row7 + kb], s); }
      }
    }
  }
  // dS = P (dP - acc), then dq = scale dS k.
  for (var c = 0u; c < chunks; c = c + 1u) {
    var g0_0 = vec4<f32>(0.0); var g0_1 = vec4<f32>(0.0); var g0_2 = vec4<f32>(0.0); var g0_3 = vec4<f32>(0.0);
    var g1_0 = vec4<f32>(0.0); var g1_1 = vec4<f32>(0.0); var g1_2 = vec4<f32>(0.0); var g1_3 = vec4<f32>(0.0);
    var g2_0 = vec4<f32>(0.0); var g2_1 = vec4<f32>(0.0); var g2_2 = vec4<f32>(0.0); var g2_3 = vec4<f32>(0.0);
    var g3_0 = vec4<f32>(0.0); var g3_1 = vec4<f32>(0.0); var g3_2 = vec4<f32>(0.0); var g3_3 = vec4<f32>(0.0);
    var g4_0 = vec4<f32>(0.0); var g4_1 = vec4<f32>(0.0); var g4_2 = vec4<f32>(0.0); var g4_3 = vec4<f32>(0.0);
    var g5_0 = vec4<f32>(0.0); var g5_1 = vec4<f32>(0.0); var g5_2 = vec4<f32>(0.0); var g5_3 = vec4<f32>(0.0);
    var g6_0 = vec4<f32>(0.0); var g6_1 = vec4<f32>(0.0); var g6_2 = vec4<f32>(0.0); var g6_3 = vec4<f32>(0.0);
    var g7_0 = vec4<f32>(0.0); var g7_1 = vec4<f32>(0.0); var g7_2 = vec4<f32>(0.0); var g7_3 = vec4<f32>(0.0);
    for (var kb = 0u; kb <= kbmax; kb = kb + 1u) {
      let kb0 = at(1u, id.b, min(4u * kb + 0u, plast), id.h);
      let k0_0 = QKV[kb0 + ce(c, 0u)]; let k0_1 = QKV[kb0 + ce(c, 1u)]; let k0_2 = QKV[kb0 + ce(c, 2u)]; let k0_3 = QKV[kb0 + ce(c, 3u)];
      let kb1 = at(1u, id.b, min(4u * kb + 1u, plast), id.h);
      let k1_0 = QKV[kb1 + ce(c, 0u)]; let k1_1 = QKV[kb1 + ce(c, 1u)]; let k1_2 = QKV[kb1 + ce(c, 2u)]; let k1_3 = QKV[kb1 + ce(c, 3u)];
      let kb2 = at(1u, id.b, min(4u * kb + 2u, plast), id.h);
      let k2_0 = QKV[kb2 + ce(c, 0u)]; let k2_1 = QKV[kb2 + ce(c, 1u)]; let k2_2 = QKV[kb2 + ce(c, 2u)]; let k2_3 = QKV[kb2 + ce(c, 3u)];
      let kb3 = at(1u, id.b, min(4u * kb + 3u, plast), id.h);
      let k3_0 = QKV[kb3 + ce(c, 0u)]; let k3_1 = QKV[kb3 + ce(c, 1u)]; let k3_2 = QKV[kb3 + ce(c, 2u)]; let k3_3 = QKV[kb3 + ce(c, 3u)];
      if (ok0 && 4u * kb <= i0) {
        var ds = DS[row0 + kb];
        if (c == 0u) {
          ds = PAT[row0 + kb] * (ds - acc0);
          DS[row0 + kb] = ds;
        }
        g0_0 = g0_0 + ds.x * k0_0 + ds.y * k1_0 + ds.z * k2_0 + ds.w * k3_0;
        g0_1 = g0_1 + ds.x * k0_1 + ds.y * k1_1 + ds.z * k2_1 + ds.w * k3_1;
        g0_2 = g0_2 + ds.x * k0_2 + ds.y * k1_2 + ds.z * k2_2 + ds.w * k3_2;
        g0_3 = g0_3 + ds.x * k0_3 + ds.y * k1_3 + ds.z * k2_3 + ds.w * k3_3;
      }
      if (ok1 && 4u * kb <= i1) {
        var ds = DS[row1 + kb];
        if (c == 0u) {
          ds = PAT[row1 + kb] * (ds - acc1);
          DS[row1 + kb] = ds;
        }
        g1_0 = g1_0 + ds.x * k0_0 + ds.y * k1_0 + ds.z * k2_0 + ds.w * k3_0;
        g1_1 = g1_1 + ds.x * k0_1 + ds.y * k1_1 + ds.z * k2_1 + ds.w * k3_1;
        g1_2 = g1_2 + ds.x * k0_2 + ds.y * k1_2 + ds.z * k2_2 + ds.w * k3_2;
        g1_3 = g1_3 + ds.x * k0_3 + ds.y * k1_3 + ds.z * k2_3 + ds.w * k3_3;
      }
      if (ok2 && 4u * kb <= i2) {
        var ds = DS[row2 + kb];
        if (c == 0u) {
          ds = PAT[row2 + kb] * (ds - acc2);
          DS[row2 + kb] = ds;
        }
        g2_0 = g2_0 + ds.x * k0_0 + ds.y * k1_0 + ds.z * k2_0 + ds.w * k3_0;
        g2_1 = g2_1 + ds.x * k0_1 + ds.y * k1_1 + ds.z * k2_1 + ds.w * k3_1;
        g2_2 = g2_2 + ds.x * k0_2 + ds.y * k1_2 + ds.z * k2_2 + ds.w * k3_2;
        g2_3 = g2_3 + ds.x * k0_3 + ds.y * k1_3 + ds.z * k2_3 + ds.w * k3_3;
      }
      if (ok3 && 4u * kb <= i3) {
        var ds = DS[row3 + kb];
        if (c == 0u) {
          ds = PAT[row3 + kb] * (ds - acc3);
          DS[row3 + kb] = ds;
        }
        g3_0 = g3_0 + ds.x * k0_0 + ds.y * k1_0 + ds.z * k2_0 + ds.w * k3_0;
        g3_1 = g3_1 + ds.x * k0_1 + ds.y * k1_1 + ds.z * k2_1 + ds.w * k3_1;
        g3_2 = g3_2 + ds.x * k0_2 + ds.y * k1_2 + ds.z * k2_2 + ds.w * k3_2;
        g3_3 = g3_3 + ds.x * k0_3 + ds.y * k1_3 + ds.z * k2_3 + ds.w * k3_3;
      }
      if (ok4 && 4u * kb <= i4) {
        var ds = DS[row4 + kb];
        if (c == 0u) {
          ds = PAT[row4 + kb] * (ds - acc4);
          DS[row4 + kb] = ds;
        }
        g4_0 = g4_0 + ds.x * k0_0 + ds.y * k1_0 + ds.z * k2_0 + ds.w * k3_0;
        g4_1 = g4_1 + ds.x * k0_1 + ds.y * k1_1 + ds.z * k2_1 + ds.w * k3_1;
        g4_2 = g4_2 + ds.x * k0_2 + ds.y * k1_2 + ds.z * k2_2 + ds.w * k3_2;
        g4_3 = g4_3 + ds.x * k0_3 + ds.y * k1_3 + ds.z * k2_3 + ds.w * k3_3;
      }
      if (ok5 && 4u * kb <= i5) {
        var ds = DS[row5 + kb];
        if (c == 0u) {
          ds = PAT[row5 + kb] * (ds - acc5);
          DS[row5 + kb] = ds;
        }
        g5_0 = g5_0 + ds.x * k0_0 + ds.y * k1_0 + ds.z * k2_0 + ds.w * k3_0;
        g5_1 = g5_1 + ds.x * k0_1 + ds.y * k1_1 + ds.z * k2_1 + ds.w * k3_1;
        g5_2 = g5_2 + ds.x * k0_2 + ds.y * k1_2 + ds.z * k2_2 + ds.w * k3_2;
        g5_3 = g5_3 + ds.x * k0_3 + ds.y * k1_3 + ds.z * k2_3 + ds.w * k3_3;
      }
      if (ok6 && 4u * kb <= i6) {
        var ds = DS[row6 + kb];
        if (c == 0u) {
          ds = PAT[row6 + kb] * (ds - acc6);
          DS[row6 + kb] = ds;
        }
        g6_0 = g6_0 + ds.x * k0_0 + ds.y * k1_0 + ds.z * k2_0 + ds.w * k3_0;
        g6_1 = g6_1 + ds.x * k0_1 + ds.y * k1_1 + ds.z * k2_1 + ds.w * k3_1;
        g6_2 = g6_2 + ds.x * k0_2 + ds.y * k1_2 + ds.z * k2_2 + ds.w * k3_2;
        g6_3 = g6_3 + ds.x * k0_3 + ds.y * k1_3 + ds.z * k2_3 + ds.w * k3_3;
      }
      if (ok7 && 4u * kb <= i7) {
        var ds = DS[row7 + kb];
        if (c == 0u) {
          ds = PAT[row7 + kb] * (ds - acc7);
          DS[row7 + kb] = ds;
        }
        g7_0 = g7_0 + ds.x * k0_0 + ds.y * k1_0 + ds.z * k2_0 + ds.w * k3_0;
        g7_1 = g7_1 + ds.x * k0_1 + ds.y * k1_1 + ds.z * k2_1 + ds.w * k3_1;
        g7_2 = g7_2 + ds.x * k0_2 + ds.y * k1_2 + ds.z * k2_2 + ds.w * k3_2;
        g7_3 = g7_3 + ds.x * k0_3 + ds.y * k1_3 + ds.z * k2_3 + ds.w * k3_3;
      }
    }
    if (4u * c + 0u < p.e4) {
      if (ok0) { OUT[at(0u, id.b, i0, id.h) + 4u * c + 0u] = g0_0 * p.scale; }
      if (ok1) { OUT[at(0u, id.b, i1, id.h) + 4u * c + 0u] = g1_0 * p.scale; }
      if (ok2) { OUT[at(0u, id.b, i2, id.h) + 4u * c + 0u] = g2_0 * p.scale; }
      if (ok3) { OUT[at(0u, id.b, i3, id.h) + 4u * c + 0u] = g3_0 * p.scale; }
      if (ok4) { OUT[at(0u, id.b, i4, id.h) + 4u * c + 0u] = g4_0 * p.scale; }
      if (ok5) { OUT[at(0u, id.b, i5, id.h) + 4u * c + 0u] = g5_0 * p.scale; }
      if (ok6) { OUT[at(0u, id.b, i6, id.h) + 4u * c + 0u] = g6_0 * p.scale; }
      if (ok7) { OUT[at(0u, id.b, i7, id.h) + 4u * c + 0u] = g7_0 * p.scale; }
    }
    if (4u * c + 1u < p.e4) {
      if (ok0) { OUT[at(0u, id.b, i0, id.h) + 4u * c + 1u] = g0_1 * p.scale; }
      if (ok1) { OUT[at(0u, id.b, i1, id.h) + 4u * c + 1u] = g1_1 * p.scale; }
      if (ok2) { OUT[at(0u, id.b, i2, id.h) + 4u * c + 1u] = g2_1 * p.scale; }
      if (ok3) { OUT[at(0u, id.b, i3, id.h) + 4u * c + 1u] = g3_1 * p.scale; }
      if (ok4) { OUT[at(0u, id.b, i4, id.h) + 4u * c + 1u] = g4_1 * p.scale; }
      if (ok5) { OUT[at(0u, id.b, i5, id.h) + 4u * c + 1u] = g5_1 * p.scale; }
      if (ok6) { OUT[at(0u, id.b, i6, id.h) + 4u * c + 1u] = g6_1 * p.scale; }
      if (ok7) { OUT[at(0u, id.b, i7, id.h) + 4u * c + 1u] = g7_1 * p.scale; }
    }
    if (4u * c + 2u < p.e4) {
      if (ok0) { OUT[at(0u, id.b, i0, id.h) + 4u * c + 2u] = g0_2 * p.scale; }
      if (ok1) { OUT[at(0u, id.b, i1, id.h) + 4u * c + 2u] = g1_2 * p.scale; }
      if (ok2) { OUT[at(0u, id.b, i2, id.h) + 4u * c + 2u] = g2_2 * p.scale; }
      if (ok3) { OUT[at(0u, id.b, i3, id.h) + 4u * c + 2u] = g3_2 * p.scale; }
      if (ok4) { OUT[at(0u, id.b, i4, id.h) + 4u * c + 2u] = g4_2 * p.scale; }
      if (ok5) { OUT[at(0u, id.b, i5, id.h) + 4u * c + 2u] = g5_2 * p.scale; }
      if (ok6) { OUT[at(0u, id.b, i6, id.h) + 4u * c + 2u] = g6_2 * p.scale; }
      if (ok7) { OUT[at(0u, id.b, i7, id.h) + 4u * c + 2u] = g7_2 * p.scale; }
    }
    if (4u * c + 3u < p.e4) {
      if (ok0) { OUT[at(0u, id.b, i0, id.h) + 4u * c + 3u] = g0_3 * p.scale; }
      if (ok1) { OUT[at(0u, id.b, i1, id.h) + 4u * c + 3u] = g1_3 * p.scale; }
      if (ok2) { OUT[at(0u, id.b, i2, id.h) + 4u * c + 3u] = g2_3 * p.scale; }
      if (ok3) { OUT[at(0u, id.b, i3, id.h) + 4u * c + 3u] = g3_3 * p.scale; }
      if (ok4) { OUT[at(0u, id.b, i4, id.h) + 4u * c + 3u] = g4_3 * p.scale; }
      if (ok5) { OUT[at(0u, id.b, i5, id.h) + 4u * c + 3u] = g5_3 * p.scale; }
      if (ok6) { OUT[at(0u, id.b, i6, id.h) + 4u * c + 3u] = g6_3 * p.scale; }
      if (ok7) { OUT[at(0u, id.b, i7, id.h) + 4u * c + 3u] = g7_3 * p.scale; }
    }
  }
  if (ok0) {
    for (var kb = i0 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      DS[row0 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok1) {
    for (var kb = i1 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      DS[row1 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok2) {
    for (var kb = i2 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      DS[row2 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok3) {
    for (var kb = i3 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      DS[row3 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok4) {
    for (var kb = i4 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      DS[row4 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok5) {
    for (var kb = i5 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      DS[row5 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok6) {
    for (var kb = i6 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      DS[row6 + kb] = vec4<f32>(0.0);
    }
  }
  if (ok7) {
    for (var kb = i7 / 4u + 1u; kb < p.pp4; kb = kb + 1u) {
      DS[row7 + kb] = vec4<f32>(0.0);
    }
  }
}

// Keys i0 .. i0 + KT - 1 (KT / 4 vec4 of each PAT / DS row); PAT and DS are zero where q < key.
@compute @workgroup_size(8)
fn bwd_kv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = ids(gid, nwg, 4u);
  if (!id.ok) {
    return;
  }
  let P = p.pos;
  let plast = P - 1u;
  let chunks = (p.e4 + 3u) / 4u;
  let rb = (id.b * p.heads + id.h) * P * p.pp4;
  let i0 = min(id.i0 + 0u, plast);
  let ok0 = id.i0 + 0u < P;
  let row0 = rb + i0 * p.pp4;
  let i1 = min(id.i0 + 1u, plast);
  let ok1 = id.i0 + 1u < P;
  let row1 = rb + i1 * p.pp4;
  let i2 = min(id.i0 + 2u, plast);
  let ok2 = id.i0 + 2u < P;
  let row2 = rb + i2 * p.pp4;
  let i3 = min(id.i0 + 3u, plast);
  let ok3 = id.i0 + 3u < P;
  let row3 = rb + i3 * p.pp4;
  let imax = i3;
  let kbmax = imax / 4u;
  let kcol = id.i0 / 4u;
  for (var c = 0u; c < chunks; c = c + 1u) {
    var gk0_0 = vec4<f32>(0.0); var gk0_1 = vec4<f32>(0.0); var gk0_2 = vec4<f32>(0.0); var gk0_3 = vec4<f32>(0.0);
    var gv0_0 = vec4<f32>(0.0); var gv0_1 = vec4<f32>(0.0); var gv0_2 = vec4<f32>(0.0); var gv0_3 = vec4<f32>(0.0);
    var gk1_0 = vec4<f32>(0.0); var gk1_1 = vec4<f32>(0.0); var gk1_2 = vec4<f32>(0.0); var gk1_3 = vec4<f32>(0.0);
    var gv1_0 = vec4<f32>(0.0); var gv1_1 = vec4<f32>(0.0); var gv1_2 = vec4<f32>(0.0); var gv1_3 = vec4<f32>(0.0);
    var gk2_0 = vec4<f32>(0.0); var gk2_1 = vec4<f32>(0.0); var gk2_2 = vec4<f32>(0.0); var gk2_3 = vec4<f32>(0.0);
    var gv2_0 = vec4<f32>(0.0); var gv2_1 = vec4<f32>(0.0); var gv2_2 = vec4<f32>(0.0); var gv2_3 = vec4<f32>(0.0);
    var gk3_0 = vec4<f32>(0.0); var gk3_1 = vec4<f32>(0.0); var gk3_2 = vec4<f32>(0.0); var gk3_3 = vec4<f32>(0.0);
    var gv3_0 = vec4<f32>(0.0); var gv3_1 = vec4<f32>(0.0); var gv3_2 = vec4<f32>(0.0); var gv3_3 = vec4<f32>(0.0);
    for (var q = id.i0; q < P; q = q + 1u) {
      let qb = at(0u, id.b, q, id.h);
      let zb = zat(id.b, q, id.h);

      let ds0 = DS[rb + q * p.pp4 + kcol + 0u];
      let pr0 = PAT[rb + q * p.pp4 + kcol + 0u];
      let q0 = QKV[qb + ce(c, 0u)]; let q1 = QKV[qb + ce(c, 1u)]; let q2 = QKV[qb + ce(c, 2u)]; let q3 = QKV[qb + ce(c, 3u)];
      let z0 = DZ[zb + ce(c, 0u)]; let z1 = DZ[zb + ce(c, 1u)]; let z2 = DZ[zb + ce(c, 2u)]; let z3 = DZ[zb + ce(c, 3u)];
      gk0_0 = gk0_0 + ds0.x * q0; gk0_1 = gk0_1 + ds0.x * q1; gk0_2 = gk0_2 + ds0.x * q2; gk0_3 = gk0_3 + ds0.x * q3;
      gv0_0 = gv0_0 + pr0.x * z0; gv0_1 = gv0_1 + pr0.x * z1; gv0_2 = gv0_2 + pr0.x * z2; gv0_3 = gv0_3 + pr0.x * z3;
      gk1_0 = gk1_0 + ds0.y * q0; gk1_1 = gk1_1 + ds0.y * q1; gk1_2 = gk1_2 + ds0.y * q2; gk1_3 = gk1_3 + ds0.y * q3;
      gv1_0 = gv1_0 + pr0.y * z0; gv1_1 = gv1_1 + pr0.y * z1; gv1_2 = gv1_2 + pr0.y * z2; gv1_3 = gv1_3 + pr0.y * z3;
      gk2_0 = gk2_0 + ds0.z * q0; gk2_1 = gk2_1 + ds0.z * q1; gk2_2 = gk2_2 + ds0.z * q2; gk2_3 = gk2_3 + ds0.z * q3;
      gv2_0 = gv2_0 + pr0.z * z0; gv2_1 = gv2_1 + pr0.z * z1; gv2_2 = gv2_2 + pr0.z * z2; gv2_3 = gv2_3 + pr0.z * z3;
      gk3_0 = gk3_0 + ds0.w * q0; gk3_1 = gk3_1 + ds0.w * q1; gk3_2 = gk3_2 + ds0.w * q2; gk3_3 = gk3_3 + ds0.w * q3;
      gv3_0 = gv3_0 + pr0.w * z0; gv3_1 = gv3_1 + pr0.w * z1; gv3_2 = gv3_2 + pr0.w * z2; gv3_3 = gv3_3 + pr0.w * z3;
    }
    if (4u * c + 0u < p.e4) {
      if (ok0) { OUT[at(1u, id.b, i0, id.h) + 4u * c + 0u] = gk0_0 * p.scale; }
      if (ok1) { OUT[at(1u, id.b, i1, id.h) + 4u * c + 0u] = gk1_0 * p.scale; }
      if (ok2) { OUT[at(1u, id.b, i2, id.h) + 4u * c + 0u] = gk2_0 * p.scale; }
      if (ok3) { OUT[at(1u, id.b, i3, id.h) + 4u * c + 0u] = gk3_0 * p.scale; }
    }
    if (4u * c + 1u < p.e4) {
      if (ok0) { OUT[at(1u, id.b, i0, id.h) + 4u * c + 1u] = gk0_1 * p.scale; }
      if (ok1) { OUT[at(1u, id.b, i1, id.h) + 4u * c + 1u] = gk1_1 * p.scale; }
      if (ok2) { OUT[at(1u, id.b, i2, id.h) + 4u * c + 1u] = gk2_1 * p.scale; }
      if (ok3) { OUT[at(1u, id.b, i3, id.h) + 4u * c + 1u] = gk3_1 * p.scale; }
    }
    if (4u * c + 2u < p.e4) {
      if (ok0) { OUT[at(1u, id.b, i0, id.h) + 4u * c + 2u] = gk0_2 * p.scale; }
      if (ok1) { OUT[at(1u, id.b, i1, id.h) + 4u * c + 2u] = gk1_2 * p.scale; }
      if (ok2) { OUT[at(1u, id.b, i2, id.h) + 4u * c + 2u] = gk2_2 * p.scale; }
      if (ok3) { OUT[at(1u, id.b, i3, id.h) + 4u * c + 2u] = gk3_2 * p.scale; }
    }
    if (4u * c + 3u < p.e4) {
      if (ok0) { OUT[at(1u, id.b, i0, id.h) + 4u * c + 3u] = gk0_3 * p.scale; }
      if (ok1) { OUT[at(1u, id.b, i1, id.h) + 4u * c + 3u] = gk1_3 * p.scale; }
      if (ok2) { OUT[at(1u, id.b, i2, id.h) + 4u * c + 3u] = gk2_3 * p.scale; }
      if (ok3) { OUT[at(1u, id.b, i3, id.h) + 4u * c + 3u] = gk3_3 * p.scale; }
    }
    if (4u * c + 0u < p.e4) {
      if (ok0) { OUT[at(2u, id.b, i0, id.h) + 4u * c + 0u] = gv0_0; }
      if (ok1) { OUT[at(2u, id.b, i1, id.h) + 4u * c + 0u] = gv1_0; }
      if (ok2) { OUT[at(2u, id.b, i2, id.h) + 4u * c + 0u] = gv2_0; }
      if (ok3) { OUT[at(2u, id.b, i3, id.h) + 4u * c + 0u] = gv3_0; }
    }
    if (4u * c + 1u < p.e4) {
      if (ok0) { OUT[at(2u, id.b, i0, id.h) + 4u * c + 1u] = gv0_1; }
      if (ok1) { OUT[at(2u, id.b, i1, id.h) + 4u * c + 1u] = gv1_1; }
      if (ok2) { OUT[at(2u, id.b, i2, id.h) + 4u * c + 1u] = gv2_1; }
      if (ok3) { OUT[at(2u, id.b, i3, id.h) + 4u * c + 1u] = gv3_1; }
    }
    if (4u * c + 2u < p.e4) {
      if (ok0) { OUT[at(2u, id.b, i0, id.h) + 4u * c + 2u] = gv0_2; }
      if (ok1) { OUT[at(2u, id.b, i1, id.h) + 4u * c + 2u] = gv1_2; }
      if (ok2) { OUT[at(2u, id.b, i2, id.h) + 4u * c + 2u] = gv2_2; }
      if (ok3) { OUT[at(2u, id.b, i3, id.h) + 4u * c + 2u] = gv3_2; }
    }
    if (4u * c + 3u < p.e4) {
      if (ok0) { OUT[at(2u, id.b, i0, id.h) + 4u * c + 3u] = gv0_3; }
      if (ok1) { OUT[at(2u, id.b, i1, id.h) + 4u * c + 3u] = gv1_3; }
      if (ok2) { OUT[at(2u, id.b, i2, id.h) + 4u * c + 3u] = gv2_3; }
      if (ok3) { OUT[at(2u, id.b, i3, id.h) + 4u * c + 3u] = gv3_3; }
    }
  }
}
