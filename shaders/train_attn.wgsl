// Causal multi-head attention of the fused training step (src/kernels/train_fused.ts), forward
// and backward, as TransformerLens computes it: scores = q.k / sqrt(d_head) with the future
// masked, pattern = softmax(scores), z = pattern @ v.
//
// QKV [batch * pos, 3 * H * E] holds per row q (h, e), then k (h, e), then v (h, e).
// PAT is the pattern [batch, H, pos, pos] (TransformerLens's hook_pattern), zeros above the
// diagonal. Z and dZ are [batch * pos, H * E] (hook_z's layout [batch, pos, head, d_head]).
//
// Entry points (one thread per (row b, head h, 4 consecutive positions i0..i0+3); every entry
// point uses every binding):
//   fwd     i = queries: PAT rows, and Z[b, i, h]                          OUT = Z
//   bwd_q   i = queries: dS rows into DS, dq into OUT[b, i, q-part of h]   OUT = dQKV
//   bwd_kv  i = keys:    dk and dv into OUT[b, i, k- and v-parts of h]     OUT = dQKV
// with dP = dZ v^T, dS = P * (dP - rowsum(P * dP)), dq = scale dS k, dk = scale dS^T q,
// dv = P^T dZ, scale = 1 / sqrt(E).
//
// Lavapipe runs an invocation as one SIMD lane with every storage load a per-lane loop, so a
// thread takes 4 positions and each key (or query) vector it loads serves all 4, unrolled into
// registers; the softmax's max and sum (online, in the pass computing the last chunk of the
// scores) and bwd_q's rowsum(P * dP) come out of the passes over keys, so each row is
// re-read only once. E is a multiple of 4; head vectors go 16 values (4 vec4) at a time, the dot
// products of later chunks added into the PAT or DS rows. Loads past E are clamped (and masked
// where it matters); positions past the end are clamped for loads and skipped for stores.
// Indices are in vec4 units except PAT and DS (f32).

struct Params {
  batch: u32,
  heads: u32,
  pos: u32,
  e4: u32,
  scale: f32,
  flags: u32,
  _pad0: u32,
  _pad1: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> QKV: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> DZ: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> PAT: array<f32>;
@group(0) @binding(4) var<storage, read_write> DS: array<f32>;
@group(0) @binding(5) var<storage, read_write> OUT: array<vec4<f32>>;

struct Ids {
  ok: bool,
  b: u32,
  h: u32,
  // First of the 4 positions.
  i0: u32,
};

fn ids(gid: vec3<u32>, nwg: vec3<u32>) -> Ids {
  let t = gid.x + gid.y * nwg.x * 8u;
  let tiles = (p.pos + 3u) / 4u;
  let n = p.batch * p.heads * tiles;
  let bh = t / tiles;
  return Ids(t < n, bh / p.heads, bh % p.heads, (t % tiles) * 4u);
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

@compute @workgroup_size(8)
fn fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = ids(gid, nwg);
  if (!id.ok) {
    return;
  }
  let P = p.pos;
  let plast = P - 1u;
  let chunks = (p.e4 + 3u) / 4u;
  let i0 = min(id.i0 + 0u, plast);
  let ok0 = id.i0 + 0u < P;
  let i1 = min(id.i0 + 1u, plast);
  let ok1 = id.i0 + 1u < P;
  let i2 = min(id.i0 + 2u, plast);
  let ok2 = id.i0 + 2u < P;
  let i3 = min(id.i0 + 3u, plast);
  let ok3 = id.i0 + 3u < P;
  let imax = i3;
  let rb = ((id.b * p.heads + id.h) * P) * P;
  let row0 = rb + i0 * P;
  var mx0 = -3.0e38;
  var sum0 = 0.0;
  let row1 = rb + i1 * P;
  var mx1 = -3.0e38;
  var sum1 = 0.0;
  let row2 = rb + i2 * P;
  var mx2 = -3.0e38;
  var sum2 = 0.0;
  let row3 = rb + i3 * P;
  var mx3 = -3.0e38;
  var sum3 = 0.0;
  for (var c = 0u; c < chunks; c = c + 1u) {
    let last = c + 1u == chunks;
    let qb0 = at(0u, id.b, i0, id.h);
    let q0_0 = QKV[qb0 + ce(c, 0u)] * (p.scale * cm(c, 0u));
    let q0_1 = QKV[qb0 + ce(c, 1u)] * (p.scale * cm(c, 1u));
    let q0_2 = QKV[qb0 + ce(c, 2u)] * (p.scale * cm(c, 2u));
    let q0_3 = QKV[qb0 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb1 = at(0u, id.b, i1, id.h);
    let q1_0 = QKV[qb1 + ce(c, 0u)] * (p.scale * cm(c, 0u));
    let q1_1 = QKV[qb1 + ce(c, 1u)] * (p.scale * cm(c, 1u));
    let q1_2 = QKV[qb1 + ce(c, 2u)] * (p.scale * cm(c, 2u));
    let q1_3 = QKV[qb1 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb2 = at(0u, id.b, i2, id.h);
    let q2_0 = QKV[qb2 + ce(c, 0u)] * (p.scale * cm(c, 0u));
    let q2_1 = QKV[qb2 + ce(c, 1u)] * (p.scale * cm(c, 1u));
    let q2_2 = QKV[qb2 + ce(c, 2u)] * (p.scale * cm(c, 2u));
    let q2_3 = QKV[qb2 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    let qb3 = at(0u, id.b, i3, id.h);
    let q3_0 = QKV[qb3 + ce(c, 0u)] * (p.scale * cm(c, 0u));
    let q3_1 = QKV[qb3 + ce(c, 1u)] * (p.scale * cm(c, 1u));
    let q3_2 = QKV[qb3 + ce(c, 2u)] * (p.scale * cm(c, 2u));
    let q3_3 = QKV[qb3 + ce(c, 3u)] * (p.scale * cm(c, 3u));
    for (var k = 0u; k <= imax; k = k + 1u) {
      let kb = at(1u, id.b, k, id.h);
      let k0 = QKV[kb + ce(c, 0u)];
      let k1 = QKV[kb + ce(c, 1u)];
      let k2 = QKV[kb + ce(c, 2u)];
      let k3 = QKV[kb + ce(c, 3u)];
      if (k <= i0) {
        var s = dot(q0_0, k0) + dot(q0_1, k1) + dot(q0_2, k2) + dot(q0_3, k3);
        if (c > 0u) { s = s + PAT[row0 + k]; }
        PAT[row0 + k] = s;
        if (last) { let m = max(mx0, s); sum0 = sum0 * exp(mx0 - m) + exp(s - m); mx0 = m; }
      }
      if (k <= i1) {
        var s = dot(q1_0, k0) + dot(q1_1, k1) + dot(q1_2, k2) + dot(q1_3, k3);
        if (c > 0u) { s = s + PAT[row1 + k]; }
        PAT[row1 + k] = s;
        if (last) { let m = max(mx1, s); sum1 = sum1 * exp(mx1 - m) + exp(s - m); mx1 = m; }
      }
      if (k <= i2) {
        var s = dot(q2_0, k0) + dot(q2_1, k1) + dot(q2_2, k2) + dot(q2_3, k3);
        if (c > 0u) { s = s + PAT[row2 + k]; }
        PAT[row2 + k] = s;
        if (last) { let m = max(mx2, s); sum2 = sum2 * exp(mx2 - m) + exp(s - m); mx2 = m; }
      }
      if (k <= i3) {
        var s = dot(q3_0, k0) + dot(q3_1, k1) + dot(q3_2, k2) + dot(q3_3, k3);
        if (c > 0u) { s = s + PAT[row3 + k]; }
        PAT[row3 + k] = s;
        if (last) { let m = max(mx3, s); sum3 = sum3 * exp(mx3 - m) + exp(s - m); mx3 = m; }
      }
    }
  }
  let inv0 = 1.0 / sum0;
  let inv1 = 1.0 / sum1;
  let inv2 = 1.0 / sum2;
  let inv3 = 1.0 / sum3;
  for (var c = 0u; c < chunks; c = c + 1u) {
    var z0_0 = vec4<f32>(0.0); var z0_1 = vec4<f32>(0.0); var z0_2 = vec4<f32>(0.0); var z0_3 = vec4<f32>(0.0);
    var z1_0 = vec4<f32>(0.0); var z1_1 = vec4<f32>(0.0); var z1_2 = vec4<f32>(0.0); var z1_3 = vec4<f32>(0.0);
    var z2_0 = vec4<f32>(0.0); var z2_1 = vec4<f32>(0.0); var z2_2 = vec4<f32>(0.0); var z2_3 = vec4<f32>(0.0);
    var z3_0 = vec4<f32>(0.0); var z3_1 = vec4<f32>(0.0); var z3_2 = vec4<f32>(0.0); var z3_3 = vec4<f32>(0.0);
    for (var k = 0u; k <= imax; k = k + 1u) {
      let vb = at(2u, id.b, k, id.h);
      let v0 = QKV[vb + ce(c, 0u)];
      let v1 = QKV[vb + ce(c, 1u)];
      let v2 = QKV[vb + ce(c, 2u)];
      let v3 = QKV[vb + ce(c, 3u)];
      var p0 = 0.0;
      if (k <= i0) {
        p0 = PAT[row0 + k];
        if (c == 0u) {
          p0 = exp(p0 - mx0) * inv0;
          PAT[row0 + k] = p0;
        }
      }
      z0_0 = z0_0 + p0 * v0; z0_1 = z0_1 + p0 * v1; z0_2 = z0_2 + p0 * v2; z0_3 = z0_3 + p0 * v3;
      var p1 = 0.0;
      if (k <= i1) {
        p1 = PAT[row1 + k];
        if (c == 0u) {
          p1 = exp(p1 - mx1) * inv1;
          PAT[row1 + k] = p1;
        }
      }
      z1_0 = z1_0 + p1 * v0; z1_1 = z1_1 + p1 * v1; z1_2 = z1_2 + p1 * v2; z1_3 = z1_3 + p1 * v3;
      var p2 = 0.0;
      if (k <= i2) {
        p2 = PAT[row2 + k];
        if (c == 0u) {
          p2 = exp(p2 - mx2) * inv2;
          PAT[row2 + k] = p2;
        }
      }
      z2_0 = z2_0 + p2 * v0; z2_1 = z2_1 + p2 * v1; z2_2 = z2_2 + p2 * v2; z2_3 = z2_3 + p2 * v3;
      var p3 = 0.0;
      if (k <= i3) {
        p3 = PAT[row3 + k];
        if (c == 0u) {
          p3 = exp(p3 - mx3) * inv3;
          PAT[row3 + k] = p3;
        }
      }
      z3_0 = z3_0 + p3 * v0; z3_1 = z3_1 + p3 * v1; z3_2 = z3_2 + p3 * v2; z3_3 = z3_3 + p3 * v3;
    }
    if (4u * c + 0u < p.e4) {
      if (ok0) { OUT[zat(id.b, i0, id.h) + 4u * c + 0u] = z0_0; }
      if (ok1) { OUT[zat(id.b, i1, id.h) + 4u * c + 0u] = z1_0; }
      if (ok2) { OUT[zat(id.b, i2, id.h) + 4u * c + 0u] = z2_0; }
      if (ok3) { OUT[zat(id.b, i3, id.h) + 4u * c + 0u] = z3_0; }
    }
    if (4u * c + 1u < p.e4) {
      if (ok0) { OUT[zat(id.b, i0, id.h) + 4u * c + 1u] = z0_1; }
      if (ok1) { OUT[zat(id.b, i1, id.h) + 4u * c + 1u] = z1_1; }
      if (ok2) { OUT[zat(id.b, i2, id.h) + 4u * c + 1u] = z2_1; }
      if (ok3) { OUT[zat(id.b, i3, id.h) + 4u * c + 1u] = z3_1; }
    }
    if (4u * c + 2u < p.e4) {
      if (ok0) { OUT[zat(id.b, i0, id.h) + 4u * c + 2u] = z0_2; }
      if (ok1) { OUT[zat(id.b, i1, id.h) + 4u * c + 2u] = z1_2; }
      if (ok2) { OUT[zat(id.b, i2, id.h) + 4u * c + 2u] = z2_2; }
      if (ok3) { OUT[zat(id.b, i3, id.h) + 4u * c + 2u] = z3_2; }
    }
    if (4u * c + 3u < p.e4) {
      if (ok0) { OUT[zat(id.b, i0, id.h) + 4u * c + 3u] = z0_3; }
      if (ok1) { OUT[zat(id.b, i1, id.h) + 4u * c + 3u] = z1_3; }
      if (ok2) { OUT[zat(id.b, i2, id.h) + 4u * c + 3u] = z2_3; }
      if (ok3) { OUT[zat(id.b, i3, id.h) + 4u * c + 3u] = z3_3; }
    }
  }
  if (ok0) {
    for (var k = i0 + 1u; k < P; k = k + 1u) {
      PAT[row0 + k] = 0.0;
    }
  }
  if (ok1) {
    for (var k = i1 + 1u; k < P; k = k + 1u) {
      PAT[row1 + k] = 0.0;
    }
  }
  if (ok2) {
    for (var k = i2 + 1u; k < P; k = k + 1u) {
      PAT[row2 + k] = 0.0;
    }
  }
  if (ok3) {
    for (var k = i3 + 1u; k < P; k = k + 1u) {
      PAT[row3 + k] = 0.0;
    }
  }
  if (p.flags == 0xffffffffu) {
    DS[0] = DZ[0].x;
  }
}

@compute @workgroup_size(8)
fn bwd_q(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = ids(gid, nwg);
  if (!id.ok) {
    return;
  }
  let P = p.pos;
  let plast = P - 1u;
  let chunks = (p.e4 + 3u) / 4u;
  let i0 = min(id.i0 + 0u, plast);
  let ok0 = id.i0 + 0u < P;
  let i1 = min(id.i0 + 1u, plast);
  let ok1 = id.i0 + 1u < P;
  let i2 = min(id.i0 + 2u, plast);
  let ok2 = id.i0 + 2u < P;
  let i3 = min(id.i0 + 3u, plast);
  let ok3 = id.i0 + 3u < P;
  let imax = i3;
  let rb = ((id.b * p.heads + id.h) * P) * P;
  let row0 = rb + i0 * P;
  var acc0 = 0.0;
  let row1 = rb + i1 * P;
  var acc1 = 0.0;
  let row2 = rb + i2 * P;
  var acc2 = 0.0;
  let row3 = rb + i3 * P;
  var acc3 = 0.0;
  for (var c = 0u; c < chunks; c = c + 1u) {
    let last = c + 1u == chunks;
    let zb0 = zat(id.b, i0, id.h);
    let d0_0 = DZ[zb0 + ce(c, 0u)] * cm(c, 0u);
    let d0_1 = DZ[zb0 + ce(c, 1u)] * cm(c, 1u);
    let d0_2 = DZ[zb0 + ce(c, 2u)] * cm(c, 2u);
    let d0_3 = DZ[zb0 + ce(c, 3u)] * cm(c, 3u);
    let zb1 = zat(id.b, i1, id.h);
    let d1_0 = DZ[zb1 + ce(c, 0u)] * cm(c, 0u);
    let d1_1 = DZ[zb1 + ce(c, 1u)] * cm(c, 1u);
    let d1_2 = DZ[zb1 + ce(c, 2u)] * cm(c, 2u);
    let d1_3 = DZ[zb1 + ce(c, 3u)] * cm(c, 3u);
    let zb2 = zat(id.b, i2, id.h);
    let d2_0 = DZ[zb2 + ce(c, 0u)] * cm(c, 0u);
    let d2_1 = DZ[zb2 + ce(c, 1u)] * cm(c, 1u);
    let d2_2 = DZ[zb2 + ce(c, 2u)] * cm(c, 2u);
    let d2_3 = DZ[zb2 + ce(c, 3u)] * cm(c, 3u);
    let zb3 = zat(id.b, i3, id.h);
    let d3_0 = DZ[zb3 + ce(c, 0u)] * cm(c, 0u);
    let d3_1 = DZ[zb3 + ce(c, 1u)] * cm(c, 1u);
    let d3_2 = DZ[zb3 + ce(c, 2u)] * cm(c, 2u);
    let d3_3 = DZ[zb3 + ce(c, 3u)] * cm(c, 3u);
    for (var k = 0u; k <= imax; k = k + 1u) {
      let vb = at(2u, id.b, k, id.h);
      let v0 = QKV[vb + ce(c, 0u)];
      let v1 = QKV[vb + ce(c, 1u)];
      let v2 = QKV[vb + ce(c, 2u)];
      let v3 = QKV[vb + ce(c, 3u)];
      if (k <= i0) {
        var s = dot(d0_0, v0) + dot(d0_1, v1) + dot(d0_2, v2) + dot(d0_3, v3);
        if (c > 0u) { s = s + DS[row0 + k]; }
        DS[row0 + k] = s;
        if (last) { acc0 = acc0 + PAT[row0 + k] * s; }
      }
      if (k <= i1) {
        var s = dot(d1_0, v0) + dot(d1_1, v1) + dot(d1_2, v2) + dot(d1_3, v3);
        if (c > 0u) { s = s + DS[row1 + k]; }
        DS[row1 + k] = s;
        if (last) { acc1 = acc1 + PAT[row1 + k] * s; }
      }
      if (k <= i2) {
        var s = dot(d2_0, v0) + dot(d2_1, v1) + dot(d2_2, v2) + dot(d2_3, v3);
        if (c > 0u) { s = s + DS[row2 + k]; }
        DS[row2 + k] = s;
        if (last) { acc2 = acc2 + PAT[row2 + k] * s; }
      }
      if (k <= i3) {
        var s = dot(d3_0, v0) + dot(d3_1, v1) + dot(d3_2, v2) + dot(d3_3, v3);
        if (c > 0u) { s = s + DS[row3 + k]; }
        DS[row3 + k] = s;
        if (last) { acc3 = acc3 + PAT[row3 + k] * s; }
      }
    }
  }
  if (ok0) {
    for (var k = i0 + 1u; k < P; k = k + 1u) {
      DS[row0 + k] = 0.0;
    }
  }
  if (ok1) {
    for (var k = i1 + 1u; k < P; k = k + 1u) {
      DS[row1 + k] = 0.0;
    }
  }
  if (ok2) {
    for (var k = i2 + 1u; k < P; k = k + 1u) {
      DS[row2 + k] = 0.0;
    }
  }
  if (ok3) {
    for (var k = i3 + 1u; k < P; k = k + 1u) {
      DS[row3 + k] = 0.0;
    }
  }
  for (var c = 0u; c < chunks; c = c + 1u) {
    var g0_0 = vec4<f32>(0.0); var g0_1 = vec4<f32>(0.0); var g0_2 = vec4<f32>(0.0); var g0_3 = vec4<f32>(0.0);
    var g1_0 = vec4<f32>(0.0); var g1_1 = vec4<f32>(0.0); var g1_2 = vec4<f32>(0.0); var g1_3 = vec4<f32>(0.0);
    var g2_0 = vec4<f32>(0.0); var g2_1 = vec4<f32>(0.0); var g2_2 = vec4<f32>(0.0); var g2_3 = vec4<f32>(0.0);
    var g3_0 = vec4<f32>(0.0); var g3_1 = vec4<f32>(0.0); var g3_2 = vec4<f32>(0.0); var g3_3 = vec4<f32>(0.0);
    for (var k = 0u; k <= imax; k = k + 1u) {
      let kb = at(1u, id.b, k, id.h);
      let k0 = QKV[kb + ce(c, 0u)];
      let k1 = QKV[kb + ce(c, 1u)];
      let k2 = QKV[kb + ce(c, 2u)];
      let k3 = QKV[kb + ce(c, 3u)];
      var s0 = 0.0;
      if (k <= i0) {
        s0 = DS[row0 + k];
        if (c == 0u) {
          s0 = PAT[row0 + k] * (s0 - acc0);
          DS[row0 + k] = s0;
        }
      }
      g0_0 = g0_0 + s0 * k0; g0_1 = g0_1 + s0 * k1; g0_2 = g0_2 + s0 * k2; g0_3 = g0_3 + s0 * k3;
      var s1 = 0.0;
      if (k <= i1) {
        s1 = DS[row1 + k];
        if (c == 0u) {
          s1 = PAT[row1 + k] * (s1 - acc1);
          DS[row1 + k] = s1;
        }
      }
      g1_0 = g1_0 + s1 * k0; g1_1 = g1_1 + s1 * k1; g1_2 = g1_2 + s1 * k2; g1_3 = g1_3 + s1 * k3;
      var s2 = 0.0;
      if (k <= i2) {
        s2 = DS[row2 + k];
        if (c == 0u) {
          s2 = PAT[row2 + k] * (s2 - acc2);
          DS[row2 + k] = s2;
        }
      }
      g2_0 = g2_0 + s2 * k0; g2_1 = g2_1 + s2 * k1; g2_2 = g2_2 + s2 * k2; g2_3 = g2_3 + s2 * k3;
      var s3 = 0.0;
      if (k <= i3) {
        s3 = DS[row3 + k];
        if (c == 0u) {
          s3 = PAT[row3 + k] * (s3 - acc3);
          DS[row3 + k] = s3;
        }
      }
      g3_0 = g3_0 + s3 * k0; g3_1 = g3_1 + s3 * k1; g3_2 = g3_2 + s3 * k2; g3_3 = g3_3 + s3 * k3;
    }
    if (4u * c + 0u < p.e4) {
      if (ok0) { OUT[at(0u, id.b, i0, id.h) + 4u * c + 0u] = g0_0 * p.scale; }
      if (ok1) { OUT[at(0u, id.b, i1, id.h) + 4u * c + 0u] = g1_0 * p.scale; }
      if (ok2) { OUT[at(0u, id.b, i2, id.h) + 4u * c + 0u] = g2_0 * p.scale; }
      if (ok3) { OUT[at(0u, id.b, i3, id.h) + 4u * c + 0u] = g3_0 * p.scale; }
    }
    if (4u * c + 1u < p.e4) {
      if (ok0) { OUT[at(0u, id.b, i0, id.h) + 4u * c + 1u] = g0_1 * p.scale; }
      if (ok1) { OUT[at(0u, id.b, i1, id.h) + 4u * c + 1u] = g1_1 * p.scale; }
      if (ok2) { OUT[at(0u, id.b, i2, id.h) + 4u * c + 1u] = g2_1 * p.scale; }
      if (ok3) { OUT[at(0u, id.b, i3, id.h) + 4u * c + 1u] = g3_1 * p.scale; }
    }
    if (4u * c + 2u < p.e4) {
      if (ok0) { OUT[at(0u, id.b, i0, id.h) + 4u * c + 2u] = g0_2 * p.scale; }
      if (ok1) { OUT[at(0u, id.b, i1, id.h) + 4u * c + 2u] = g1_2 * p.scale; }
      if (ok2) { OUT[at(0u, id.b, i2, id.h) + 4u * c + 2u] = g2_2 * p.scale; }
      if (ok3) { OUT[at(0u, id.b, i3, id.h) + 4u * c + 2u] = g3_2 * p.scale; }
    }
    if (4u * c + 3u < p.e4) {
      if (ok0) { OUT[at(0u, id.b, i0, id.h) + 4u * c + 3u] = g0_3 * p.scale; }
      if (ok1) { OUT[at(0u, id.b, i1, id.h) + 4u * c + 3u] = g1_3 * p.scale; }
      if (ok2) { OUT[at(0u, id.b, i2, id.h) + 4u * c + 3u] = g2_3 * p.scale; }
      if (ok3) { OUT[at(0u, id.b, i3, id.h) + 4u * c + 3u] = g3_3 * p.scale; }
    }
  }
}

@compute @workgroup_size(8)
fn bwd_kv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = ids(gid, nwg);
  if (!id.ok) {
    return;
  }
  let P = p.pos;
  let plast = P - 1u;
  let chunks = (p.e4 + 3u) / 4u;
  let i0 = min(id.i0 + 0u, plast);
  let ok0 = id.i0 + 0u < P;
  let i1 = min(id.i0 + 1u, plast);
  let ok1 = id.i0 + 1u < P;
  let i2 = min(id.i0 + 2u, plast);
  let ok2 = id.i0 + 2u < P;
  let i3 = min(id.i0 + 3u, plast);
  let ok3 = id.i0 + 3u < P;
  let imax = i3;
  let rb = ((id.b * p.heads + id.h) * P) * P;
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
      let qr = rb + q * P;
      let q0 = QKV[qb + ce(c, 0u)];
      let z0 = DZ[zb + ce(c, 0u)];
      let q1 = QKV[qb + ce(c, 1u)];
      let z1 = DZ[zb + ce(c, 1u)];
      let q2 = QKV[qb + ce(c, 2u)];
      let z2 = DZ[zb + ce(c, 2u)];
      let q3 = QKV[qb + ce(c, 3u)];
      let z3 = DZ[zb + ce(c, 3u)];
      let s0 = select(0.0, DS[qr + i0], q >= i0);
      let p0 = select(0.0, PAT[qr + i0], q >= i0);
      gk0_0 = gk0_0 + s0 * q0; gk0_1 = gk0_1 + s0 * q1; gk0_2 = gk0_2 + s0 * q2; gk0_3 = gk0_3 + s0 * q3;
      gv0_0 = gv0_0 + p0 * z0; gv0_1 = gv0_1 + p0 * z1; gv0_2 = gv0_2 + p0 * z2; gv0_3 = gv0_3 + p0 * z3;
      let s1 = select(0.0, DS[qr + i1], q >= i1);
      let p1 = select(0.0, PAT[qr + i1], q >= i1);
      gk1_0 = gk1_0 + s1 * q0; gk1_1 = gk1_1 + s1 * q1; gk1_2 = gk1_2 + s1 * q2; gk1_3 = gk1_3 + s1 * q3;
      gv1_0 = gv1_0 + p1 * z0; gv1_1 = gv1_1 + p1 * z1; gv1_2 = gv1_2 + p1 * z2; gv1_3 = gv1_3 + p1 * z3;
      let s2 = select(0.0, DS[qr + i2], q >= i2);
      let p2 = select(0.0, PAT[qr + i2], q >= i2);
      gk2_0 = gk2_0 + s2 * q0; gk2_1 = gk2_1 + s2 * q1; gk2_2 = gk2_2 + s2 * q2; gk2_3 = gk2_3 + s2 * q3;
      gv2_0 = gv2_0 + p2 * z0; gv2_1 = gv2_1 + p2 * z1; gv2_2 = gv2_2 + p2 * z2; gv2_3 = gv2_3 + p2 * z3;
      let s3 = select(0.0, DS[qr + i3], q >= i3);
      let p3 = select(0.0, PAT[qr + i3], q >= i3);
      gk3_0 = gk3_0 + s3 * q0; gk3_1 = gk3_1 + s3 * q1; gk3_2 = gk3_2 + s3 * q2; gk3_3 = gk3_3 + s3 * q3;
      gv3_0 = gv3_0 + p3 * z0; gv3_1 = gv3_1 + p3 * z1; gv3_2 = gv3_2 + p3 * z2; gv3_3 = gv3_3 + p3 * z3;
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
