/**
 * Hugging Face GPT-2 checkpoints (`config.json` + `model.safetensors`, as published for gpt2,
 * distilgpt2, gpt2-medium, ...) → a {@link HookedTransformer}, with no conversion step.
 *
 * The weights are converted exactly as TransformerLens's `convert_gpt2_weights`:
 *
 * ```text
 * embed.W_E                = wte.weight                              [d_vocab, d_model]
 * pos_embed.W_pos          = wpe.weight[:n_ctx]                      [n_ctx, d_model]
 * blocks.l.ln1.{w,b}       = h.l.ln_1.{weight,bias}
 * W_Q, W_K, W_V            = split(c_attn.weight, d_model, dim=1),   Conv1D [d_model, 3·d_model]
 *                            each rearranged "m (i h) -> i m h"      [n_heads, d_model, d_head]
 * b_Q, b_K, b_V            = c_attn.bias viewed [3, n_heads, d_head]
 * W_O                      = c_proj.weight "(i h) m -> i h m"        [n_heads, d_head, d_model]
 * b_O                      = attn.c_proj.bias
 * blocks.l.ln2.{w,b}       = h.l.ln_2.{weight,bias}
 * W_in, b_in               = mlp.c_fc.{weight,bias}                  [d_model, d_mlp]
 * W_out, b_out             = mlp.c_proj.{weight,bias}                [d_mlp, d_model]
 * ln_final.{w,b}           = ln_f.{weight,bias}
 * unembed.W_U              = lm_head.weightᵀ, or wte.weightᵀ when the file has no lm_head
 * unembed.b_U              = 0
 * ```
 *
 * Keys may carry the `transformer.` prefix or not; the `attn.bias` / `attn.masked_bias` buffers
 * are ignored; F32, F16, BF16 (and F64) data become f32. The file is streamed: each tensor's
 * byte range is read, converted to f32 in a typed array, uploaded, and dropped (one block at a
 * time, so TL processing can run on the way). W_U = wteᵀ is transposed on the CPU, so GPT-2's
 * 154 MB embedding never needs a storage binding of its own.
 *
 * This module uses only web-platform APIs: it runs in browsers given a `read(offset, length)`.
 *
 * @module
 */

import { type Engine, engine as defaultEngine } from "../gpu/engine.ts";
import { type HookedTransformerConfig, makeConfig } from "../model/config.ts";
import { HookedTransformer } from "../model/hooked_transformer.ts";
import {
  type HostStateDict,
  processedConfig,
  type ProcessOptions,
  processStateDict,
  uploadHost,
} from "../model/processing.ts";
import type { Tensor } from "../tensor.ts";
import { type SafetensorsEntry, type SafetensorsStream, toFloat32 } from "./safetensors.ts";

/**
 * A checkpoint that cannot be loaded: a missing file, a config that is not understood, or
 * weights that disagree with their config. The message names the file, the key and the values.
 *
 * @example
 * ```ts
 * try { await loadCheckpoint(src); } catch (e) { if (e instanceof CheckpointError) console.error(e.message); }
 * ```
 */
export class CheckpointError extends Error {
  /** The tensor at fault, where one is. */
  readonly key?: string;
  constructor(message: string, key?: string) {
    super(message);
    this.name = "CheckpointError";
    if (key !== undefined) this.key = key;
  }
}

/** Options of the checkpoint loaders. */
export interface LoadOptions {
  /** Engine to upload to (default: the one from `init()`). */
  engine?: Engine;
  /**
   * Apply TransformerLens's weight processing while loading (see `src/model/processing.ts`):
   * `true` for all four steps (as TL's `from_pretrained`), an object to pick, default none
   * (as `from_pretrained_no_processing`).
   */
  process?: boolean | ProcessOptions;
}

/** The fields of a Hugging Face `GPT2Config` that matter here. */
export interface Gpt2HfConfig {
  model_type?: string;
  n_layer: number;
  n_embd: number;
  n_head: number;
  n_positions?: number;
  n_ctx?: number;
  vocab_size: number;
  n_inner?: number | null;
  layer_norm_epsilon?: number;
  activation_function?: string;
  scale_attn_weights?: boolean;
  scale_attn_by_inverse_layer_idx?: boolean;
  bos_token_id?: number;
}

const ACTS: Record<string, HookedTransformerConfig["act"]> = {
  gelu_new: "gelu_new",
  gelu_pytorch_tanh: "gelu_new", // the same tanh approximation
  gelu_fast: "gelu_new", // the same formula, factored differently
  gelu: "gelu",
  relu: "relu",
};

/**
 * Whether a parsed `config.json` looks like a Hugging Face GPT-2 config (`model_type` "gpt2",
 * or a GPT-2 architecture, or the GPT-2 size fields).
 *
 * @example
 * ```ts
 * isGpt2Config(JSON.parse(await file.text())); // true for gpt2's config.json
 * ```
 */
export function isGpt2Config(json: unknown): json is Gpt2HfConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return false;
  const j = json as Record<string, unknown>;
  if (j.model_type === "gpt2") return true;
  if (Array.isArray(j.architectures) && j.architectures.some((a) => /^GPT2/.test(String(a)))) {
    return true;
  }
  return j.model_type === undefined && ["n_layer", "n_embd", "n_head"].every((k) => k in j);
}

/**
 * The {@link HookedTransformerConfig} of a Hugging Face GPT-2 `config.json` (as TL's
 * `convert_hf_model_config`): d_head = n_embd / n_head, d_mlp = n_inner or 4·n_embd,
 * n_ctx = n_ctx or n_positions, eps = layer_norm_epsilon, act from activation_function.
 *
 * @example
 * ```ts
 * gpt2Config({ n_layer: 12, n_embd: 768, n_head: 12, n_positions: 1024, vocab_size: 50257 }).dHead; // 64
 * ```
 */
export function gpt2Config(json: unknown, where = "config.json"): HookedTransformerConfig {
  const fail = (msg: string): never => {
    throw new CheckpointError(`Cannot read the GPT-2 config ${where}: ${msg}`);
  };
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    fail("it is not a JSON object");
  }
  const j = json as Record<string, unknown>;
  const int = (k: string, min: number, optional = false): number | undefined => {
    const v = j[k];
    if (v === undefined || v === null) {
      if (optional) return undefined;
      fail(`field "${k}" is missing`);
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      fail(`field "${k}" must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const nLayers = int("n_layer", 0)!;
  const dModel = int("n_embd", 1)!;
  const nHeads = int("n_head", 1)!;
  const nCtx = int("n_ctx", 1, true) ?? int("n_positions", 1, true) ??
    fail(`fields "n_ctx" and "n_positions" are both missing`);
  const dVocab = int("vocab_size", 1)!;
  const dMlp = int("n_inner", 1, true) ?? 4 * dModel;
  if (dModel % nHeads !== 0) fail(`n_embd ${dModel} is not a multiple of n_head ${nHeads}`);
  const eps = j.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== "number" || !(eps >= 0)) {
    fail(`field "layer_norm_epsilon" must be a number ≥ 0, got ${JSON.stringify(eps)}`);
  }
  const actName = j.activation_function ?? "gelu_new";
  const act = ACTS[String(actName)];
  if (!act) {
    fail(
      `activation_function ${JSON.stringify(actName)} is not supported (use one of ${
        Object.keys(ACTS).join(", ")
      })`,
    );
  }
  if (j.scale_attn_by_inverse_layer_idx === true) {
    fail("scale_attn_by_inverse_layer_idx is true, which HookedTransformer does not implement");
  }
  if (j.scale_attn_weights === false) {
    fail("scale_attn_weights is false, which HookedTransformer does not implement");
  }
  try {
    return makeConfig({
      nLayers,
      dModel,
      nHeads,
      dHead: dModel / nHeads,
      dMlp,
      nCtx,
      dVocab,
      act,
      eps: eps as number,
      normalization: "LN",
      positionalEmbedding: "standard",
      initializerRange: 0.02,
    });
  } catch (e) {
    return fail((e as Error).message);
  }
}

/** The dtypes whose values load as f32. */
const FLOAT_DTYPES = new Set(["F32", "F16", "BF16", "F64"]);

/** "[2, 3]" */
function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * Check a tensor entry's dtype (a float) and shape against what the config needs; the
 * CheckpointError names the file (`where`), the key, the actual and the expected shape.
 *
 * @example
 * ```ts
 * checkEntry(st.entry("wte.weight"), [50257, 768], "gpt2/model.safetensors", "config.json");
 * ```
 */
export function checkEntry(
  e: SafetensorsEntry,
  want: readonly number[],
  where: string,
  against: string,
): void {
  if (!FLOAT_DTYPES.has(e.dtype)) {
    throw new CheckpointError(
      `Cannot load ${where}: tensor "${e.name}" has dtype ${e.dtype}; weights must be F32, F16, ` +
        `BF16 or F64`,
      e.name,
    );
  }
  if (e.shape.length !== want.length || e.shape.some((d, i) => d !== want[i])) {
    throw new CheckpointError(
      `Cannot load ${where}: tensor "${e.name}" has shape ${fmt(e.shape)}, but ${against} needs ` +
        `${fmt(want)}`,
      e.name,
    );
  }
}

/**
 * Read one tensor of a stream as a new Float32Array (from F32, F16, BF16 or F64).
 *
 * @example
 * ```ts
 * const wte = await readF32(st, "wte.weight");
 * ```
 */
export async function readF32(st: SafetensorsStream, key: string): Promise<Float32Array> {
  const e = st.entry(key);
  const bytes = await st.tensorBytes(key);
  return toFloat32({ dtype: e.dtype, bytes });
}

/**
 * Row-major transpose of a [rows, cols] array into a new Float32Array (in cache-friendly
 * blocks).
 *
 * @example
 * ```ts
 * transpose2d([1, 2, 3, 4, 5, 6], 2, 3); // Float32Array [1, 4, 2, 5, 3, 6]
 * ```
 */
export function transpose2d(src: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const base = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = src[base + c];
      }
    }
  }
  return out;
}

const BUFFER_KEY = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** The HF names (without prefix) a GPT-2 checkpoint of `cfg` holds, with their shapes. */
function gpt2Shapes(cfg: HookedTransformerConfig, wpeRows: number): Map<string, number[]> {
  const { dModel: D, dMlp: M, dVocab: V } = cfg;
  const m = new Map<string, number[]>();
  m.set("wte.weight", [V, D]);
  m.set("wpe.weight", [wpeRows, D]);
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `h.${l}`;
    m.set(`${p}.ln_1.weight`, [D]);
    m.set(`${p}.ln_1.bias`, [D]);
    m.set(`${p}.attn.c_attn.weight`, [D, 3 * D]);
    m.set(`${p}.attn.c_attn.bias`, [3 * D]);
    m.set(`${p}.attn.c_proj.weight`, [D, D]);
    m.set(`${p}.attn.c_proj.bias`, [D]);
    m.set(`${p}.ln_2.weight`, [D]);
    m.set(`${p}.ln_2.bias`, [D]);
    m.set(`${p}.mlp.c_fc.weight`, [D, M]);
    m.set(`${p}.mlp.c_fc.bias`, [M]);
    m.set(`${p}.mlp.c_proj.weight`, [M, D]);
    m.set(`${p}.mlp.c_proj.bias`, [D]);
  }
  m.set("ln_f.weight", [D]);
  m.set("ln_f.bias", [D]);
  return m;
}

/**
 * Map each GPT-2 name (without `transformer.`) to its key in the file, checking that every
 * weight is there with the config's shape and a float dtype, and that nothing else is.
 */
function resolveGpt2Keys(
  st: SafetensorsStream,
  cfg: HookedTransformerConfig,
  where: string,
): { keys: Map<string, string>; lmHead: string | null } {
  const byName = new Map<string, string>();
  const unexpected: string[] = [];
  for (const e of st.tensors) {
    const name = e.name.startsWith("transformer.") ? e.name.slice("transformer.".length) : e.name;
    if (byName.has(name)) {
      throw new CheckpointError(
        `Cannot load ${where}: it holds both "${byName.get(name)}" and "${e.name}"`,
        e.name,
      );
    }
    byName.set(name, e.name);
  }
  const wpe = byName.get("wpe.weight");
  const wpeEntry = wpe ? st.entry(wpe) : null;
  // TL keeps the first n_ctx rows of wpe; fewer rows than n_ctx is an error.
  const wpeRows = wpeEntry && wpeEntry.shape.length === 2 && wpeEntry.shape[0] >= cfg.nCtx
    ? wpeEntry.shape[0]
    : cfg.nCtx;
  const shapes = gpt2Shapes(cfg, wpeRows);
  const against = `config.json (n_layer ${cfg.nLayers}, n_embd ${cfg.dModel}, n_head ` +
    `${cfg.nHeads}, d_mlp ${cfg.dMlp}, n_ctx ${cfg.nCtx}, vocab_size ${cfg.dVocab})`;
  const keys = new Map<string, string>();
  // Shapes first, in the model's order (so the first disagreement reported is the earliest).
  for (const [name, want] of shapes) {
    const key = byName.get(name);
    if (key === undefined) continue;
    checkEntry(st.entry(key), want, where, against);
    keys.set(name, key);
  }
  let lmHead: string | null = null;
  const head = byName.get("lm_head.weight");
  if (head !== undefined) {
    checkEntry(st.entry(head), [cfg.dVocab, cfg.dModel], where, against);
    lmHead = head;
  }
  for (const [name, key] of byName) {
    if (!BUFFER_KEY.test(name) && name !== "lm_head.weight" && !shapes.has(name)) {
      unexpected.push(key);
    }
  }
  const missing = [...shapes.keys()].filter((n) => !keys.has(n));
  if (missing.length > 0) {
    throw new CheckpointError(
      `Cannot load ${where}: ${missing.length} GPT-2 weight(s) that ${against} needs are missing: ` +
        `${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", ..." : ""}`,
      missing[0],
    );
  }
  if (unexpected.length > 0) {
    throw new CheckpointError(
      `Cannot load ${where}: ${unexpected.length} tensor(s) are not GPT-2 weights of ${against}: ` +
        `${unexpected.slice(0, 8).join(", ")}${unexpected.length > 8 ? ", ..." : ""}`,
      unexpected[0],
    );
  }
  return { keys, lmHead };
}

/** One block's HF tensors → TL layout (exactly TL's convert_gpt2_weights). */
async function gpt2Block(
  st: SafetensorsStream,
  keys: Map<string, string>,
  cfg: HookedTransformerConfig,
  l: number,
): Promise<HostStateDict> {
  const { dModel: D, nHeads: H, dHead: Dh, dMlp: M } = cfg;
  const get = (n: string) => readF32(st, keys.get(`h.${l}.${n}`)!);
  const sd: HostStateDict = new Map();
  const b = `blocks.${l}`;
  sd.set(`${b}.ln1.w`, { data: await get("ln_1.weight"), shape: [D] });
  sd.set(`${b}.ln1.b`, { data: await get("ln_1.bias"), shape: [D] });
  // c_attn.weight [D, 3D] = [W_Q_flat | W_K_flat | W_V_flat]; "m (i h) -> i m h".
  const W = await get("attn.c_attn.weight");
  const bias = await get("attn.c_attn.bias");
  ["Q", "K", "V"].forEach((x, part) => {
    const w = new Float32Array(H * D * Dh);
    for (let i = 0; i < H; i++) {
      for (let m = 0; m < D; m++) {
        const src = m * 3 * D + part * D + i * Dh;
        w.set(W.subarray(src, src + Dh), (i * D + m) * Dh);
      }
    }
    sd.set(`${b}.attn.W_${x}`, { data: w, shape: [H, D, Dh] });
    sd.set(`${b}.attn.b_${x}`, {
      data: bias.slice(part * D, (part + 1) * D),
      shape: [H, Dh],
    });
  });
  // c_proj.weight [(i h), m] -> [i, h, m]: the same row-major data.
  sd.set(`${b}.attn.W_O`, { data: await get("attn.c_proj.weight"), shape: [H, Dh, D] });
  sd.set(`${b}.attn.b_O`, { data: await get("attn.c_proj.bias"), shape: [D] });
  sd.set(`${b}.ln2.w`, { data: await get("ln_2.weight"), shape: [D] });
  sd.set(`${b}.ln2.b`, { data: await get("ln_2.bias"), shape: [D] });
  sd.set(`${b}.mlp.W_in`, { data: await get("mlp.c_fc.weight"), shape: [D, M] });
  sd.set(`${b}.mlp.b_in`, { data: await get("mlp.c_fc.bias"), shape: [M] });
  sd.set(`${b}.mlp.W_out`, { data: await get("mlp.c_proj.weight"), shape: [M, D] });
  sd.set(`${b}.mlp.b_out`, { data: await get("mlp.c_proj.bias"), shape: [D] });
  return sd;
}

/**
 * The processing options of a loader's `process` option: `true` → all steps (`{}`), falsy →
 * none (null).
 *
 * @example
 * ```ts
 * processOptionsOf(true); // {}
 * ```
 */
export function processOptionsOf(p: LoadOptions["process"]): ProcessOptions | null {
  if (!p) return null;
  return p === true ? {} : p;
}

/**
 * Load a Hugging Face GPT-2 checkpoint from its opened `model.safetensors` and parsed
 * `config.json`, streaming one tensor at a time into GPU buffers (see the module notes for the
 * exact conversion). `where` names the checkpoint in error messages.
 *
 * @example
 * ```ts
 * const st = await openSafetensors((off, len) => readRange(off, len), size);
 * const model = await loadGpt2(st, JSON.parse(configText), { process: true });
 * ```
 */
export async function loadGpt2(
  st: SafetensorsStream,
  hfConfig: unknown,
  opts: LoadOptions = {},
  where = "checkpoint",
): Promise<HookedTransformer> {
  const cfg = gpt2Config(hfConfig, `${where}/config.json`);
  const { keys, lmHead } = resolveGpt2Keys(st, cfg, `${where}/model.safetensors`);
  const eng = opts.engine ?? defaultEngine();
  const proc = processOptionsOf(opts.process);
  const outCfg = proc ? processedConfig(cfg, proc) : cfg;
  const out = new Map<string, Tensor>();
  const finish = (sd: HostStateDict) => {
    if (proc) processStateDict(cfg, sd, proc);
    uploadHost(eng, sd, out);
  };
  const { dModel: D, dVocab: V, nCtx } = cfg;
  try {
    // Embedding and unembedding together: W_U is wteᵀ when there is no lm_head.
    {
      const sd: HostStateDict = new Map();
      const wte = await readF32(st, keys.get("wte.weight")!);
      sd.set("embed.W_E", { data: wte, shape: [V, D] });
      const head = lmHead ? await readF32(st, lmHead) : wte;
      sd.set("unembed.W_U", { data: transpose2d(head, V, D), shape: [D, V] });
      sd.set("unembed.b_U", { data: new Float32Array(V), shape: [V] });
      sd.set("ln_final.w", { data: await readF32(st, keys.get("ln_f.weight")!), shape: [D] });
      sd.set("ln_final.b", { data: await readF32(st, keys.get("ln_f.bias")!), shape: [D] });
      finish(sd);
    }
    {
      const wpe = await readF32(st, keys.get("wpe.weight")!);
      const data = wpe.length === nCtx * D ? wpe : wpe.slice(0, nCtx * D);
      finish(new Map([["pos_embed.W_pos", { data, shape: [nCtx, D] }]]));
    }
    for (let l = 0; l < cfg.nLayers; l++) finish(await gpt2Block(st, keys, cfg, l));
    return HookedTransformer.fromStateDict(outCfg, out);
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
}
