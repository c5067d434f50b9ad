/**
 * TransformerLens's weight processing (`HookedTransformer.process_weights_` and
 * `load_and_process_state_dict`), with TL's exact semantics:
 *
 * - {@link foldLayerNorm}: fold each layer norm's weight and bias into the weights that read
 *   its output (W_Q, W_K, W_V after ln1; W_in after ln2; W_U after ln_final), then centre those
 *   reading weights over d_model. The config becomes "LNPre" (centre and scale only).
 * - {@link centerWritingWeights}: subtract the mean over d_model from everything that writes
 *   to the residual stream (W_E, W_pos, W_O, b_O, W_out, b_out); every reader is a layer norm,
 *   which removes that mean anyway.
 * - {@link centerUnembed}: subtract the mean over the vocabulary from W_U and b_U (softmax is
 *   shift-invariant: log-probs do not change, logits do).
 * - {@link foldValueBiases}: b_O += Σ_head b_V[head] @ W_O[head], b_V = 0 (attention patterns
 *   sum to 1, so value biases add a constant to the layer's output).
 *
 * The steps run on the CPU over plain arrays ({@link HostStateDict}), in TL's order, with f64
 * accumulation. They work on any subset of parameters that holds whole coupled groups (one
 * block's parameters; `ln_final` with `unembed`), which lets the checkpoint loaders process a
 * model group by group while streaming it, never holding it whole. {@link processWeights} does
 * the same for a model already on the GPU (one readback per group) and returns a new model.
 *
 * Deliberate differences for shortformer models (positional embedding added to the query and
 * key inputs after ln1): TL folds their ln1 and centres their W_pos like any other model's, which
 * changes their outputs (the embedding bypasses ln1's weight and bias, and meets W_Q/W_K
 * uncentred). Here {@link processStateDict} leaves their layer norms unfolded and
 * {@link centerWritingWeights} leaves their W_pos alone; {@link foldLayerNorm} refuses them.
 * Every other model gets exactly TL's result.
 *
 * @module
 */

import { type Engine } from "../gpu/engine.ts";
import { tensor } from "../ops/creation.ts";
import { readTensors, type Shape, type Tensor } from "../tensor.ts";
import { type HookedTransformerConfig, makeConfig, paramShapes } from "./config.ts";
import { HookedTransformer } from "./hooked_transformer.ts";

/** A parameter on the CPU: row-major values in its TransformerLens shape. */
export interface HostTensor {
  data: Float32Array | Float64Array;
  shape: Shape;
}

/** Parameters on the CPU by TransformerLens name (a whole model or whole coupled groups). */
export type HostStateDict = Map<string, HostTensor>;

/**
 * Which processing steps to run (TransformerLens's `from_pretrained` defaults: all true).
 * `refactor_factored_attn_matrices` is not offered.
 */
export interface ProcessOptions {
  /** Fold layer norms into the following weights (config becomes "LNPre"). Default true. */
  foldLn?: boolean;
  /** Centre the weights writing to the residual stream. Default true. */
  centerWritingWeights?: boolean;
  /** Centre W_U and b_U over the vocabulary. Default true. */
  centerUnembed?: boolean;
  /** Fold the value biases into b_O. Default true. */
  foldValueBiases?: boolean;
}

function need(sd: HostStateDict, name: string, op: string): HostTensor {
  const t = sd.get(name);
  if (!t) {
    throw new Error(
      `Cannot run ${op}: parameter "${name}" is missing (give whole groups: every parameter of a ` +
        `block, and ln_final with unembed.W_U and unembed.b_U)`,
    );
  }
  return t;
}

function checkShape(t: HostTensor, name: string, shape: Shape, op: string): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (
    t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== n
  ) {
    throw new RangeError(
      `Cannot run ${op}: "${name}" has shape [${t.shape.join(", ")}] (${t.data.length} values), ` +
        `but the config needs [${shape.join(", ")}]`,
    );
  }
}

/** Fetch and shape-check a parameter. */
function param(
  cfg: HookedTransformerConfig,
  sd: HostStateDict,
  name: string,
  op: string,
  shapes: Map<string, Shape>,
): HostTensor {
  const t = need(sd, name, op);
  const shape = shapes.get(name) ?? lnShape(cfg, name);
  if (shape) checkShape(t, name, shape, op);
  return t;
}

/** Shapes of the layer-norm parameters (absent from paramShapes of an "LNPre" config). */
function lnShape(cfg: HookedTransformerConfig, name: string): Shape | undefined {
  return /\.(w|b)$/.test(name) && /(^|\.)(ln1|ln2|ln_final)\./.test(name)
    ? [cfg.dModel]
    : undefined;
}

/**
 * For a matrix block [rows, cols] at `off`: fold a layer norm reading into it. `bias[c] +=
 * Σ_r W[r, c]·lnB[r]` (with W before scaling), then `W[r, c] *= lnW[r]`, then each column is
 * centred over r.
 */
function foldInto(
  W: Float32Array | Float64Array,
  off: number,
  rows: number,
  cols: number,
  bias: Float32Array | Float64Array,
  bOff: number,
  lnW: ArrayLike<number>,
  lnB: ArrayLike<number>,
): void {
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const br = lnB[r];
    const base = off + r * cols;
    for (let c = 0; c < cols; c++) acc[c] += W[base + c] * br;
  }
  for (let c = 0; c < cols; c++) bias[bOff + c] = bias[bOff + c] + acc[c];
  for (let r = 0; r < rows; r++) {
    const wr = lnW[r];
    const base = off + r * cols;
    for (let c = 0; c < cols; c++) W[base + c] = W[base + c] * wr;
  }
  centerColumns(W, off, rows, cols);
}

/** Subtract from each column of the [rows, cols] block at `off` its mean over the rows. */
function centerColumns(W: Float32Array | Float64Array, off: number, rows: number, cols: number) {
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = off + r * cols;
    for (let c = 0; c < cols; c++) mean[c] += W[base + c];
  }
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  for (let r = 0; r < rows; r++) {
    const base = off + r * cols;
    for (let c = 0; c < cols; c++) W[base + c] = W[base + c] - mean[c];
  }
}

/** Subtract from each row of a [rows, cols] array its mean over the columns. */
function centerRows(W: Float32Array | Float64Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let s = 0;
    for (let c = 0; c < cols; c++) s += W[base + c];
    const m = s / cols;
    for (let c = 0; c < cols; c++) W[base + c] = W[base + c] - m;
  }
}

/**
 * Fold every layer norm into the weights that read its output (TL's `fold_layer_norm`), in
 * place; the `ln*.w`/`ln*.b` entries are removed. The model must then run with
 * normalization "LNPre" (see {@link processedConfig}). Works on whole groups present in `sd`.
 *
 * @example
 * ```ts
 * foldLayerNorm(cfg, sd);
 * const folded = { ...cfg, normalization: "LNPre" };
 * ```
 */
export function foldLayerNorm(cfg: HookedTransformerConfig, sd: HostStateDict): HostStateDict {
  const op = "foldLayerNorm";
  if (cfg.normalization !== "LN") {
    throw new RangeError(
      `Cannot run ${op}: normalization is ${JSON.stringify(cfg.normalization)}; only "LN" has ` +
        `weights to fold`,
    );
  }
  if (cfg.positionalEmbedding === "shortformer") {
    throw new RangeError(
      `Cannot run ${op}: a shortformer model adds W_pos after ln1, so folding ln1 would change ` +
        `its outputs (TransformerLens folds it anyway)`,
    );
  }
  const shapes = paramShapes(cfg);
  const p = (n: string) => param(cfg, sd, n, op, shapes);
  const { dModel: D, nHeads: H, dHead: Dh } = cfg;
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blocks.${l}`;
    if (sd.has(`${b}.ln1.w`)) {
      const lw = p(`${b}.ln1.w`).data;
      const lb = p(`${b}.ln1.b`).data;
      for (const x of ["Q", "K", "V"]) {
        const W = p(`${b}.attn.W_${x}`).data;
        const bias = p(`${b}.attn.b_${x}`).data;
        for (let h = 0; h < H; h++) foldInto(W, h * D * Dh, D, Dh, bias, h * Dh, lw, lb);
      }
      sd.delete(`${b}.ln1.w`);
      sd.delete(`${b}.ln1.b`);
    }
    if (!cfg.attnOnly && sd.has(`${b}.ln2.w`)) {
      const lw = p(`${b}.ln2.w`).data;
      const lb = p(`${b}.ln2.b`).data;
      foldInto(p(`${b}.mlp.W_in`).data, 0, D, cfg.dMlp, p(`${b}.mlp.b_in`).data, 0, lw, lb);
      sd.delete(`${b}.ln2.w`);
      sd.delete(`${b}.ln2.b`);
    }
  }
  if (sd.has("ln_final.w")) {
    const lw = p("ln_final.w").data;
    const lb = p("ln_final.b").data;
    foldInto(p("unembed.W_U").data, 0, D, cfg.dVocab, p("unembed.b_U").data, 0, lw, lb);
    sd.delete("ln_final.w");
    sd.delete("ln_final.b");
  }
  return sd;
}

/**
 * Centre the weights that write to the residual stream over d_model (TL's
 * `center_writing_weights`), in place: W_E, W_pos, every W_O and W_out row, b_O and b_out. Only
 * valid with a layer norm ("LN" or "LNPre"); a shortformer's W_pos only with "LNPre" (see the
 * module notes). Works on whole groups present in `sd`.
 *
 * @example
 * ```ts
 * centerWritingWeights(cfg, sd);
 * ```
 */
export function centerWritingWeights(
  cfg: HookedTransformerConfig,
  sd: HostStateDict,
): HostStateDict {
  const op = "centerWritingWeights";
  if (cfg.normalization === null) {
    throw new RangeError(
      `Cannot run ${op}: the model has no layer norm, so centring its writing weights would ` +
        `change its outputs`,
    );
  }
  const shapes = paramShapes(cfg);
  const p = (n: string) => param(cfg, sd, n, op, shapes);
  const D = cfg.dModel;
  if (sd.has("embed.W_E")) centerRows(p("embed.W_E").data, cfg.dVocab, D);
  const posOk = cfg.positionalEmbedding === "standard";
  if (posOk && sd.has("pos_embed.W_pos")) centerRows(p("pos_embed.W_pos").data, cfg.nCtx, D);
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blocks.${l}`;
    if (sd.has(`${b}.attn.W_O`)) {
      centerRows(p(`${b}.attn.W_O`).data, cfg.nHeads * cfg.dHead, D);
      centerRows(p(`${b}.attn.b_O`).data, 1, D);
    }
    if (!cfg.attnOnly && sd.has(`${b}.mlp.W_out`)) {
      centerRows(p(`${b}.mlp.W_out`).data, cfg.dMlp, D);
      centerRows(p(`${b}.mlp.b_out`).data, 1, D);
    }
  }
  return sd;
}

/**
 * Centre W_U (each row, over the vocabulary) and b_U (TL's `center_unembed`), in place: the
 * logits shift by a constant per position, the log-probs do not change.
 *
 * @example
 * ```ts
 * centerUnembed(cfg, sd);
 * ```
 */
export function centerUnembed(cfg: HookedTransformerConfig, sd: HostStateDict): HostStateDict {
  const op = "centerUnembed";
  if (!sd.has("unembed.W_U")) return sd;
  const shapes = paramShapes(cfg);
  centerRows(param(cfg, sd, "unembed.W_U", op, shapes).data, cfg.dModel, cfg.dVocab);
  centerRows(param(cfg, sd, "unembed.b_U", op, shapes).data, 1, cfg.dVocab);
  return sd;
}

/**
 * Fold the value biases into the output bias (TL's `fold_value_biases`), in place:
 * `b_O += Σ_h Σ_e b_V[h, e]·W_O[h, e, :]`, then `b_V = 0`.
 *
 * @example
 * ```ts
 * foldValueBiases(cfg, sd);
 * ```
 */
export function foldValueBiases(cfg: HookedTransformerConfig, sd: HostStateDict): HostStateDict {
  const op = "foldValueBiases";
  const shapes = paramShapes(cfg);
  const D = cfg.dModel;
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blocks.${l}`;
    if (!sd.has(`${b}.attn.b_V`)) continue;
    const bV = param(cfg, sd, `${b}.attn.b_V`, op, shapes).data;
    const WO = param(cfg, sd, `${b}.attn.W_O`, op, shapes).data;
    const bO = param(cfg, sd, `${b}.attn.b_O`, op, shapes).data;
    const acc = new Float64Array(D);
    for (let r = 0; r < bV.length; r++) {
      const v = bV[r];
      for (let m = 0; m < D; m++) acc[m] += v * WO[r * D + m];
    }
    for (let m = 0; m < D; m++) bO[m] = bO[m] + acc[m];
    bV.fill(0);
  }
  return sd;
}

function withDefaults(opts: ProcessOptions): Required<ProcessOptions> {
  return {
    foldLn: opts.foldLn ?? true,
    centerWritingWeights: opts.centerWritingWeights ?? true,
    centerUnembed: opts.centerUnembed ?? true,
    foldValueBiases: opts.foldValueBiases ?? true,
  };
}

/** Whether processing folds the layer norms of `cfg` ("LN", not shortformer, foldLn on). */
function foldsLn(cfg: HookedTransformerConfig, opts: ProcessOptions): boolean {
  return withDefaults(opts).foldLn && cfg.normalization === "LN" &&
    cfg.positionalEmbedding !== "shortformer";
}

/**
 * The config a model has after processing: normalization "LNPre" when layer norms are folded
 * (TL's `process_weights_` swaps in `LayerNormPre`), else unchanged (shortformer models keep
 * "LN": see the module notes).
 *
 * @example
 * ```ts
 * processedConfig(cfg).normalization; // "LNPre" for a GPT-2 config
 * ```
 */
export function processedConfig(
  cfg: HookedTransformerConfig,
  opts: ProcessOptions = {},
): HookedTransformerConfig {
  return foldsLn(cfg, opts) ? { ...cfg, normalization: "LNPre" } : cfg;
}

/**
 * Run the processing steps TL's `load_and_process_state_dict` runs, in its order (fold LN,
 * centre writing weights, centre unembed, fold value biases), in place on `sd` (a whole model or
 * whole groups). Steps that do not apply are skipped, as TL skips them: folding needs "LN" (and,
 * here, a positional embedding other than shortformer), centring writing weights needs a layer
 * norm. Returns the processed config and `sd`.
 *
 * @example
 * ```ts
 * const { cfg: folded, stateDict } = processStateDict(cfg, sd);
 * ```
 */
export function processStateDict(
  cfg: HookedTransformerConfig,
  sd: HostStateDict,
  opts: ProcessOptions = {},
): { cfg: HookedTransformerConfig; stateDict: HostStateDict } {
  const o = withDefaults(opts);
  let c = cfg;
  if (foldsLn(c, o)) {
    foldLayerNorm(c, sd);
    c = processedConfig(c, o);
  }
  if (o.centerWritingWeights && c.normalization !== null) centerWritingWeights(c, sd);
  if (o.centerUnembed) centerUnembed(c, sd);
  if (o.foldValueBiases) foldValueBiases(c, sd);
  return { cfg: c, stateDict: sd };
}

/**
 * The parameter names of `cfg` in groups that processing couples (each group can be processed
 * alone): `embed.W_E`; `pos_embed.W_pos`; each block's parameters; `ln_final.*` with
 * `unembed.*`. In state-dict order.
 *
 * @example
 * ```ts
 * paramGroups(cfg)[0]; // ["embed.W_E"]
 * ```
 */
export function paramGroups(cfg: HookedTransformerConfig): string[][] {
  const groups = new Map<string, string[]>();
  for (const name of paramShapes(cfg).keys()) {
    const key = name.startsWith("blocks.")
      ? name.split(".", 2).join(".")
      : name.startsWith("ln_final.") || name.startsWith("unembed.")
      ? "unembed"
      : name;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(name);
  }
  return [...groups.values()];
}

/**
 * Upload host parameters into `into` as f32 tensors named by their keys (any size: uploads do
 * not need a storage binding).
 *
 * @example
 * ```ts
 * const params = new Map<string, Tensor>();
 * uploadHost(engine(), sd, params);
 * ```
 */
export function uploadHost(eng: Engine, sd: HostStateDict, into: Map<string, Tensor>): void {
  for (const [name, t] of sd) {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    const g = tensor(data, t.shape, { engine: eng });
    g.name = name;
    into.set(name, g);
  }
}

/**
 * TL's `process_weights_` for a model on the GPU: reads its parameters back group by group,
 * processes them on the CPU ({@link processStateDict}) and returns a new model with the
 * processed weights (and "LNPre" when layer norms were folded). The original model is left as
 * it was: dispose it when it is no longer needed. Hooks are not copied.
 *
 * @example
 * ```ts
 * const processed = await processWeights(model);        // all four steps, as from_pretrained
 * const unfolded = await processWeights(model, { foldLn: false });
 * ```
 */
export async function processWeights(
  model: HookedTransformer,
  opts: ProcessOptions = {},
): Promise<HookedTransformer> {
  const cfg = makeConfig(model.cfg);
  const params = model.stateDict();
  const out = new Map<string, Tensor>();
  let newCfg = processedConfig(cfg, opts);
  try {
    for (const group of paramGroups(cfg)) {
      const ts = group.map((n) => params.get(n)!);
      const data = await readTensors(ts);
      const sd: HostStateDict = new Map();
      group.forEach((n, i) => sd.set(n, { data: data[i] as Float32Array, shape: ts[i].shape }));
      newCfg = processStateDict(cfg, sd, opts).cfg;
      uploadHost(model.engine, sd, out);
    }
    return HookedTransformer.fromStateDict(newCfg, out);
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
}
