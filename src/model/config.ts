/**
 * `HookedTransformerConfig`: the architecture of a {@link HookedTransformer}, in TransformerLens's
 * terms (camelCase), and the names and shapes of its parameters (TransformerLens state-dict
 * names).
 *
 * @module
 */

import type { Shape, Tensor } from "../tensor.ts";

/** MLP activation: GPT-2's tanh-approximated gelu, the exact (erf) gelu, or relu. */
export type ActFn = "gelu_new" | "gelu" | "relu";

/** Layer norm kind: with weight and bias, centre-and-scale only (folded weights), or none. */
export type Normalization = "LN" | "LNPre" | null;

/**
 * Positional embedding: added to the residual stream ("standard", GPT-2), added only to the
 * query and key inputs of every attention layer ("shortformer"), or none at all.
 */
export type PositionalEmbedding = "standard" | "shortformer" | "none";

/** The architecture of a hooked transformer (TransformerLens's `HookedTransformerConfig`). */
export interface HookedTransformerConfig {
  /** Number of blocks. */
  nLayers: number;
  /** Width of the residual stream. */
  dModel: number;
  /** Attention heads per layer. */
  nHeads: number;
  /** Width of each head's query, key and value. */
  dHead: number;
  /** Hidden width of the MLP (unused when `attnOnly`). */
  dMlp: number;
  /** Longest sequence (rows of `W_pos`). */
  nCtx: number;
  /** Vocabulary size (rows of `W_E`, columns of `W_U`). */
  dVocab: number;
  /** MLP activation. */
  act: ActFn;
  /** Layer norm kind. */
  normalization: Normalization;
  /** Positional embedding kind. */
  positionalEmbedding: PositionalEmbedding;
  /** Blocks have attention only (no MLP, no `ln2`, no `hook_resid_mid`). */
  attnOnly: boolean;
  /** Added to the variance in every layer norm. */
  eps: number;
  /**
   * Compute each head's output `hook_result` [batch, pos, head, d_model] (TL's
   * `use_attn_result`); off by default as it costs n_heads times the memory of `hook_attn_out`.
   */
  useAttnResult: boolean;
  /** Standard deviation of the random `W_*` weights of {@link HookedTransformer.init}. */
  initializerRange: number;
}

/** What a caller must give; everything else has TransformerLens's default. */
export type ConfigInput =
  & Pick<HookedTransformerConfig, "nLayers" | "dModel" | "nCtx" | "dVocab">
  & Partial<HookedTransformerConfig>;

function checkInt(what: string, v: unknown, min: number): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new RangeError(
      `Invalid HookedTransformerConfig: ${what} must be an integer ≥ ${min}, got ${String(v)}`,
    );
  }
}

/**
 * A complete, checked config: `nHeads` defaults to 1 (or `dModel / dHead`), `dHead` to
 * `dModel / nHeads`, `dMlp` to `4 · dModel`, `act` to "gelu_new", `normalization` to "LN",
 * `positionalEmbedding` to "standard", `eps` to 1e-5 and `initializerRange` to
 * `0.8 / sqrt(dModel)` (TransformerLens's defaults).
 *
 * @example
 * ```ts
 * const cfg = makeConfig({ nLayers: 2, dModel: 32, nHeads: 4, nCtx: 16, dVocab: 50 });
 * cfg.dHead; // 8
 * ```
 */
export function makeConfig(input: ConfigInput): HookedTransformerConfig {
  checkInt("nLayers", input.nLayers, 0);
  checkInt("dModel", input.dModel, 1);
  checkInt("nCtx", input.nCtx, 1);
  checkInt("dVocab", input.dVocab, 1);
  const nHeads = input.nHeads ??
    (input.dHead !== undefined ? Math.floor(input.dModel / input.dHead) : 1);
  checkInt("nHeads", nHeads, 1);
  const dHead = input.dHead ?? input.dModel / nHeads;
  if (!Number.isInteger(dHead)) {
    throw new RangeError(
      `Invalid HookedTransformerConfig: dModel ${input.dModel} is not a multiple of nHeads ` +
        `${nHeads}; give dHead explicitly`,
    );
  }
  checkInt("dHead", dHead, 1);
  const attnOnly = input.attnOnly ?? false;
  const dMlp = input.dMlp ?? 4 * input.dModel;
  if (!attnOnly) checkInt("dMlp", dMlp, 1);
  const act = input.act ?? "gelu_new";
  if (!["gelu_new", "gelu", "relu"].includes(act)) {
    throw new RangeError(
      `Invalid HookedTransformerConfig: act "${act}" is not "gelu_new", "gelu" or "relu"`,
    );
  }
  const normalization = input.normalization === undefined ? "LN" : input.normalization;
  if (!["LN", "LNPre", null].includes(normalization)) {
    throw new RangeError(
      `Invalid HookedTransformerConfig: normalization "${normalization}" is not "LN", "LNPre" or null`,
    );
  }
  const positionalEmbedding = input.positionalEmbedding ?? "standard";
  if (!["standard", "shortformer", "none"].includes(positionalEmbedding)) {
    throw new RangeError(
      `Invalid HookedTransformerConfig: positionalEmbedding "${positionalEmbedding}" is not ` +
        `"standard", "shortformer" or "none"`,
    );
  }
  const eps = input.eps ?? 1e-5;
  if (!(eps >= 0) || !Number.isFinite(eps)) {
    throw new RangeError(`Invalid HookedTransformerConfig: eps must be finite and ≥ 0, got ${eps}`);
  }
  const initializerRange = input.initializerRange ?? 0.8 / Math.sqrt(input.dModel);
  return {
    nLayers: input.nLayers,
    dModel: input.dModel,
    nHeads,
    dHead,
    dMlp,
    nCtx: input.nCtx,
    dVocab: input.dVocab,
    act,
    normalization,
    positionalEmbedding,
    attnOnly,
    eps,
    useAttnResult: input.useAttnResult ?? false,
    initializerRange,
  };
}

/**
 * Every parameter's TransformerLens state-dict name and shape, in TL's order (embed, pos_embed,
 * then per block ln1, attn, ln2, mlp, then ln_final and unembed).
 *
 * @example
 * ```ts
 * paramShapes(cfg).get("blocks.0.attn.W_Q"); // [n_heads, d_model, d_head]
 * ```
 */
export function paramShapes(cfg: HookedTransformerConfig): Map<string, Shape> {
  const { dModel: dm, nHeads: h, dHead: dh, dMlp, nCtx, dVocab } = cfg;
  const m = new Map<string, Shape>();
  m.set("embed.W_E", [dVocab, dm]);
  if (cfg.positionalEmbedding !== "none") m.set("pos_embed.W_pos", [nCtx, dm]);
  const ln = cfg.normalization === "LN";
  for (let i = 0; i < cfg.nLayers; i++) {
    const p = `blocks.${i}`;
    if (ln) {
      m.set(`${p}.ln1.w`, [dm]);
      m.set(`${p}.ln1.b`, [dm]);
    }
    m.set(`${p}.attn.W_Q`, [h, dm, dh]);
    m.set(`${p}.attn.W_K`, [h, dm, dh]);
    m.set(`${p}.attn.W_V`, [h, dm, dh]);
    m.set(`${p}.attn.W_O`, [h, dh, dm]);
    m.set(`${p}.attn.b_Q`, [h, dh]);
    m.set(`${p}.attn.b_K`, [h, dh]);
    m.set(`${p}.attn.b_V`, [h, dh]);
    m.set(`${p}.attn.b_O`, [dm]);
    if (!cfg.attnOnly) {
      if (ln) {
        m.set(`${p}.ln2.w`, [dm]);
        m.set(`${p}.ln2.b`, [dm]);
      }
      m.set(`${p}.mlp.W_in`, [dm, dMlp]);
      m.set(`${p}.mlp.b_in`, [dMlp]);
      m.set(`${p}.mlp.W_out`, [dMlp, dm]);
      m.set(`${p}.mlp.b_out`, [dm]);
    }
  }
  if (ln) {
    m.set("ln_final.w", [dm]);
    m.set("ln_final.b", [dm]);
  }
  m.set("unembed.W_U", [dm, dVocab]);
  m.set("unembed.b_U", [dVocab]);
  return m;
}

/** How a parameter starts in TL's `init_weights`: "normal" (the `W_*`), "ones" (ln w), "zeros". */
export function paramInit(name: string): "normal" | "ones" | "zeros" {
  const leaf = name.slice(name.lastIndexOf(".") + 1);
  if (leaf.startsWith("W_")) return "normal";
  if (leaf === "w") return "ones";
  return "zeros";
}

/**
 * The parameter `name` from a model's parameters, or a clear error naming it (for components).
 */
export function getParam(params: ReadonlyMap<string, Tensor>, name: string): Tensor {
  const t = params.get(name);
  if (!t) throw new Error(`HookedTransformer has no parameter "${name}"`);
  if (t.isDisposed) throw new Error(`HookedTransformer parameter "${name}" was disposed`);
  return t;
}
