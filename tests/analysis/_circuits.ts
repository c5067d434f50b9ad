/**
 * Hand-made models whose circuits are known exactly, for the analysis and view tests.
 *
 * {@link inductionModel}: a 2-layer attention-only transformer without layer norm whose head
 * L0H0 is a previous-token head, L0H1 attends to position 0, L1H0 is an induction head (reads
 * L0H0's output) and L1H1 attends uniformly. The residual stream has three subspaces: the
 * current token (one-hot, [0, V)), the position (one-hot, [V, V + n_ctx)) and "the previous
 * token" ([V + n_ctx, 2V + n_ctx)), which L0H0 writes. L1H0 adds twice the embedding of the
 * token that followed the current token's earlier copy, so on a repeated sequence the model
 * predicts the continuation (greedy generation continues the repeat).
 */

import { tensor } from "../../src/ops/creation.ts";
import { HookedTransformer, makeConfig, paramShapes } from "../../src/model/mod.ts";
import { sizeOf, type Tensor } from "../../src/tensor.ts";

/** The hand-made induction model: vocabulary `V`, context `nCtx`. */
export function inductionModel(V = 12, nCtx = 32): HookedTransformer {
  const dHead = Math.max(V, nCtx);
  const dModel = 2 * V + nCtx;
  const cfg = makeConfig({
    nLayers: 2,
    dModel,
    nHeads: 2,
    dHead,
    nCtx,
    dVocab: V,
    attnOnly: true,
    normalization: null,
  });
  const tok = (t: number) => t;
  const pos = (p: number) => V + p;
  const prev = (t: number) => V + nCtx + t;
  // Score of a match after the 1/sqrt(d_head) scaling: e^-12 leaves ≤ 2e-4 elsewhere.
  const c = 12 * Math.sqrt(dHead);
  const sd = new Map<string, Float32Array>();
  for (const [name, shape] of paramShapes(cfg)) sd.set(name, new Float32Array(sizeOf(shape)));
  const set = (name: string, shape: readonly number[], idx: number[], v: number) => {
    let off = 0;
    for (let i = 0; i < idx.length; i++) off = off * shape[i] + idx[i];
    sd.get(name)![off] = v;
  };
  const shapes = paramShapes(cfg);
  const S = (n: string) => shapes.get(n)!;
  for (let t = 0; t < V; t++) set("embed.W_E", S("embed.W_E"), [t, tok(t)], 1);
  for (let p = 0; p < nCtx; p++) set("pos_embed.W_pos", S("pos_embed.W_pos"), [p, pos(p)], 1);
  for (let t = 0; t < V; t++) set("unembed.W_U", S("unembed.W_U"), [tok(t), t], 1);
  const a0 = "blocks.0.attn";
  const a1 = "blocks.1.attn";
  for (let p = 0; p < nCtx; p++) {
    // L0H0: query position p meets key position p - 1.
    set(`${a0}.W_Q`, S(`${a0}.W_Q`), [0, pos(p), p], 1);
    if (p + 1 < nCtx) set(`${a0}.W_K`, S(`${a0}.W_K`), [0, pos(p), p + 1], c);
    // L0H1: every query meets key position 0.
    set(`${a0}.W_Q`, S(`${a0}.W_Q`), [1, pos(p), 0], 1);
  }
  set(`${a0}.W_K`, S(`${a0}.W_K`), [1, pos(0), 0], c);
  for (let t = 0; t < V; t++) {
    // L0H0 copies the attended (previous) token into the "previous token" subspace.
    set(`${a0}.W_V`, S(`${a0}.W_V`), [0, tok(t), t], 1);
    set(`${a0}.W_O`, S(`${a0}.W_O`), [0, t, prev(t)], 1);
    // L1H0: the current token meets keys whose previous token is the same; it adds the
    // attended token (the continuation) twice over, so it outweighs the current token.
    set(`${a1}.W_Q`, S(`${a1}.W_Q`), [0, tok(t), t], 1);
    set(`${a1}.W_K`, S(`${a1}.W_K`), [0, prev(t), t], c);
    set(`${a1}.W_V`, S(`${a1}.W_V`), [0, tok(t), t], 1);
    set(`${a1}.W_O`, S(`${a1}.W_O`), [0, t, tok(t)], 2);
  }
  const tensors = new Map<string, Tensor>();
  for (const [name, shape] of shapes) tensors.set(name, tensor(sd.get(name)!, shape));
  return HookedTransformer.fromStateDict(cfg, tensors);
}

/**
 * A BOS-like token 0, then a run of `len` distinct random tokens from [1, V) (seeded; len < V),
 * then the same run again.
 */
export function repeatedRun(len: number, V: number, seed: number): number[] {
  let a = seed >>> 0;
  const r = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  if (len >= V) throw new RangeError(`repeatedRun: ${len} distinct tokens need V > ${len}`);
  const pool = Array.from({ length: V - 1 }, (_, i) => i + 1);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  const run = pool.slice(0, len);
  return [0, ...run, ...run];
}
