/**
 * A fused training step for small attention-only transformers: forward, backward, loss,
 * gradient norm, clipping and AdamW in 11 + 12 per layer dispatches with layer norm (35 for 2
 * layers, where the autodiff path needs 255), every buffer allocated once, no readback.
 *
 * The parameters live in one flat f32 buffer in TransformerLens state-dict order
 * (`paramShapes`), so the gradient, both Adam moments, the norm and the update are one buffer
 * each and one dispatch each; the kernels read every weight in place from it (see
 * shaders/train_linear.wgsl for how W_Q, W_K, W_V [H, D, E] are read as one [D, 3HE] matrix).
 * The forward pass is TransformerLens's (embed + pos_embed, per block ln1 → attention → add,
 * ln_final, unembed) and the loss is the mean next-token cross-entropy of `model.loss`; the
 * gradients match the autodiff's (tests/train/trainer_test.ts).
 *
 * Supported: attention-only, `positionalEmbedding` "standard", `normalization` "LN", "LNPre"
 * or null, d_head ≤ 64 ({@link fusedUnsupported} says why a config is not).
 *
 * @module
 */

import linearSrc from "../../shaders/train_linear.wgsl" with { type: "text" };
import attnSrc from "../../shaders/train_attn.wgsl" with { type: "text" };
import lnSrc from "../../shaders/train_ln.wgsl" with { type: "text" };
import embedSrc from "../../shaders/train_embed.wgsl" with { type: "text" };
import lossSrc from "../../shaders/train_loss.wgsl" with { type: "text" };
import adamSrc from "../../shaders/train_adam.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { sizeOf } from "../tensor.ts";
import { empty, zeros } from "../ops/creation.ts";
import { keep } from "../memory.ts";
import { type HookedTransformerConfig, paramShapes } from "../model/config.ts";
import type { HookedTransformer } from "../model/hooked_transformer.ts";
import { Params } from "./_util.ts";

/** Largest d_head of the fused attention kernels (their private arrays). */
export const FUSED_MAX_D_HEAD = 64;
/** Largest vocabulary of the fused path (its embedding gradient scans every row per token id). */
export const FUSED_MAX_VOCAB = 4096;

/**
 * Why the fused step cannot train `cfg` (a sentence), or null when it can.
 *
 * @example
 * ```ts
 * fusedUnsupported(model.cfg); // null for a small attention-only model
 * ```
 */
export function fusedUnsupported(cfg: HookedTransformerConfig): string | null {
  if (!cfg.attnOnly) return "the model has MLPs (the fused step is for attention-only models)";
  if (cfg.positionalEmbedding !== "standard") {
    return `positionalEmbedding is "${cfg.positionalEmbedding}" (the fused step needs "standard")`;
  }
  if (cfg.dHead > FUSED_MAX_D_HEAD) {
    return `dHead ${cfg.dHead} is more than ${FUSED_MAX_D_HEAD}`;
  }
  if (cfg.dVocab > FUSED_MAX_VOCAB) return `dVocab ${cfg.dVocab} is more than ${FUSED_MAX_VOCAB}`;
  for (const [k, v] of [["dModel", cfg.dModel], ["dHead", cfg.dHead], ["dVocab", cfg.dVocab]]) {
    if ((v as number) % 4 !== 0) return `${k} ${v} is not a multiple of 4`;
  }
  if (cfg.nLayers < 1) return "the model has no layers";
  return null;
}

/** Why the fused step cannot take batches of this shape on this engine, or null. */
export function fusedShapeUnsupported(eng: Engine, batch: number, pos: number): string | null {
  // Its weight-gradient, embedding and LayerNorm-weight kernels loop over every row.
  if (batch * pos > eng.loopBudget) {
    return `${batch} x ${pos} = ${batch * pos} rows is more than ${eng.loopBudget} on this ` +
      `adapter (its kernels loop over every row, and llvmpipe stops loops after 65535 iterations)`;
  }
  return null;
}

/** Where a parameter lives in the flat buffer (elements). */
export interface FlatSlot {
  offset: number;
  size: number;
  shape: readonly number[];
}

/** Offsets of every parameter in the flat buffer, in state-dict order; and the total. */
export function flatLayout(
  cfg: HookedTransformerConfig,
): { slots: Map<string, FlatSlot>; size: number } {
  const slots = new Map<string, FlatSlot>();
  let at = 0;
  for (const [name, shape] of paramShapes(cfg)) {
    const size = sizeOf(shape);
    slots.set(name, { offset: at, size, shape });
    at += size;
  }
  return { slots, size: at };
}

/** Hyperparameters of one {@link FusedAttnOnly.step}. */
export interface FusedStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Adam step count, from 1. */
  t: number;
  /** Clip the global gradient norm to this (null: no clipping). */
  maxNorm: number | null;
  /** f32 buffer receiving the mean loss at `lossAt` and the gradient norm at `normAt`. */
  log: Tensor;
  lossAt: number;
  normAt: number;
}

/** Queries per thread of attention's fwd and bwd_q, keys per thread of bwd_kv (the shader's). */
const ATTN_QT = 8;
const ATTN_KT = 4;
const ACCUM_LN = 1;
const NOAFFINE = 2;
const BIAS = 1;
const RESID = 2;
const ACCUM = 4;

/**
 * The fused step's buffers for one model shape and batch shape, and the dispatches of a step.
 *
 * @example
 * ```ts
 * const f = new FusedAttnOnly(model.engine, model.cfg, 32, 48);
 * f.loadParams(model);
 * f.step(tokens, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, t: 1,
 *   maxNorm: 1, log, lossAt: 0, normAt: 1 });
 * f.storeParams(model);
 * ```
 */
export class FusedAttnOnly {
  readonly cfg: HookedTransformerConfig;
  readonly engine: Engine;
  readonly batch: number;
  readonly pos: number;
  readonly slots: Map<string, FlatSlot>;
  readonly size: number;
  /** Flat parameters, gradients, Adam moments. */
  readonly theta: Tensor;
  readonly grad: Tensor;
  readonly m: Tensor;
  readonly v: Tensor;
  #resid: Tensor[];
  #xn: Tensor[];
  #stats: Tensor[];
  #qkv: Tensor[];
  #pat: Tensor[];
  #z: Tensor[];
  #lg: Tensor;
  #rl: Tensor;
  #dres: Tensor;
  #dxn: Tensor;
  #dz: Tensor;
  #dqkv: Tensor;
  #ds: Tensor;
  #cf: Tensor;
  #dummy: Tensor;
  #all: Tensor[] = [];

  constructor(eng: Engine, cfg: HookedTransformerConfig, batch: number, pos: number) {
    const why = fusedUnsupported(cfg);
    if (why) throw new Error(`Cannot make the fused training step: ${why}`);
    const whyShape = fusedShapeUnsupported(eng, batch, pos);
    if (whyShape) throw new RangeError(`Cannot make the fused training step: ${whyShape}`);
    if (pos > cfg.nCtx || pos < 2) {
      throw new RangeError(
        `Cannot make the fused training step: ${pos} positions (needs 2..nCtx ${cfg.nCtx})`,
      );
    }
    this.cfg = cfg;
    this.engine = eng;
    this.batch = batch;
    this.pos = pos;
    const { slots, size } = flatLayout(cfg);
    this.slots = slots;
    this.size = size;
    const mk = (shape: number[], name: string, dtype: "f32" = "f32") => {
      const t = keep(empty(shape, dtype, eng));
      t.name = name;
      this.#all.push(t);
      return t;
    };
    const mkZero = (name: string) => {
      const t = keep(zeros([size], { engine: eng }));
      t.name = name;
      this.#all.push(t);
      return t;
    };
    this.theta = mk([size], "fused.theta");
    this.grad = mk([size], "fused.grad");
    this.m = mkZero("fused.adam_m");
    this.v = mkZero("fused.adam_v");
    const { nLayers: L, dModel: D, nHeads: H, dHead: E, dVocab: V } = cfg;
    const N = batch * pos;
    const ln = cfg.normalization !== null;
    this.#resid = Array.from({ length: L + 1 }, (_, l) => mk([N, D], `fused.resid${l}`));
    this.#xn = Array.from(
      { length: L + 1 },
      (_, l) => ln ? mk([N, D], `fused.xn${l}`) : this.#resid[l],
    );
    this.#stats = Array.from({ length: L + 1 }, (_, l) => mk([N, 2], `fused.lnstats${l}`));
    this.#qkv = Array.from({ length: L }, (_, l) => mk([N, 3 * H * E], `fused.qkv${l}`));
    // Pattern and dscores rows padded to a multiple of 8 (vec4 access in train_attn.wgsl).
    const pp = Math.ceil(pos / 8) * 8;
    this.#pat = Array.from({ length: L }, (_, l) => mk([batch, H, pos, pp], `fused.pattern${l}`));
    this.#z = Array.from({ length: L }, (_, l) => mk([N, H * E], `fused.z${l}`));
    this.#lg = mk([N, V], "fused.dlogits");
    this.#rl = mk([N], "fused.rowloss");
    this.#dres = mk([N, D], "fused.dresid");
    this.#dxn = mk([N, D], "fused.dxn");
    this.#dz = mk([N, H * E], "fused.dz");
    this.#dqkv = mk([N, 3 * H * E], "fused.dqkv");
    this.#ds = mk([batch, H, pos, pp], "fused.dscores");
    this.#cf = mk([4], "fused.clipcoef");
    this.#dummy = mk([4], "fused.dummy");
  }

  /** Offset of a parameter (throws with the name when it is not one). */
  off(name: string): number {
    const s = this.slots.get(name);
    if (!s) throw new Error(`The fused training step has no parameter "${name}"`);
    return s.offset;
  }

  /** Copy the model's parameters into the flat buffer (encoded copies, no dispatch). */
  loadParams(model: HookedTransformer): void {
    for (const [name, t] of model.stateDict()) {
      const s = this.slots.get(name)!;
      this.#checkParam(name, t, s);
      this.engine.copy(t.buffer, t.offset * 4, this.theta.buffer, s.offset * 4, s.size * 4);
    }
  }

  /** Copy the flat parameters back into the model's tensors (encoded copies, no dispatch). */
  storeParams(model: HookedTransformer): void {
    for (const [name, t] of model.stateDict()) {
      const s = this.slots.get(name)!;
      this.#checkParam(name, t, s);
      this.engine.copy(this.theta.buffer, s.offset * 4, t.buffer, t.offset * 4, s.size * 4);
    }
  }

  #checkParam(name: string, t: Tensor, s: FlatSlot | undefined) {
    if (!s || t.size !== s.size || !t.isContiguous || t.dtype !== "f32") {
      throw new Error(
        `Cannot copy parameter "${name}" ${t.describe()}: the fused step expects a contiguous ` +
          `f32 tensor of ${s?.size ?? 0} elements`,
      );
    }
  }

  #run(
    label: string,
    key: string,
    src: string,
    entryPoint: string,
    params: Params,
    inputs: Tensor[],
    outputs: Tensor[],
    threads: number,
    wg = 64,
  ): void {
    const eng = this.engine;
    eng.run({
      label: `train.${label}`,
      key,
      code: () => src,
      entryPoint,
      params: params.bytes(),
      inputs: inputs.map((t) => t.buffer),
      outputs: outputs.map((t) => t.buffer),
      workgroups: wg === 256 ? [1] : eng.grid(threads, wg),
    });
  }

  /** Linear forward: O = X @ W (+ bias) (+ R). X [M, K] at offset 0; all sizes multiples of 4. */
  #linFwd(
    X: Tensor,
    K: number,
    N: number,
    G: number,
    wOff: number,
    bOff: number | null,
    R: Tensor | null,
    O: Tensor,
  ) {
    const M = X.shape[0];
    const p = new Params()
      .u32(M).u32(N / 4).u32(K / 4).u32(G / 4)
      .u32(0).u32(K / 4).u32(0).u32(0)
      .u32(0).u32(N / 4).u32(0).u32(N / 4)
      .u32(wOff / 4).u32((bOff ?? 0) / 4).u32((bOff !== null ? BIAS : 0) | (R ? RESID : 0))
      .u32(N);
    const tiles = Math.ceil(M / 16) * Math.ceil(N / 16);
    this.#run(
      "linear.fwd",
      "train_linear",
      linearSrc,
      "fwd",
      p,
      [
        X,
        this.theta,
        R ?? this.#dummy,
      ],
      [O],
      tiles,
      8,
    );
  }

  /** Linear input gradient: O (+)= dY @ Wᵀ, dY [M, N], O [M, K]. */
  #linDx(dY: Tensor, K: number, N: number, G: number, wOff: number, O: Tensor, accum: boolean) {
    const M = dY.shape[0];
    const p = new Params()
      .u32(M).u32(N / 4).u32(K / 4).u32(G / 4)
      .u32(0).u32(N / 4).u32(0).u32(0)
      .u32(0).u32(0).u32(0).u32(K / 4)
      .u32(wOff / 4).u32(0).u32(accum ? ACCUM : 0).u32(N);
    const tiles = Math.ceil(M / 16) * Math.ceil(K / 16);
    this.#run(
      "linear.dx",
      "train_linear",
      linearSrc,
      "dx",
      p,
      [dY, this.theta, this.#dummy],
      [
        O,
      ],
      tiles,
      8,
    );
  }

  /** Linear weight gradient: grad(W) = Xᵀ dY, grad(b) = Σ dY; X [M, K], dY [M, N]. */
  #linDw(X: Tensor, dY: Tensor, K: number, N: number, G: number, wOff: number, bOff: number) {
    const M = X.shape[0];
    const p = new Params()
      .u32(M).u32(N / 4).u32(K / 4).u32(G / 4)
      .u32(0).u32(K / 4).u32(0).u32(N / 4)
      .u32(0).u32(0).u32(0).u32(0)
      .u32(wOff / 4).u32(bOff / 4).u32(BIAS).u32(N);
    const tiles = Math.ceil(K / 16) * Math.ceil(N / 16);
    this.#run(
      "linear.dw",
      "train_linear",
      linearSrc,
      "dw",
      p,
      [X, dY, this.#dummy],
      [
        this.grad,
      ],
      tiles,
      8,
    );
  }

  #lnParams(rows: number, flags: number, prefix: string | null): Params {
    const affine = this.cfg.normalization === "LN" && prefix !== null;
    const w = affine ? this.off(`${prefix}.w`) : 0;
    const b = affine ? this.off(`${prefix}.b`) : 0;
    return new Params()
      .u32(rows).u32(this.cfg.dModel / 4).f32(this.cfg.eps).u32(flags | (affine ? 0 : NOAFFINE))
      .u32(w / 4).u32(b / 4).u32(w / 4).u32(b / 4);
  }

  /**
   * Encode the forward and backward passes on `tokens` (i32 [batch, pos], offset 0): the
   * gradients land in {@link grad}, each row's loss in the row-loss buffer. No update.
   */
  forwardBackward(tokens: Tensor): void {
    const { nLayers: L, dModel: D, nHeads: H, dHead: E, dVocab: V } = this.cfg;
    const B = this.batch;
    const P = this.pos;
    const N = B * P;
    if (tokens.dtype !== "i32" || tokens.size !== N || tokens.offset !== 0) {
      throw new RangeError(
        `Cannot run the fused training step: tokens ${tokens.describe()} must be i32 [${B}, ${P}] at offset 0`,
      );
    }
    const ln = this.cfg.normalization !== null;
    const HE = H * E;
    const th = this.theta;
    const lnName = (l: number) => (l < L ? `blocks.${l}.ln1` : "ln_final");

    // ---- forward
    const pe = new Params().u32(N).u32(P).u32(D).u32(V)
      .u32(this.off("embed.W_E")).u32(this.off("pos_embed.W_pos")).u32(0).u32(0);
    this.#run("embed.fwd", "train_embed", embedSrc, "fwd", pe, [tokens, th, this.#dummy], [
      this.#resid[0],
      this.grad,
    ], (N * D) / 4);
    const lnFwd = (l: number) => {
      if (!ln) return;
      this.#run(
        "ln.fwd",
        "train_ln",
        lnSrc,
        "fwd",
        this.#lnParams(N, 0, lnName(l)),
        [
          this.#resid[l],
          th,
          this.#dummy,
        ],
        [this.#xn[l], this.#stats[l], this.grad],
        N,
      );
    };
    const pa = new Params().u32(B).u32(H).u32(P).u32(E / 4).f32(1 / Math.sqrt(E)).u32(0)
      .u32(Math.ceil(P / 8) * 2).u32(0);
    for (let l = 0; l < L; l++) {
      const a = `blocks.${l}.attn`;
      lnFwd(l);
      this.#linFwd(
        this.#xn[l],
        D,
        3 * HE,
        E,
        this.off(`${a}.W_Q`),
        this.off(`${a}.b_Q`),
        null,
        this.#qkv[l],
      );
      this.#run(
        "attn.fwd",
        "train_attn",
        attnSrc,
        "fwd",
        pa,
        [this.#qkv[l], this.#dummy],
        [
          this.#pat[l],
          this.#ds,
          this.#z[l],
        ],
        B * H * Math.ceil(P / ATTN_QT),
        8,
      );
      this.#linFwd(
        this.#z[l],
        HE,
        D,
        D,
        this.off(`${a}.W_O`),
        this.off(`${a}.b_O`),
        this.#resid[l],
        this.#resid[l + 1],
      );
    }
    lnFwd(L);
    this.#linFwd(
      this.#xn[L],
      D,
      V,
      V,
      this.off("unembed.W_U"),
      this.off("unembed.b_U"),
      null,
      this.#lg,
    );
    const pl = new Params().u32(N).u32(P).u32(D).u32(V)
      .u32(this.off("unembed.W_U")).u32(this.off("unembed.b_U"))
      .f32(1 / (B * (P - 1))).u32(this.size).u32(0).u32(0).f32(0).u32(0);
    this.#run(
      "ce",
      "train_loss",
      lossSrc,
      "ce",
      pl,
      [this.#xn[L], th, tokens],
      [
        this.#lg,
        this.#rl,
        this.#dummy,
        this.#cf,
      ],
      N,
      8,
    );

    // ---- backward
    this.#linDw(this.#xn[L], this.#lg, D, V, V, this.off("unembed.W_U"), this.off("unembed.b_U"));
    const lnBwd = (l: number, accum: boolean) => {
      // dxn holds d loss / d ln output; add (or write) d loss / d resid[l] into dres.
      const flags = accum ? ACCUM_LN : 0;
      const name = lnName(l);
      this.#run(
        "ln.bwd_x",
        "train_ln",
        lnSrc,
        "bwd_x",
        this.#lnParams(N, flags, name),
        [
          this.#resid[l],
          th,
          this.#dxn,
        ],
        [this.#dres, this.#stats[l], this.grad],
        N,
      );
      if (this.cfg.normalization === "LN") {
        this.#run(
          "ln.bwd_w",
          "train_ln",
          lnSrc,
          "bwd_w",
          this.#lnParams(N, 0, name),
          [
            this.#resid[l],
            th,
            this.#dxn,
          ],
          [this.#dres, this.#stats[l], this.grad],
          D / 4,
          8,
        );
      }
    };
    if (ln) {
      this.#linDx(this.#lg, D, V, V, this.off("unembed.W_U"), this.#dxn, false);
      lnBwd(L, false);
    } else {
      this.#linDx(this.#lg, D, V, V, this.off("unembed.W_U"), this.#dres, false);
    }
    for (let l = L - 1; l >= 0; l--) {
      const a = `blocks.${l}.attn`;
      this.#linDx(this.#dres, HE, D, D, this.off(`${a}.W_O`), this.#dz, false);
      this.#linDw(this.#z[l], this.#dres, HE, D, D, this.off(`${a}.W_O`), this.off(`${a}.b_O`));
      this.#run(
        "attn.bwd_q",
        "train_attn",
        attnSrc,
        "bwd_q",
        pa,
        [this.#qkv[l], this.#dz],
        [
          this.#pat[l],
          this.#ds,
          this.#dqkv,
        ],
        B * H * Math.ceil(P / ATTN_QT),
        8,
      );
      this.#run(
        "attn.bwd_kv",
        "train_attn",
        attnSrc,
        "bwd_kv",
        pa,
        [this.#qkv[l], this.#dz],
        [
          this.#pat[l],
          this.#ds,
          this.#dqkv,
        ],
        B * H * Math.ceil(P / ATTN_KT),
        8,
      );
      this.#linDw(
        this.#xn[l],
        this.#dqkv,
        D,
        3 * HE,
        E,
        this.off(`${a}.W_Q`),
        this.off(`${a}.b_Q`),
      );
      if (ln) {
        this.#linDx(this.#dqkv, D, 3 * HE, E, this.off(`${a}.W_Q`), this.#dxn, false);
        lnBwd(l, true);
      } else {
        this.#linDx(this.#dqkv, D, 3 * HE, E, this.off(`${a}.W_Q`), this.#dres, true);
      }
    }
    const chunks = Math.ceil(D / 16);
    this.#run(
      "embed.bwd",
      "train_embed",
      embedSrc,
      "bwd",
      pe,
      [tokens, th, this.#dres],
      [
        this.#resid[0],
        this.grad,
      ],
      (V + P) * chunks,
      8,
    );
  }

  /**
   * Mean loss and gradient norm into `log` at `lossAt` / `normAt`, and the clipping
   * coefficient (1 when `maxNorm` is null). One dispatch.
   */
  reduce(log: Tensor, lossAt: number, normAt: number, maxNorm: number | null): void {
    const { dModel: D, dVocab: V } = this.cfg;
    const N = this.batch * this.pos;
    if (log.offset !== 0 || Math.max(lossAt, normAt) >= log.size) {
      throw new RangeError(
        `Cannot log to ${log.describe()}: slots ${lossAt} and ${normAt} must fit (offset 0)`,
      );
    }
    const p = new Params().u32(N).u32(this.pos).u32(D).u32(V).u32(0).u32(0)
      .f32(1 / (this.batch * (this.pos - 1))).u32(this.size).u32(lossAt).u32(normAt)
      .f32(maxNorm ?? 0).u32(maxNorm !== null ? 1 : 0);
    this.#run(
      "reduce",
      "train_loss",
      lossSrc,
      "reduce",
      p,
      [this.grad, this.theta, this.#dummy],
      [
        this.#lg,
        this.#rl,
        log,
        this.#cf,
      ],
      1,
      256,
    );
  }

  /** AdamW on the flat buffer, the gradient scaled by the clipping coefficient. One dispatch. */
  adam(h: Omit<FusedStepOptions, "log" | "lossAt" | "normAt" | "maxNorm">): void {
    const bc1 = 1 - h.beta1 ** h.t;
    const bc2 = 1 - h.beta2 ** h.t;
    const p = new Params().u32(this.size / 4).f32(h.lr).f32(h.beta1).f32(h.beta2).f32(h.eps)
      .f32(h.weightDecay).f32(h.lr / bc1).f32(Math.sqrt(bc2));
    this.#run("adamw", "train_adam", adamSrc, "main", p, [this.grad, this.#cf], [
      this.theta,
      this.m,
      this.v,
    ], this.size / 4);
  }

  /** One whole training step: forward, backward, loss and norm logged, clip, AdamW. */
  step(tokens: Tensor, h: FusedStepOptions): void {
    this.forwardBackward(tokens);
    this.reduce(h.log, h.lossAt, h.normAt, h.maxNorm);
    this.adam(h);
  }

  /** The gradient of a parameter as a view of the flat gradient (the caller disposes the view). */
  gradOf(name: string): Tensor {
    const s = this.slots.get(name);
    if (!s) throw new Error(`The fused training step has no parameter "${name}"`);
    return this.grad.view(s.shape, contiguousStrides(s.shape), s.offset);
  }

  /**
   * Layer `l`'s attention pattern [batch, head, query, key] from the last forward pass, as a
   * strided view of the padded buffer (the caller disposes the view).
   */
  patternOf(l: number): Tensor {
    const t = this.#pat[l];
    if (!t) throw new RangeError(`The fused training step has no layer ${l}`);
    const [B, H, P, Pp] = t.shape;
    return t.view([B, H, P, P], [H * P * Pp, P * Pp, Pp, 1], 0);
  }

  /** Free every buffer. */
  dispose(): void {
    for (const t of new Set(this.#all)) t.dispose();
  }
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}
