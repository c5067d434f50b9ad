// Unembedding and next-token cross-entropy of the fused training step
// (src/kernels/train_fused.ts), and the loss / gradient-norm reduction.
//
//   ce      one thread per row n = (b, i) of the logits LG [rows, vocab] (vocab a multiple of 4):
//           with target tok[n + 1] (none at the last position: loss 0, gradient 0),
//           RL[n] = logsumexp - logit[target], and LG[n] becomes d loss / d logits =
//           (softmax - onehot) * inv_count, the gradient of the mean over the batch * (pos - 1)
//           predictions. (XF and the W_U offsets are unused here: the logits come from the
//           linear kernel.)
//   reduce  one workgroup: LB[loss_at] = sum(RL) * inv_count; LB[norm_at] = ||G||_2 over the
//           first n_grad values; CF[0] = min(1, max_norm / (norm + 1e-6)) (1 without clipping).
// Every entry point uses every binding.

struct Params {
  rows: u32,
  pos: u32,
  d: u32,
  vocab: u32,
  wu_off: u32,
  bu_off: u32,
  inv_count: f32,
  n_grad: u32,
  loss_at: u32,
  norm_at: u32,
  max_norm: f32,
  flags: u32,
};

const CLIP: u32 = 1u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> XF: array<f32>;
@group(0) @binding(2) var<storage, read> TH: array<f32>;
@group(0) @binding(3) var<storage, read> TOK: array<i32>;
@group(0) @binding(4) var<storage, read_write> LG: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> RL: array<f32>;
@group(0) @binding(6) var<storage, read_write> LB: array<f32>;
@group(0) @binding(7) var<storage, read_write> CF: array<f32>;

var<workgroup> part: array<vec2<f32>, 256>;

@compute @workgroup_size(8)
fn ce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = gid.x + gid.y * nwg.x * 8u;
  if (n >= p.rows) {
    return;
  }
  let V4 = p.vocab / 4u;
  let lo = n * V4;
  if (n % p.pos == p.pos - 1u) {
    for (var v = 0u; v < V4; v = v + 1u) {
      LG[lo + v] = vec4<f32>(0.0);
    }
    RL[n] = 0.0;
    return;
  }
  let tgt = u32(clamp(TOK[n + 1u], 0, i32(p.vocab) - 1));
  var m4 = vec4<f32>(-3.0e38);
  for (var v = 0u; v < V4; v = v + 1u) {
    m4 = max(m4, LG[lo + v]);
  }
  let mx = max(max(m4.x, m4.y), max(m4.z, m4.w));
  var s4 = vec4<f32>(0.0);
  for (var v = 0u; v < V4; v = v + 1u) {
    s4 = s4 + exp(LG[lo + v] - mx);
  }
  let lse = mx + log(s4.x + s4.y + s4.z + s4.w);
  RL[n] = lse - LG[lo + tgt / 4u][tgt % 4u];
  let t4 = tgt / 4u;
  let onehot = vec4<f32>(vec4<u32>(0u, 1u, 2u, 3u) == vec4<u32>(tgt % 4u));
  for (var v = 0u; v < V4; v = v + 1u) {
    var g = exp(LG[lo + v] - lse);
    if (v == t4) {
      g = g - onehot;
    }
    LG[lo + v] = g * p.inv_count;
  }
  if (p.flags == 0xffffffffu) {
    LB[0] = CF[0] + XF[0] + TH[0];
  }
}

@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.x;
  var s = vec2<f32>(0.0);
  for (var i = t; i < p.rows; i = i + 256u) {
    s.x = s.x + RL[i];
  }
  // The gradients are bound as XF here.
  for (var i = t; i < p.n_grad; i = i + 256u) {
    let g = XF[i];
    s.y = s.y + g * g;
  }
  part[t] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (t < w) {
      part[t] = part[t] + part[t + w];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let norm = sqrt(part[0].y);
    LB[p.loss_at] = part[0].x * p.inv_count;
    LB[p.norm_at] = norm;
    var c = 1.0;
    if ((p.flags & CLIP) != 0u) {
      c = min(1.0, p.max_norm / (norm + 1e-6));
    }
    CF[0] = c;
  }
  if (p.flags == 0xffffffffu) {
    LG[0] = vec4<f32>(TH[0] + f32(TOK[0]));
  }
}
