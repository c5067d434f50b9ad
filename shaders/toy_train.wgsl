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
//   REG false (streaming): entry point `pack` once per call copies each instance's parameters and
//     configuration into feature rows in scratch (see the streaming section), then two
//     dispatches per step: `rows` (lanes over rows, RA rows per invocation) draws x, runs the
//     forward pass and dL/dh and writes h and dL/dh of each row; `grads` (lanes over blocks of
//     five features, FB blocks per invocation, one chunk of rows per workgroup) loops over its
//     rows, redraws x, recomputes the output and dL/dy of its features from h, sums the gradient
//     of their parameters and applies Adam to them (updating the feature rows too); with more
//     than one chunk of rows, `adam_chunks` adds the chunks up and applies Adam instead.
//   On lavapipe (the CPU adapter, Mesa 22) a storage or workgroup read in a loop runs as a
//   per-lane loop with branches even at a lane-uniform address (a vec4 read costs about as much
//   as a scalar one), both branches of an `if` always run, every update of a private value in a
//   loop is masked, and private values spilled to the stack are cheap. So the streaming path's
//   hot loops read vec4s from a texture mirror of the scratch (`hot_load`; texel fetches are
//   branch-free gathers), keep what a loop reuses in private values, update the sums once per
//   several terms, and recompute (the random draw, the output) rather than store and reload.
//   src/kernels/toy.ts writes the loops over M, RA and a lane's features (and N on the REG path)
//   out as explicit scalar code (the GEN placeholder); the loops left here run over rows,
//   blocks, steps and parameters.
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
// Streaming path: rows per invocation in `rows`, blocks of five features per invocation in
// `grads`.
const RA: u32 = {{RA}}u;
const FB: u32 = {{FB}}u;
// Streaming path: vec4s holding M floats, and vec4s per feature row of the packed parameters.
const MV: u32 = {{MV}}u;
const FS: u32 = {{FS}}u;

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
  // Streaming path: row tiles and feature-block groups (workgroups of `grads`) per instance,
  // where the regions of scratch start (vec4s, see s_fr), and the row chunks of `grads`.
  tiles: u32,
  fblocks: u32,
  hg_off: u32,
  gr_off: u32,
  lp_off: u32,
  chunks: u32,
  chunk_rows: u32,
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
// Scratch, as vec4s (the streaming path reads vec4s; scalars go through scr_get / scr_set).
// REG: [inst, SCR] floats. Streaming: the regions of `s_fr`.
@group(0) @binding(4) var<storage, read_write> scr: array<vec4<f32>>;
// Logged losses [slot, inst].
@group(0) @binding(5) var<storage, read_write> losses: array<f32>;

var<workgroup> red: array<f32, RED>;

// Float j of scratch.
fn scr_get(j: u32) -> f32 {
  return scr[j >> 2u][j & 3u];
}

fn scr_set(j: u32, v: f32) {
  scr[j >> 2u][j & 3u] = v;
}

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

// Adam update of parameter j (torch.optim.Adam: no weight decay, no amsgrad). Returns the new
// value.
fn adam(pb: u32, mb: u32, j: u32, gr: f32, sc: vec2<f32>) -> f32 {
  let m1 = p.beta1 * mom[mb + j] + p.one_minus_beta1 * gr;
  let v1 = p.beta2 * mom[mb + P + j] + p.one_minus_beta2 * gr * gr;
  mom[mb + j] = m1;
  mom[mb + P + j] = v1;
  let denom = sqrt(v1) / sc.y + p.eps;
  let w = prm[pb + j] - sc.x * (m1 / denom);
  prm[pb + j] = w;
  return w;
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
    losses[0] = prm[0] + scr[0].x;
  }
}

// Generated by src/kernels/toy.ts with the loops over M, RA and a lane's features (and over N on
// the REG path) written out (lavapipe runs explicit scalar code several times faster than loops
// over private arrays):
//   REG:       fn reg_step(pb, cb, sb, lid, step, inst) -> f32
//   streaming: fn hot_load(j) -> vec4<f32> (scratch vec4 j, from storage or its texture mirror)
//              fn rows_body(fr0, hg0, first, step, inst) -> f32
//              fn grads_body(fr0, hg0, grf, q0, r0, r1, step, inst)
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
          gr = gr + scr_get(sb + w * P + j);
        } else {
          gr = gr + red[j * WG + w];
        }
      }
      _ = adam(pb, mb, j, gr, sc);
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

// ---------------------------------------------------------------- streaming path

// Offset of the output weights (W for relu and linear, W2 for abs) in a feature row, and of the
// constants vec4.
const OW: u32 = select(0u, MV, VARIANT == 2u);
const CST: u32 = FS - 1u;
// vec4s of the gradient (P floats).
const PV: u32 = (P + 3u) / 4u;

// Scratch on the streaming path, in vec4s, one region after another (each holding every
// instance):
//   feature rows [inst, N, FS] at 0: row i holds column i of W (MV vec4s, zero past M), for abs
//     row i of W2 (MV vec4s), then (probability, 1 / probability, importance, b_i);
//   rows [inst, batch, 2·MV] at p.hg_off: h then dL/dh of each row (written by `rows`, read by
//     `grads`);
//   gradients [chunk, inst, PV] at p.gr_off (P floats each, laid out like the parameters): the
//     sum over one chunk of rows;
//   loss partials [inst, tiles · WG] floats at p.lp_off (one per `rows` invocation), then one
//     per chunk [inst, chunks].
// On CPU adapters the first two regions are copied into a texture after each dispatch that
// writes them, and the hot loops read that (`hot_load`).
// llvmpipe ends every loop of an invocation once it has run 65535 iterations in all, so `grads`
// splits the batch into chunks of p.chunk_rows rows (one workgroup each); with more than one
// chunk, `adam` adds the chunks' gradients and losses and applies Adam.
fn s_fr(inst: u32) -> u32 {
  return inst * N * FS;
}

fn s_hg(inst: u32) -> u32 {
  return p.hg_off + inst * p.batch * 2u * MV;
}

// Float index of the gradient of the instance over a chunk of rows.
fn s_gr(inst: u32, chunk: u32) -> u32 {
  return 4u * (p.gr_off + (chunk * p.n_inst + inst) * PV);
}

// Float index of the instance's loss partials.
fn s_lp(inst: u32) -> u32 {
  return 4u * p.lp_off + inst * p.tiles * WG;
}

// Float index of the instance's per-chunk losses.
fn s_lc(inst: u32) -> u32 {
  return 4u * p.lp_off + p.n_inst * p.tiles * WG + inst * p.chunks;
}

// Once per call: the feature rows of every instance from the parameters and configuration.
@compute @workgroup_size(64)
fn pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  touch_all();
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.n_inst * N || REG) {
    return;
  }
  let inst = t / N;
  let i = t % N;
  let fr = s_fr(inst) + i * FS;
  let pb = inst * P;
  let cb = inst * 3u * N;
  for (var v = 0u; v < MV; v = v + 1u) {
    var c = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e = e + 1u) {
      let k = min(4u * v + e, M - 1u);
      if (4u * v + e < M) {
        c[e] = prm[pb + k * N + i];
        c2[e] = prm[pb + NW + i * M + k];
      }
    }
    scr[fr + v] = c;
    if (VARIANT == 2u) {
      scr[fr + MV + v] = c2;
    }
  }
  scr[fr + CST] = vec4<f32>(cfg[cb + N + i], cfg[cb + 2u * N + i], cfg[cb + i], prm[pb + B_OFF + i]);
}

// Streaming dispatch 1 of 2: forward pass and dL/dh of RA·WG rows of one instance per workgroup
// (lanes are rows; each feature-row read serves RA rows). Writes h and dL/dh of each row and
// the invocation's loss partial.
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
  let lsum = rows_body(s_fr(inst), s_hg(inst), tile * WG * RA + lid, p.step0, inst);
  scr_set(s_lp(inst) + tile * WG + lid, lsum);
}

// Adam on the parameters of feature i (W[:, i], W2[i, :], b_i) with their gradients at grf,
// updating the feature row too.
fn adam_feature(inst: u32, i: u32, grf: u32, chunks: u32, sc: vec2<f32>) {
  let pb = inst * P;
  let mb = inst * 2u * P;
  let fr = s_fr(inst) + i * FS;
  let cstride = 4u * p.n_inst * PV;
  for (var k = 0u; k < M; k = k + 1u) {
    var g = 0.0;
    for (var c = 0u; c < chunks; c = c + 1u) {
      g = g + scr_get(grf + c * cstride + k * N + i);
    }
    scr_set(4u * fr + k, adam(pb, mb, k * N + i, g, sc));
    if (VARIANT == 2u) {
      var g2 = 0.0;
      for (var c = 0u; c < chunks; c = c + 1u) {
        g2 = g2 + scr_get(grf + c * cstride + NW + i * M + k);
      }
      scr_set(4u * (fr + MV) + k, adam(pb, mb, NW + i * M + k, g2, sc));
    }
  }
  var gb = 0.0;
  for (var c = 0u; c < chunks; c = c + 1u) {
    gb = gb + scr_get(grf + c * cstride + B_OFF + i);
  }
  scr_set(4u * (fr + CST) + 3u, adam(pb, mb, B_OFF + i, gb, sc));
}

// Streaming dispatch 2 of 2: for FB blocks of five features per invocation (lanes are feature
// blocks; each read of a row's h and dL/dh serves 5·FB features) and one chunk of rows per
// workgroup, the gradient of those features' parameters (W[:, i], W2[i, :], b_i) summed over the
// chunk; with one chunk, then Adam on them and the instance's loss.
@compute @workgroup_size(WG)
fn grads(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  touch_all();
  let flat = wid.x + wid.y * nwg.x;
  let per = max(p.fblocks * p.chunks, 1u);
  let inst = flat / per;
  let fb = flat % per % max(p.fblocks, 1u);
  let chunk = flat % per / max(p.fblocks, 1u);
  if (inst >= p.n_inst || REG) {
    return;
  }
  let grf = s_gr(inst, chunk);
  let q0 = (fb * WG + lid) * FB;
  if (5u * q0 < N) {
    let r0 = chunk * p.chunk_rows;
    grads_body(s_fr(inst), s_hg(inst), grf, q0, r0, min(r0 + p.chunk_rows, p.batch), p.step0, inst);
    if (p.chunks == 1u) {
      let sc = schedule(0u);
      let end = min(5u * (q0 + FB), N);
      for (var i = 5u * q0; i < end; i = i + 1u) {
        adam_feature(inst, i, grf, 1u, sc);
      }
    }
  }
  if (p.log_slot != NO_LOG && fb == 0u && lid == 0u) {
    // This chunk's share of the loss partials.
    let total = p.tiles * WG;
    let share = (total + p.chunks - 1u) / p.chunks;
    let lp = s_lp(inst);
    var tot = 0.0;
    for (var t = chunk * share; t < min(total, (chunk + 1u) * share); t = t + 1u) {
      tot = tot + scr_get(lp + t);
    }
    if (p.chunks == 1u) {
      losses[p.log_slot * p.n_inst + inst] = tot * p.inv_batch;
    } else {
      scr_set(s_lc(inst) + chunk, tot);
    }
  }
}

// With more than one chunk of rows: for each feature of each instance, Adam on its parameters
// with the gradients of the chunks added; logs the instance's loss.
@compute @workgroup_size(64)
fn adam_chunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  touch_all();
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.n_inst * N || REG) {
    return;
  }
  let inst = t / N;
  let i = t % N;
  adam_feature(inst, i, s_gr(inst, 0u), p.chunks, schedule(0u));
  if (p.log_slot != NO_LOG && i == 0u) {
    var tot = 0.0;
    for (var c = 0u; c < p.chunks; c = c + 1u) {
      tot = tot + scr_get(s_lc(inst) + c);
    }
    losses[p.log_slot * p.n_inst + inst] = tot * p.inv_batch;
  }
}
