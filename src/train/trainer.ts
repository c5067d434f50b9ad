/**
 * Training a {@link HookedTransformer} on next-token prediction: AdamW, a warm-up then constant,
 * cosine or linear learning-rate schedule, global gradient-norm clipping, and the loss (with the
 * gradient norm) written into a small GPU buffer every step and read back only every
 * `logEvery` steps, so a step never waits for the GPU.
 *
 * Two backends compute the same thing (the mean next-token cross-entropy of `model.loss`):
 *
 * - `"autodiff"`: `model.loss(tokens)` recorded on the tape, `backward`, `clipGradNorm`, the
 *   `AdamW` optimizer: any model (MLPs, shortformer, ...). 255 dispatches a step for a
 *   2-layer attention-only model.
 * - `"fused"` (src/kernels/train_fused.ts): attention-only models with standard positional
 *   embeddings; the parameters, gradients and Adam moments live in flat buffers, and a step is
 *   35 dispatches for 2 layers. The trainer owns the weights while training: {@link
 *   Trainer.syncModel} copies them into the model (the training loop does it before each log
 *   callback and at the end).
 *
 * `"auto"` (the default) picks `"fused"` where it applies.
 *
 * @example
 * ```ts
 * const model = HookedTransformer.init({ nLayers: 2, dModel: 64, nHeads: 4, nCtx: 48,
 *   dVocab: 64, attnOnly: true }, { seed: 0 });
 * const data = new RepeatData({ batch: 32, ctx: 48, seed: 1 });
 * const history = await train(model, {
 *   steps: 3000, batch: (s) => data.next(s).tokens, lr: 1e-3, warmupSteps: 100,
 *   onLog: (entries) => console.log(entries.at(-1)),
 * });
 * ```
 *
 * @module
 */

import { backward } from "../autograd/backward.ts";
import { AdamW } from "../optim/optimizers.ts";
import { clipGradNorm, gradNorm } from "../optim/clip.ts";
import {
  constantSchedule,
  cosineSchedule,
  linearSchedule,
  type Schedule,
  warmupSchedule,
} from "../optim/schedules.ts";
import { keep, tidy } from "../memory.ts";
import { zeros } from "../ops/creation.ts";
import { readTensors, type Tensor } from "../tensor.ts";
import type { HookedTransformer } from "../model/hooked_transformer.ts";
import { FusedAttnOnly, fusedShapeUnsupported, fusedUnsupported } from "../kernels/train_fused.ts";

/** Which implementation trains: see the module comment. */
export type TrainBackend = "auto" | "fused" | "autodiff";

/** Options of a {@link Trainer}. */
export interface TrainerOptions {
  /** Peak learning rate (default 1e-3). */
  lr?: number;
  /** AdamW's decoupled weight decay, applied to every parameter as PyTorch does (default 0.01). */
  weightDecay?: number;
  /** Adam's betas (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Adam's eps (default 1e-8). */
  eps?: number;
  /**
   * Learning-rate schedule after the warm-up: "constant" (default), "cosine" or "linear" decay
   * to `minLr` at `totalSteps`, or any function of the step (0-based).
   */
  schedule?: "constant" | "cosine" | "linear" | Schedule;
  /** Steps of linear warm-up from 0 (default 0). */
  warmupSteps?: number;
  /** End of the decay (needed by "cosine" and "linear"). */
  totalSteps?: number;
  /** Learning rate at the end of the decay (default 0). */
  minLr?: number;
  /** Clip the global gradient norm to this; null for no clipping (default 1). */
  clipNorm?: number | null;
  /** Steps between loss readbacks: the size of the GPU loss buffer (default 50). */
  logEvery?: number;
  /** Implementation (default "auto"). */
  backend?: TrainBackend;
}

/** One logged step. */
export interface LogEntry {
  /** Step index, from 0. */
  step: number;
  /** Mean next-token loss of the step's batch (before the update). */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Learning rate of the step. */
  lr: number;
}

function checkPositive(what: string, v: number, integer = false): void {
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new RangeError(
      `Cannot make Trainer: ${what} must be a positive ${integer ? "integer" : "number"}, got ${v}`,
    );
  }
}

/** The schedule a trainer's options describe. */
export function scheduleOf(opts: TrainerOptions): Schedule {
  const lr = opts.lr ?? 1e-3;
  const warmupSteps = opts.warmupSteps ?? 0;
  const s = opts.schedule ?? "constant";
  if (typeof s === "function") return s;
  if (s === "constant") {
    return warmupSteps > 0 ? warmupSchedule({ lr, warmupSteps }) : constantSchedule(lr);
  }
  if (opts.totalSteps === undefined) {
    throw new RangeError(`Cannot make Trainer: the "${s}" schedule needs totalSteps`);
  }
  const o = { lr, warmupSteps, totalSteps: opts.totalSteps, minLr: opts.minLr ?? 0 };
  if (s === "cosine") return cosineSchedule(o);
  if (s === "linear") return linearSchedule(o);
  throw new RangeError(
    `Cannot make Trainer: schedule "${s}" is not "constant", "cosine", "linear" or a function`,
  );
}

/**
 * A training loop's state: optimizer, schedule, loss buffer. {@link step} encodes one step
 * (no readback); {@link flushLog} reads the logged losses back.
 *
 * @example
 * ```ts
 * const trainer = new Trainer(model, { lr: 1e-3, logEvery: 50 });
 * for (let s = 0; s < 1000; s++) {
 *   trainer.step(data.next(s).tokens);
 *   if (trainer.logFull) console.log((await trainer.flushLog()).at(-1));
 * }
 * trainer.syncModel();
 * trainer.dispose();
 * ```
 */
export class Trainer {
  readonly model: HookedTransformer;
  /**
   * The backend in use ("fused" or "autodiff"). With "auto", a first batch the fused step cannot
   * take (too many rows for a CPU adapter) switches it to "autodiff".
   */
  get backend(): "fused" | "autodiff" {
    return this.#backend;
  }
  #backend: "fused" | "autodiff";
  #want: TrainBackend;
  readonly schedule: Schedule;
  readonly logEvery: number;
  readonly clipNorm: number | null;
  /** Steps taken. */
  stepCount = 0;
  #opts: Required<Pick<TrainerOptions, "weightDecay" | "eps">> & { betas: [number, number] };
  #opt: AdamW | null = null;
  #fused: FusedAttnOnly | null = null;
  #log: Tensor;
  #pending: { step: number; lr: number }[] = [];
  #requiresGradBefore: boolean[] = [];
  #dirty = false;
  #disposed = false;

  constructor(model: HookedTransformer, opts: TrainerOptions = {}) {
    this.model = model;
    this.logEvery = opts.logEvery ?? 50;
    checkPositive("logEvery", this.logEvery, true);
    checkPositive("lr", opts.lr ?? 1e-3);
    this.clipNorm = opts.clipNorm === undefined ? 1 : opts.clipNorm;
    if (this.clipNorm !== null) checkPositive("clipNorm", this.clipNorm);
    this.schedule = scheduleOf(opts);
    this.#opts = {
      weightDecay: opts.weightDecay ?? 0.01,
      eps: opts.eps ?? 1e-8,
      betas: [...(opts.betas ?? [0.9, 0.999])] as [number, number],
    };
    const want = opts.backend ?? "auto";
    if (!["auto", "fused", "autodiff"].includes(want)) {
      throw new RangeError(
        `Cannot make Trainer: backend "${want}" is not "auto", "fused" or "autodiff"`,
      );
    }
    const why = fusedUnsupported(model.cfg);
    if (want === "fused" && why) {
      throw new Error(`Cannot make Trainer with the fused backend: ${why}`);
    }
    this.#want = want;
    this.#lr0 = opts.lr ?? 1e-3;
    this.#backend = want === "autodiff" || why ? "autodiff" : "fused";
    if (this.#backend === "autodiff") this.#useAutodiff();
    this.#log = keep(zeros([2 * this.logEvery], { engine: model.engine }));
    this.#log.name = "trainer.log";
  }

  #lr0: number;

  /** Train through the autodiff: parameters require grad, an AdamW over them. */
  #useAutodiff() {
    const params = this.model.parameters();
    this.#requiresGradBefore = params.map((p) => p.requiresGrad);
    for (const p of params) p.requiresGrad = true;
    this.#opt = new AdamW(params, {
      lr: this.#lr0,
      weightDecay: this.#opts.weightDecay,
      eps: this.#opts.eps,
      betas: this.#opts.betas,
    });
    this.#backend = "autodiff";
  }

  /** True when {@link logEvery} steps are waiting to be read back. */
  get logFull(): boolean {
    return this.#pending.length >= this.logEvery;
  }

  /** Steps logged but not yet read back. */
  get pendingLogs(): number {
    return this.#pending.length;
  }

  #alive(op: string) {
    if (this.#disposed) throw new Error(`Cannot run Trainer.${op}: the trainer was disposed`);
  }

  /**
   * One optimizer step on `tokens` (i32/u32 [batch, pos]): forward, backward, clip, AdamW.
   * Encodes GPU work only; throws if the loss buffer is full (call {@link flushLog}).
   */
  step(tokens: Tensor): void {
    this.#alive("step");
    if (this.#pending.length >= this.logEvery) {
      throw new Error(
        `Cannot run Trainer.step: ${this.logEvery} losses are waiting; read them with flushLog() first`,
      );
    }
    const slot = this.#pending.length;
    const lr = this.schedule(this.stepCount);
    if (!(lr >= 0) || !Number.isFinite(lr)) {
      throw new RangeError(
        `Cannot run Trainer.step: the schedule gave lr ${lr} at step ${this.stepCount}`,
      );
    }
    if (this.#backend === "fused") this.#fusedStep(tokens, slot, lr);
    else this.#autodiffStep(tokens, slot, lr);
    this.#pending.push({ step: this.stepCount, lr });
    this.stepCount++;
  }

  #fusedStep(tokens: Tensor, slot: number, lr: number) {
    if (tokens.rank !== 2) {
      throw new RangeError(
        `Cannot run Trainer.step: tokens ${tokens.describe()} must be [batch, pos]`,
      );
    }
    const [B, P] = tokens.shape;
    if (!this.#fused) {
      const why = fusedShapeUnsupported(this.model.engine, B, P);
      if (why && this.#want === "fused") {
        throw new RangeError(`Cannot run Trainer.step with the fused backend: ${why}`);
      }
      if (why) {
        this.#useAutodiff();
        this.#autodiffStep(tokens, slot, lr);
        return;
      }
      this.#fused = new FusedAttnOnly(this.model.engine, this.model.cfg, B, P);
      this.#fused.loadParams(this.model);
    } else if (this.#fused.batch !== B || this.#fused.pos !== P) {
      throw new RangeError(
        `Cannot run Trainer.step: tokens ${tokens.describe()} differ from the first batch's shape ` +
          `[${this.#fused.batch}, ${this.#fused.pos}] (the fused backend keeps one shape)`,
      );
    }
    if (tokens.dtype !== "i32" || tokens.offset !== 0 || !tokens.isContiguous) {
      throw new TypeError(
        `Cannot run Trainer.step: the fused backend needs tokens as a contiguous i32 tensor at ` +
          `offset 0, got ${tokens.describe()}`,
      );
    }
    const [b1, b2] = this.#opts.betas;
    this.#fused.step(tokens, {
      lr,
      beta1: b1,
      beta2: b2,
      eps: this.#opts.eps,
      weightDecay: this.#opts.weightDecay,
      t: this.stepCount + 1,
      maxNorm: this.clipNorm,
      log: this.#log,
      lossAt: slot,
      normAt: this.logEvery + slot,
    });
    this.#dirty = true;
  }

  #autodiffStep(tokens: Tensor, slot: number, lr: number) {
    const eng = this.model.engine;
    const loss = tidy(() => {
      const l = this.model.loss(tokens);
      backward(l);
      return l;
    });
    eng.copy(loss.buffer, loss.offset * 4, this.#log.buffer, slot * 4, 4);
    loss.dispose();
    const params = this.model.parameters();
    const norm = this.clipNorm !== null ? clipGradNorm(params, this.clipNorm) : gradNorm(params);
    eng.copy(norm.buffer, norm.offset * 4, this.#log.buffer, (this.logEvery + slot) * 4, 4);
    norm.dispose();
    const opt = this.#opt!;
    opt.setLr(lr);
    opt.step();
    opt.zeroGrad();
  }

  /**
   * Read back the losses logged since the last call (one readback), oldest first.
   *
   * @example
   * ```ts
   * const entries = await trainer.flushLog(); // [{ step, loss, gradNorm, lr }, ...]
   * ```
   */
  async flushLog(): Promise<LogEntry[]> {
    this.#alive("flushLog");
    const pending = this.#pending;
    if (pending.length === 0) return [];
    this.#pending = [];
    const [v] = await readTensors([this.#log]);
    return pending.map((p, i) => ({
      step: p.step,
      lr: p.lr,
      loss: v[i],
      gradNorm: v[this.logEvery + i],
    }));
  }

  /**
   * Make the model's parameter tensors hold the trained weights (the fused backend trains flat
   * copies; a no-op for autodiff). Encoded copies, no dispatch, no readback.
   */
  syncModel(): void {
    this.#alive("syncModel");
    if (this.#fused && this.#dirty) {
      this.#fused.storeParams(this.model);
      this.#dirty = false;
    }
  }

  /**
   * Dispatches a step costs now (counts `memory().dispatches` around one step; the step is
   * really taken).
   */
  stepDispatches(tokens: Tensor): number {
    const eng = this.model.engine;
    const before = eng.memory().dispatches;
    this.step(tokens);
    return eng.memory().dispatches - before;
  }

  /** Copy the weights into the model, then free the optimizer state and buffers. */
  dispose(): void {
    if (this.#disposed) return;
    if (!this.model.isDisposed) this.syncModel();
    this.#disposed = true;
    this.#fused?.dispose();
    this.#opt?.dispose();
    this.#log.dispose();
    if (this.backend === "autodiff" && !this.model.isDisposed) {
      this.model.parameters().forEach((p, i) => (p.requiresGrad = this.#requiresGradBefore[i]));
    }
  }
}

/** Options of {@link train}. */
export interface TrainOptions extends TrainerOptions {
  /** Steps to take. */
  steps: number;
  /** The batch of a step: token ids [batch, pos] (e.g. `(s) => data.next(s).tokens`). */
  batch: (step: number) => Tensor;
  /**
   * Called after each readback (every `logEvery` steps and at the end) with the new entries;
   * the model holds the current weights then. May be async (the loop waits).
   */
  onLog?: (entries: LogEntry[], trainer: Trainer) => void | Promise<void>;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** Every step's entry. */
  log: LogEntry[];
  /** The backend that trained. */
  backend: "fused" | "autodiff";
  /** Wall-clock seconds of the loop (readbacks and callbacks included). */
  seconds: number;
}

/**
 * Train `model` in place for `opts.steps` steps (see {@link Trainer}); the losses are read back
 * every `logEvery` steps.
 *
 * @example
 * ```ts
 * const data = new RepeatData({ batch: 32, ctx: 48 });
 * const { log } = await train(model, { steps: 500, batch: (s) => data.next(s).tokens });
 * console.log(log.at(-1)!.loss);
 * ```
 */
export async function train(model: HookedTransformer, opts: TrainOptions): Promise<TrainResult> {
  if (!Number.isInteger(opts.steps) || opts.steps < 0) {
    throw new RangeError(
      `Cannot run train: steps must be a non-negative integer, got ${opts.steps}`,
    );
  }
  const trainer = new Trainer(model, opts);
  const log: LogEntry[] = [];
  const t0 = performance.now();
  try {
    const flush = async () => {
      const entries = await trainer.flushLog();
      log.push(...entries);
      trainer.syncModel();
      if (opts.onLog && entries.length > 0) await opts.onLog(entries, trainer);
    };
    for (let s = 0; s < opts.steps; s++) {
      trainer.step(opts.batch(s));
      if (trainer.logFull) await flush();
    }
    await flush();
  } finally {
    trainer.dispose();
  }
  return { log, backend: trainer.backend, seconds: (performance.now() - t0) / 1000 };
}
