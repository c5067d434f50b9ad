/**
 * Toy Models of Superposition (Elhage et al. 2022, "Toy Models of Superposition"): many small
 * models trained at once on the GPU, each instance with its own feature probability and feature
 * importance, following ARENA 1.3.1's setup.
 *
 * Variants (per instance, x ∈ ℝⁿ, h ∈ ℝᵐ):
 * - `"relu"`: h = W x, x' = ReLU(Wᵀh + b), target x (the paper's main model).
 * - `"linear"`: x' = WᵀW x + b, target x (no output non-linearity: no superposition).
 * - `"abs"`: computation in superposition, as ARENA's `NeuronComputationModel`: x_i uniform on
 *   [−1, 1] when present, h = ReLU(W1 x), y' = ReLU(W2 h + b), target |x|; W1 is [m, n] and W2
 *   is [n, m] (untied), both initialised like W.
 *
 * Data: x_i = 0 with probability S = 1 − p_i, else uniform on [0, 1) ([−1, 1) for abs), drawn on
 * the GPU every step from Philox-4x32-10 keyed by the seed with counter (row, feature block,
 * step, instance): any step's batch can be redrawn exactly (`generateBatch`).
 * Loss per instance: mean over the batch of Σ_i I_i (x_i − x'_i)²; the total is the sum over
 * instances (ARENA), so each instance trains exactly as it would alone.
 * Init: W ~ N(0, 2 / (n + m)) per instance (Xavier normal of one [m, n] matrix), b = 0.
 * Optimizer: Adam with PyTorch's formulas (src/kernels/toy.ts applies it inside the fused step).
 *
 * @module
 */

import { type Engine, engine as defaultEngine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { empty, randn, tensor, zeros } from "../ops/creation.ts";
import { mul } from "../ops/elementwise.ts";
import { keep } from "../memory.ts";
import {
  planToy,
  releaseToyTexture,
  TOY_VARIANTS,
  toyConfigData,
  toyGenerate,
  toyParamCount,
  type ToyPlan,
  type ToyPlanOptions,
  type ToyVariant,
} from "../kernels/toy.ts";
import { type ToyMetrics, toyMetrics } from "./metrics.ts";
import { trainFused, type TrainOptions, type TrainResult } from "./train.ts";

export type { ToyVariant } from "../kernels/toy.ts";

/** Options of {@link ToyModel}. */
export interface ToyModelOptions {
  /** Models trained at once (each its own probability and importance). */
  nInstances: number;
  /** n: features (input and output size). */
  nFeatures: number;
  /** m: hidden dimensions. */
  nHidden: number;
  /** Model variant (default "relu"). */
  variant?: ToyVariant;
  /**
   * Probability p = 1 − S that a feature is present: one number for every instance, one per
   * instance (length nInstances), or one per instance per feature. Default 1 (dense).
   */
  featureProbability?: number | readonly number[] | readonly (readonly number[])[];
  /**
   * Feature importance I_i: a number r gives I_i = rⁱ (i from 0); an array of length nFeatures
   * is shared by every instance; an array per instance gives each its own. Default 1.
   */
  importance?: number | readonly number[] | readonly (readonly number[])[];
  /** Seed of the initial weights and of the data (integer in [0, 2^52)). Default 0. */
  seed?: number;
  /** Engine (default: the one from `init()`). */
  engine?: Engine;
  /** Override the kernel plan (tests and tuning). */
  plan?: ToyPlanOptions;
}

/** One instance of {@link ToyModel.snapshot}: what `results.json` holds per instance. */
export interface ToyInstanceSnapshot {
  /** Index of the instance. */
  instance: number;
  /** p = 1 − S of the instance (its first feature's when they differ; see featureProbabilities). */
  featureProbability: number;
  /** Per-feature probabilities, present only when they differ within the instance. */
  featureProbabilities?: number[];
  /** I_i per feature. */
  importance: number[];
  /** W (W1 for "abs"): m rows of n numbers. */
  W: number[][];
  /** "abs" only: W2, n rows of m numbers. */
  W2?: number[][];
  /** b: n numbers. */
  b: number[];
  /** The last logged training loss of the instance (null before any training). */
  loss: number | null;
  /** Geometry of W's columns (see src/toy/metrics.ts). */
  metrics: ToyMetrics;
}

/** Everything {@link ToyModel.snapshot} returns. */
export interface ToySnapshot {
  variant: ToyVariant;
  nInstances: number;
  nFeatures: number;
  nHidden: number;
  seed: number;
  /** Training steps taken so far. */
  steps: number;
  instances: ToyInstanceSnapshot[];
}

function checkInt(what: string, v: unknown, lo: number, hi = Infinity): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(
      `Cannot make ToyModel: ${what} must be an integer in [${lo}, ${hi}], got ${v}`,
    );
  }
  return v;
}

function perInstance(
  what: string,
  v: number | readonly number[] | readonly (readonly number[])[],
  nInst: number,
  n: number,
  scalar: (i: number, x: number) => number,
  flatIsPerInstance: boolean,
): number[][] {
  let out: number[][];
  if (typeof v === "number") {
    out = Array.from({ length: nInst }, () => Array.from({ length: n }, (_, i) => scalar(i, v)));
  } else if (v.length > 0 && Array.isArray(v[0])) {
    const rows = v as readonly (readonly number[])[];
    if (rows.length !== nInst || rows.some((r) => r.length !== n)) {
      throw new RangeError(
        `Cannot make ToyModel: ${what} given per instance per feature must be ${nInst} arrays of ` +
          `${n} numbers, got ${rows.length} arrays of lengths [${rows.map((r) => r.length)}]`,
      );
    }
    out = rows.map((r) => [...r]);
  } else {
    const flat = v as readonly number[];
    const want = flatIsPerInstance ? nInst : n;
    if (flat.length !== want) {
      throw new RangeError(
        `Cannot make ToyModel: ${what} as a flat array must have ${want} values (one per ` +
          `${flatIsPerInstance ? "instance" : "feature"}), got ${flat.length}`,
      );
    }
    out = flatIsPerInstance
      ? flat.map((x) => Array.from({ length: n }, () => x))
      : Array.from({ length: nInst }, () => [...flat]);
  }
  for (const row of out) {
    for (const x of row) {
      if (!Number.isFinite(x)) throw new RangeError(`Cannot make ToyModel: ${what} holds ${x}`);
    }
  }
  return out;
}

/**
 * A batch of toy models of superposition, trained on the GPU with a fused kernel.
 *
 * @example
 * ```ts
 * await init();
 * const model = new ToyModel({
 *   nInstances: 8, nFeatures: 5, nHidden: 2,
 *   featureProbability: Array.from({ length: 8 }, (_, i) => 50 ** -(i / 7)),
 *   importance: 0.9,
 * });
 * await model.train({ steps: 5000, batch: 1024, lr: 1e-3 });
 * const snap = await model.snapshot(); // per instance: W, b, loss, metrics
 * model.dispose();
 * ```
 */
export class ToyModel {
  readonly nInstances: number;
  readonly nFeatures: number;
  readonly nHidden: number;
  readonly variant: ToyVariant;
  readonly seed: number;
  readonly engine: Engine;
  /** p per instance per feature. */
  readonly featureProbability: number[][];
  /** I per instance per feature. */
  readonly importance: number[][];
  /** Parameters per instance, packed: W (m·n), W2 (n·m, abs only), b (n). */
  readonly paramsPerInstance: number;
  /** f32 [nInstances, paramsPerInstance], updated in place by training. */
  readonly params: Tensor;
  /** Adam's moments, f32 [nInstances, 2, paramsPerInstance]. */
  readonly moments: Tensor;
  /** Kernel configuration, f32 [nInstances, 3, nFeatures] (importance, p, 1/p). */
  readonly cfg: Tensor;
  /** Training steps taken so far (the next step's data counter; Adam's t is steps + 1). */
  steps = 0;
  /** The last logged loss per instance (null before training). */
  lastLoss: number[] | null = null;
  readonly planOptions: ToyPlanOptions;
  #plans = new Map<number, ToyPlan>();
  #scratch = new Map<number, Tensor>();
  #losses: Tensor | null = null;
  #disposed = false;

  constructor(opts: ToyModelOptions) {
    this.nInstances = checkInt("nInstances", opts.nInstances, 1);
    this.nFeatures = checkInt("nFeatures", opts.nFeatures, 1);
    this.nHidden = checkInt("nHidden", opts.nHidden, 1);
    this.variant = opts.variant ?? "relu";
    if (!TOY_VARIANTS.includes(this.variant)) {
      throw new TypeError(
        `Cannot make ToyModel: unknown variant "${this.variant}" (use ${TOY_VARIANTS.join(", ")})`,
      );
    }
    this.seed = checkInt("seed", opts.seed ?? 0, 0, 2 ** 52 - 1);
    this.engine = opts.engine ?? defaultEngine();
    this.planOptions = opts.plan ?? {};
    const I = this.nInstances, n = this.nFeatures, m = this.nHidden;
    this.featureProbability = perInstance(
      "featureProbability",
      opts.featureProbability ?? 1,
      I,
      n,
      (_, x) => x,
      true,
    );
    for (const row of this.featureProbability) {
      for (const x of row) {
        if (x < 0 || x > 1) {
          throw new RangeError(
            `Cannot make ToyModel: featureProbability must be in [0, 1], got ${x}`,
          );
        }
      }
    }
    this.importance = perInstance(
      "importance",
      opts.importance ?? 1,
      I,
      n,
      (i, r) => r ** i,
      false,
    );
    this.paramsPerInstance = toyParamCount(n, m, this.variant);
    const P = this.paramsPerInstance;
    const eng = this.engine;
    this.cfg = keep(tensor(toyConfigData(this.importance, this.featureProbability), [I, 3, n], {
      engine: eng,
    }));
    // W ~ N(0, 2/(n+m)) (W2 too for abs), b = 0: a mask zeroes the bias part.
    const mask = new Float32Array(P);
    mask.fill(1, 0, P - n);
    const maskT = tensor(mask, [P], { engine: eng });
    const w = randn([I, P], {
      seed: this.seed + 2 ** 52,
      std: Math.sqrt(2 / (n + m)),
      engine: eng,
    });
    this.params = keep(mul(w, maskT));
    w.dispose();
    maskT.dispose();
    this.params.name = "toy.params";
    this.moments = keep(zeros([I, 2, P], { engine: eng }));
  }

  /** Throws if disposed. */
  #alive(op: string): void {
    if (this.#disposed) throw new Error(`Cannot run ToyModel.${op}(): the model was disposed`);
  }

  /** The kernel plan for a batch size (cached). */
  plan(batch: number): ToyPlan {
    let p = this.#plans.get(batch);
    if (!p) {
      p = planToy(this.engine, {
        nInstances: this.nInstances,
        nFeatures: this.nFeatures,
        nHidden: this.nHidden,
        variant: this.variant,
        batch,
      }, this.planOptions);
      this.#plans.set(batch, p);
    }
    return p;
  }

  /** Scratch for a batch size (kept between `train` calls; freed by `dispose`). */
  scratch(batch: number): Tensor {
    this.#alive("train");
    let s = this.#scratch.get(batch);
    if (!s) {
      const plan = this.plan(batch);
      // One batch size's scratch at a time.
      for (const t of this.#scratch.values()) t.dispose();
      this.#scratch.clear();
      s = keep(empty([this.nInstances, plan.scratchPerInstance], "f32", this.engine));
      this.#scratch.set(batch, s);
    }
    return s;
  }

  /** The buffer of logged losses, at least `slots` × nInstances (grown on demand). */
  lossBuffer(slots: number): Tensor {
    this.#alive("train");
    if (!this.#losses || this.#losses.size < slots * this.nInstances) {
      this.#losses?.dispose();
      this.#losses = keep(zeros([slots, this.nInstances], { engine: this.engine }));
    }
    return this.#losses;
  }

  /**
   * Train every instance for `steps` steps of Adam on freshly drawn batches (see
   * {@link TrainOptions}); continues from the current weights, moments and step count.
   *
   * @example
   * ```ts
   * const { losses } = await model.train({ steps: 10_000, batch: 1024, logEvery: 100 });
   * ```
   */
  train(opts: TrainOptions): Promise<TrainResult> {
    this.#alive("train");
    return trainFused(this, opts);
  }

  /**
   * The batch that training step `step` draws (default: the next step), f32 [batch,
   * nInstances, nFeatures], exactly the values the fused kernel uses.
   *
   * @example
   * ```ts
   * const x = model.generateBatch(1024, 0); // the first step's data
   * ```
   */
  generateBatch(batch: number, step = this.steps): Tensor {
    this.#alive("generateBatch");
    return toyGenerate(this.engine, this.plan(batch), this.cfg, this.seed, step);
  }

  /** Views of the parameters: W [I, m, n], b [I, n], and W2 [I, n, m] for "abs". */
  weights(): { W: Tensor; b: Tensor; W2?: Tensor } {
    this.#alive("weights");
    const I = this.nInstances, n = this.nFeatures, m = this.nHidden, P = this.paramsPerInstance;
    const W = this.params.view([I, m, n], [P, n, 1], 0);
    const b = this.params.view([I, n], [P, 1], P - n);
    if (this.variant !== "abs") return { W, b };
    const W2 = this.params.view([I, n, m], [P, m, 1], m * n);
    return { W, b, W2 };
  }

  /** The parameters on the CPU, per instance: W (m rows of n), W2 (abs), b. */
  async readWeights(): Promise<{ W: number[][]; W2?: number[][]; b: number[] }[]> {
    this.#alive("readWeights");
    const data = await this.params.read() as Float32Array;
    const n = this.nFeatures, m = this.nHidden, P = this.paramsPerInstance;
    const out = [];
    for (let r = 0; r < this.nInstances; r++) {
      const base = r * P;
      const W = Array.from(
        { length: m },
        (_, k) => Array.from(data.subarray(base + k * n, base + (k + 1) * n)),
      );
      const b = Array.from(data.subarray(base + P - n, base + P));
      if (this.variant === "abs") {
        const W2 = Array.from(
          { length: n },
          (_, i) => Array.from(data.subarray(base + m * n + i * m, base + m * n + (i + 1) * m)),
        );
        out.push({ W, W2, b });
      } else out.push({ W, b });
    }
    return out;
  }

  /**
   * Read the weights back and describe every instance: probabilities, importances, W, b, the
   * last logged loss and the metrics of src/toy/metrics.ts (f64, on the CPU).
   *
   * @example
   * ```ts
   * const snap = await model.snapshot();
   * console.log(snap.instances[0].metrics.dimensionsPerFeature);
   * ```
   */
  async snapshot(): Promise<ToySnapshot> {
    const ws = await this.readWeights();
    const instances = ws.map((w, r): ToyInstanceSnapshot => {
      const probs = this.featureProbability[r];
      const same = probs.every((x) => x === probs[0]);
      return {
        instance: r,
        featureProbability: probs[0],
        ...(same ? {} : { featureProbabilities: [...probs] }),
        importance: [...this.importance[r]],
        W: w.W,
        ...(w.W2 ? { W2: w.W2 } : {}),
        b: w.b,
        loss: this.lastLoss ? this.lastLoss[r] : null,
        metrics: toyMetrics(w.W),
      };
    });
    return {
      variant: this.variant,
      nInstances: this.nInstances,
      nFeatures: this.nFeatures,
      nHidden: this.nHidden,
      seed: this.seed,
      steps: this.steps,
      instances,
    };
  }

  /** Every tensor the model owns (for `memory()` accounting and `dispose`). */
  tensors(): Tensor[] {
    return [
      this.params,
      this.moments,
      this.cfg,
      ...this.#scratch.values(),
      ...(this.#losses ? [this.#losses] : []),
    ]
      .filter((t) => !t.isDisposed);
  }

  /** Free every tensor the model owns. Safe to call twice. */
  dispose(): void {
    this.#disposed = true;
    // The streaming path's texture is kept per engine between calls; the next call remakes it.
    releaseToyTexture(this.engine);
    for (const t of this.tensors()) t.dispose();
    this.#scratch.clear();
    this.#losses = null;
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }
}
