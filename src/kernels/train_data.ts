/**
 * Synthetic induction-head data on the GPU (shaders/train_data.wgsl): rows of [BOS] + random
 * prefix + r + r + random filler, every token drawn from Philox-4x32-10 keyed by the seed with
 * the counter (position, row, step, tag).
 *
 * @module
 */

import src from "../../shaders/train_data.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { checkBindable, Params } from "./_util.ts";

/** What the data kernel needs (checked by src/train/data.ts). */
export interface RepeatKernelOptions {
  seed: number;
  step: number;
  vocab: number;
  bos: number;
  minLen: number;
  /** Longest run, already capped to fit the context. */
  lenMax: number;
  maxPrefix: number;
}

/**
 * Fill `tokens` (i32 [rows, ctx], contiguous at offset 0) and `meta` (i32 [rows, 2], offset 0: start of the first copy,
 * run length) for batch `step`. One dispatch, no readback.
 */
export function repeatTokensKernel(
  eng: Engine,
  tokens: Tensor,
  meta: Tensor,
  o: RepeatKernelOptions,
): void {
  const [rows, ctx] = tokens.shape;
  checkBindable("repeatTokens", eng, tokens, meta);
  const p = new Params()
    .u32(rows).u32(ctx)
    .u32(o.seed >>> 0).u32(Math.floor(o.seed / 2 ** 32) >>> 0)
    .u32(o.step >>> 0).u32(o.vocab).u32(o.bos).u32(o.minLen)
    .u32(o.lenMax).u32(o.maxPrefix).u32(0).u32(0);
  eng.run({
    label: "repeatTokens",
    key: "train_data",
    code: () => src,
    params: p.bytes(),
    inputs: [],
    outputs: [tokens.buffer, meta.buffer],
    workgroups: eng.grid(rows * ctx, 64),
  });
}
