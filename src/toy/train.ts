/**
 * Training toy models: the fused GPU loop (`trainFused`, what `ToyModel.train` runs), the same
 * model written with the core ops and autodiff (`trainGeneric`), f64 CPU references of the data
 * and of training (`toyBatchRef`, `toyTrainRef`), and the paper's experiments (`phaseDiagram`,
 * `sparsitySweep`).
 *
 * @module
 */

import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { tensor } from "../ops/creation.ts";
import { abs, add, mul, relu, square, sub } from "../ops/elementwise.ts";
import { clone, permute, unsqueeze } from "../ops/movement.ts";
import { matmul } from "../ops/matmul.ts";
import { sum } from "../ops/reduce.ts";
import { backward } from "../autograd/backward.ts";
import { Adam } from "../optim/optimizers.ts";
import { keep, tidy } from "../memory.ts";
import { philox4x32 } from "../reference/random.ts";
import { adamSchedule, type ToyBuffers, toyTrainSteps, type ToyVariant } from "../kernels/toy.ts";
import type { ToyModel, ToyModelOptions } from "./model.ts";
import { featureNorms, toyMetrics, type Weights } from "./metrics.ts";

/** Options of {@link ToyModel.train}. */
export interface TrainOptions {
  /** Steps to take. */
  steps: number;
  /** Rows per step (default 1024, ARENA's). */
  batch?: number;
  /**
   * Learning rate (default 1e-3), or a function of the global step index (0-based) for a
   * schedule.
   */
  lr?: number | ((step: number) => number);
  /** Adam's betas (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Adam's eps (default 1e-8). */
  eps?: number;
  /**
   * Log the loss every this many steps (and at the last step). Losses stay on the GPU and are
   * read back in groups of up to 64 logs. Default: steps / 100, at least 1.
   */
  logEvery?: number;
  /** Called after each read-back, in order, with the step count and each instance's loss. */
  onLog?: (step: number, losses: number[]) => void;
}

/** What {@link ToyModel.train} returns. */
export interface TrainResult {
  /** Step counts (model.steps after the step) at which losses were logged. */
  steps: number[];
  /** losses[log][instance]. */
  losses: number[][];
  /** Wall-clock seconds of the call, including the final read-back. */
  seconds: number;
  stepsPerSecond: number;
}

/** Logged losses that fit in the GPU buffer before a read-back. */
const LOG_SLOTS = 64;

function checkTrain(op: string, o: TrainOptions): Required<Omit<TrainOptions, "onLog">> {
  const steps = o.steps;
  if (!Number.isInteger(steps) || steps < 0) {
    throw new RangeError(`Cannot run ${op}: steps must be a non-negative integer, got ${steps}`);
  }
  const batch = o.batch ?? 1024;
  if (!Number.isInteger(batch) || batch < 1 || batch > 2 ** 24) {
    throw new RangeError(`Cannot run ${op}: batch must be an integer in [1, 2^24], got ${batch}`);
  }
  const lr = o.lr ?? 1e-3;
  if (typeof lr === "number" && !(lr >= 0 && Number.isFinite(lr))) {
    throw new RangeError(`Cannot run ${op}: lr must be a finite number ≥ 0, got ${lr}`);
  }
  const betas = o.betas ?? [0.9, 0.999];
  for (const b of betas) {
    if (!(b >= 0 && b < 1)) {
      throw new RangeError(`Cannot run ${op}: betas must be in [0, 1), got [${betas}]`);
    }
  }
  const eps = o.eps ?? 1e-8;
  if (!(eps >= 0 && Number.isFinite(eps))) {
    throw new RangeError(`Cannot run ${op}: eps must be a finite number ≥ 0, got ${eps}`);
  }
  const logEvery = o.logEvery ?? Math.max(1, Math.round(steps / 100));
  if (!Number.isInteger(logEvery) || logEvery < 1) {
    throw new RangeError(`Cannot run ${op}: logEvery must be a positive integer, got ${logEvery}`);
  }
  return { steps, batch, lr, betas, eps, logEvery };
}

function lrFunction(op: string, lr: number | ((step: number) => number)): (step: number) => number {
  if (typeof lr === "number") return () => lr;
  return (step: number) => {
    const v = lr(step);
    if (!(v >= 0 && Number.isFinite(v))) {
      throw new RangeError(`Cannot run ${op}: the lr schedule gave ${v} at step ${step}`);
    }
    return v;
  };
}

/**
 * The fused training loop behind {@link ToyModel.train}: each dispatch runs up to
 * `plan.stepsPerDispatch` steps of every instance (two dispatches per step on the streaming
 * path); losses are logged into a small GPU buffer and read back every 64 logs.
 *
 * @example
 * ```ts
 * const res = await trainFused(model, { steps: 1000, batch: 1024 });
 * ```
 */
export async function trainFused(model: ToyModel, opts: TrainOptions): Promise<TrainResult> {
  const o = checkTrain("ToyModel.train", opts);
  const lr = lrFunction("ToyModel.train", o.lr);
  const eng = model.engine;
  const plan = model.plan(o.batch);
  const bufs: ToyBuffers = {
    cfg: model.cfg,
    params: model.params,
    moments: model.moments,
    scratch: model.scratch(o.batch),
    losses: model.lossBuffer(LOG_SLOTS),
  };
  const I = model.nInstances;
  const result: TrainResult = { steps: [], losses: [], seconds: 0, stepsPerSecond: 0 };
  const t0 = performance.now();
  let pendingSteps: number[] = [];
  const drain = async () => {
    if (pendingSteps.length === 0) return;
    const data = await bufs.losses.read() as Float32Array;
    pendingSteps.forEach((step, slot) => {
      const losses = Array.from(data.subarray(slot * I, (slot + 1) * I));
      result.steps.push(step);
      result.losses.push(losses);
      model.lastLoss = losses;
      opts.onLog?.(step, losses);
    });
    pendingSteps = [];
  };
  let done = 0;
  while (done < o.steps) {
    const nextLog = Math.min(o.steps, (Math.floor(done / o.logEvery) + 1) * o.logEvery);
    const k = Math.min(plan.stepsPerDispatch, nextLog - done);
    const logs = done + k === nextLog;
    toyTrainSteps(eng, plan, bufs, {
      step0: model.steps,
      sched: adamSchedule(model.steps, k, lr, o.betas[0], o.betas[1]),
      seed: model.seed,
      beta1: o.betas[0],
      beta2: o.betas[1],
      eps: o.eps,
      logSlot: logs ? pendingSteps.length : -1,
    });
    model.steps += k;
    done += k;
    if (logs) pendingSteps.push(model.steps);
    if (pendingSteps.length === LOG_SLOTS) await drain();
  }
  await drain();
  if (o.steps > 0 && result.steps.length === 0) await eng.sync();
  result.seconds = (performance.now() - t0) / 1000;
  result.stepsPerSecond = result.seconds > 0 ? o.steps / result.seconds : 0;
  return result;
}

// ---------------------------------------------------------------- the generic path

/** What {@link trainGeneric} returns: the trained parameters (caller owns them) and losses. */
export interface GenericResult {
  /** [I, m, n]. */
  W: Tensor;
  /** [I, n]. */
  b: Tensor;
  /** "abs": [I, n, m]. */
  W2?: Tensor;
  /** losses[step][instance] (every step). */
  losses: number[][];
}

/**
 * The same training written with the core ops (`matmul`, `relu`, `mul`, `sum`, ...), reverse-mode
 * autodiff (`backward`) and the `Adam` optimizer, on the same data (`model.generateBatch`). It
 * starts from the model's current weights, takes `steps` steps from `model.steps` and leaves the
 * model unchanged. Slow (dozens of dispatches and a read-back per step): it exists to check the
 * fused kernel.
 *
 * @example
 * ```ts
 * const ref = await trainGeneric(model, { steps: 20, batch: 256 });
 * ```
 */
export async function trainGeneric(
  model: ToyModel,
  opts: {
    steps: number;
    batch?: number;
    lr?: number;
    betas?: readonly [number, number];
    eps?: number;
  },
): Promise<GenericResult> {
  const o = checkTrain("trainGeneric", { ...opts, logEvery: 1 });
  const eng = model.engine;
  const I = model.nInstances, n = model.nFeatures;
  const views = model.weights();
  const W = keep(clone(views.W));
  const b = keep(clone(views.b));
  const W2 = views.W2 ? keep(clone(views.W2)) : undefined;
  views.W.dispose();
  views.b.dispose();
  views.W2?.dispose();
  const params = W2 ? [W, b, W2] : [W, b];
  for (const p of params) p.requiresGrad = true;
  const imp = keep(tensor(new Float32Array(model.importance.flat()), [I, 1, n], { engine: eng }));
  const opt = new Adam(params, { lr: o.lr as number, betas: o.betas, eps: o.eps });
  const losses: number[][] = [];
  try {
    for (let s = 0; s < o.steps; s++) {
      const x = model.generateBatch(o.batch, model.steps + s);
      const perInstance = tidy(() => {
        const xi = permute(x, [1, 0, 2]); // [I, B, n]
        let out: Tensor;
        let target: Tensor = xi;
        if (model.variant === "abs") {
          const h = relu(matmul(xi, W, { transB: true })); // [I, B, m]
          out = relu(add(matmul(h, W2!, { transB: true }), unsqueeze(b, 1)));
          target = abs(xi);
        } else {
          const h = matmul(xi, W, { transB: true }); // [I, B, m]
          const pre = add(matmul(h, W), unsqueeze(b, 1)); // [I, B, n]
          out = model.variant === "relu" ? relu(pre) : pre;
        }
        const err = mul(square(sub(out, target)), imp); // [I, B, n]
        const li = mul(sum(err, [1, 2]), 1 / o.batch); // [I]: per-instance loss
        backward(sum(li));
        return li;
      });
      x.dispose();
      opt.step();
      opt.zeroGrad();
      losses.push(Array.from(await perInstance.read() as Float32Array));
      perInstance.dispose();
    }
  } catch (e) {
    for (const p of params) p.dispose();
    throw e;
  } finally {
    opt.dispose();
    imp.dispose();
  }
  for (const p of params) {
    p.requiresGrad = false;
    p.grad?.dispose();
    p.grad = null;
  }
  return W2 ? { W, b, W2, losses } : { W, b, losses };
}

// ---------------------------------------------------------------- CPU references

/** What the references need to know of a model. */
export interface ToyRefConfig {
  nInstances: number;
  nFeatures: number;
  nHidden: number;
  variant: ToyVariant;
  /** p per instance per feature. */
  featureProbability: readonly (readonly number[])[];
  /** I per instance per feature. */
  importance: readonly (readonly number[])[];
  seed: number;
}

/**
 * f64 CPU reference of the batch that step `step` draws: [batch, nInstances, nFeatures], equal
 * bit for bit to `ToyModel.generateBatch` (same Philox counters, same f32 roundings).
 *
 * @example
 * ```ts
 * const x = toyBatchRef(model, 16, 0);
 * ```
 */
export function toyBatchRef(cfg: ToyRefConfig, batch: number, step: number): Float64Array {
  const { nInstances: I, nFeatures: n } = cfg;
  const out = new Float64Array(batch * I * n);
  const key: [number, number] = [cfg.seed >>> 0, Math.floor(cfg.seed / 2 ** 32) >>> 0];
  for (let r = 0; r < I; r++) {
    const pr = cfg.featureProbability[r].map((p) => Math.fround(p));
    const ipr = pr.map((p) => (p > 0 ? Math.fround(1 / p) : 0));
    for (let row = 0; row < batch; row++) {
      for (let q = 0; q * 5 < n; q++) {
        const w = philox4x32([row, q, step, r], key);
        for (let j = 0; j < 5 && 5 * q + j < n; j++) {
          const i = 5 * q + j;
          const bits = j < 4
            ? w[j] >>> 8
            : ((w[0] & 0xff) << 16) | ((w[1] & 0xff) << 8) | (w[2] & 0xff);
          const u = bits * 2 ** -24;
          let v = 0;
          if (u < pr[i]) {
            v = Math.fround(u * ipr[i]);
            if (cfg.variant === "abs") v = Math.fround(2 * v - 1);
          }
          out[(row * I + r) * n + i] = v;
        }
      }
    }
  }
  return out;
}

/**
 * f64 CPU reference of training: `steps` Adam steps from `params` (f32 layout [I, P] as in
 * `ToyModel.params`) on the batches of steps `step0 ..`, exactly the fused kernel's math in f64.
 * Returns the parameters and each step's per-instance loss. For tests (small sizes).
 *
 * @example
 * ```ts
 * const ref = toyTrainRef(model, await model.params.read(), { steps: 5, batch: 64 });
 * ```
 */
export function toyTrainRef(
  cfg: ToyRefConfig,
  params: ArrayLike<number>,
  opts: {
    steps: number;
    batch: number;
    step0?: number;
    lr?: number;
    betas?: readonly [number, number];
    eps?: number;
  },
): { params: Float64Array; losses: number[][] } {
  const { nInstances: I, nFeatures: n, nHidden: m, variant } = cfg;
  const P = (variant === "abs" ? 2 : 1) * n * m + n;
  const B = opts.batch;
  const [b1, b2] = opts.betas ?? [0.9, 0.999];
  const eps = opts.eps ?? 1e-8;
  const lr = opts.lr ?? 1e-3;
  const step0 = opts.step0 ?? 0;
  const w = Float64Array.from(params);
  const mo = new Float64Array(I * P);
  const ve = new Float64Array(I * P);
  const losses: number[][] = [];
  const bOff = P - n;
  const wOut = (k: number, i: number) => (variant === "abs" ? n * m + i * m + k : k * n + i);
  const h = new Float64Array(m), gh = new Float64Array(m), g = new Float64Array(n);
  for (let s = 0; s < opts.steps; s++) {
    const step = step0 + s;
    const x = toyBatchRef(cfg, B, step);
    const t = step + 1;
    const lossRow: number[] = [];
    for (let r = 0; r < I; r++) {
      const pb = r * P;
      const grad = new Float64Array(P);
      let loss = 0;
      for (let row = 0; row < B; row++) {
        const xo = (row * I + r) * n;
        for (let k = 0; k < m; k++) {
          let a = 0;
          for (let i = 0; i < n; i++) a += w[pb + k * n + i] * x[xo + i];
          h[k] = variant === "abs" ? Math.max(a, 0) : a;
          gh[k] = 0;
        }
        for (let i = 0; i < n; i++) {
          let o = w[pb + bOff + i];
          for (let k = 0; k < m; k++) o += w[pb + wOut(k, i)] * h[k];
          const y = variant === "linear" ? o : Math.max(o, 0);
          const tgt = variant === "abs" ? Math.abs(x[xo + i]) : x[xo + i];
          const d = y - tgt;
          const imp = cfg.importance[r][i];
          loss += imp * d * d;
          g[i] = variant !== "linear" && o <= 0 ? 0 : (2 * imp * d) / B;
          for (let k = 0; k < m; k++) gh[k] += w[pb + wOut(k, i)] * g[i];
        }
        for (let k = 0; k < m; k++) {
          if (variant === "abs" && h[k] <= 0) gh[k] = 0;
          for (let i = 0; i < n; i++) {
            if (variant === "abs") {
              grad[k * n + i] += gh[k] * x[xo + i];
              grad[n * m + i * m + k] += h[k] * g[i];
            } else {
              grad[k * n + i] += h[k] * g[i] + gh[k] * x[xo + i];
            }
          }
        }
        for (let i = 0; i < n; i++) grad[bOff + i] += g[i];
      }
      lossRow.push(loss / B);
      const stepSize = lr / (1 - b1 ** t);
      const bc2 = Math.sqrt(1 - b2 ** t);
      for (let j = 0; j < P; j++) {
        const q = pb + j;
        mo[q] = b1 * mo[q] + (1 - b1) * grad[j];
        ve[q] = b2 * ve[q] + (1 - b2) * grad[j] * grad[j];
        w[q] -= (stepSize * mo[q]) / (Math.sqrt(ve[q]) / bc2 + eps);
      }
    }
    losses.push(lossRow);
  }
  return { params: w, losses };
}

// ---------------------------------------------------------------- experiments

/** How feature 2 of an n = 2, m = 1 model is represented (the paper's phase diagram). */
export type TwoFeaturePhase = "not represented" | "dedicated dimension" | "antipodal superposition";

/**
 * Classify a trained n = 2, m = 1 model by what happens to feature 2 (index 1): "not
 * represented" (‖W_2‖ ≤ threshold), "dedicated dimension" (it alone holds the hidden dimension:
 * ‖W_1‖ ≤ threshold), or "antipodal superposition" (both represented, with opposite signs).
 * Both represented with the same sign does not happen in trained models and is reported as
 * superposition too.
 *
 * @example
 * ```ts
 * classifyTwoFeature([[1, -1]]); // "antipodal superposition"
 * ```
 */
export function classifyTwoFeature(W: Weights, threshold = 0.5): TwoFeaturePhase {
  const [n1, n2] = featureNorms(W);
  if (n2 <= threshold) return "not represented";
  if (n1 <= threshold) return "dedicated dimension";
  return "antipodal superposition";
}

/** Options of {@link phaseDiagram}. */
export interface PhaseDiagramOptions {
  /** Relative importances of feature 2 (default 10^linspace(−1, 1, 7)). */
  importances?: number[];
  /** Feature probabilities 1 − S (default 10^−linspace(0, 2, 7): 1 … 0.01). */
  probabilities?: number[];
  /** Seeds per cell (default 1); the cell's class is the most common one. */
  seeds?: number;
  steps?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  engine?: Engine;
}

/** One cell of {@link phaseDiagram}. */
export interface PhaseCell {
  importance: number;
  probability: number;
  phase: TwoFeaturePhase;
  /** Each seed's class, W (1 row of 2) and b. */
  runs: { phase: TwoFeaturePhase; W: number[][]; b: number[] }[];
}

const linspace = (a: number, b: number, k: number) =>
  Array.from({ length: k }, (_, i) => (k === 1 ? a : a + ((b - a) * i) / (k - 1)));

/**
 * The paper's n = 2, m = 1 phase diagram: trains one instance per (importance of feature 2,
 * probability, seed) — all in one model — and classifies each by {@link classifyTwoFeature}.
 * Feature 1 has importance 1; both features share the probability.
 *
 * @example
 * ```ts
 * const pd = await phaseDiagram({ steps: 4000 });
 * console.log(pd.cells[0][0].phase);
 * ```
 */
export async function phaseDiagram(
  opts: PhaseDiagramOptions = {},
): Promise<{ importances: number[]; probabilities: number[]; cells: PhaseCell[][] }> {
  const importances = opts.importances ?? linspace(-1, 1, 7).map((e) => 10 ** e);
  const probabilities = opts.probabilities ?? linspace(0, 2, 7).map((e) => 10 ** -e);
  const seeds = opts.seeds ?? 1;
  const combos: { r: number; p: number }[] = [];
  for (const r of importances) {
    for (const p of probabilities) for (let s = 0; s < seeds; s++) combos.push({ r, p });
  }
  const { ToyModel } = await import("./model.ts");
  const model = new ToyModel({
    nInstances: combos.length,
    nFeatures: 2,
    nHidden: 1,
    featureProbability: combos.map((c) => [c.p, c.p]),
    importance: combos.map((c) => [1, c.r]),
    seed: opts.seed ?? 0,
    engine: opts.engine,
  });
  try {
    await model.train({
      steps: opts.steps ?? 5000,
      batch: opts.batch ?? 1024,
      lr: opts.lr ?? 1e-3,
      logEvery: opts.steps ?? 5000,
    });
    const ws = await model.readWeights();
    let at = 0;
    const cells = importances.map((r) =>
      probabilities.map((p): PhaseCell => {
        const runs = [];
        for (let s = 0; s < seeds; s++, at++) {
          runs.push({ phase: classifyTwoFeature(ws[at].W), W: ws[at].W, b: ws[at].b });
        }
        const counts = new Map<TwoFeaturePhase, number>();
        for (const run of runs) counts.set(run.phase, (counts.get(run.phase) ?? 0) + 1);
        const phase = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
        return { importance: r, probability: p, phase, runs };
      })
    );
    return { importances, probabilities, cells };
  } finally {
    model.dispose();
  }
}

/** Options of {@link sparsitySweep}. */
export interface SparsitySweepOptions {
  nFeatures: number;
  nHidden: number;
  /** Feature probabilities 1 − S, one instance each. */
  probabilities: number[];
  /** Importance as in ToyModelOptions (default 1: equal). */
  importance?: ToyModelOptions["importance"];
  variant?: ToyVariant;
  steps?: number;
  batch?: number;
  lr?: number | ((step: number) => number);
  seed?: number;
  engine?: Engine;
  logEvery?: number;
  onLog?: (step: number, losses: number[]) => void;
}

/** One point of {@link sparsitySweep}. */
export interface SweepPoint {
  probability: number;
  /** m / ‖W‖_F². */
  dimensionsPerFeature: number;
  /** Features with ‖W_i‖ > 0.5. */
  represented: number;
  /** D_i per feature. */
  dimensionality: number[];
  featureNorms: number[];
  loss: number | null;
}

/**
 * The paper's sparsity sweep: one instance per feature probability (all in one model), trained
 * together; reports dimensions per feature, represented features and each feature's
 * dimensionality (the paper's Figure for n large, m = 20, equal importance).
 *
 * @example
 * ```ts
 * const pts = await sparsitySweep({ nFeatures: 400, nHidden: 20, probabilities: [1, 0.1, 0.01] });
 * ```
 */
export async function sparsitySweep(opts: SparsitySweepOptions): Promise<SweepPoint[]> {
  const { ToyModel } = await import("./model.ts");
  const model = new ToyModel({
    nInstances: opts.probabilities.length,
    nFeatures: opts.nFeatures,
    nHidden: opts.nHidden,
    variant: opts.variant,
    featureProbability: opts.probabilities,
    importance: opts.importance ?? 1,
    seed: opts.seed ?? 0,
    engine: opts.engine,
  });
  try {
    await model.train({
      steps: opts.steps ?? 10_000,
      batch: opts.batch ?? 1024,
      lr: opts.lr ?? 1e-3,
      logEvery: opts.logEvery,
      onLog: opts.onLog,
    });
    const ws = await model.readWeights();
    return ws.map((w, r) => {
      const mt = toyMetrics(w.W);
      return {
        probability: opts.probabilities[r],
        dimensionsPerFeature: mt.dimensionsPerFeature,
        represented: mt.represented,
        dimensionality: mt.dimensionality,
        featureNorms: mt.featureNorms,
        loss: model.lastLoss ? model.lastLoss[r] : null,
      };
    });
  } finally {
    model.dispose();
  }
}

/** Angles in degrees between consecutive represented features around the circle (m = 2). */
export function neighbourAngles(W: Weights, threshold = 0.5): number[] {
  const norms = featureNorms(W);
  const idx = norms.map((x, i) => [x, i] as const).filter(([x]) => x > threshold).map(([, i]) => i);
  if (W.length !== 2 || idx.length < 2) return [];
  const ang = idx.map((i) => Math.atan2(W[1][i], W[0][i])).sort((a, b) => a - b);
  const out: number[] = [];
  for (let k = 0; k < ang.length; k++) {
    const next = k + 1 < ang.length ? ang[k + 1] : ang[0] + 2 * Math.PI;
    out.push(((next - ang[k]) * 180) / Math.PI);
  }
  return out;
}

/**
 * f64 CPU loss of every instance on a batch `x` ([batch, nInstances, nFeatures], e.g. from
 * `toyBatchRef` or `generateBatch`) with parameters `params` (layout [I, P] as
 * `ToyModel.params`; `null` for the zero model: x' = ReLU(0) = 0).
 *
 * @example
 * ```ts
 * const x = toyBatchRef(model, 4096, 123456);
 * const trained = toyLossRef(model, await model.params.read(), x);
 * const zero = toyLossRef(model, null, x);
 * ```
 */
export function toyLossRef(
  cfg: ToyRefConfig,
  params: ArrayLike<number> | null,
  x: ArrayLike<number>,
): number[] {
  const { nInstances: I, nFeatures: n, nHidden: m, variant } = cfg;
  const P = (variant === "abs" ? 2 : 1) * n * m + n;
  const B = x.length / (I * n);
  if (!Number.isInteger(B)) {
    throw new RangeError(
      `Cannot run toyLossRef: x has ${x.length} values, not a whole number of [${I}, ${n}] rows`,
    );
  }
  const wOut = (k: number, i: number) => (variant === "abs" ? n * m + i * m + k : k * n + i);
  const h = new Float64Array(m);
  const out: number[] = [];
  for (let r = 0; r < I; r++) {
    const pb = r * P;
    let loss = 0;
    for (let row = 0; row < B; row++) {
      const xo = (row * I + r) * n;
      for (let k = 0; k < m; k++) {
        let a = 0;
        if (params) { for (let i = 0; i < n; i++) a += params[pb + k * n + i] * x[xo + i]; }
        h[k] = variant === "abs" ? Math.max(a, 0) : a;
      }
      for (let i = 0; i < n; i++) {
        let o = params ? params[pb + P - n + i] : 0;
        if (params) { for (let k = 0; k < m; k++) o += params[pb + wOut(k, i)] * h[k]; }
        const y = variant === "linear" ? o : Math.max(o, 0);
        const tgt = variant === "abs" ? Math.abs(x[xo + i]) : x[xo + i];
        loss += cfg.importance[r][i] * (y - tgt) ** 2;
      }
    }
    out.push(loss / B);
  }
  return out;
}
