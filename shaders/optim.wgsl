// Optimizer updates and gradient-norm clipping, in place, in f32. Every entry point shares one
// layout (src/kernels/optim.ts fills it):
//   binding 0  Params (uniform)
//   binding 1  G: read        (gradient; the partial sums for clip_norm; the coefficient for scale)
//   binding 2  P: read_write  (parameter; the partial sums for sumsq; [norm, coef] for clip_norm;
//                              the gradient for scale)
//   binding 3  M: read_write  (momentum buffer / Adam's first moment)
//   binding 4  V: read_write  (Adam's second moment)
// Entry points use only what they need (layout: auto).

struct Params {
  n: u32,
  off_p: u32,
  off_g: u32,
  flags: u32,
  lr: f32,
  // sgd: momentum; adam: beta1; clip_norm: max_norm
  beta1: f32,
  // sgd: dampening; adam: beta2
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  // adam: lr / (1 - beta1^t)
  step_size: f32,
  // adam: sqrt(1 - beta2^t)
  bc2_sqrt: f32,
  _pad: f32,
};

const FIRST: u32 = 1u;
const NESTEROV: u32 = 2u;
const DECOUPLED: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> P: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 256u;
}

// PyTorch SGD without momentum: p -= lr * (g + wd * p).
@compute @workgroup_size(256)
fn sgd_plain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i >= p.n) {
    return;
  }
  let w = P[p.off_p + i];
  let d = G[p.off_g + i] + p.weight_decay * w;
  P[p.off_p + i] = w - p.lr * d;
}

// PyTorch SGD with momentum: d = g + wd*p; buf = d on the first step, else
// momentum*buf + (1 - dampening)*d; p -= lr * (nesterov ? d + momentum*buf : buf).
@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i >= p.n) {
    return;
  }
  let w = P[p.off_p + i];
  let d = G[p.off_g + i] + p.weight_decay * w;
  var buf = d;
  if ((p.flags & FIRST) == 0u) {
    buf = p.beta1 * M[i] + (1.0 - p.beta2) * d;
  }
  M[i] = buf;
  var step = buf;
  if ((p.flags & NESTEROV) != 0u) {
    step = d + p.beta1 * buf;
  }
  P[p.off_p + i] = w - p.lr * step;
}

// PyTorch Adam / AdamW (DECOUPLED): bias-corrected moments,
// p -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps).
@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i >= p.n) {
    return;
  }
  var w = P[p.off_p + i];
  var g = G[p.off_g + i];
  if ((p.flags & DECOUPLED) != 0u) {
    w = w * (1.0 - p.lr * p.weight_decay);
  } else {
    g = g + p.weight_decay * w;
  }
  let m = p.beta1 * M[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * V[i] + (1.0 - p.beta2) * g * g;
  M[i] = m;
  V[i] = v;
  let denom = sqrt(v) / p.bc2_sqrt + p.eps;
  P[p.off_p + i] = w - p.step_size * m / denom;
}

// Sum of squares of G[off_g .. off_g + n): workgroup k writes P[off_p + k]. Launched with
// `flags` workgroups along x (grid-stride loop).
@compute @workgroup_size(256)
fn sumsq(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  let stride = p.flags * 256u;
  var acc = 0.0;
  for (var i = gid.x; i < p.n; i = i + stride) {
    let x = G[p.off_g + i];
    acc = acc + x * x;
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid.x < s) {
      partial[lid.x] = partial[lid.x] + partial[lid.x + s];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    P[p.off_p + wid.x] = partial[0];
  }
}

// One workgroup: norm = sqrt(sum of the n partial sums in G); P[0] = norm,
// P[1] = min(1, max_norm / (norm + eps)).
@compute @workgroup_size(256)
fn clip_norm(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = lid.x; i < p.n; i = i + 256u) {
    acc = acc + G[i];
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid.x < s) {
      partial[lid.x] = partial[lid.x] + partial[lid.x + s];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let norm = sqrt(partial[0]);
    P[0] = norm;
    P[1] = min(1.0, p.beta1 / (norm + p.eps));
  }
}

// P[off_p + i] *= G[1] (the clip coefficient).
@compute @workgroup_size(256)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i >= p.n) {
    return;
  }
  P[p.off_p + i] = P[p.off_p + i] * G[1];
}
