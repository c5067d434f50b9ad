/**
 * The induction-head experiment: train a small attention-only transformer on sequences whose
 * random run repeats at a random place (src/train/data.ts), recording the loss every step and
 * every head's induction and previous-token scores (src/analysis/induction.ts) on held-out
 * sequences every `logEvery` steps. With two layers, a layer-1 head's induction score jumps
 * during training (the phase change) while the loss falls; with one layer, no head gets there.
 *
 * Uses only engine APIs (no Deno): the CLI (`glassbox induction`) and the browser demo both call
 * {@link trainInduction}.
 *
 * @module
 */

import { type Engine, engine as defaultEngine } from "../gpu/engine.ts";
import { empty } from "../ops/creation.ts";
import { readTensors, type Tensor } from "../tensor.ts";
import { HookedTransformer } from "../model/hooked_transformer.ts";
import type { HookedTransformerConfig, Normalization } from "../model/config.ts";
import { modelHeadScoresInto, splitScores } from "../analysis/induction.ts";
import { RepeatData, type RepeatDataConfig } from "./data.ts";
import { type LogEntry, type TrainBackend, Trainer } from "./trainer.ts";

/** Options of {@link trainInduction}; every one has a default. */
export interface InductionOptions {
  /** Layers (default 2). */
  layers?: number;
  /** Training steps (default 3000). */
  steps?: number;
  /** Seed of the weights and of the training data (default 0). */
  seed?: number;
  /** Width of the residual stream (default 64). */
  dModel?: number;
  /** Heads per layer (default 4). */
  heads?: number;
  /** Context length (default 48). */
  ctx?: number;
  /** Sequences per batch (default 32). */
  batch?: number;
  /** Vocabulary, BOS included (default 64). */
  vocab?: number;
  /** Peak learning rate of AdamW (default 1e-3). */
  lr?: number;
  /** Linear warm-up steps (default 0). */
  warmupSteps?: number;
  /** After the warm-up: "constant" (default) or "cosine" decay to lr/10 at the last step. */
  schedule?: "constant" | "cosine";
  /** AdamW weight decay (default 0.01). */
  weightDecay?: number;
  /** Global gradient-norm clip (default 1; null: none). */
  clipNorm?: number | null;
  /** Steps between loss readbacks and score evaluations (default 50). */
  logEvery?: number;
  /** Held-out sequences the scores are measured on (default 64). */
  evalBatch?: number;
  /** Layer norm of the model (default "LN"). */
  normalization?: Normalization;
  /** Training implementation (default "auto": fused where it applies). */
  backend?: TrainBackend;
  /** Engine (default: the one from `init()`). */
  engine?: Engine;
  /** Called after each evaluation with the progress so far (may be async). */
  onProgress?: (p: InductionProgress) => void | Promise<void>;
}

/** What {@link InductionOptions.onProgress} is told. */
export interface InductionProgress {
  step: number;
  steps: number;
  /** Mean loss over the steps since the last report. */
  loss: number;
  /** Best induction score over the heads of layers ≥ 1 (of layer 0 in a 1-layer model). */
  bestInduction: number;
  /** Best previous-token score over the heads of layer 0. */
  bestPrevToken: number;
  /** Seconds since training started. */
  seconds: number;
}

/** A head and its score. */
export interface HeadScore {
  layer: number;
  head: number;
  score: number;
}

/** What {@link trainInduction} returns. */
export interface InductionResult {
  /** The trained model (the caller disposes it). */
  model: HookedTransformer;
  /** The options used, defaults filled in (engine and callback left out). */
  options:
    & Required<Omit<InductionOptions, "engine" | "onProgress" | "clipNorm" | "normalization">>
    & {
      clipNorm: number | null;
      normalization: Normalization;
    };
  /** The data generator's settings. */
  data: RepeatDataConfig;
  /** The backend that trained. */
  backend: "fused" | "autodiff";
  /** Every step's loss, gradient norm and learning rate. */
  log: LogEntry[];
  /** Steps at which the scores were measured (0 = before training, the last = after). */
  evalSteps: number[];
  /** Induction score [eval][layer][head]. */
  induction: number[][][];
  /** Previous-token score [eval][layer][head]. */
  prevToken: number[][][];
  /** The scores after training, [layer][head]. */
  final: { induction: number[][]; prevToken: number[][] };
  /** The best induction head after training (layers ≥ 1; layer 0 in a 1-layer model). */
  bestInduction: HeadScore;
  /** The best induction head of any layer after training. */
  bestInductionAnyLayer: HeadScore;
  /** The best previous-token head of layer 0 after training. */
  bestPrevToken: HeadScore;
  /**
   * The phase change: the first evaluation where the best induction score (as in
   * `bestInduction`) is past halfway from its first to its last value, if it rose by at least
   * 0.2; else null.
   */
  phaseChange: { step: number; from: number; to: number } | null;
  /** Wall-clock seconds of training (evaluations included). */
  seconds: number;
  /** Training steps per second and tokens per second (wall clock, evaluations included). */
  stepsPerSecond: number;
  tokensPerSecond: number;
}

function best(scores: number[][], layers: number[]): HeadScore {
  let b: HeadScore = { layer: -1, head: -1, score: -Infinity };
  for (const l of layers) {
    scores[l].forEach((s, h) => {
      if (s > b.score) b = { layer: l, head: h, score: s };
    });
  }
  return b;
}

function checkInt(what: string, v: number, lo: number): void {
  if (!Number.isInteger(v) || v < lo) {
    throw new RangeError(`Cannot run trainInduction: ${what} must be an integer ≥ ${lo}, got ${v}`);
  }
}

/**
 * Train an attention-only transformer on repeated random runs and follow its heads' induction
 * and previous-token scores (see the module comment). The defaults are the experiment of the
 * issue: 2 layers, d_model 64, 4 heads, context 48, batch 32, AdamW lr 1e-3, 3000 steps.
 *
 * @example
 * ```ts
 * const r = await trainInduction({ layers: 2, steps: 3000, seed: 0 });
 * console.log(r.bestInduction, r.phaseChange);
 * r.model.dispose();
 * ```
 */
export async function trainInduction(opts: InductionOptions = {}): Promise<InductionResult> {
  const o = {
    layers: opts.layers ?? 2,
    steps: opts.steps ?? 3000,
    seed: opts.seed ?? 0,
    dModel: opts.dModel ?? 64,
    heads: opts.heads ?? 4,
    ctx: opts.ctx ?? 48,
    batch: opts.batch ?? 32,
    vocab: opts.vocab ?? 64,
    lr: opts.lr ?? 1e-3,
    warmupSteps: opts.warmupSteps ?? 0,
    schedule: opts.schedule ?? "constant",
    weightDecay: opts.weightDecay ?? 0.01,
    clipNorm: opts.clipNorm === undefined ? 1 : opts.clipNorm,
    logEvery: opts.logEvery ?? 50,
    evalBatch: opts.evalBatch ?? 64,
    normalization: opts.normalization === undefined ? "LN" as Normalization : opts.normalization,
    backend: opts.backend ?? "auto",
  };
  checkInt("layers", o.layers, 1);
  checkInt("steps", o.steps, 0);
  checkInt("seed", o.seed, 0);
  checkInt("logEvery", o.logEvery, 1);
  checkInt("evalBatch", o.evalBatch, 1);
  if (o.schedule !== "constant" && o.schedule !== "cosine") {
    throw new RangeError(
      `Cannot run trainInduction: schedule "${o.schedule}" is not "constant" or "cosine"`,
    );
  }
  const eng = opts.engine ?? defaultEngine();
  const data = new RepeatData({ batch: o.batch, ctx: o.ctx, vocab: o.vocab, seed: o.seed }, eng);
  const evalData = new RepeatData(
    { batch: o.evalBatch, ctx: o.ctx, vocab: o.vocab, seed: 1_000_003 + o.seed },
    eng,
  );
  const cfg: Partial<HookedTransformerConfig> & {
    nLayers: number;
    dModel: number;
    nCtx: number;
    dVocab: number;
  } = {
    nLayers: o.layers,
    dModel: o.dModel,
    nHeads: o.heads,
    nCtx: o.ctx,
    dVocab: o.vocab,
    attnOnly: true,
    normalization: o.normalization,
  };
  const model = HookedTransformer.init(cfg, { seed: o.seed, engine: eng });
  const L = o.layers;
  const H = o.heads;
  const nEval = Math.floor(o.steps / o.logEvery) + 2;
  let history: Tensor | null = null;
  let trainer: Trainer | null = null;
  const evalSteps: number[] = [];
  const log: LogEntry[] = [];
  const t0 = performance.now();
  try {
    history = empty([nEval, L, H, 2], "f32", eng);
    const { tokens: evalTokens, meta: evalMeta } = evalData.next(0);
    const indLayers = L > 1 ? Array.from({ length: L - 1 }, (_, i) => i + 1) : [0];
    const evaluate = async (step: number, entries: LogEntry[]) => {
      const slot = evalSteps.length;
      evalSteps.push(step);
      modelHeadScoresInto(model, evalTokens, evalMeta, history!, slot * L * H * 2);
      if (!opts.onProgress) return;
      const [v] = await readTensors([history!]);
      const s = splitScores(v, L, H, slot * L * H * 2);
      const loss = entries.length ? entries.reduce((a, e) => a + e.loss, 0) / entries.length : NaN;
      await opts.onProgress({
        step,
        steps: o.steps,
        loss,
        bestInduction: best(s.induction, indLayers).score,
        bestPrevToken: best(s.prevToken, [0]).score,
        seconds: (performance.now() - t0) / 1000,
      });
    };
    await evaluate(0, []);
    trainer = new Trainer(model, {
      lr: o.lr,
      warmupSteps: o.warmupSteps,
      schedule: o.schedule,
      totalSteps: Math.max(o.steps, o.warmupSteps),
      minLr: o.lr / 10,
      weightDecay: o.weightDecay,
      clipNorm: o.clipNorm,
      logEvery: o.logEvery,
      backend: o.backend,
    });
    for (let s = 0; s < o.steps; s++) {
      trainer.step(data.next(s).tokens);
      if (trainer.logFull || s === o.steps - 1) {
        const entries = await trainer.flushLog();
        log.push(...entries);
        trainer.syncModel();
        await evaluate(s + 1, entries);
      }
    }
    const backend = trainer.backend;
    trainer.dispose();
    trainer = null;
    const [v] = await readTensors([history]);
    const seconds = (performance.now() - t0) / 1000;
    const induction: number[][][] = [];
    const prevToken: number[][][] = [];
    evalSteps.forEach((_, i) => {
      const s = splitScores(v, L, H, i * L * H * 2);
      induction.push(s.induction);
      prevToken.push(s.prevToken);
    });
    const final = { induction: induction.at(-1)!, prevToken: prevToken.at(-1)! };
    const curve = induction.map((s) => best(s, indLayers).score);
    let phaseChange: InductionResult["phaseChange"] = null;
    const from = curve[0];
    const to = curve.at(-1)!;
    if (to - from >= 0.2) {
      const i = curve.findIndex((c) => c >= (from + to) / 2);
      phaseChange = { step: evalSteps[i], from, to };
    }
    return {
      model,
      options: o,
      data: data.cfg,
      backend,
      log,
      evalSteps,
      induction,
      prevToken,
      final,
      bestInduction: best(final.induction, indLayers),
      bestInductionAnyLayer: best(final.induction, Array.from({ length: L }, (_, i) => i)),
      bestPrevToken: best(final.prevToken, [0]),
      phaseChange,
      seconds,
      stepsPerSecond: o.steps / seconds,
      tokensPerSecond: (o.steps * o.batch * o.ctx) / seconds,
    };
  } catch (e) {
    trainer?.dispose();
    model.dispose();
    throw e;
  } finally {
    history?.dispose();
    data.dispose();
    evalData.dispose();
  }
}

/**
 * The JSON-ready summary of a result (everything but the model), as `glassbox induction`
 * writes it to results.json.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("results.json", JSON.stringify(inductionResultsJson(r)));
 * ```
 */
export function inductionResultsJson(r: InductionResult): Record<string, unknown> {
  return {
    experiment: "induction",
    options: r.options,
    data: r.data,
    model: r.model.cfg,
    backend: r.backend,
    seconds: r.seconds,
    steps_per_second: r.stepsPerSecond,
    tokens_per_second: r.tokensPerSecond,
    steps: r.log.map((e) => e.step),
    losses: r.log.map((e) => e.loss),
    grad_norms: r.log.map((e) => e.gradNorm),
    lrs: r.log.map((e) => e.lr),
    eval_steps: r.evalSteps,
    induction_scores: r.induction,
    prev_token_scores: r.prevToken,
    final: {
      induction: r.final.induction,
      prev_token: r.final.prevToken,
      best_induction: r.bestInduction,
      best_induction_any_layer: r.bestInductionAnyLayer,
      best_prev_token: r.bestPrevToken,
      loss: r.log.length ? r.log.at(-1)!.loss : null,
    },
    phase_change: r.phaseChange,
  };
}
