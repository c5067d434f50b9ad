/**
 * Text generation with a key-value cache on the GPU (TransformerLens's `generate` with
 * `use_past_kv_cache=True`): greedy decoding, temperature and top-k sampling (seeded), with
 * forward hooks applied at every step.
 *
 * The KV cache keeps each layer's keys and values, [batch, head_index, pos, d_head], on the GPU;
 * each step runs the model on the new tokens only, attending to the cached keys. As in
 * TransformerLens, hooks see the activations of the new positions only: `hook_q`/`hook_k`/
 * `hook_v`/`hook_z` are [batch, new_pos, head_index, d_head] and `hook_attn_scores`/
 * `hook_pattern` [batch, head_index, new_pos, key_pos]. Hooks that depend on the full sequence
 * (patching from a cache of a whole run) need `useKvCache: false`.
 *
 * @module
 */

import type { Engine } from "../gpu/engine.ts";
import { keep } from "../memory.ts";
import { full, tensor } from "../ops/creation.ts";
import { add, div, where } from "../ops/elementwise.ts";
import { concat } from "../ops/indexing.ts";
import { matmul } from "../ops/matmul.ts";
import { clone, contiguous, expand, permute, reshape, slice, unsqueeze } from "../ops/movement.ts";
import { argmax, sum } from "../ops/reduce.ts";
import { softmax } from "../ops/softmax.ts";
import { topk } from "../ops/topk.ts";
import { noGrad } from "../autograd/tape.ts";
import type { Tensor } from "../tensor.ts";
import { ForwardPass, type FwdHook, namesPredicate, type ResolvedHook } from "../model/hooks.ts";
import type { HookedTransformer } from "../model/hooked_transformer.ts";
import type { Attention } from "../model/components/attention.ts";
import { linear } from "../model/components/mlp.ts";

/**
 * The keys and values of every layer so far, on the GPU. Made by {@link generate} (or by hand
 * for {@link forwardWithKvCache}); `dispose()` frees it.
 *
 * @example
 * ```ts
 * const kv = new KeyValueCache(model);
 * const logits = forwardWithKvCache(model, [[1, 2, 3]], kv); // the prompt
 * const next = forwardWithKvCache(model, [[4]], kv);         // one more position
 * kv.dispose();
 * ```
 */
export class KeyValueCache {
  /** Per layer: keys and values [batch, head_index, pos, d_head], or null before the first step. */
  readonly entries: { k: Tensor | null; v: Tensor | null }[];
  /** Number of positions cached. */
  length = 0;
  /** Batch size (set by the first step). */
  batch: number | null = null;

  constructor(readonly model: HookedTransformer) {
    this.entries = Array.from({ length: model.cfg.nLayers }, () => ({ k: null, v: null }));
  }

  /** Bytes of GPU memory held. */
  get bytes(): number {
    let n = 0;
    for (const e of this.entries) n += ((e.k?.size ?? 0) + (e.v?.size ?? 0)) * 4;
    return n;
  }

  /** Free the cached keys and values (safe to call twice). */
  dispose(): void {
    for (const e of this.entries) {
      e.k?.dispose();
      e.v?.dispose();
      e.k = null;
      e.v = null;
    }
    this.length = 0;
    this.batch = null;
  }
}

function rowsOf(op: string, model: HookedTransformer, tokens: Tokens2D): number[][] {
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw new RangeError(`Cannot run ${op}: tokens are empty`);
  }
  const rows = (Array.isArray(tokens[0]) ? tokens : [tokens]) as readonly (readonly number[])[];
  const P = rows[0].length;
  const V = model.cfg.dVocab;
  return rows.map((r, b) => {
    if (!Array.isArray(r) || r.length !== P) {
      throw new RangeError(
        `Cannot run ${op}: token rows differ in length (row 0 has ${P}, row ${b} has ${
          Array.isArray(r) ? r.length : "no array"
        })`,
      );
    }
    r.forEach((t, p) => {
      if (!Number.isInteger(t) || t < 0 || t >= V) {
        throw new RangeError(
          `Cannot run ${op}: token id ${t} at [${b}, ${p}] is outside the vocabulary [0, ${V})`,
        );
      }
    });
    return [...r];
  });
}

/** Token ids as arrays: [batch][pos] or one sequence [pos]. */
export type Tokens2D = readonly (readonly number[])[] | readonly number[];

function resolveHooks(model: HookedTransformer, hooks: readonly FwdHook[]): ResolvedHook[] {
  const names = model.hookNames();
  return hooks.map(([filter, fn]) => {
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot run generate: the hook for ${String(filter)} is not a function`);
    }
    return { test: namesPredicate("generate", filter, names), fn };
  });
}

/**
 * Run the model on new tokens [batch, n] after the positions already in `kv`, appending their
 * keys and values to it: logits [batch, n, d_vocab] of the new positions, equal (up to float
 * rounding) to those positions of a full forward pass over the whole sequence. `fwdHooks` apply
 * to the new positions' activations. Hooks added with `model.addHook` are not seen here (pass
 * them as `fwdHooks`).
 *
 * @example
 * ```ts
 * const kv = new KeyValueCache(model);
 * const prompt = forwardWithKvCache(model, [[5, 7, 9]], kv); // [1, 3, d_vocab]
 * const step = forwardWithKvCache(model, [[11]], kv);        // [1, 1, d_vocab]
 * ```
 */
export function forwardWithKvCache(
  model: HookedTransformer,
  tokens: Tokens2D,
  kv: KeyValueCache,
  opts: { fwdHooks?: readonly FwdHook[] } = {},
): Tensor {
  const op = "forwardWithKvCache";
  if (kv.model !== model) {
    throw new Error(`Cannot run ${op}: the KV cache belongs to another model`);
  }
  const rows = rowsOf(op, model, tokens);
  const B = rows.length;
  const n = rows[0].length;
  if (kv.batch !== null && kv.batch !== B) {
    throw new RangeError(`Cannot run ${op}: the KV cache has batch ${kv.batch}, the tokens ${B}`);
  }
  const past = kv.length;
  if (past + n > model.cfg.nCtx) {
    throw new RangeError(
      `Cannot run ${op}: ${past} cached + ${n} new positions is more than nCtx ${model.cfg.nCtx}`,
    );
  }
  const eng = model.engine;
  const hooks = resolveHooks(model, opts.fwdHooks ?? []);
  return noGrad(() => {
    const params = model.stateDict();
    const pass = new ForwardPass({
      engine: eng,
      hooks,
      cacheTest: null,
      protect: params.values(),
      recording: false,
    });
    const newKv: Tensor[] = [];
    eng.beginScope();
    let logits: Tensor;
    try {
      const ids = tensor(new Int32Array(rows.flat()), [B, n], { dtype: "i32", engine: eng });
      logits = stepForward(model, pass, params, ids, kv, past, newKv);
    } catch (e) {
      eng.endScope(new Set());
      for (const t of newKv) t.dispose();
      throw e;
    }
    eng.endScope(new Set([logits]));
    // Only now, when the step has succeeded, swap in the longer keys and values.
    model.blocks.forEach((_, l) => {
      const e = kv.entries[l];
      e.k?.dispose();
      e.v?.dispose();
      e.k = newKv[2 * l];
      e.v = newKv[2 * l + 1];
    });
    kv.length = past + n;
    kv.batch = B;
    return logits;
  });
}

/** The forward pass of new positions; pushes each layer's full keys and values (kept) to `out`. */
function stepForward(
  model: HookedTransformer,
  pass: ForwardPass,
  params: Map<string, Tensor>,
  ids: Tensor,
  kv: KeyValueCache,
  past: number,
  out: Tensor[],
): Tensor {
  const cfg = model.cfg;
  const [B, n] = ids.shape;
  let resid = model.embed.forward(pass, params, ids);
  let shortformer: Tensor | null = null;
  if (model.posEmbed) {
    const W = params.get("pos_embed.W_pos")!;
    const rows = slice(W, [[past, past + n]]);
    const pe0 = clone(expand(unsqueeze(rows, 0), [B, n, cfg.dModel]));
    const pe = pass.hook(model.posEmbed.hookPosEmbed, pe0);
    if (cfg.positionalEmbedding === "standard") resid = add(resid, pe);
    else shortformer = pe;
  }
  model.blocks.forEach((block, l) => {
    const r = pass.hook(block.hookResidPre, resid);
    const normed = block.ln1.forward(pass, params, r);
    const qkIn = shortformer ? add(normed, shortformer) : normed;
    const a0 = attention(pass, block.attn, params, qkIn, normed, kv.entries[l], past, out);
    const attnOut = pass.hook(block.hookAttnOut, a0);
    const mid0 = add(r, attnOut);
    if (!block.hookResidMid || !block.ln2 || !block.mlp || !block.hookMlpOut) {
      resid = pass.hook(block.hookResidPost, mid0);
      return;
    }
    const mid = pass.hook(block.hookResidMid, mid0);
    const normed2 = block.ln2.forward(pass, params, mid);
    const mlpOut = pass.hook(block.hookMlpOut, block.mlp.forward(pass, params, normed2));
    resid = pass.hook(block.hookResidPost, add(mid, mlpOut));
  });
  const normed = model.lnFinal.forward(pass, params, resid);
  return linear(pass, normed, params.get("unembed.W_U")!, params.get("unembed.b_U")!);
}

/** Attention of the new positions over the cached and new keys (as the model's Attention). */
function attention(
  pass: ForwardPass,
  attn: Attention,
  params: Map<string, Tensor>,
  qkIn: Tensor,
  vIn: Tensor,
  entry: { k: Tensor | null; v: Tensor | null },
  past: number,
  out: Tensor[],
): Tensor {
  const P = (name: string) => params.get(`${attn.prefix}.${name}`)!;
  const q = pass.hook(attn.hookQ, project(qkIn, P("W_Q"), P("b_Q")));
  const k = pass.hook(attn.hookK, project(qkIn, P("W_K"), P("b_K")));
  const v = pass.hook(attn.hookV, project(vIn, P("W_V"), P("b_V")));
  const kNew = contiguous(permute(k, [0, 2, 1, 3])); // [b, h, n, dh]
  const vNew = contiguous(permute(v, [0, 2, 1, 3]));
  const K = entry.k ? concat([entry.k, kNew], 2) : clone(kNew); // [b, h, T, dh]
  const V = entry.v ? concat([entry.v, vNew], 2) : clone(vNew);
  out.push(keep(K), keep(V));
  const n = q.shape[1];
  const T = K.shape[2];
  const raw = matmul(permute(q, [0, 2, 1, 3]), K, { transB: true }); // [b, h, n, T]
  const m = new Uint32Array(n * T);
  for (let i = 0; i < n; i++) for (let j = 0; j <= past + i; j++) m[i * T + j] = 1;
  const mask = tensor(m, [n, T], { dtype: "u32", engine: raw.engine });
  const ignore = full([], -Infinity, { engine: raw.engine });
  const scores = pass.hook(
    attn.hookAttnScores,
    where(mask, div(raw, Math.sqrt(attn.cfg.dHead)), ignore),
  );
  const pattern = pass.hook(attn.hookPattern, softmax(scores, -1));
  const z = pass.hook(attn.hookZ, permute(matmul(pattern, V), [0, 2, 1, 3])); // [b, n, h, dh]
  const WO = P("W_O"); // [h, dh, dm]
  const bO = P("b_O");
  const [B, , H, D] = z.shape;
  if (attn.hookResult) {
    const rh = matmul(permute(z, [0, 2, 1, 3]), WO); // [b, h, n, dm]
    const result = pass.hook(attn.hookResult, permute(rh, [0, 2, 1, 3]));
    return add(sum(result, 2), bO);
  }
  const z2 = reshape(contiguous(z), [B * n, H * D]);
  const o = add(matmul(z2, reshape(WO, [H * D, WO.shape[2]])), bO);
  return reshape(o, [B, n, WO.shape[2]]);
}

/** x [b, p, d_model] → x @ W[h] + b[h] as [b, p, h, d_head] (as the model's projection). */
function project(x: Tensor, W: Tensor, b: Tensor): Tensor {
  const [B, Pn, Dm] = x.shape;
  const [H, , Dh] = W.shape;
  const y = matmul(reshape(x, [B * Pn, Dm]), W); // [h, b·p, d_head]
  const yb = add(y, reshape(b, [H, 1, Dh]));
  return permute(reshape(yb, [H, B, Pn, Dh]), [1, 2, 0, 3]);
}

// ------------------------------------------------------------------------------ sampling

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** How many tokens to add (default 10). */
  maxNewTokens?: number;
  /**
   * Sample (default true, as TransformerLens) or take the most likely token (greedy). A
   * temperature of 0 is also greedy.
   */
  doSample?: boolean;
  /** Divide the logits by this before sampling (default 1). */
  temperature?: number;
  /** Sample only among the `topK` most likely tokens (default: all). */
  topK?: number | null;
  /** Seed of the sampler (default 0): the same seed gives the same tokens. */
  seed?: number;
  /**
   * Hooks applied at every step (see the module notes for their shapes with the KV cache). With
   * the KV cache, hooks added with `model.addHook` are not applied: pass them here.
   */
  fwdHooks?: readonly FwdHook[];
  /** Use the KV cache (default true); false reruns the whole sequence at every step. */
  useKvCache?: boolean;
  /** Stop a sequence at this token (then pad it with the token until all have stopped). */
  eosTokenId?: number | null;
  /** Called after every step with the new token of each sequence. */
  onStep?: (step: number, next: number[]) => void;
}

/** mulberry32: a small seeded generator of uniforms in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Draw one index from logits (after dividing by `temperature`) with `u` uniform in [0, 1):
 * softmax in f64, inverse CDF. With `candidates` (top-k), `logits[j]` is the logit of token
 * `candidates[j]` and the draw is among them.
 *
 * @example
 * ```ts
 * sampleFromLogits([0, 0, 10], 1, 0.5); // 2 (almost surely)
 * ```
 */
export function sampleFromLogits(
  logits: ArrayLike<number>,
  temperature: number,
  u: number,
  candidates?: ArrayLike<number>,
): number {
  const idx = candidates
    ? Array.from(candidates)
    : Array.from({ length: logits.length }, (_, i) => i);
  const vals = candidates ? idx.map((_, j) => logits[j]) : Array.from(logits);
  let mx = -Infinity;
  for (const v of vals) if (v > mx) mx = v;
  const w = vals.map((v) => Math.exp((v - mx) / temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let acc = 0;
  const target = u * total;
  for (let i = 0; i < w.length; i++) {
    acc += w[i];
    if (target < acc) return idx[i];
  }
  // Rounding left `target` at the very top: the last candidate with weight.
  for (let i = w.length - 1; i >= 0; i--) if (w[i] > 0) return idx[i];
  return idx[0];
}

/**
 * Generate `maxNewTokens` tokens after `input` ([batch][pos] or one sequence): the whole
 * sequences, prompt included. Greedy (`doSample: false` or temperature 0) takes the argmax at
 * every step (ties to the lowest id); sampling divides by `temperature`, keeps the `topK` best
 * and draws with a generator seeded by `seed`. With the KV cache (default), each step runs the
 * model on one new position; each step reads back one token per sequence (greedy), the top-k
 * (k ≤ 64) or the last position's logits.
 *
 * @example
 * ```ts
 * const [seq] = await generate(model, [[1, 2, 3]], { maxNewTokens: 5, doSample: false });
 * const sampled = await generate(model, [[1, 2, 3]], { maxNewTokens: 5, temperature: 0.7, topK: 10, seed: 1 });
 * ```
 */
export async function generate(
  model: HookedTransformer,
  input: Tokens2D,
  opts: GenerateOptions = {},
): Promise<number[][]> {
  const op = "generate";
  const seqs = rowsOf(op, model, input);
  const steps = opts.maxNewTokens ?? 10;
  if (!Number.isInteger(steps) || steps < 0) {
    throw new RangeError(`Cannot run ${op}: maxNewTokens must be an integer ≥ 0, got ${steps}`);
  }
  if (seqs[0].length + steps > model.cfg.nCtx) {
    throw new RangeError(
      `Cannot run ${op}: ${
        seqs[0].length
      } prompt + ${steps} new tokens is more than nCtx ${model.cfg.nCtx}`,
    );
  }
  const temperature = opts.temperature ?? 1;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new RangeError(
      `Cannot run ${op}: temperature must be finite and ≥ 0, got ${temperature}`,
    );
  }
  const greedy = opts.doSample === false || temperature === 0;
  const topK = opts.topK ?? null;
  if (topK !== null && (!Number.isInteger(topK) || topK < 1 || topK > model.cfg.dVocab)) {
    throw new RangeError(
      `Cannot run ${op}: topK must be an integer in [1, ${model.cfg.dVocab}], got ${topK}`,
    );
  }
  const random = seededRandom(opts.seed ?? 0);
  const eos = opts.eosTokenId ?? null;
  const done = seqs.map(() => false);
  const useKv = opts.useKvCache ?? true;
  const kv = useKv ? new KeyValueCache(model) : null;
  const eng: Engine = model.engine;
  try {
    for (let step = 0; step < steps; step++) {
      const last = noGrad(() => {
        eng.beginScope();
        let lastLogits: Tensor;
        try {
          let logits: Tensor;
          if (kv) {
            const feed = step === 0 ? seqs : seqs.map((s) => [s[s.length - 1]]);
            logits = forwardWithKvCache(model, feed, kv, { fwdHooks: opts.fwdHooks });
          } else {
            logits = model.runWithHooks(seqs, { fwdHooks: opts.fwdHooks ?? [] });
          }
          const P = logits.shape[1];
          lastLogits = reshape(contiguous(slice(logits, [null, [P - 1, P]])), [
            seqs.length,
            model.cfg.dVocab,
          ]);
        } catch (e) {
          eng.endScope(new Set());
          throw e;
        }
        eng.endScope(new Set([lastLogits]));
        return lastLogits;
      });
      let next: number[];
      try {
        next = await pick(last, greedy, temperature, topK, random);
      } finally {
        last.dispose();
      }
      seqs.forEach((s, b) => {
        const t = done[b] && eos !== null ? eos : next[b];
        s.push(t);
        if (eos !== null && t === eos) done[b] = true;
      });
      opts.onStep?.(step, seqs.map((s) => s[s.length - 1]));
      if (eos !== null && done.every(Boolean)) break;
    }
  } finally {
    kv?.dispose();
  }
  return seqs;
}

/** The next token of each row of `logits` [batch, d_vocab]. */
async function pick(
  logits: Tensor,
  greedy: boolean,
  temperature: number,
  topK: number | null,
  random: () => number,
): Promise<number[]> {
  const [B, V] = logits.shape;
  if (greedy) {
    const ix = argmax(logits, -1);
    try {
      return Array.from(await ix.read() as Int32Array);
    } finally {
      ix.dispose();
    }
  }
  if (topK !== null && topK <= 64) {
    const { values, indices } = noGrad(() => topk(logits, topK));
    try {
      const [vals, ids] = [await values.read(), await indices.read()];
      return Array.from({ length: B }, (_, b) =>
        sampleFromLogits(
          vals.subarray(b * topK, (b + 1) * topK) as Float32Array,
          temperature,
          random(),
          ids.subarray(b * topK, (b + 1) * topK) as Int32Array,
        ));
    } finally {
      values.dispose();
      indices.dispose();
    }
  }
  const all = await logits.read() as Float32Array;
  return Array.from({ length: B }, (_, b) => {
    const row = all.subarray(b * V, (b + 1) * V);
    if (topK === null) return sampleFromLogits(row, temperature, random());
    const order = Array.from(row.keys()).sort((i, j) => row[j] - row[i] || i - j).slice(0, topK);
    return sampleFromLogits(order.map((i) => row[i]), temperature, random(), order);
  });
}
