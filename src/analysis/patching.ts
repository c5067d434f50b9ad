/**
 * Activation patching and attribution patching.
 *
 * Activation patching (TransformerLens's `patching` module): run the model on corrupted tokens
 * once per cell of a grid, each time replacing one activation by its value on the clean tokens
 * (from a cache of the clean run), and record a metric of the logits. The sweeps return those
 * metric values: `[n_layers, pos]` for the residual stream (TL's `get_act_patch_resid_pre`),
 * `[n_layers, n_heads]` for head outputs at every position (`get_act_patch_attn_head_out_all_pos`)
 * and `[n_layers, pos, n_heads]` by position (`..._by_pos`).
 *
 * Attribution patching approximates every cell at once from one forward and one backward pass
 * on the corrupted tokens: the effect of patching activation `a` is about
 * `Σ (a_clean − a_corrupt) · ∂metric/∂a` (the first-order Taylor term), summed over the patched
 * elements. It returns these estimated *changes* of the metric, with the same grid shapes; add
 * the corrupted run's metric (`baseline`) to compare with the activation-patching values.
 *
 * A metric is a function of the logits [batch, pos, d_vocab] returning a one-element tensor; for
 * attribution patching it must be built from differentiable ops (slices, sums, products,
 * logSoftmax, ...), as {@link logitDiffMetric} is.
 *
 * @module
 */

import { enableGrad, noGrad } from "../autograd/tape.ts";
import { gradients } from "../autograd/backward.ts";
import { tensor } from "../ops/creation.ts";
import { mul, sub, where } from "../ops/elementwise.ts";
import { concat } from "../ops/indexing.ts";
import { reshape, slice } from "../ops/movement.ts";
import { sum } from "../ops/reduce.ts";
import type { Tensor } from "../tensor.ts";
import { type ActivationCache, actName, type FwdHook, patchFromCache } from "../model/hooks.ts";
import type { HookedTransformer, Tokens } from "../model/hooked_transformer.ts";
import { scoped } from "./resid.ts";

/** A scalar function of the logits [batch, pos, d_vocab]: a one-element tensor. */
export type Metric = (logits: Tensor) => Tensor;

/** Residual-stream activations a sweep can patch, per (layer, position). */
export type ResidHook = "resid_pre" | "resid_mid" | "resid_post" | "attn_out" | "mlp_out";

/** Per-head activations a sweep can patch ([batch, pos, head_index, d] activations). */
export type HeadHook = "z" | "q" | "k" | "v" | "result";

/**
 * A metric: the mean over the batch of `logits[b, pos, correct[b]] − logits[b, pos,
 * incorrect[b]]` at one position (default the last). Differentiable.
 *
 * @example
 * ```ts
 * const metric = logitDiffMetric([answer], [wrongAnswer]);
 * const m = metric(model.forward(tokens)); // one-element tensor
 * ```
 */
export function logitDiffMetric(
  correct: readonly number[],
  incorrect: readonly number[],
  opts: { pos?: number } = {},
): Metric {
  if (correct.length !== incorrect.length || correct.length === 0) {
    throw new RangeError(
      `Cannot run logitDiffMetric: ${correct.length} correct and ${incorrect.length} incorrect ` +
        `tokens; give one of each per batch element`,
    );
  }
  return (logits: Tensor) => {
    const [B, P, V] = logits.shape;
    if (logits.rank !== 3 || B !== correct.length) {
      throw new RangeError(
        `Cannot run logitDiffMetric: logits ${logits.describe()} must be [batch ${correct.length}, pos, d_vocab]`,
      );
    }
    const pos = opts.pos ?? -1;
    const p = pos < 0 ? pos + P : pos;
    if (!Number.isInteger(pos) || p < 0 || p >= P) {
      throw new RangeError(`Cannot run logitDiffMetric: position ${pos} is outside ${P} positions`);
    }
    const w = new Float32Array(B * V);
    for (let b = 0; b < B; b++) {
      for (const [t, s] of [[correct[b], 1], [incorrect[b], -1]]) {
        if (!Number.isInteger(t) || t < 0 || t >= V) {
          throw new RangeError(`Cannot run logitDiffMetric: token ${t} is outside [0, ${V})`);
        }
        w[b * V + t] += s / B;
      }
    }
    const at = reshape(slice(logits, [null, [p, p + 1]]), [B, V]);
    return sum(mul(at, tensor(w, [B, V], { engine: logits.engine })));
  };
}

function checkMetric(m: unknown): Tensor {
  const t = m as Tensor;
  if (!t || typeof t !== "object" || !("shape" in t) || t.size !== 1) {
    throw new TypeError(
      `The patching metric must return a one-element tensor, got ${
        t && typeof t === "object" && "describe" in t ? t.describe() : typeof m
      }`,
    );
  }
  return t;
}

/** Token count of a Tokens value (for grid sizes). */
function posCount(tokens: Tokens): number {
  if (Array.isArray(tokens)) {
    const first = tokens[0];
    return Array.isArray(first) ? first.length : tokens.length;
  }
  const t = tokens as Tensor;
  return t.shape[t.rank - 1];
}

function metricRun(
  model: HookedTransformer,
  tokens: Tokens,
  metric: Metric,
  hooks: readonly FwdHook[],
): Tensor {
  const logits = model.runWithHooks(tokens, { fwdHooks: hooks });
  const m = checkMetric(metric(logits));
  return reshape(m, [1]);
}

function checkResidHook(op: string, model: HookedTransformer, hook: ResidHook): void {
  const ok = ["resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"];
  if (!ok.includes(hook)) {
    throw new RangeError(`Cannot run ${op}: hook "${hook}" is not one of ${ok.join(", ")}`);
  }
  if (model.cfg.attnOnly && (hook === "resid_mid" || hook === "mlp_out")) {
    throw new RangeError(`Cannot run ${op}: this attention-only model has no ${hook}`);
  }
}

function checkHeadHook(op: string, model: HookedTransformer, hook: HeadHook): void {
  const ok = ["z", "q", "k", "v", "result"];
  if (!ok.includes(hook)) {
    throw new RangeError(`Cannot run ${op}: hook "${hook}" is not one of ${ok.join(", ")}`);
  }
  if (hook === "result" && !model.cfg.useAttnResult) {
    throw new RangeError(`Cannot run ${op}: hook_result needs a model with useAttnResult`);
  }
}

/** Options of {@link actPatchResid}. */
export interface ActPatchResidOptions {
  /** Which residual-stream activation to patch (default "resid_pre"). */
  hook?: ResidHook;
}

/**
 * Patch the clean residual stream into the corrupted run at each (layer, position), one run per
 * cell: `[n_layers, pos]` metric values (TL's `get_act_patch_resid_pre`, or the other
 * activations of {@link ResidHook}). `cleanCache` must hold the patched activation of every
 * layer, from a run on clean tokens of the corrupted tokens' shape.
 *
 * @example
 * ```ts
 * const { cache } = model.runWithCache(clean, { names: /hook_resid_pre$/ });
 * const grid = actPatchResid(model, corrupt, cache, logitDiffMetric([a], [b])); // [L, pos]
 * ```
 */
export function actPatchResid(
  model: HookedTransformer,
  corruptTokens: Tokens,
  cleanCache: ActivationCache,
  metric: Metric,
  opts: ActPatchResidOptions = {},
): Tensor {
  const hook = opts.hook ?? "resid_pre";
  checkResidHook("actPatchResid", model, hook);
  const L = model.cfg.nLayers;
  const P = posCount(corruptTokens);
  return noGrad(() =>
    scoped(model.engine, () => {
      const cells: Tensor[] = [];
      for (let l = 0; l < L; l++) {
        const name = actName(hook, l);
        cleanCache.get(name); // a clear error before any run
        for (let p = 0; p < P; p++) {
          cells.push(scoped(model.engine, () =>
            metricRun(model, corruptTokens, metric, [
              patchFromCache(cleanCache, name, { positions: [p] }),
            ])));
        }
      }
      return reshape(concat(cells, 0), [L, P]);
    })
  );
}

/** Options of {@link actPatchHeads}. */
export interface ActPatchHeadsOptions {
  /** Which per-head activation to patch (default "z", the head's output before W_O). */
  hook?: HeadHook;
  /** One cell per (layer, position, head) instead of per (layer, head) at every position. */
  byPos?: boolean;
}

/** A hook replacing head `head` (at `pos`, or every position) of `name` by the cached value. */
function patchHead(
  cache: ActivationCache,
  name: string,
  head: number,
  pos: number | null,
): FwdHook {
  return [name, (act) => {
    const clean = cache.get(name);
    if (clean.rank !== act.rank || clean.shape.some((d, i) => d !== act.shape[i])) {
      throw new RangeError(
        `Hook at "${name}": the cached activation ${clean.describe()} does not match this run's ${act.describe()}`,
      );
    }
    const [, P, H] = act.shape;
    const m = new Float32Array(P * H);
    for (let p = 0; p < P; p++) if (pos === null || p === pos) m[p * H + head] = 1;
    return where(tensor(m, [1, P, H, 1], { engine: act.engine }), clean, act);
  }];
}

/**
 * Patch each head's clean activation (default `hook_z`) into the corrupted run, one run per
 * cell: `[n_layers, n_heads]` metric values (TL's `get_act_patch_attn_head_out_all_pos`), or
 * `[n_layers, pos, n_heads]` with `byPos` (`..._by_pos`).
 *
 * @example
 * ```ts
 * const { cache } = model.runWithCache(clean, { names: /hook_z$/ });
 * const grid = actPatchHeads(model, corrupt, cache, metric); // [L, H]
 * ```
 */
export function actPatchHeads(
  model: HookedTransformer,
  corruptTokens: Tokens,
  cleanCache: ActivationCache,
  metric: Metric,
  opts: ActPatchHeadsOptions = {},
): Tensor {
  const hook = opts.hook ?? "z";
  checkHeadHook("actPatchHeads", model, hook);
  const { nLayers: L, nHeads: H } = model.cfg;
  const P = posCount(corruptTokens);
  const positions: (number | null)[] = opts.byPos ? Array.from({ length: P }, (_, p) => p) : [null];
  return noGrad(() =>
    scoped(model.engine, () => {
      const cells: Tensor[] = [];
      for (let l = 0; l < L; l++) {
        const name = actName(hook, l);
        cleanCache.get(name);
        for (const p of positions) {
          for (let h = 0; h < H; h++) {
            cells.push(scoped(model.engine, () =>
              metricRun(model, corruptTokens, metric, [patchHead(cleanCache, name, h, p)])));
          }
        }
      }
      const all = concat(cells, 0);
      return opts.byPos ? reshape(all, [L, P, H]) : reshape(all, [L, H]);
    })
  );
}

// ------------------------------------------------------------------------------ attribution

/** What {@link attributionPatch} returns. */
export interface AttributionResult {
  /** The metric on the corrupted tokens (one element). */
  baseline: Tensor;
  /**
   * For each hook name: `(clean − corrupt) ⊙ ∂metric/∂activation`, the activation's shape; sum
   * it over the elements a patch would replace to estimate that patch's effect.
   */
  attributions: Map<string, Tensor>;
}

/**
 * One forward and one backward pass on the corrupted tokens: the metric and, for every hook in
 * `names`, the elementwise attribution `(clean − corrupt) ⊙ ∂metric/∂activation` (gradients at
 * the hooked activations, clean values from `cleanCache`). The building block of
 * {@link attributionPatchResid} and {@link attributionPatchHeads}.
 *
 * @example
 * ```ts
 * const { baseline, attributions } = attributionPatch(model, corrupt, cleanCache, metric, [
 *   "blocks.0.hook_resid_pre",
 * ]);
 * ```
 */
export function attributionPatch(
  model: HookedTransformer,
  corruptTokens: Tokens,
  cleanCache: ActivationCache,
  metric: Metric,
  names: readonly string[],
): AttributionResult {
  const full = names.map((n) => actName(n));
  for (const n of full) cleanCache.get(n); // a clear error before the run
  const params = model.parameters();
  const prev = params.map((p) => p.requiresGrad);
  return scoped(model.engine, () => {
    // Recording must be on for the model to keep the graph (it then frees nothing early); the
    // gradient is asked only at the activations, so no parameter gradient is computed.
    for (const p of params) p.requiresGrad = true;
    try {
      return enableGrad(() => {
        const acts = new Map<string, Tensor>();
        const hooks: FwdHook[] = full.map((n) => [n, (act: Tensor) => {
          acts.set(n, act);
        }]);
        const logits = model.runWithHooks(corruptTokens, { fwdHooks: hooks });
        const m = checkMetric(metric(logits));
        const order = full.filter((n) => acts.has(n));
        const grads = gradients(m, order.map((n) => acts.get(n)!));
        return noGrad(() => {
          const attributions = new Map<string, Tensor>();
          order.forEach((n, i) => {
            const clean = cleanCache.get(n);
            const act = acts.get(n)!;
            if (clean.rank !== act.rank || clean.shape.some((d, j) => d !== act.shape[j])) {
              throw new RangeError(
                `Cannot run attributionPatch: the cached "${n}" ${clean.describe()} does not ` +
                  `match the corrupted run's ${act.describe()}`,
              );
            }
            attributions.set(n, mul(sub(clean, act), grads[i]));
          });
          const baseline = reshape(m, [1]);
          baseline.requiresGrad = false;
          baseline.node = null;
          return { baseline, attributions };
        });
      });
    } finally {
      params.forEach((p, i) => (p.requiresGrad = prev[i]));
    }
  });
}

/**
 * Attribution patching of the residual stream: the estimated change of the metric when the
 * clean activation (default resid_pre) replaces the corrupted one at each (layer, position),
 * `[n_layers, pos]` (summed over the batch and d_model), from one forward and backward pass.
 * Compare with `actPatchResid(...) − baseline`.
 *
 * @example
 * ```ts
 * const est = attributionPatchResid(model, corrupt, cleanCache, metric); // [L, pos]
 * ```
 */
export function attributionPatchResid(
  model: HookedTransformer,
  corruptTokens: Tokens,
  cleanCache: ActivationCache,
  metric: Metric,
  opts: ActPatchResidOptions = {},
): Tensor {
  const hook = opts.hook ?? "resid_pre";
  checkResidHook("attributionPatchResid", model, hook);
  // [b, p, d] -> [p]
  return attributionByLayer(model, corruptTokens, cleanCache, metric, hook, (a) => sum(a, [0, 2]));
}

/**
 * Attribution patching at `hook` in every layer, each layer's [batch, ...] attributions reduced
 * by `reduce` and stacked along a new first axis: `[n_layers, ...]`.
 */
function attributionByLayer(
  model: HookedTransformer,
  corruptTokens: Tokens,
  cleanCache: ActivationCache,
  metric: Metric,
  hook: string,
  reduce: (a: Tensor) => Tensor,
): Tensor {
  const names = Array.from({ length: model.cfg.nLayers }, (_, l) => actName(hook, l));
  return scoped(model.engine, () => {
    const { attributions } = attributionPatch(model, corruptTokens, cleanCache, metric, names);
    const rows = names.map((n) => {
      const s = reduce(attributions.get(n)!);
      return reshape(s, [1, ...s.shape]);
    });
    return concat(rows, 0);
  });
}

/**
 * Attribution patching of every head (default hook_z): the estimated change of the metric when
 * a head's clean activation replaces the corrupted one at every position, `[n_layers,
 * n_heads]`, or per position with `byPos`, `[n_layers, pos, n_heads]`, from one forward and
 * backward pass. Compare with `actPatchHeads(...) − baseline`.
 *
 * @example
 * ```ts
 * const est = attributionPatchHeads(model, corrupt, cleanCache, metric); // [L, H]
 * ```
 */
export function attributionPatchHeads(
  model: HookedTransformer,
  corruptTokens: Tokens,
  cleanCache: ActivationCache,
  metric: Metric,
  opts: ActPatchHeadsOptions = {},
): Tensor {
  const hook = opts.hook ?? "z";
  checkHeadHook("attributionPatchHeads", model, hook);
  // [b, p, h, d] -> [p, h] or [h]
  const axes = opts.byPos ? [0, 3] : [0, 1, 3];
  return attributionByLayer(model, corruptTokens, cleanCache, metric, hook, (a) => sum(a, axes));
}
