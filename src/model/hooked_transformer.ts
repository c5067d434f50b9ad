/**
 * `HookedTransformer`: a GPT-2-style transformer (TransformerLens's `HookedTransformer`) whose
 * every activation is a GPU tensor that hooks can read, replace, ablate and patch by its
 * TransformerLens name, and that `runWithCache` can keep.
 *
 * Memory: a forward pass frees each intermediate as soon as the next op has consumed it, so
 * without a cache it holds only a few activations at a time; `runWithCache` keeps exactly the
 * activations asked for. While autograd is recording (a parameter requires grad), nothing is
 * freed early: run the pass inside `tidy` (or `valueAndGrad`), which frees the graph after
 * backward.
 *
 * @module
 */

import { releaseLinearWeights } from "../kernels/linear.ts";
import { isGradEnabled } from "../autograd/tape.ts";
import { type Engine, engine as defaultEngine } from "../gpu/engine.ts";
import { keep } from "../memory.ts";
import { empty, full, randn, tensor } from "../ops/creation.ts";
import { add, cast } from "../ops/elementwise.ts";
import { checkIndices, concat } from "../ops/indexing.ts";
import { crossEntropy } from "../ops/loss.ts";
import { clone, reshape, slice } from "../ops/movement.ts";
import { fmtShape, type Shape, sizeOf, Tensor } from "../tensor.ts";
import { DTYPE_BYTES } from "../dtype.ts";
import {
  type ConfigInput,
  type HookedTransformerConfig,
  makeConfig,
  paramInit,
  paramShapes,
} from "./config.ts";
import {
  ActivationCache,
  closeNamesText,
  ForwardPass,
  type FwdHook,
  type HookFilter,
  type HookFn,
  type HookPoint,
  type NamesFilter,
  namesPredicate,
  type ResolvedHook,
} from "./hooks.ts";
import { Embed } from "./components/embed.ts";
import { PosEmbed } from "./components/pos_embed.ts";
import { TransformerBlock } from "./components/block.ts";
import { LayerNorm } from "./components/layer_norm.ts";
import { Unembed } from "./components/unembed.ts";

/** Token ids: an i32/u32 tensor [batch, pos] (or [pos]), or nested arrays [batch][pos] (or [pos]). */
export type Tokens = Tensor | readonly (readonly number[])[] | readonly number[];

/** Options of {@link HookedTransformer.init}. */
export interface InitOptions {
  /** Seed of the random weights (default 0): the same seed gives the same model. */
  seed?: number;
  /** Engine to create the parameters on (default: the one from `init()`). */
  engine?: Engine;
  /** Mark the parameters as requiring grad (default false). */
  requiresGrad?: boolean;
}

/** Options of {@link HookedTransformer.fromStateDict}. */
export interface FromStateDictOptions {
  /**
   * Throw on names that are not parameters of this config (default true). TransformerLens's
   * buffers (`blocks.{i}.attn.mask`, `blocks.{i}.attn.IGNORE`) are always ignored.
   */
  strict?: boolean;
}

/** Options of every run. */
export interface RunOptions {
  /** Hooks for this run only, applied after the model's own (`addHook`) hooks, in order. */
  fwdHooks?: readonly FwdHook[];
}

/** Options of {@link HookedTransformer.runWithCache}. */
export interface RunWithCacheOptions extends RunOptions {
  /** Activations to keep: names, a RegExp or a predicate (default: every hook point). */
  names?: NamesFilter;
}

/** Options of {@link HookedTransformer.loss}. */
export interface LossOptions extends RunOptions {
  /** Return the loss of each position [batch, pos − 1] instead of the mean. */
  perToken?: boolean;
}

/** A hook added with {@link HookedTransformer.addHook}. */
export interface HookHandle {
  /** Remove this hook (safe to call twice). */
  remove(): void;
}

const IGNORED_BUFFERS = /^blocks\.\d+\.attn\.(mask|IGNORE)$/;

/**
 * A transformer whose activations are hookable GPU tensors, named as in TransformerLens.
 *
 * @example
 * ```ts
 * const model = HookedTransformer.init({ nLayers: 2, dModel: 32, nHeads: 4, nCtx: 16, dVocab: 50 });
 * const { logits, cache } = model.runWithCache([[1, 2, 3, 4]], { names: /hook_pattern$/ });
 * await cache.get("pattern", 1).print();
 * const ablated = model.runWithHooks([[1, 2, 3, 4]], { fwdHooks: [zeroAblateHead(1, 2)] });
 * cache.dispose();
 * ```
 */
export class HookedTransformer {
  /** The architecture. */
  readonly cfg: HookedTransformerConfig;
  /** The engine the parameters live on. */
  readonly engine: Engine;
  readonly embed: Embed;
  readonly posEmbed: PosEmbed | null;
  readonly blocks: readonly TransformerBlock[];
  readonly lnFinal: LayerNorm;
  readonly unembed: Unembed;
  #params: Map<string, Tensor>;
  #hooks: { filter: HookFilter; resolved: ResolvedHook }[] = [];
  #points: HookPoint[];
  #names: string[];
  #disposed = false;

  private constructor(cfg: HookedTransformerConfig, params: Map<string, Tensor>, eng: Engine) {
    this.cfg = cfg;
    this.engine = eng;
    this.#params = params;
    this.embed = new Embed();
    this.posEmbed = cfg.positionalEmbedding === "none" ? null : new PosEmbed();
    this.blocks = Array.from({ length: cfg.nLayers }, (_, i) => new TransformerBlock(cfg, i));
    this.lnFinal = new LayerNorm(cfg, "ln_final", null);
    this.unembed = new Unembed();
    this.#points = [
      ...this.embed.hookPoints(),
      ...(this.posEmbed?.hookPoints() ?? []),
      ...this.blocks.flatMap((b) => b.hookPoints()),
      ...this.lnFinal.hookPoints(),
      ...this.unembed.hookPoints(),
    ];
    this.#names = this.#points.map((p) => p.name);
  }

  /**
   * A model with random weights, as TransformerLens's `init_weights`: every `W_*` normal with
   * standard deviation `cfg.initializerRange` (default 0.8/√d_model), biases 0, layer-norm
   * weights 1. Generated on the GPU from `seed`.
   *
   * @example
   * ```ts
   * const model = HookedTransformer.init({ nLayers: 2, dModel: 32, nHeads: 4, nCtx: 16, dVocab: 50 }, { seed: 1 });
   * ```
   */
  static init(
    cfgIn: ConfigInput | HookedTransformerConfig,
    opts: InitOptions = {},
  ): HookedTransformer {
    const cfg = makeConfig(cfgIn);
    const eng = opts.engine ?? defaultEngine();
    const seed = opts.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 30) {
      throw new RangeError(
        `Cannot run HookedTransformer.init: seed must be an integer in [0, 2^30), got ${seed}`,
      );
    }
    const params = new Map<string, Tensor>();
    let index = 0;
    for (const [name, shape] of paramShapes(cfg)) {
      const kind = paramInit(name);
      const t = kind === "normal"
        ? normalParam(eng, shape, seed * 4096 + index, cfg.initializerRange)
        : full(shape, kind === "ones" ? 1 : 0, { engine: eng });
      t.name = name;
      if (opts.requiresGrad) t.requiresGrad = true;
      params.set(name, keep(t));
      index++;
    }
    return new HookedTransformer(cfg, params, eng);
  }

  /**
   * A model from parameters keyed by TransformerLens state-dict names (`embed.W_E`,
   * `blocks.0.attn.W_Q`, ...), each an f32 tensor of TL's shape (see `paramShapes`). The model
   * takes ownership of the tensors (`dispose()` frees them).
   *
   * @example
   * ```ts
   * const model = HookedTransformer.fromStateDict(cfg, loadedTensors);
   * ```
   */
  static fromStateDict(
    cfgIn: ConfigInput | HookedTransformerConfig,
    stateDict: ReadonlyMap<string, Tensor>,
    opts: FromStateDictOptions = {},
  ): HookedTransformer {
    const cfg = makeConfig(cfgIn);
    const shapes = paramShapes(cfg);
    const what = "Cannot run HookedTransformer.fromStateDict";
    const missing = [...shapes.keys()].filter((n) => !stateDict.has(n));
    if (missing.length > 0) {
      const first = missing[0];
      throw new Error(
        `${what}: ${missing.length} parameter(s) missing: ${missing.slice(0, 8).join(", ")}` +
          `${missing.length > 8 ? ", ..." : ""}${closeNamesText(first, stateDict.keys())}`,
      );
    }
    if (opts.strict ?? true) {
      const extra = [...stateDict.keys()].filter((n) => !shapes.has(n) && !IGNORED_BUFFERS.test(n));
      if (extra.length > 0) {
        throw new Error(
          `${what}: ${extra.length} name(s) are not parameters of this config: ` +
            `${extra.slice(0, 8).join(", ")}${extra.length > 8 ? ", ..." : ""}` +
            `${closeNamesText(extra[0], shapes.keys())} (pass { strict: false } to ignore them)`,
        );
      }
    }
    let eng: Engine | null = null;
    const params = new Map<string, Tensor>();
    for (const [name, shape] of shapes) {
      const t = stateDict.get(name)!;
      if (t.isDisposed) throw new Error(`${what}: "${name}" ${t.describe()} was disposed`);
      if (t.dtype !== "f32") {
        throw new TypeError(
          `${what}: "${name}" is ${t.describe()}; parameters must be f32 (cast it first)`,
        );
      }
      if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new RangeError(
          `${what}: "${name}" has shape ${fmtShape(t.shape)}, but this config needs ${
            fmtShape(shape)
          }`,
        );
      }
      if (eng && t.engine !== eng) throw new Error(`${what}: "${name}" lives on another engine`);
      eng = t.engine;
      t.name ??= name;
      params.set(name, keep(t));
    }
    return new HookedTransformer(cfg, params, eng ?? defaultEngine());
  }

  /** The parameters by TransformerLens name (a new Map of the model's own tensors: do not dispose them). */
  stateDict(): Map<string, Tensor> {
    this.#alive("stateDict");
    return new Map(this.#params);
  }

  /** The parameters, in state-dict order (the model's own tensors). */
  parameters(): Tensor[] {
    this.#alive("parameters");
    return [...this.#params.values()];
  }

  /** Every hook point, in the order a forward pass reaches them. */
  hookPoints(): HookPoint[] {
    return [...this.#points];
  }

  /** Every hook name, in forward order (TransformerLens's `hook_dict` keys that fire). */
  hookNames(): string[] {
    return [...this.#names];
  }

  // ---------------------------------------------------------------------------- hooks

  /**
   * Add a hook that stays until {@link resetHooks} or `handle.remove()`.
   *
   * @example
   * ```ts
   * const h = model.addHook("blocks.0.attn.hook_z", (z) => mul(z, 0.5));
   * model.forward(tokens);
   * h.remove();
   * ```
   */
  addHook(filter: HookFilter, fn: HookFn): HookHandle {
    const resolved = this.#resolve("addHook", filter, fn);
    const entry = { filter, resolved };
    this.#hooks.push(entry);
    return {
      remove: () => {
        const i = this.#hooks.indexOf(entry);
        if (i >= 0) this.#hooks.splice(i, 1);
      },
    };
  }

  /** Remove every hook added with {@link addHook} or {@link hooks}. */
  resetHooks(): void {
    this.#hooks = [];
  }

  /**
   * Run `fn` with `fwdHooks` added, removing them afterwards (also when `fn` throws, and after
   * the promise settles when `fn` is async), like TransformerLens's `with model.hooks(...)`.
   *
   * @example
   * ```ts
   * const logits = model.hooks([zeroAblateHead(0, 1)], () => model.forward(tokens));
   * ```
   */
  hooks<T>(fwdHooks: readonly FwdHook[], fn: () => T): T {
    const handles: HookHandle[] = [];
    const removeAll = () => handles.forEach((h) => h.remove());
    try {
      for (const [f, h] of fwdHooks) handles.push(this.addHook(f, h));
    } catch (e) {
      removeAll(); // an unknown name adds none of them
      throw e;
    }
    let out: T;
    try {
      out = fn();
    } catch (e) {
      removeAll();
      throw e;
    }
    if (out instanceof Promise) {
      return out.finally(removeAll) as T;
    }
    removeAll();
    return out;
  }

  #resolve(op: string, filter: HookFilter, fn: HookFn): ResolvedHook {
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot run ${op}: the hook for ${String(filter)} is not a function`);
    }
    return { test: namesPredicate(op, filter, this.#names), fn };
  }

  // ---------------------------------------------------------------------------- runs

  /**
   * Logits [batch, pos, d_vocab] for token ids [batch, pos], with the model's hooks (and
   * `fwdHooks`, for this run only).
   *
   * @example
   * ```ts
   * const logits = model.forward([[464, 3290, 318]]);
   * ```
   */
  forward(tokens: Tokens, opts: RunOptions = {}): Tensor {
    return this.#run("forward", tokens, opts.fwdHooks ?? [], null).logits;
  }

  /**
   * Run with hooks for this run only (TransformerLens's `run_with_hooks`); returns the logits.
   *
   * @example
   * ```ts
   * const logits = model.runWithHooks(tokens, { fwdHooks: [zeroAblateHead(1, 0)] });
   * ```
   */
  runWithHooks(tokens: Tokens, opts: RunOptions = {}): Tensor {
    return this.forward(tokens, opts);
  }

  /**
   * Run and keep activations (TransformerLens's `run_with_cache`): `names` picks them (default
   * every hook point); everything else is freed during the pass. The cache values are what
   * flowed on, after any hooks. Dispose the cache (and the logits) when done.
   *
   * @example
   * ```ts
   * const { logits, cache } = model.runWithCache(tokens, { names: ["blocks.0.hook_resid_post"] });
   * const resid = cache.get("resid_post", 0);
   * cache.dispose();
   * ```
   */
  runWithCache(
    tokens: Tokens,
    opts: RunWithCacheOptions = {},
  ): { logits: Tensor; cache: ActivationCache } {
    const test = opts.names === undefined
      ? () => true
      : namesPredicate("runWithCache", opts.names, this.#names);
    const { logits, cache } = this.#run("runWithCache", tokens, opts.fwdHooks ?? [], test);
    return { logits, cache: new ActivationCache(cache, this.#names) };
  }

  /**
   * Next-token cross-entropy: the mean over the batch and positions 0..pos−2 of
   * −log p(tokens[b, p+1] | tokens[b, ..p]) (TransformerLens's `loss`); `perToken` gives
   * [batch, pos − 1]. Needs at least two positions.
   *
   * @example
   * ```ts
   * const loss = model.loss([[1, 2, 3, 4]]);
   * console.log((await loss.read())[0]);
   * ```
   */
  loss(tokens: Tokens, opts: LossOptions = {}): Tensor {
    const tok = this.#tokens("loss", tokens);
    const [B, P] = tok.t.shape;
    if (P < 2) {
      if (tok.owned) tok.t.dispose();
      throw new RangeError(
        `Cannot run loss: tokens have ${P} position(s); the loss needs at least 2`,
      );
    }
    let pass0: ForwardPass;
    try {
      pass0 = this.#newPass(opts.fwdHooks ?? [], null, tok);
    } catch (e) {
      if (tok.owned) tok.t.dispose();
      throw e;
    }
    const free = (...ts: Tensor[]) => pass0.free(...ts);
    const eng = this.engine;
    const scoped = !pass0.recording;
    if (scoped) eng.beginScope();
    let out: Tensor;
    try {
      const logits = this.#forward(pass0, tok.t);
      // targets[b, p] = tokens[b, p + 1]; the last position is ignored (-100).
      let targets: Tensor;
      if (tok.rows) {
        const t = new Int32Array(B * P).fill(-100);
        tok.rows.forEach((row, b) => {
          for (let p = 0; p + 1 < P; p++) t[b * P + p] = row[p + 1];
        });
        targets = tensor(t, [B, P], { dtype: "i32", engine: eng });
      } else {
        const ids = cast(tok.t, "i32");
        const next = slice(ids, [null, [1, P]]);
        const pad = full([B, 1], -100, { dtype: "i32", engine: eng });
        targets = concat([next, pad], 1);
        free(next, pad);
        if (ids !== tok.t) free(ids);
      }
      const reduction = opts.perToken ? "none" : "mean";
      const ce = crossEntropy(logits, targets, { ignoreIndex: -100, reduction });
      free(logits, targets);
      if (opts.perToken) {
        const cut = slice(ce, [null, [0, P - 1]]);
        out = clone(cut);
        free(cut, ce);
      } else {
        out = ce;
      }
    } catch (e) {
      if (scoped) eng.endScope(new Set());
      throw e;
    } finally {
      if (tok.owned) pass0.free(tok.t);
    }
    if (scoped) eng.endScope(new Set([out]));
    return out;
  }

  /**
   * Check token ids held in a GPU tensor against the vocabulary (one readback). The runs check
   * array tokens themselves; GPU ids outside [0, d_vocab) would otherwise be clamped by the
   * embedding.
   *
   * @example
   * ```ts
   * await model.checkTokens(ids);
   * const logits = model.forward(ids);
   * ```
   */
  async checkTokens(tokens: Tensor): Promise<void> {
    const tok = this.#tokens("checkTokens", tokens);
    try {
      await checkIndices(tok.t, this.cfg.dVocab, "token ids");
    } finally {
      if (tok.owned) tok.t.dispose();
    }
  }

  /** Free the parameters and remove every hook. */
  dispose(): void {
    // Packed weight textures made from these parameters go with them.
    const params = [...this.#params.values()].filter((t) => !t.isDisposed);
    if (params.length) releaseLinearWeights(params[0].engine, params.map((t) => t.buffer));
    for (const t of this.#params.values()) t.dispose();
    this.#params.clear();
    this.#hooks = [];
    this.#disposed = true;
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }

  // ---------------------------------------------------------------------------- internals

  #alive(op: string) {
    if (this.#disposed) throw new Error(`Cannot run ${op}: the HookedTransformer was disposed`);
  }

  /** Token ids as an i32/u32 [batch, pos] tensor, checked against the config. */
  #tokens(
    op: string,
    tokens: Tokens,
  ): { t: Tensor; owned: boolean; rows: readonly (readonly number[])[] | null } {
    this.#alive(op);
    const { nCtx, dVocab } = this.cfg;
    const checkPos = (pos: number, batch: number) => {
      if (pos > nCtx) {
        throw new RangeError(
          `Cannot run ${op}: the sequence has ${pos} positions, more than nCtx ${nCtx}`,
        );
      }
      if (pos === 0 || batch === 0) {
        throw new RangeError(`Cannot run ${op}: tokens are empty ([${batch}, ${pos}])`);
      }
    };
    if (tokens instanceof Tensor) {
      if (tokens.dtype !== "i32" && tokens.dtype !== "u32") {
        throw new TypeError(
          `Cannot run ${op}: tokens ${tokens.describe()} must be i32 or u32 token ids`,
        );
      }
      if (tokens.rank !== 1 && tokens.rank !== 2) {
        throw new RangeError(
          `Cannot run ${op}: tokens ${tokens.describe()} must be [batch, pos] (or [pos])`,
        );
      }
      const t = tokens.rank === 1 ? reshape(tokens, [1, tokens.shape[0]]) : tokens;
      checkPos(t.shape[1], t.shape[0]);
      return { t, owned: t !== tokens, rows: null };
    }
    if (!Array.isArray(tokens)) {
      throw new TypeError(
        `Cannot run ${op}: tokens must be a tensor or nested arrays of token ids, got ${typeof tokens}`,
      );
    }
    const rows =
      (tokens.length > 0 && !Array.isArray(tokens[0])
        ? [tokens as readonly number[]]
        : tokens) as readonly (readonly number[])[];
    const P = rows[0]?.length ?? 0;
    checkPos(P, rows.length);
    const ids = new Int32Array(rows.length * P);
    rows.forEach((row, b) => {
      if (!Array.isArray(row) || row.length !== P) {
        throw new RangeError(
          `Cannot run ${op}: token rows differ in length (row 0 has ${P}, row ${b} has ${
            Array.isArray(row) ? row.length : "no array"
          })`,
        );
      }
      for (let p = 0; p < P; p++) {
        const v = row[p];
        if (!Number.isInteger(v) || v < 0 || v >= dVocab) {
          throw new RangeError(
            `Cannot run ${op}: token id ${v} at [${b}, ${p}] is outside the vocabulary [0, ${dVocab})`,
          );
        }
        ids[b * P + p] = v;
      }
    });
    const t = tensor(ids, [rows.length, P], { dtype: "i32", engine: this.engine });
    return { t, owned: true, rows };
  }

  #newPass(
    fwdHooks: readonly FwdHook[],
    cacheTest: ((name: string) => boolean) | null,
    tok: { t: Tensor; owned: boolean },
  ): ForwardPass {
    const hooks = [
      ...this.#hooks.map((h) => h.resolved),
      ...fwdHooks.map(([f, fn]) => this.#resolve("runWithHooks", f, fn)),
    ];
    const params = [...this.#params.values()];
    return new ForwardPass({
      engine: this.engine,
      hooks,
      cacheTest,
      protect: tok.owned ? params : [...params, tok.t],
      recording: isGradEnabled() && params.some((p) => p.requiresGrad),
    });
  }

  #run(
    op: string,
    tokens: Tokens,
    fwdHooks: readonly FwdHook[],
    cacheTest: ((name: string) => boolean) | null,
  ): { logits: Tensor; cache: Map<string, Tensor> } {
    const tok = this.#tokens(op, tokens);
    let pass: ForwardPass;
    try {
      pass = this.#newPass(fwdHooks, cacheTest, tok);
    } catch (e) {
      if (tok.owned) tok.t.dispose();
      throw e;
    }
    const eng = this.engine;
    // A scope catches whatever a failing pass (a hook that throws) leaves behind. Not while
    // recording: the graph's intermediates belong to the caller's tidy.
    const scoped = !pass.recording;
    if (scoped) eng.beginScope();
    let logits: Tensor;
    try {
      logits = this.#forward(pass, tok.t);
    } catch (e) {
      if (scoped) eng.endScope(new Set());
      else for (const t of pass.cache.values()) t.dispose();
      throw e;
    } finally {
      if (tok.owned) pass.free(tok.t);
    }
    if (scoped) eng.endScope(new Set([logits, ...pass.cache.values()]));
    return { logits, cache: pass.cache };
  }

  /** The forward pass proper: tokens [batch, pos] → logits [batch, pos, d_vocab]. */
  #forward(pass: ForwardPass, tokens: Tensor): Tensor {
    const params = this.#params;
    const [B, P] = tokens.shape;
    let resid = this.embed.forward(pass, params, tokens);
    let shortformer: Tensor | null = null;
    if (this.posEmbed) {
      const pe = this.posEmbed.forward(pass, params, B, P);
      if (this.cfg.positionalEmbedding === "standard") {
        const r = add(resid, pe);
        pass.free(resid, pe);
        resid = r;
      } else {
        shortformer = pe;
      }
    }
    for (const block of this.blocks) resid = block.forward(pass, params, resid, shortformer);
    pass.free(shortformer);
    const normed = this.lnFinal.forward(pass, params, resid);
    if (normed !== resid) pass.free(resid);
    const logits = this.unembed.forward(pass, params, normed);
    pass.free(normed);
    return logits;
  }
}

/**
 * A normal(0, std) f32 parameter generated on the GPU. Tensors larger than one storage binding
 * (GPT-2's 154 MB embedding) are generated in slabs of rows and copied into place.
 */
function normalParam(eng: Engine, shape: Shape, seed: number, std: number): Tensor {
  const bytes = sizeOf(shape) * DTYPE_BYTES.f32;
  if (bytes <= eng.maxBinding) return randn(shape, { seed, std, engine: eng });
  const rowElems = sizeOf(shape.slice(1));
  const rowsPer = Math.max(1, Math.floor(eng.maxBinding / 2 / (rowElems * 4)));
  const out = empty(shape, "f32", eng);
  for (let r0 = 0, k = 0; r0 < shape[0]; r0 += rowsPer, k++) {
    const rows = Math.min(rowsPer, shape[0] - r0);
    const slab = randn([rows, ...shape.slice(1)], { seed: seed * 1024 + k + 1, std, engine: eng });
    eng.copy(slab.buffer, 0, out.buffer, r0 * rowElems * 4, rows * rowElems * 4);
    slab.dispose();
  }
  return out;
}
