// AdamW over the whole flat parameter buffer in one dispatch (src/kernels/train_fused.ts),
// PyTorch's formula, with the gradient first scaled by the clipping coefficient CF[0]:
//   g = CF[0] * G; p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//   p -= step_size * m / (sqrt(v) / bc2_sqrt + eps), step_size = lr / (1 - b1^t),
//   bc2_sqrt = sqrt(1 - b2^t). One thread per 4 values (n4 = size / 4; the flat buffer's size
//   is a multiple of 4).

struct Params {
  n4: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  step_size: f32,
  bc2_sqrt: f32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> CF: array<f32>;
@group(0) @binding(3) var<storage, read_write> TH: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> M: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> V: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n4) {
    return;
  }
  let g = G[i] * CF[0];
  let w = TH[i] * (1.0 - p.lr * p.weight_decay);
  let m = p.beta1 * M[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * V[i] + (1.0 - p.beta2) * g * g;
  M[i] = m;
  V[i] = v;
  TH[i] = w - p.step_size * m / (sqrt(v) / p.bc2_sqrt + p.eps);
}
