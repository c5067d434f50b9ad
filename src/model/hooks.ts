/**
 * Hooks: the names of activations (`HookPoint`, `actName`), the forward pass's hook machinery
 * (`ForwardPass`), the `ActivationCache` that `runWithCache` returns, and ready-made hooks for
 * ablation, patching and steering.
 *
 * A hook is a function `(activation, {name, layer}) => replacement | undefined` run on the GPU
 * tensor of an activation as the forward pass makes it. It builds any replacement from engine
 * ops (no readback) and owns nothing: every tensor it makes is freed after it returns, except
 * the replacement, which flows on and is freed like any other intermediate. A hook that returns
 * a tensor it did not make (a cached activation, a vector the caller holds) is safe: the model
 * takes a view of it and never disposes the original. The activation a hook is given is freed
 * once the pass is done with it (unless cached): to keep it past the pass, `keep(clone(act))`.
 *
 * @module
 */

import { isGradEnabled, noGrad } from "../autograd/tape.ts";
import type { Engine } from "../gpu/engine.ts";
import { full, tensor } from "../ops/creation.ts";
import { add, broadcastShapes, mul, where } from "../ops/elementwise.ts";
import { DTYPE_BYTES } from "../dtype.ts";
import { clone } from "../ops/movement.ts";
import { fmtShape, type Storage, Tensor } from "../tensor.ts";

/** What a hook is told besides the activation. */
export interface HookContext {
  /** The hook point's full name, e.g. "blocks.3.attn.hook_pattern". */
  name: string;
  /** The block the hook point belongs to, or null (embeddings, ln_final). */
  layer: number | null;
}

/** A hook: return a replacement of the same shape and dtype, or nothing to keep the activation. */
export type HookFn = (activation: Tensor, ctx: HookContext) => Tensor | void | undefined | null;

/** Which hook points: one exact name, a RegExp tested on names, or a predicate. */
export type HookFilter = string | RegExp | ((name: string) => boolean);

/** A forward hook: where and what (TransformerLens's `(name_or_filter, hook_fn)`). */
export type FwdHook = readonly [HookFilter, HookFn];

/** Which activations to cache: a list of names, a RegExp, or a predicate. */
export type NamesFilter = readonly string[] | RegExp | ((name: string) => boolean);

/** A named activation of the model, declared by the component that makes it. */
export class HookPoint {
  constructor(
    /** Full TransformerLens name, e.g. "blocks.0.attn.hook_q". */
    readonly name: string,
    /** The activation's shape, in TransformerLens's axis names. */
    readonly shape: string,
    /** The block it belongs to, or null. */
    readonly layer: number | null = null,
  ) {}
}

// ------------------------------------------------------------------------------ names

const LAYER_TYPE_ALIAS: Record<string, string> = {
  a: "attn",
  m: "mlp",
  b: "",
  block: "",
  blocks: "",
  attention: "attn",
};

const ACT_NAME_ALIAS: Record<string, string> = {
  attn: "pattern",
  attn_logits: "attn_scores",
  key: "k",
  query: "q",
  value: "v",
  mlp_pre: "pre",
  mlp_post: "post",
};

const ATTN_NAMES = new Set(["k", "v", "q", "z", "result", "pattern", "attn_scores"]);
const MLP_NAMES = new Set(["pre", "post"]);
const LN_NAMES = new Set(["scale", "normalized"]);

/**
 * A full hook name from TransformerLens's shorthand (`get_act_name`): `actName("pattern", 3)` is
 * "blocks.3.attn.hook_pattern", `actName("resid_pre", 0)` "blocks.0.hook_resid_pre",
 * `actName("scale", 2, "ln1")` "blocks.2.ln1.hook_scale", `actName("scale")`
 * "ln_final.hook_scale", `actName("embed")` "hook_embed", and the compact `actName("k6a")`
 * "blocks.6.attn.hook_k". A name that is already full (has a dot or starts with "hook_") is
 * returned as is.
 *
 * @example
 * ```ts
 * actName("pattern", 3);          // "blocks.3.attn.hook_pattern"
 * actName("normalized", 1, "ln2"); // "blocks.1.ln2.hook_normalized"
 * ```
 */
export function actName(name: string, layer?: number | null, layerType?: string | null): string {
  if ((name.includes(".") || name.startsWith("hook_")) && layer == null && layerType == null) {
    return name;
  }
  const compact = /^([a-z]+)(\d+)([a-z]*)$/.exec(name);
  if (compact && layer == null) {
    name = compact[1];
    layer = Number(compact[2]);
    layerType = compact[3] || null;
  }
  if (layer != null && (!Number.isInteger(layer) || layer < 0)) {
    throw new RangeError(`Cannot run actName: layer must be an integer ≥ 0, got ${layer}`);
  }
  name = ACT_NAME_ALIAS[name] ?? name;
  let type = layerType ?? "";
  if (ATTN_NAMES.has(name)) type = "attn";
  else if (MLP_NAMES.has(name)) type = "mlp";
  else if (type in LAYER_TYPE_ALIAS) type = LAYER_TYPE_ALIAS[type];
  let full = layer != null ? `blocks.${layer}.` : "";
  if (type) full += `${type}.`;
  full += `hook_${name}`;
  if (LN_NAMES.has(name) && layer == null) full = `ln_final.${full}`;
  return full;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The `n` names of `candidates` closest to `name` (by edit distance; ties keep the candidates'
 * order), for "did you mean" messages.
 */
export function closeNames(name: string, candidates: Iterable<string>, n = 5): string[] {
  const scored = [...candidates].map((c, i) => ({ c, i, d: editDistance(name, c) }));
  scored.sort((x, y) => x.d - y.d || x.i - y.i);
  return scored.slice(0, n).map((s) => s.c);
}

/** " (close names: a, b, c)" or "". */
export function closeNamesText(name: string, candidates: Iterable<string>): string {
  const close = closeNames(name, candidates);
  return close.length ? `; close names: ${close.join(", ")}` : "";
}

/** A predicate for a names filter; `known` checks exact names (unknown ones throw, listing close names). */
export function namesPredicate(
  what: string,
  filter: HookFilter | NamesFilter,
  known: readonly string[],
): (name: string) => boolean {
  if (typeof filter === "function") return filter as (name: string) => boolean;
  if (filter instanceof RegExp) {
    const re = new RegExp(filter.source, filter.flags.replace(/[gy]/g, ""));
    return (n) => re.test(n);
  }
  const list = typeof filter === "string" ? [filter] : [...(filter as readonly string[])];
  const set = new Set(known);
  for (const n of list) {
    if (typeof n !== "string") {
      throw new TypeError(`Cannot run ${what}: hook names must be strings, got ${String(n)}`);
    }
    if (!set.has(n)) {
      throw new RangeError(
        `Cannot run ${what}: this model has no hook point "${n}"${closeNamesText(n, known)}`,
      );
    }
  }
  const wanted = new Set(list);
  return (n) => wanted.has(n);
}

// ------------------------------------------------------------------------------ cache

/**
 * The activations `runWithCache` kept: GPU tensors by hook name. Owns them: `dispose()` frees
 * them all (and `tidy` finds them through `tensors()`).
 *
 * @example
 * ```ts
 * const { logits, cache } = model.runWithCache(tokens, { names: /hook_pattern$/ });
 * const pattern = cache.get("pattern", 0); // blocks.0.attn.hook_pattern
 * cache.dispose();
 * ```
 */
export class ActivationCache {
  #map: Map<string, Tensor>;
  #all: readonly string[];
  #disposed = false;

  /** Made by the model; `all` is every hook name of the model (for error messages). */
  constructor(entries: Map<string, Tensor>, all: readonly string[]) {
    this.#map = entries;
    this.#all = all;
  }

  /**
   * The cached activation `name` (a full name, or TransformerLens shorthand with a layer, see
   * {@link actName}). Throws naming the hook, and listing close names, when it is absent.
   */
  get(name: string, layer?: number | null, layerType?: string | null): Tensor {
    this.#alive("get");
    const full = actName(name, layer, layerType);
    const t = this.#map.get(full);
    if (t) return t;
    const known = this.#all.includes(full);
    const why = known
      ? `it is a hook point of the model but was not cached (pass it in runWithCache's names)`
      : `the model has no such hook point`;
    throw new RangeError(
      `ActivationCache has no "${full}": ${why}${
        closeNamesText(full, known ? this.#map.keys() : [...this.#map.keys(), ...this.#all])
      }`,
    );
  }

  /** Whether `name` (full or shorthand) was cached. */
  has(name: string, layer?: number | null, layerType?: string | null): boolean {
    return this.#map.has(actName(name, layer, layerType));
  }

  /** Cached hook names, in the order the forward pass made them. */
  keys(): string[] {
    return [...this.#map.keys()];
  }

  /** [name, tensor] pairs, in forward order. */
  entries(): [string, Tensor][] {
    return [...this.#map.entries()];
  }

  /** Number of cached activations. */
  get size(): number {
    return this.#map.size;
  }

  /** Bytes of GPU storage the cache holds (storage shared by two entries counted once). */
  get bytes(): number {
    const seen = new Set<Storage>();
    let total = 0;
    for (const t of this.#map.values()) {
      if (t.isDisposed) continue;
      const s = t.storageOrThrow();
      if (!seen.has(s)) {
        seen.add(s);
        total += s.bytes;
      }
    }
    return total;
  }

  /** The cached tensors (lets `tidy` and `dispose` find them). */
  tensors(): Tensor[] {
    return [...this.#map.values()];
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** Free every cached tensor. Safe to call twice. */
  dispose(): void {
    for (const t of this.#map.values()) t.dispose();
    this.#map.clear();
    this.#disposed = true;
  }

  #alive(op: string) {
    if (this.#disposed) {
      throw new Error(`Cannot run ActivationCache.${op}: the cache was disposed`);
    }
  }
}

// ------------------------------------------------------------------------------ the pass

/** A hook resolved for one forward pass. */
export interface ResolvedHook {
  test: (name: string) => boolean;
  fn: HookFn;
}

/**
 * One forward pass: applies hooks at each hook point, keeps what the cache asked for, and frees
 * intermediates as soon as the model is done with them. While autograd is recording (a parameter
 * requires grad), nothing is freed: the caller's `tidy` owns the graph, as backward needs it.
 */
export class ForwardPass {
  readonly engine: Engine;
  readonly cache = new Map<string, Tensor>();
  readonly recording: boolean;
  #hooks: ResolvedHook[];
  #cacheTest: ((name: string) => boolean) | null;
  #protected: Set<Tensor>;

  constructor(opts: {
    engine: Engine;
    hooks: ResolvedHook[];
    cacheTest: ((name: string) => boolean) | null;
    /** Tensors never freed by the pass (the parameters, the caller's tokens). */
    protect: Iterable<Tensor>;
    recording: boolean;
  }) {
    this.engine = opts.engine;
    this.#hooks = opts.hooks;
    this.#cacheTest = opts.cacheTest;
    this.#protected = new Set(opts.protect);
    this.recording = opts.recording && isGradEnabled();
  }

  /**
   * The activation at `point` after its hooks (in order); cached if asked for. The value given
   * belongs to the pass: when a hook replaces it, it is freed.
   */
  hook(point: HookPoint, act: Tensor): Tensor {
    let cur = act;
    for (const h of this.#hooks) {
      if (!h.test(point.name)) continue;
      const next = this.#runHook(point, h.fn, cur);
      if (next !== cur) {
        this.free(cur);
        cur = next;
      }
    }
    if (this.#cacheTest?.(point.name)) {
      // A view when `cur` covers its whole storage (the cache then holds exactly its bytes), else
      // a copy. Either way the cache owns it alone, cut from any autograd graph (like TL's).
      const covers = cur.storageOrThrow().bytes === cur.size * DTYPE_BYTES[cur.dtype];
      const v = covers ? cur.view(cur.shape, cur.strides, cur.offset) : noGrad(() => clone(cur));
      v.name = point.name;
      this.cache.set(point.name, v);
    }
    return cur;
  }

  #runHook(point: HookPoint, fn: HookFn, act: Tensor): Tensor {
    const ctx: HookContext = { name: point.name, layer: point.layer };
    const check = (rep: unknown): rep is Tensor => {
      if (rep === undefined || rep === null || rep === act) return false;
      if (!(rep instanceof Tensor)) {
        throw new TypeError(
          `Hook at "${point.name}" returned ${typeof rep}; a hook returns a tensor or nothing`,
        );
      }
      if (rep.isDisposed) {
        throw new Error(`Hook at "${point.name}" returned ${rep.describe()}, which was disposed`);
      }
      const same = rep.rank === act.rank && rep.shape.every((d, i) => d === act.shape[i]);
      if (!same || rep.dtype !== act.dtype) {
        throw new RangeError(
          `Hook at "${point.name}" returned ${rep.dtype}${fmtShape(rep.shape)}, but the ` +
            `activation is ${act.dtype}${fmtShape(act.shape)} (${point.shape}); a hook must ` +
            `return the activation's shape and dtype`,
        );
      }
      return true;
    };
    if (this.recording) {
      // The graph needs every tensor the hook made: leave them to the caller's scope.
      const rep = fn(act, ctx);
      return check(rep) ? rep : act;
    }
    const eng = this.engine;
    eng.beginScope();
    let out: Tensor;
    try {
      const rep = fn(act, ctx);
      if (!check(rep)) {
        eng.endScope(new Set());
        return act;
      }
      // Hooks own nothing and the model frees what flows on: a view shares the storage, so the
      // hook's own tensor (or the caller's) can be released independently.
      out = rep.view(rep.shape, rep.strides, rep.offset);
    } catch (e) {
      eng.endScope(new Set());
      throw e;
    }
    eng.endScope(new Set([out]));
    return out;
  }

  /** Whether any hook function runs at `point` in this pass. */
  hasHooks(point: HookPoint): boolean {
    return this.#hooks.some((h) => h.test(point.name));
  }

  /** Whether this pass caches `point`. */
  caches(point: HookPoint): boolean {
    return !!this.#cacheTest?.(point.name);
  }

  /** Free intermediates the model is done with (never parameters; nothing while recording). */
  free(...ts: (Tensor | null | undefined)[]): void {
    if (this.recording) return;
    for (const t of ts) {
      if (t && !this.#protected.has(t)) t.dispose();
    }
  }
}

// ------------------------------------------------------------------------------ helpers

/** Positions along an activation's position axis: one index or a list. */
export type Positions = number | readonly number[];

/** Options of the patching and steering helpers. */
export interface PositionOptions {
  /**
   * Only these positions (the `pos` axis; the query axis for attn_scores and pattern). Default:
   * every position.
   */
  positions?: Positions;
}

function posAxis(name: string): number {
  return /hook_(attn_scores|pattern)$/.test(name) ? 2 : 1;
}

/** A 0/1 f32 mask with 1 at `positions` along the position axis, shaped to broadcast over `act`. */
function positionMask(hookName: string, act: Tensor, positions: Positions): Tensor {
  const axis = posAxis(hookName);
  if (act.rank <= axis) {
    throw new RangeError(`Hook at "${hookName}": ${act.describe()} has no position axis ${axis}`);
  }
  const n = act.shape[axis];
  const list = typeof positions === "number" ? [positions] : positions;
  const m = new Float32Array(n);
  for (const p0 of list) {
    const p = p0 < 0 ? p0 + n : p0;
    if (!Number.isInteger(p0) || p < 0 || p >= n) {
      throw new RangeError(
        `Hook at "${hookName}": position ${p0} is outside the ${n} positions of ${act.describe()}`,
      );
    }
    m[p] = 1;
  }
  const shape = act.shape.map((d, i) => (i === axis ? d : 1));
  return tensor(m, shape, { engine: act.engine });
}

function headMask(hookName: string, act: Tensor, axis: number, index: number, what: string) {
  const n = act.shape[axis];
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new RangeError(
      `Hook at "${hookName}": ${what} ${index} is out of range (${act.describe()} has ${n})`,
    );
  }
  return n;
}

/**
 * Zero-ablate one attention head: sets `hook_z` of `head` in `layer` to 0.
 *
 * @example
 * ```ts
 * const logits = model.runWithHooks(tokens, { fwdHooks: [zeroAblateHead(1, 3)] });
 * ```
 */
export function zeroAblateHead(layer: number, head: number): FwdHook {
  const name = actName("z", layer);
  return [name, (z) => {
    const h = headMask(name, z, 2, head, "head");
    const keepMask = new Float32Array(h).fill(1);
    keepMask[head] = 0;
    // where, not a product: exact +0 (0 · negative is -0), like TL's `z[:, :, head] = 0`.
    const zero = full([], 0, { engine: z.engine });
    return where(tensor(keepMask, [1, 1, h, 1], { engine: z.engine }), z, zero);
  }];
}

/**
 * Mean-ablate one attention head: replaces `hook_z` of `head` in `layer` by `mean`, which
 * broadcasts against hook_z [batch, pos, head_index, d_head] (e.g. [head_index, d_head] or
 * [pos, head_index, d_head], the mean of hook_z over a dataset); only `head`'s slice is used.
 *
 * @example
 * ```ts
 * const mean = meanOf(cache.get("z", 1), 0);     // [pos, head_index, d_head]
 * model.runWithHooks(tokens, { fwdHooks: [meanAblateHead(1, 3, mean)] });
 * ```
 */
export function meanAblateHead(layer: number, head: number, meanTensor: Tensor): FwdHook {
  const name = actName("z", layer);
  return [name, (z) => {
    const h = headMask(name, z, 2, head, "head");
    try {
      broadcastShapes("meanAblateHead", meanTensor.shape, z.shape);
    } catch {
      throw new RangeError(
        `Hook at "${name}": the mean ${meanTensor.describe()} does not broadcast against ` +
          `hook_z ${z.describe()} [batch, pos, head_index, d_head]`,
      );
    }
    const m = new Float32Array(h);
    m[head] = 1;
    return where(tensor(m, [1, 1, h, 1], { engine: z.engine }), meanTensor, z);
  }];
}

/**
 * Zero-ablate one MLP neuron: sets `hook_post` of `neuron` in `layer` to 0.
 *
 * @example
 * ```ts
 * model.runWithHooks(tokens, { fwdHooks: [zeroAblateNeuron(0, 17)] });
 * ```
 */
export function zeroAblateNeuron(layer: number, neuron: number): FwdHook {
  const name = actName("post", layer);
  return [name, (post) => {
    const n = headMask(name, post, post.rank - 1, neuron, "neuron");
    const keepMask = new Float32Array(n).fill(1);
    keepMask[neuron] = 0;
    const zero = full([], 0, { engine: post.engine });
    return where(tensor(keepMask, [n], { engine: post.engine }), post, zero);
  }];
}

/**
 * Activation patching: replace the activation `name` by the same activation from `cache` (of
 * another run, same shape), at every position or only at `positions`. The cache must still be
 * alive when the hooked run happens.
 *
 * @example
 * ```ts
 * const { cache } = model.runWithCache(cleanTokens, { names: ["blocks.2.hook_resid_pre"] });
 * const logits = model.runWithHooks(corruptTokens, {
 *   fwdHooks: [patchFromCache(cache, "blocks.2.hook_resid_pre", { positions: [4] })],
 * });
 * ```
 */
export function patchFromCache(
  cache: ActivationCache,
  name: string,
  opts: PositionOptions = {},
): FwdHook {
  const full = actName(name);
  return [full, (act) => {
    const src = cache.get(full);
    const same = src.rank === act.rank && src.shape.every((d, i) => d === act.shape[i]);
    if (!same) {
      throw new RangeError(
        `Hook at "${full}": the cached activation ${src.describe()} does not match this run's ` +
          `${act.describe()}`,
      );
    }
    if (opts.positions === undefined) return src;
    return where(positionMask(full, act, opts.positions), src, act);
  }];
}

/** Options of {@link addSteeringVector}. */
export interface SteeringOptions extends PositionOptions {
  /** Multiplies the vector (default 1). */
  scale?: number;
}

/**
 * Activation steering: add `scale · vector` (shape [d], the activation's last axis) to the
 * activation `name` at every position or only at `positions`.
 *
 * @example
 * ```ts
 * model.runWithHooks(tokens, {
 *   fwdHooks: [addSteeringVector("blocks.0.hook_resid_post", v, { scale: 4, positions: [0] })],
 * });
 * ```
 */
export function addSteeringVector(
  name: string,
  vector: Tensor,
  opts: SteeringOptions = {},
): FwdHook {
  const full = actName(name);
  return [full, (act) => {
    const d = act.shape[act.rank - 1];
    if (vector.rank !== 1 || vector.shape[0] !== d) {
      throw new RangeError(
        `Hook at "${full}": the steering vector ${vector.describe()} should have shape [${d}] ` +
          `(the last axis of ${act.describe()})`,
      );
    }
    let v = opts.scale === undefined || opts.scale === 1 ? vector : mul(vector, opts.scale);
    if (opts.positions !== undefined) v = mul(positionMask(full, act, opts.positions), v);
    return add(act, v);
  }];
}
