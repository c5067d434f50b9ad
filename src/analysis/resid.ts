/**
 * The residual stream, taken apart: TransformerLens's `ActivationCache` methods
 * `accumulated_resid`, `decompose_resid`, `stack_head_results`, `apply_ln_to_stack` and
 * `logit_attrs`, with the logit lens on top ({@link logitLens}) and
 * `tokens_to_residual_directions`.
 *
 * The glassbox `ActivationCache` does not know its model, so each function takes the cache and
 * the model that filled it. Stacks have TL's shapes: `[component, batch, pos, d_model]` (the pos
 * axis gone when `posSlice` is one index), with TL's labels ("0_pre", "1_mid", "final_post",
 * "embed", "pos_embed", "0_attn_out", "0_mlp_out", "L0H3", "remainder").
 *
 * Every function returns new tensors that the caller owns (its temporaries are freed) and reads
 * nothing back from the GPU.
 *
 * @module
 */

import type { Engine } from "../gpu/engine.ts";
import { tensor } from "../ops/creation.ts";
import { add, div, mul, sub } from "../ops/elementwise.ts";
import { concat, gather } from "../ops/indexing.ts";
import { layerNorm, lnPre } from "../ops/layernorm.ts";
import { matmul } from "../ops/matmul.ts";
import {
  contiguous,
  permute,
  reshape,
  slice,
  squeeze,
  transpose,
  unsqueeze,
} from "../ops/movement.ts";
import { mean, sum } from "../ops/reduce.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import type { ActivationCache } from "../model/hooks.ts";
import type { HookedTransformer } from "../model/hooked_transformer.ts";

/**
 * Positions to keep (TL's `pos_slice`): one index (negative counts from the end; the pos axis
 * is dropped, as TL's integer `Slice`), a `[start, stop)` pair (negative allowed), or
 * null/undefined for every position.
 */
export type PosSlice = number | readonly [number, number] | null | undefined;

/** A stack of residual-stream pieces and the label of each (TL's `return_labels=True`). */
export interface ResidStack {
  /** [component, batch, pos, d_model] (no pos axis when `posSlice` is one index). */
  stack: Tensor;
  /** One label per component, in TL's spelling. */
  labels: string[];
}

/** Token ids for {@link tokensToResidualDirections} and {@link logitAttrs}. */
export type TokenIndex = number | readonly number[] | readonly (readonly number[])[] | Tensor;

/** Run `fn` in a scope of `eng`: everything it makes is freed except what its result holds. */
export function scoped<T>(eng: Engine, fn: () => T): T {
  eng.beginScope();
  let out: T;
  try {
    out = fn();
  } catch (e) {
    eng.endScope(new Set());
    throw e;
  }
  const keep = new Set<Tensor>();
  const visit = (v: unknown) => {
    if (v instanceof Tensor) keep.add(v);
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v instanceof Map) [...v.values()].forEach(visit);
    else if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
      Object.values(v).forEach(visit);
    }
  };
  visit(out);
  eng.endScope(keep);
  return out;
}

/** A parameter of `model` by TL name. */
export function param(model: HookedTransformer, name: string): Tensor {
  const t = model.stateDict().get(name);
  if (!t) throw new Error(`HookedTransformer has no parameter "${name}"`);
  return t;
}

/** `layer` as TL reads it: undefined, null and -1 mean n_layers; otherwise 0..n_layers. */
export function resolveLayer(
  op: string,
  layer: number | null | undefined,
  nLayers: number,
): number {
  if (layer === undefined || layer === null || layer === -1) return nLayers;
  if (!Number.isInteger(layer) || layer < 0 || layer > nLayers) {
    throw new RangeError(
      `Cannot run ${op}: layer ${layer} is outside [0, ${nLayers}] (or -1/null for the last, ` +
        `${nLayers} = the input to the unembed)`,
    );
  }
  return layer;
}

/**
 * `x` restricted to `posSlice` along `axis` (negative counts from the end). One index drops the
 * axis. Returns a new tensor (a view where possible).
 */
export function applyPosSlice(op: string, x: Tensor, posSlice: PosSlice, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (a < 0 || a >= x.rank) {
    throw new RangeError(`Cannot run ${op}: ${x.describe()} has no position axis ${axis}`);
  }
  const n = x.shape[a];
  const ranges: (readonly [number, number] | null)[] = x.shape.map(() => null);
  if (posSlice === undefined || posSlice === null) return x.view(x.shape, x.strides, x.offset);
  if (typeof posSlice === "number") {
    const p = posSlice < 0 ? posSlice + n : posSlice;
    if (!Number.isInteger(posSlice) || p < 0 || p >= n) {
      throw new RangeError(
        `Cannot run ${op}: position ${posSlice} is outside the ${n} positions of ${x.describe()}`,
      );
    }
    ranges[a] = [p, p + 1];
    return squeeze(slice(x, ranges), a);
  }
  if (!Array.isArray(posSlice) || posSlice.length !== 2) {
    throw new TypeError(
      `Cannot run ${op}: posSlice must be an index, a [start, stop) pair or null, got ${
        JSON.stringify(posSlice)
      }`,
    );
  }
  let [s, e] = posSlice;
  if (s < 0) s += n;
  if (e < 0) e += n;
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e > n || s > e) {
    throw new RangeError(
      `Cannot run ${op}: posSlice [${
        posSlice.join(", ")
      }] is outside the ${n} positions of ${x.describe()}`,
    );
  }
  ranges[a] = [s, e];
  return slice(x, ranges);
}

/** Stack same-shaped tensors along a new first axis (one copy). */
export function stack0(op: string, parts: readonly Tensor[]): Tensor {
  if (parts.length === 0) throw new RangeError(`Cannot run ${op}: nothing to stack`);
  for (const p of parts) {
    if (p.rank !== parts[0].rank || p.shape.some((d, i) => d !== parts[0].shape[i])) {
      throw new RangeError(
        `Cannot run ${op}: the pieces differ in shape (${parts[0].describe()} and ${p.describe()})`,
      );
    }
  }
  return concat(parts.map((p) => unsqueeze(p, 0)), 0);
}

function lastResidName(nLayers: number): string {
  return `blocks.${nLayers - 1}.hook_resid_post`;
}

/** The residual stream entering `layer` (n_layers: the unembed). */
function residInto(layer: number, nLayers: number): string {
  return layer === nLayers ? lastResidName(nLayers) : `blocks.${layer}.hook_resid_pre`;
}

// ------------------------------------------------------------------------------ accumulated

/** Options of {@link accumulatedResid}. */
export interface AccumulatedResidOptions {
  /**
   * Take the streams up to the input of this layer: resid_pre of layers 0..layer (and
   * resid_mid of those before it with `inclMid`); n_layers, -1 or null (default) adds the
   * final resid_post ("final_post").
   */
  layer?: number | null;
  /** Also take resid_mid of every layer before `layer` (default false). */
  inclMid?: boolean;
  /** Also take resid_mid of `layer` itself: the MLP's input rather than attention's (default false). */
  mlpInput?: boolean;
  /**
   * Apply the layer norm that reads `layer`'s input with its cached scale (see
   * {@link applyLnToStack}; ln_final for the final stream). Default false.
   */
  applyLn?: boolean;
  /**
   * With `applyLn` and the final layer: recompute ln_final's statistics for each component
   * (TL ≥ 3's logit-lens behaviour, and ln_final's weight and bias applied) instead of using
   * the cached scale (TL's classic behaviour, the default).
   */
  recomputeLn?: boolean;
  /** Positions to keep. */
  posSlice?: PosSlice;
}

/**
 * The residual stream at the start of every layer, stacked (TL's `accumulated_resid`):
 * `[component, batch, pos, d_model]` with labels "0_pre", "0_mid" (with `inclMid`), ...,
 * "final_post". Needs `hook_resid_pre` (and `hook_resid_mid`, `hook_resid_post` as used, and
 * the scales with `applyLn`) in the cache.
 *
 * @example
 * ```ts
 * const { cache } = model.runWithCache(tokens);
 * const { stack, labels } = accumulatedResid(cache, model, { applyLn: true, posSlice: -1 });
 * // stack: [n_layers + 1, batch, d_model]; labels: ["0_pre", ..., "final_post"]
 * ```
 */
export function accumulatedResid(
  cache: ActivationCache,
  model: HookedTransformer,
  opts: AccumulatedResidOptions = {},
): ResidStack {
  const op = "accumulatedResid";
  const n = model.cfg.nLayers;
  const layer = resolveLayer(op, opts.layer, n);
  const names: string[] = [];
  const labels: string[] = [];
  for (let l = 0; l <= layer; l++) {
    if (l === n) {
      if (n === 0) throw new RangeError(`Cannot run ${op}: the model has no layers`);
      names.push(lastResidName(n));
      labels.push("final_post");
      continue;
    }
    names.push(`blocks.${l}.hook_resid_pre`);
    labels.push(`${l}_pre`);
    if ((opts.inclMid && l < layer) || (opts.mlpInput && l === layer)) {
      if (model.cfg.attnOnly) {
        throw new RangeError(
          `Cannot run ${op}: this attention-only model has no resid_mid (inclMid/mlpInput)`,
        );
      }
      names.push(`blocks.${l}.hook_resid_mid`);
      labels.push(`${l}_mid`);
    }
  }
  return scoped(model.engine, () => {
    const parts = names.map((nm) => applyPosSlice(op, cache.get(nm), opts.posSlice, -2));
    let stack = stack0(op, parts);
    if (opts.applyLn) {
      stack = applyLnToStack(cache, model, stack, {
        layer,
        mlpInput: opts.mlpInput,
        posSlice: opts.posSlice,
        recomputeLn: opts.recomputeLn,
      });
    }
    return { stack, labels };
  });
}

/** Options of {@link logitLens}. */
export type LogitLensOptions = Omit<AccumulatedResidOptions, "applyLn">;

/**
 * The logit lens: every accumulated residual stream ({@link accumulatedResid}) put through
 * ln_final and the unembedding, `[component, batch, pos, d_vocab]`. By default ln_final uses
 * its cached scale (so the last component, "final_post", is exactly the model's logits);
 * `recomputeLn` normalises each stream with its own statistics instead.
 *
 * @example
 * ```ts
 * const { stack: lens, labels } = logitLens(cache, model, { posSlice: -1 });
 * // lens: [n_layers + 1, batch, d_vocab]: what each layer "believes" at the last position
 * ```
 */
export function logitLens(
  cache: ActivationCache,
  model: HookedTransformer,
  opts: LogitLensOptions = {},
): ResidStack {
  const n = model.cfg.nLayers;
  return scoped(model.engine, () => {
    const { stack, labels } = accumulatedResid(cache, model, { ...opts, applyLn: false });
    // The streams enter ln_final: the final norm is the one applied, whatever `layer`.
    const recompute = opts.recomputeLn ?? false;
    let normed = applyLnToStack(cache, model, stack, {
      layer: n,
      posSlice: opts.posSlice,
      recomputeLn: recompute,
    });
    if (!recompute && model.cfg.normalization === "LN") {
      normed = add(mul(normed, param(model, "ln_final.w")), param(model, "ln_final.b"));
    }
    return { stack: unembed(model, normed), labels };
  });
}

/** `x [..., d_model] @ W_U + b_U` → [..., d_vocab]. */
function unembed(model: HookedTransformer, x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  const lead = x.shape.slice(0, -1);
  const flat = reshape(contiguous(x), [-1, d]);
  const y = add(matmul(flat, param(model, "unembed.W_U")), param(model, "unembed.b_U"));
  return reshape(y, [...lead, model.cfg.dVocab]);
}

// ------------------------------------------------------------------------------ decompose

/** Options of {@link decomposeResid}. */
export interface DecomposeResidOptions {
  /** Decompose the input to this layer (default n_layers: the input to the unembed). */
  layer?: number | null;
  /** Decompose the MLP's input of `layer` (adds that layer's attn_out). Default false. */
  mlpInput?: boolean;
  /** "all" (default), "attn" (attention outputs only) or "mlp" (MLP outputs only). */
  mode?: "all" | "attn" | "mlp";
  /** Apply the layer norm of the layer read (cached scale; see {@link applyLnToStack}). */
  applyLn?: boolean;
  /** Positions to keep. */
  posSlice?: PosSlice;
  /** Include hook_embed and hook_pos_embed (default true). */
  inclEmbeds?: boolean;
}

/**
 * The residual stream entering `layer` as the sum of what wrote to it (TL's
 * `decompose_resid`): "embed", "pos_embed" (standard positional embeddings only: a
 * shortformer's is not in the stream), then "{l}_attn_out" and "{l}_mlp_out" for each layer
 * before it. With every component and no `applyLn`, the stack sums to the stream itself.
 *
 * @example
 * ```ts
 * const { stack, labels } = decomposeResid(cache, model, { posSlice: -1 });
 * // sum(stack, 0) equals cache.get("resid_post", n_layers - 1) at the last position
 * ```
 */
export function decomposeResid(
  cache: ActivationCache,
  model: HookedTransformer,
  opts: DecomposeResidOptions = {},
): ResidStack {
  const op = "decomposeResid";
  const cfg = model.cfg;
  const layer = resolveLayer(op, opts.layer, cfg.nLayers);
  const mode = opts.mode ?? "all";
  if (!["all", "attn", "mlp"].includes(mode)) {
    throw new RangeError(`Cannot run ${op}: mode "${mode}" is not "all", "attn" or "mlp"`);
  }
  if (opts.mlpInput && layer === cfg.nLayers) {
    throw new RangeError(`Cannot run ${op}: mlpInput needs a layer below ${cfg.nLayers}`);
  }
  const inclAttn = mode !== "mlp";
  const inclMlp = mode !== "attn" && !cfg.attnOnly;
  const names: string[] = [];
  const labels: string[] = [];
  if (opts.inclEmbeds ?? true) {
    names.push("hook_embed");
    labels.push("embed");
    if (cfg.positionalEmbedding === "standard") {
      names.push("hook_pos_embed");
      labels.push("pos_embed");
    }
  }
  for (let l = 0; l < layer; l++) {
    if (inclAttn) {
      names.push(`blocks.${l}.hook_attn_out`);
      labels.push(`${l}_attn_out`);
    }
    if (inclMlp) {
      names.push(`blocks.${l}.hook_mlp_out`);
      labels.push(`${l}_mlp_out`);
    }
  }
  if (opts.mlpInput && inclAttn) {
    names.push(`blocks.${layer}.hook_attn_out`);
    labels.push(`${layer}_attn_out`);
  }
  if (names.length === 0) {
    throw new RangeError(`Cannot run ${op}: no components (layer ${layer}, mode "${mode}")`);
  }
  return scoped(model.engine, () => {
    const parts = names.map((nm) => applyPosSlice(op, cache.get(nm), opts.posSlice, -2));
    let stack = stack0(op, parts);
    if (opts.applyLn) {
      stack = applyLnToStack(cache, model, stack, {
        layer,
        mlpInput: opts.mlpInput,
        posSlice: opts.posSlice,
      });
    }
    return { stack, labels };
  });
}

// ------------------------------------------------------------------------------ heads

/** Options of {@link stackHeadResults}. */
export interface StackHeadResultsOptions {
  /** Heads of every layer strictly before this one (default n_layers: all of them). */
  layer?: number | null;
  /** Add "remainder": the stream entering `layer` minus the sum of the heads. */
  inclRemainder?: boolean;
  /** Positions to keep. */
  posSlice?: PosSlice;
  /** Apply the layer norm of `layer` with its cached scale (see {@link applyLnToStack}). */
  applyLn?: boolean;
}

/**
 * Each head's output `hook_result` [batch, pos, d_model] (what it adds to the residual stream,
 * before b_O), for every head before `layer`, stacked to `[layer · n_heads, batch, pos,
 * d_model]` with labels "L{l}H{h}" (TL's `stack_head_results`). Computed from the cached
 * `hook_z` and W_O (`hook_result` is used when it was cached). The heads of a layer plus its
 * b_O sum to its hook_attn_out. With `layer` 0 there are no heads: that throws unless
 * `inclRemainder` (TL returns an empty stack).
 *
 * @example
 * ```ts
 * const { cache } = model.runWithCache(tokens, { names: /hook_z$|hook_scale$/ });
 * const { stack, labels } = stackHeadResults(cache, model, { posSlice: -1, applyLn: true });
 * const dla = logitAttrs(cache, model, stack, answer, { incorrectTokens: other, posSlice: -1 });
 * ```
 */
export function stackHeadResults(
  cache: ActivationCache,
  model: HookedTransformer,
  opts: StackHeadResultsOptions = {},
): ResidStack {
  const op = "stackHeadResults";
  const cfg = model.cfg;
  const layer = resolveLayer(op, opts.layer, cfg.nLayers);
  const labels: string[] = [];
  return scoped(model.engine, () => {
    const parts: Tensor[] = [];
    for (let l = 0; l < layer; l++) {
      parts.push(headResults(cache, model, l, opts.posSlice));
      for (let h = 0; h < cfg.nHeads; h++) labels.push(`L${l}H${h}`);
    }
    let stack: Tensor | null = parts.length > 0 ? concat(parts, 0) : null;
    if (opts.inclRemainder) {
      const target = applyPosSlice(op, cache.get(residInto(layer, cfg.nLayers)), opts.posSlice, -2);
      const rem = stack ? sub(target, sum(stack, 0)) : target;
      const r = unsqueeze(rem, 0);
      stack = stack ? concat([stack, r], 0) : contiguous(r);
      labels.push("remainder");
    }
    if (!stack) {
      throw new RangeError(
        `Cannot run ${op}: layer 0 has no heads before it (pass inclRemainder for the stream itself)`,
      );
    }
    if (opts.applyLn) {
      stack = applyLnToStack(cache, model, stack, { layer, posSlice: opts.posSlice });
    }
    return { stack, labels };
  });
}

/**
 * Layer `l`'s head outputs as [n_heads, batch, pos, d_model] (pos sliced): hook_z[h] @ W_O[h],
 * or the cached hook_result.
 */
export function headResults(
  cache: ActivationCache,
  model: HookedTransformer,
  l: number,
  posSlice?: PosSlice,
): Tensor {
  const op = "stackHeadResults";
  if (cache.has("result", l)) {
    const r = applyPosSlice(op, cache.get("result", l), posSlice, 1); // [b, (p,) h, d]
    const perm = r.rank === 4 ? [2, 0, 1, 3] : [1, 0, 2];
    return contiguous(permute(r, perm));
  }
  const z = applyPosSlice(op, cache.get("z", l), posSlice, 1); // [b, (p,) h, dh]
  const WO = param(model, `blocks.${l}.attn.W_O`); // [h, dh, dm]
  const H = z.shape[z.rank - 2];
  const lead = z.shape.slice(0, -2); // [b, (p)]
  const perm = z.rank === 4 ? [2, 0, 1, 3] : [1, 0, 2];
  const zh = reshape(contiguous(permute(z, perm)), [H, -1, z.shape[z.rank - 1]]); // [h, b·p, dh]
  const r = matmul(zh, WO); // [h, b·p, dm]
  return reshape(r, [H, ...lead, WO.shape[2]]);
}

// ------------------------------------------------------------------------------ layer norm

/** Options of {@link applyLnToStack}. */
export interface ApplyLnOptions {
  /** The layer whose input the stack is: 0..n_layers (n_layers, -1 or null: ln_final). */
  layer?: number | null;
  /** The stack is the MLP's input of `layer` (ln2) rather than attention's (ln1). */
  mlpInput?: boolean;
  /** The positions the stack was sliced to (the cached scale is sliced the same way). */
  posSlice?: PosSlice;
  /**
   * For the final layer only: normalise each component with its own statistics and apply
   * ln_final's weight and bias (TL's `recompute_ln`), instead of the cached scale.
   */
  recomputeLn?: boolean;
}

/**
 * Treat each component of `stack` [component, ..., d_model] as part of the input of a layer
 * norm and apply that norm as it acted on the whole stream (TL's `apply_ln_to_stack`): centre
 * each component (LN, LNPre) and divide by the scale cached at that norm's `hook_scale`
 * (ln_final for the final layer, else ln1, or ln2 with `mlpInput`). The weight and bias are not
 * applied (fold them into the next weights, as TL assumes). Because the scale is the whole
 * stream's, the normalised components still sum to the normalised stream. Models without
 * normalization get a view of the stack unchanged.
 *
 * @example
 * ```ts
 * const { stack } = decomposeResid(cache, model, { posSlice: -1 });
 * const scaled = applyLnToStack(cache, model, stack, { posSlice: -1 });
 * ```
 */
export function applyLnToStack(
  cache: ActivationCache,
  model: HookedTransformer,
  stack: Tensor,
  opts: ApplyLnOptions = {},
): Tensor {
  const op = "applyLnToStack";
  const cfg = model.cfg;
  const layer = resolveLayer(op, opts.layer, cfg.nLayers);
  if (stack.rank < 2 || stack.shape[stack.rank - 1] !== cfg.dModel) {
    throw new RangeError(
      `Cannot run ${op}: the stack ${stack.describe()} must be [component, ..., d_model ${cfg.dModel}]`,
    );
  }
  if (cfg.normalization === null) return stack.view(stack.shape, stack.strides, stack.offset);
  if (opts.mlpInput && layer === cfg.nLayers) {
    throw new RangeError(`Cannot run ${op}: mlpInput needs a layer below ${cfg.nLayers}`);
  }
  return scoped(model.engine, () => {
    if (opts.recomputeLn && layer === cfg.nLayers) {
      if (cfg.normalization === "LN") {
        return layerNorm(stack, {
          weight: param(model, "ln_final.w"),
          bias: param(model, "ln_final.b"),
          eps: cfg.eps,
        });
      }
      return lnPre(stack, { eps: cfg.eps });
    }
    const key = layer === cfg.nLayers
      ? "ln_final.hook_scale"
      : `blocks.${layer}.ln${opts.mlpInput ? 2 : 1}.hook_scale`;
    const scale = applyPosSlice(op, cache.get(key), opts.posSlice, -2); // [b, (p,) 1]
    const want = stack.shape.slice(1, -1);
    const have = scale.shape.slice(0, -1);
    if (want.length !== have.length || want.some((d, i) => d !== have[i])) {
      throw new RangeError(
        `Cannot run ${op}: the stack ${stack.describe()} does not match the cached "${key}" ` +
          `${fmtShape(scale.shape)} (after posSlice); pass the posSlice the stack was made with`,
      );
    }
    const centred = sub(stack, mean(stack, -1, { keepdims: true }));
    return div(centred, scale);
  });
}

// ------------------------------------------------------------------------------ logit attribution

/** Token ids as an i32 tensor (and whether it was made here). */
function tokenTensor(op: string, model: HookedTransformer, tokens: TokenIndex): Tensor {
  const V = model.cfg.dVocab;
  if (tokens instanceof Tensor) {
    if (tokens.dtype !== "i32" && tokens.dtype !== "u32") {
      throw new TypeError(`Cannot run ${op}: token ids ${tokens.describe()} must be i32 or u32`);
    }
    return tokens.view(tokens.shape, tokens.strides, tokens.offset);
  }
  let shape: number[];
  let flat: number[];
  if (typeof tokens === "number") {
    shape = [];
    flat = [tokens];
  } else if (tokens.length > 0 && Array.isArray(tokens[0])) {
    const rows = tokens as readonly (readonly number[])[];
    const P = rows[0].length;
    if (rows.some((r) => !Array.isArray(r) || r.length !== P)) {
      throw new RangeError(`Cannot run ${op}: token rows differ in length`);
    }
    shape = [rows.length, P];
    flat = rows.flat();
  } else {
    shape = [tokens.length];
    flat = [...(tokens as readonly number[])];
  }
  flat.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= V) {
      throw new RangeError(
        `Cannot run ${op}: token id ${t} (at flat index ${i}) is outside the vocabulary [0, ${V})`,
      );
    }
  });
  return tensor(new Int32Array(flat), shape, { dtype: "i32", engine: model.engine });
}

/**
 * The unembedding direction of each token: `W_U[:, token]`, shaped `[...tokens, d_model]` (TL's
 * `tokens_to_residual_directions`). A residual vector's dot product with it is that token's
 * logit, less b_U (after ln_final, which TL folds into W_U).
 *
 * @example
 * ```ts
 * const dir = tokensToResidualDirections(model, [5, 9]); // [2, d_model]
 * ```
 */
export function tokensToResidualDirections(model: HookedTransformer, tokens: TokenIndex): Tensor {
  const op = "tokensToResidualDirections";
  return scoped(model.engine, () => {
    const ids = tokenTensor(op, model, tokens);
    const flat = reshape(ids, [Math.max(1, ids.size)]);
    const cols = gather(param(model, "unembed.W_U"), flat, 1); // [d_model, n]
    const rows = contiguous(transpose(cols)); // [n, d_model]
    return reshape(rows, [...ids.shape, model.cfg.dModel]);
  });
}

/** Options of {@link logitAttrs}. */
export interface LogitAttrsOptions {
  /** Attribute the logit difference `tokens − incorrectTokens` (same shape as `tokens`). */
  incorrectTokens?: TokenIndex;
  /** The positions the stack was sliced to. */
  posSlice?: PosSlice;
}

/**
 * Direct logit attribution (TL's `logit_attrs`): each component of `stack` [component, batch,
 * (pos,) d_model] put through ln_final with its cached scale ({@link applyLnToStack}) and
 * dotted with the unembedding direction of `tokens` (minus that of `incorrectTokens`):
 * `[component, batch, (pos)]`. `tokens` is one id, one per batch element ([batch], broadcast
 * over positions), or one per batch element and position ([batch, pos]). For a model with
 * folded layer norm (LNPre), the attributions of a full decomposition sum to the logit (or
 * logit difference) less b_U.
 *
 * @example
 * ```ts
 * const { stack, labels } = decomposeResid(cache, model, { posSlice: -1 });
 * const dla = logitAttrs(cache, model, stack, [correct], { incorrectTokens: [wrong], posSlice: -1 });
 * ```
 */
export function logitAttrs(
  cache: ActivationCache,
  model: HookedTransformer,
  stack: Tensor,
  tokens: TokenIndex,
  opts: LogitAttrsOptions = {},
): Tensor {
  const op = "logitAttrs";
  return scoped(model.engine, () => {
    let dirs = tokensToResidualDirections(model, tokens);
    if (opts.incorrectTokens !== undefined) {
      const wrong = tokensToResidualDirections(model, opts.incorrectTokens);
      if (wrong.rank !== dirs.rank || wrong.shape.some((d, i) => d !== dirs.shape[i])) {
        throw new RangeError(
          `Cannot run ${op}: tokens and incorrectTokens differ in shape (${
            fmtShape(dirs.shape.slice(0, -1))
          } and ${fmtShape(wrong.shape.slice(0, -1))})`,
        );
      }
      dirs = sub(dirs, wrong);
    }
    const scaled = applyLnToStack(cache, model, stack, { layer: null, posSlice: opts.posSlice });
    // Per-example directions [batch, d] broadcast over positions, not over the batch (as TL).
    if (scaled.rank === 4 && dirs.rank === 2 && dirs.shape[0] === scaled.shape[1]) {
      dirs = unsqueeze(dirs, 1);
    }
    return sum(mul(scaled, dirs), -1);
  });
}
