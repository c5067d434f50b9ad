// Toy Models of Superposition (Elhage et al. 2022), fused: src/kernels/toy.ts fills it.
//
// Entry point `train`: one workgroup per model instance runs `p.steps` whole training steps:
// it draws the batch (counter-based Philox, so nothing is stored between steps), runs forward
// and backward over the batch, reduces the gradient inside the workgroup and applies Adam, then
// starts the next step. Instances never share data, so a dispatch needs no other workgroup and
// many steps fit in one dispatch.
//
// Entry point `generate`: the same batch as `train` draws at step `p.step0`, written out as
// [batch, instance, feature] for the generic (autodiff) path and for tests.
//
// Models per instance (x: features, n = N, m = M):
//   VARIANT 0 "relu":   h = W x, y = ReLU(Wᵀ h + b), tgt x          (W: [M, N], b: [N])
//   VARIANT 1 "linear": h = W x, y = Wᵀ h + b,        tgt x
//   VARIANT 2 "abs":    h = ReLU(W1 x), y = ReLU(W2 h + b), tgt |x|  (W1: [M, N], W2: [N, M])
// Loss per instance: mean over the batch of Σ_i I_i (y_i − target_i)².
// Parameters per instance, packed: W (M·N, row-major [M, N]), then W2 (N·M, abs only), then b.
//
// Two code paths, chosen by REG:
//   REG true (small N·M), entry point `train`: one workgroup per instance runs `p.steps` whole
//     steps. The generated `reg_step` keeps the instance's parameters and configuration and its
//     row's x, g, h, gh in registers and sums its rows' gradient in P private scalars; the
//     workgroup then adds the WG partial sums, in workgroup memory (REDSCR false) or through the
//     instance's scratch (REDSCR true), and one invocation per parameter applies Adam.
//   REG false (streaming), entry points `rows` then `grads`, one step per pair of dispatches:
//     `rows` runs forward and backward with lanes over rows (RA rows per invocation, so each
//     weight read serves RA rows) and writes x, dL/dy, h, dL/dh to scratch; `grads` sums the
//     outer products over the batch with lanes over features (RB per invocation, so each read of
//     h and dL/dh serves RB features), and applies Adam to those features' parameters.
//   On lavapipe (the CPU adapter) every storage or workgroup read costs about a gather even at
//   a lane-uniform address, and private arrays indexed in loops are slow (and slow to compile),
//   so src/kernels/toy.ts writes the loops over N, M, RA and RB out as explicit scalar code
//   (the GEN placeholder); the loops left here run over rows, blocks, steps and parameters.
// Random bits come from Philox-4x32-10 with a counter (row, block, step, instance) and the seed as
// key: the batch of any step can be redrawn anywhere (the `generate` entry point, the CPU
// reference in src/toy/train.ts) without storing it.

const N: u32 = {{N}}u;
const M: u32 = {{M}}u;
const WG: u32 = {{WG}}u;
const VARIANT: u32 = {{VARIANT}}u;
const REG: bool = {{REG}};
const REDSCR: bool = {{REDSCR}};
// Parameters per instance (M·N + N, or 2·M·N + N for abs).
const P: u32 = {{P}}u;
// Workgroup reduction buffer length: P·WG when REG and not REDSCR, else WG.
const RED: u32 = {{RED}}u;
// Path REG: scratch floats per instance ([WG, P] partial gradients when REDSCR).
const SCR: u32 = {{SCR}}u;
// Streaming path: rows per invocation in `rows`, features per invocation in `grads`.
const RA: u32 = {{RA}}u;
const RB: u32 = {{RB}}u;

const NW: u32 = M * N;
const B_OFF: u32 = P - N;
const NO_LOG: u32 = 0xffffffffu;

struct Params {
  batch: u32,
  // Steps this dispatch runs (train) / unused (generate).
  steps: u32,
  // Global index of the first step: the data counter and Adam's t = step + 1.
  step0: u32,
  n_inst: u32,
  seed_lo: u32,
  seed_hi: u32,
  // Slot of `losses` that receives the last step's loss, or NO_LOG.
  log_slot: u32,
  inv_batch: f32,
  beta1: f32,
  beta2: f32,
  // 1 − β1 and 1 − β2, rounded from f64 like PyTorch's `alpha=1 - beta1`.
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  eps: f32,
  // Streaming path: row tiles and feature blocks per instance.
  tiles: u32,
  fblocks: u32,
  _pad: u32,
  // Per step s of this dispatch: (lr / (1 − β1^t), sqrt(1 − β2^t)) at sched[s / 2].xy or .zw,
  // computed in f64 on the CPU like PyTorch's Adam computes its bias corrections.
  sched: array<vec4<f32>, 64>,
};

@group(0) @binding(0) var<uniform> p: Params;
// Per instance: importance [N], feature probability [N], 1 / probability [N] (0 where 0).
@group(0) @binding(1) var<storage, read> cfg: array<f32>;
// train: parameters [inst, P]. generate: the batch it writes, [batch, inst, N].
@group(0) @binding(2) var<storage, read_write> prm: array<f32>;
// Adam moments [inst, 2, P] (exp_avg then exp_avg_sq).
@group(0) @binding(3) var<storage, read_write> mom: array<f32>;
// Scratch. REG: [inst, SCR]. Streaming: per instance X, G, H, GH, loss partials and the
// gradient (see s_offsets).
@group(0) @binding(4) var<storage, read_write> scr: array<f32>;
// Logged losses [slot, inst].
@group(0) @binding(5) var<storage, read_write> losses: array<f32>;

var<workgroup> red: array<f32, RED>;

// ---------------------------------------------------------------- data

// (hi, lo) of the 64-bit product of two u32, from 16-bit halves (WGSL has no mulhi).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let t = a_hi * b_lo + ((a_lo * b_lo) >> 16u);
  let w = (t & 0xffffu) + a_lo * b_hi;
  return vec2<u32>(a_hi * b_hi + (t >> 16u) + (w >> 16u), a * b);
}

// Philox-4x32-10 (Salmon et al., SC 2011), as in shaders/random.wgsl.
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

// One Philox block (128 bits) gives five features 24 bits each: features 5q .. 5q + 4 of `row`
// at `step` for instance `inst` come from block (row, q, step, inst) under key (seed_lo, seed_hi).
const NQ: u32 = (N + 4u) / 5u;

fn block(row: u32, q: u32, step: u32, inst: u32) -> vec4<u32> {
  return philox(vec4<u32>(row, q, step, inst), vec2<u32>(p.seed_lo, p.seed_hi));
}

// The 24 random bits of slot j (0..4) of a block: the top 24 bits of word j for j < 4; for j = 4,
// the low bytes of words 0, 1, 2.
fn bits24(r: vec4<u32>, j: u32) -> u32 {
  if (j < 4u) {
    return r[j] >> 8u;
  }
  return ((r.x & 0xffu) << 16u) | ((r.y & 0xffu) << 8u) | (r.z & 0xffu);
}

// One feature from 24 random bits: u uniform on [0, 1); present when u < prob, and then u / prob
// (uniform on [0, 1) given presence) is its value, mapped to [−1, 1) for abs.
fn feature(w: u32, prob: f32, inv_prob: f32) -> f32 {
  let u = f32(w) * (1.0 / 16777216.0);
  var v = 0.0;
  if (u < prob) {
    v = u * inv_prob;
    if (VARIANT == 2u) {
      v = 2.0 * v - 1.0;
    }
  }
  return v;
}

@compute @workgroup_size(64)
fn generate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.batch * p.n_inst * NQ) {
    return;
  }
  let q = t % NQ;
  let rest = t / NQ;
  let inst = rest % p.n_inst;
  let row = rest / p.n_inst;
  let r = block(row, q, p.step0, inst);
  let cb = inst * 3u * N;
  for (var j = 0u; j < 5u; j = j + 1u) {
    let i = 5u * q + j;
    if (i < N) {
      let v = feature(bits24(r, j), cfg[cb + N + i], cfg[cb + 2u * N + i]);
      prm[(row * p.n_inst + inst) * N + i] = v;
    }
  }
}

// ---------------------------------------------------------------- training

// Loss term and dL/dy of one feature with importance imp, input xi and output pre-activation o:
// vec2(imp·(y − target)², 2·imp·(y − target)·[o > 0] / batch).
fn out_grad(imp: f32, xi: f32, o: f32) -> vec2<f32> {
  var y = o;
  var tgt = xi;
  if (VARIANT != 1u) {
    y = max(o, 0.0);
  }
  if (VARIANT == 2u) {
    tgt = abs(xi);
  }
  let d = y - tgt;
  var gi = 2.0 * imp * d * p.inv_batch;
  if (VARIANT != 1u && o <= 0.0) {
    gi = 0.0;
  }
  return vec2<f32>(imp * d * d, gi);
}

// Adam update of parameter j (torch.optim.Adam: no weight decay, no amsgrad).
fn adam(pb: u32, mb: u32, j: u32, gr: f32, sc: vec2<f32>) {
  let m1 = p.beta1 * mom[mb + j] + p.one_minus_beta1 * gr;
  let v1 = p.beta2 * mom[mb + P + j] + p.one_minus_beta2 * gr * gr;
  mom[mb + j] = m1;
  mom[mb + P + j] = v1;
  let denom = sqrt(v1) / sc.y + p.eps;
  prm[pb + j] = prm[pb + j] - sc.x * (m1 / denom);
}

// (lr / (1 − β1^t), sqrt(1 − β2^t)) of step s of this dispatch.
fn schedule(s: u32) -> vec2<f32> {
  let sc = p.sched[s / 2u];
  return select(sc.xy, sc.zw, (s & 1u) == 1u);
}

// Keeps every binding statically used by each entry point (the engine binds all six).
fn touch_all() {
  if (p.n_inst == 0xffffffffu) {
    mom[0] = cfg[0];
    losses[0] = prm[0] + scr[0];
  }
}

// Generated by src/kernels/toy.ts with every loop over N, M, RA and RB written out (lavapipe
// runs explicit scalar code several times faster than loops over private arrays):
//   REG:       fn reg_step(pb, cb, sb, lid, step, inst) -> f32
//   streaming: fn rows_body(pb, cb, xo, go, ho, gho, base, step, inst) -> f32
//              fn grads_body(xo, go, ho, gho, gro, first)
{{GEN}}

// Path REG: `p.steps` whole steps of instance `inst` per workgroup.
@compute @workgroup_size(WG)
fn train(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  touch_all();
  let inst = wid.x + wid.y * nwg.x;
  if (inst >= p.n_inst || !REG) {
    return;
  }
  let pb = inst * P;
  let mb = inst * 2u * P;
  let cb = inst * 3u * N;
  let sb = inst * SCR;
  for (var s = 0u; s < p.steps; s = s + 1u) {
    let lsum = reg_step(pb, cb, sb, lid, p.step0 + s, inst);
    storageBarrier();
    workgroupBarrier();
    let sc = schedule(s);
    for (var j = lid; j < P; j = j + WG) {
      var gr = 0.0;
      for (var w = 0u; w < WG; w = w + 1u) {
        if (REDSCR) {
          gr = gr + scr[sb + w * P + j];
        } else {
          gr = gr + red[j * WG + w];
        }
      }
      adam(pb, mb, j, gr, sc);
    }
    storageBarrier();
    workgroupBarrier();
    if (p.log_slot != NO_LOG && s + 1u == p.steps) {
      red[lid] = lsum;
      workgroupBarrier();
      if (lid == 0u) {
        var tot = 0.0;
        for (var w = 0u; w < WG; w = w + 1u) {
          tot = tot + red[w];
        }
        losses[p.log_slot * p.n_inst + inst] = tot * p.inv_batch;
      }
      workgroupBarrier();
    }
  }
}

// ---------------------------------------------------------------- streaming path (two dispatches)

// Scratch of instance inst on the streaming path: X [batch, N], G [batch, N], H [batch, M],
// GH [batch, M], one loss partial per row tile, then the gradient [P]. Returns the offsets of
// X, G, H and GH.
fn s_offsets(inst: u32) -> vec4<u32> {
  let xo = inst * (2u * p.batch * (N + M) + p.tiles + P);
  let go = xo + p.batch * N;
  let ho = go + p.batch * N;
  return vec4<u32>(xo, go, ho, ho + p.batch * M);
}

// Streaming dispatch 1 of 2: forward and backward of RA·WG rows of one instance per workgroup
// (lanes are rows; each weight read serves RA rows). Writes x, dL/dy, h and dL/dh to scratch and
// the tile's loss.
@compute @workgroup_size(WG)
fn rows(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  touch_all();
  let flat = wid.x + wid.y * nwg.x;
  let inst = flat / max(p.tiles, 1u);
  let tile = flat % max(p.tiles, 1u);
  if (inst >= p.n_inst || REG) {
    return;
  }
  let o = s_offsets(inst);
  let lsum = rows_body(inst * P, inst * 3u * N, o.x, o.y, o.z, o.w, tile * WG * RA + lid, p.step0, inst);
  red[lid] = lsum;
  workgroupBarrier();
  if (lid == 0u) {
    var tot = 0.0;
    for (var w = 0u; w < WG; w = w + 1u) {
      tot = tot + red[w];
    }
    scr[o.w + p.batch * M + tile] = tot;
  }
}

// Streaming dispatch 2 of 2: for RB·WG features of one instance per workgroup (lanes are
// features; each read of h and dL/dh serves RB features), the gradient summed over the batch
// and Adam on those features' parameters (W[:, i], W2[i, :], b_i). Logs the instance's loss.
@compute @workgroup_size(WG)
fn grads(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  touch_all();
  let flat = wid.x + wid.y * nwg.x;
  let inst = flat / max(p.fblocks, 1u);
  let fb = flat % max(p.fblocks, 1u);
  if (inst >= p.n_inst || REG) {
    return;
  }
  let o = s_offsets(inst);
  let gro = o.w + p.batch * M + p.tiles;
  let first = fb * WG * RB + lid;
  grads_body(o.x, o.y, o.z, o.w, gro, first);
  let pb = inst * P;
  let mb = inst * 2u * P;
  let sc = schedule(0u);
  for (var t = 0u; t < RB; t = t + 1u) {
    let i = first + t * WG;
    if (i < N) {
      for (var k = 0u; k < M; k = k + 1u) {
        adam(pb, mb, k * N + i, scr[gro + k * N + i], sc);
        if (VARIANT == 2u) {
          adam(pb, mb, NW + i * M + k, scr[gro + NW + i * M + k], sc);
        }
      }
      adam(pb, mb, B_OFF + i, scr[gro + B_OFF + i], sc);
    }
  }
  if (p.log_slot != NO_LOG && fb == 0u && lid == 0u) {
    var tot = 0.0;
    for (var t = 0u; t < p.tiles; t = t + 1u) {
      tot = tot + scr[o.w + p.batch * M + t];
    }
    losses[p.log_slot * p.n_inst + inst] = tot * p.inv_batch;
  }
}
