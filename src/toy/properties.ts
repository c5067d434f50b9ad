/**
 * fast-check properties of toy models that users can reuse (each trains small random models on
 * the GPU and checks a fact from the paper):
 *
 * - {@link dimensionalityBoundsProperty}: 0 ≤ D_i ≤ 1 and Σ_i D_i ≤ m.
 * - {@link beatsZeroModelProperty}: the trained loss is below the zero model's.
 * - {@link noSuperpositionWhenWideProperty}: with m ≥ n and dense data, WᵀW is near diagonal.
 * - {@link importancePermutationProperty}: permuting the importances permutes the solution.
 *
 * Every property disposes what it makes. Run them with `fc.assert(prop, { numRuns })`; each run
 * trains for `steps` steps, and every new (n, m, variant) compiles a kernel, so keep numRuns and
 * sizes small.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * await fc.assert(beatsZeroModelProperty({ steps: 1500 }), { numRuns: 3 });
 * ```
 *
 * @module
 */

import fc from "fast-check";
import type { Engine } from "../gpu/engine.ts";
import { ToyModel, type ToyVariant } from "./model.ts";
import { featureDimensionality, gram, type Weights } from "./metrics.ts";
import { toyBatchRef, toyLossRef } from "./train.ts";

/** A small random toy-model configuration. */
export interface ToyPropertyConfig {
  nFeatures: number;
  nHidden: number;
  variant: ToyVariant;
  /** Feature probability of each instance. */
  probabilities: number[];
  /** Importance ratio r (I_i = rⁱ). */
  importanceRatio: number;
  seed: number;
}

/** Limits of {@link arbToyConfig}. */
export interface ArbToyOptions {
  maxFeatures?: number;
  maxHidden?: number;
  maxInstances?: number;
  variants?: ToyVariant[];
}

/**
 * Random small configurations: 2..maxFeatures features (default 6), 1..maxHidden hidden
 * (default 3), 1..maxInstances instances (default 3) with probabilities in [0.05, 1], importance
 * ratio in [0.7, 1].
 *
 * @example
 * ```ts
 * fc.sample(arbToyConfig(), 1)[0]; // { nFeatures: 4, nHidden: 2, variant: "relu", ... }
 * ```
 */
export function arbToyConfig(opts: ArbToyOptions = {}): fc.Arbitrary<ToyPropertyConfig> {
  return fc.record({
    nFeatures: fc.integer({ min: 2, max: opts.maxFeatures ?? 6 }),
    nHidden: fc.integer({ min: 1, max: opts.maxHidden ?? 3 }),
    variant: fc.constantFrom(...(opts.variants ?? (["relu", "linear", "abs"] as ToyVariant[]))),
    probabilities: fc.array(fc.double({ min: 0.05, max: 1, noNaN: true }), {
      minLength: 1,
      maxLength: opts.maxInstances ?? 3,
    }),
    importanceRatio: fc.double({ min: 0.7, max: 1, noNaN: true }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  });
}

/** Options shared by the properties. */
export interface ToyPropertyOptions extends ArbToyOptions {
  /** Training steps per run (default 1500). */
  steps?: number;
  /** Rows per step (default 256). */
  batch?: number;
  /** Learning rate (default 1e-2: short runs). */
  lr?: number;
  engine?: Engine;
}

async function trained(
  cfg: ToyPropertyConfig,
  o: ToyPropertyOptions,
  importance?: number[],
): Promise<ToyModel> {
  const model = new ToyModel({
    nInstances: cfg.probabilities.length,
    nFeatures: cfg.nFeatures,
    nHidden: cfg.nHidden,
    variant: cfg.variant,
    featureProbability: cfg.probabilities,
    importance: importance ?? cfg.importanceRatio,
    seed: cfg.seed,
    engine: o.engine,
  });
  try {
    await model.train({ steps: o.steps ?? 1500, batch: o.batch ?? 256, lr: o.lr ?? 1e-2 });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * Check 0 ≤ D_i ≤ 1 + tol and Σ_i D_i ≤ m + tol for one W (m rows of n); throws with the
 * offending values.
 *
 * @example
 * ```ts
 * checkDimensionalityBounds([[1, -1, 0]]); // ok: D = [0.5, 0.5, 0]
 * ```
 */
export function checkDimensionalityBounds(W: Weights, tol = 1e-9): void {
  const D = featureDimensionality(W);
  const m = W.length;
  const total = D.reduce((a, b) => a + b, 0);
  const bad = D.findIndex((d) => !(d >= -tol && d <= 1 + tol));
  if (bad >= 0) {
    throw new Error(`feature dimensionality D_${bad} = ${D[bad]} is outside [0, 1] (D = [${D}])`);
  }
  if (!(total <= m + tol)) {
    throw new Error(`Σ D_i = ${total} exceeds m = ${m} (D = [${D}])`);
  }
}

/**
 * Trained random models satisfy 0 ≤ D_i ≤ 1 and Σ_i D_i ≤ m (tolerance 1e-9: it holds for any W,
 * trained or not; computed in f64).
 *
 * @example
 * ```ts
 * await fc.assert(dimensionalityBoundsProperty(), { numRuns: 3 });
 * ```
 */
export function dimensionalityBoundsProperty(
  o: ToyPropertyOptions = {},
): fc.IAsyncPropertyWithHooks<[ToyPropertyConfig]> {
  return fc.asyncProperty(arbToyConfig(o), async (cfg) => {
    const model = await trained(cfg, o);
    try {
      for (const w of await model.readWeights()) checkDimensionalityBounds(w.W);
    } finally {
      model.dispose();
    }
  });
}

/**
 * The trained loss of every instance is below the zero model's (x' = 0, loss Σ_i I_i E[x_i²]),
 * both measured in f64 on the same fresh batch of 4096 rows (a step the training never drew).
 * Margin: "relu" and "linear" must reach at most 98% of the zero model's loss; "abs" (two ReLU
 * layers, which can die with all units off, as in PyTorch) at most the zero model's.
 *
 * @example
 * ```ts
 * await fc.assert(beatsZeroModelProperty({ steps: 1500 }), { numRuns: 3 });
 * ```
 */
export function beatsZeroModelProperty(
  o: ToyPropertyOptions = {},
): fc.IAsyncPropertyWithHooks<[ToyPropertyConfig]> {
  return fc.asyncProperty(arbToyConfig(o), async (cfg) => {
    const model = await trained(cfg, o);
    try {
      const x = toyBatchRef(model, 4096, 2 ** 31);
      const mine = toyLossRef(model, await model.params.read(), x);
      const zero = toyLossRef(model, null, x);
      mine.forEach((l, r) => {
        // "abs" (two ReLU layers) can die: every hidden or output unit off for all inputs, so
        // its loss equals the zero model's exactly; it can never be above it.
        const bound = cfg.variant === "abs" ? zero[r] * (1 + 1e-9) : 0.98 * zero[r];
        if (!(l <= bound)) {
          throw new Error(
            `instance ${r} (p = ${
              cfg.probabilities[r]
            }): trained loss ${l} is not below the zero ` +
              `model's ${zero[r]}`,
          );
        }
      });
    } finally {
      model.dispose();
    }
  });
}

/**
 * With m ≥ n and dense data (p = 1) a ReLU model needs no superposition: every off-diagonal
 * |(WᵀW)_ij| ≤ 0.1 while the diagonal is ≥ 0.5 (each feature has its own direction).
 *
 * @example
 * ```ts
 * await fc.assert(noSuperpositionWhenWideProperty(), { numRuns: 3 });
 * ```
 */
export function noSuperpositionWhenWideProperty(
  o: ToyPropertyOptions = {},
): fc.IAsyncPropertyWithHooks<[ToyPropertyConfig]> {
  const arb = arbToyConfig({ ...o, variants: ["relu"] }).map((c) => ({
    ...c,
    nHidden: Math.max(c.nHidden, c.nFeatures),
    probabilities: c.probabilities.map(() => 1),
  }));
  return fc.asyncProperty(arb, async (cfg) => {
    const model = await trained(cfg, { ...o, steps: o.steps ?? 3000 });
    try {
      (await model.readWeights()).forEach((w, r) => {
        const G = gram(w.W);
        for (let i = 0; i < G.length; i++) {
          if (!(G[i][i] >= 0.5)) {
            throw new Error(`instance ${r}: feature ${i} has ‖W_i‖² = ${G[i][i]} < 0.5 with m ≥ n`);
          }
          for (let j = 0; j < G.length; j++) {
            if (i !== j && !(Math.abs(G[i][j]) <= 0.1)) {
              throw new Error(
                `instance ${r}: (WᵀW)[${i}][${j}] = ${
                  G[i][j]
                }: features share a direction with m ≥ n`,
              );
            }
          }
        }
      });
    } finally {
      model.dispose();
    }
  });
}

/** The instance of a model with the lowest f64 loss on a fresh batch, and its feature norms. */
async function bestNorms(model: ToyModel): Promise<number[]> {
  const params = await model.params.read();
  const loss = toyLossRef(model, params, toyBatchRef(model, 2048, 2 ** 31));
  const best = loss.indexOf(Math.min(...loss));
  const ws = await model.readWeights();
  return gram(ws[best].W).map((row, i) => Math.sqrt(row[i]));
}

/**
 * Permuting the importances permutes the solution: two dense ReLU models with m < n, one with
 * importances I and one with I∘π (strictly decreasing I = 0.7ⁱ, so the optimum keeps the m most
 * important features), agree on which features they represent and on their norms up to π:
 * |‖W'_{π(i)}‖ − ‖W_i‖| ≤ 0.15. A single run can stop in a local optimum that keeps a less
 * important feature, so each model trains 4 instances and the one with the lowest loss counts.
 *
 * @example
 * ```ts
 * await fc.assert(importancePermutationProperty(), { numRuns: 2 });
 * ```
 */
export function importancePermutationProperty(
  o: ToyPropertyOptions = {},
): fc.IAsyncPropertyWithHooks<[[ToyPropertyConfig, number[]]]> {
  const arb = arbToyConfig({ ...o, variants: ["relu"], maxInstances: 1 }).map((c) => ({
    ...c,
    nFeatures: Math.max(c.nFeatures, 3),
    nHidden: Math.min(c.nHidden, Math.max(c.nFeatures, 3) - 1),
    probabilities: [1, 1, 1, 1],
  }));
  const withPerm = arb.chain((c) =>
    fc.tuple(
      fc.constant(c),
      fc.shuffledSubarray([...Array(c.nFeatures).keys()], {
        minLength: c.nFeatures,
        maxLength: c.nFeatures,
      }),
    )
  );
  return fc.asyncProperty(
    withPerm,
    async ([cfg, perm]) => {
      const base = Array.from({ length: cfg.nFeatures }, (_, i) => 0.7 ** i);
      // Feature perm[i] of the second model gets feature i's importance.
      const permuted = new Array<number>(cfg.nFeatures);
      perm.forEach((to, from) => (permuted[to] = base[from]));
      const steps = o.steps ?? 3000;
      const a = await trained(cfg, { ...o, steps }, base);
      let b: ToyModel | null = null;
      try {
        b = await trained({ ...cfg, seed: cfg.seed + 1 }, { ...o, steps }, permuted);
        const na = await bestNorms(a);
        const nb = await bestNorms(b);
        perm.forEach((to, from) => {
          if (!(Math.abs(nb[to] - na[from]) <= 0.15)) {
            throw new Error(
              `‖W_${from}‖ = ${na[from]} but the permuted model's ‖W_${to}‖ = ${nb[to]} ` +
                `(perm [${perm}], norms [${na}] vs [${nb}])`,
            );
          }
        });
      } finally {
        a.dispose();
        b?.dispose();
      }
    },
  );
}
