/**
 * Token embedding: rows of `embed.W_E` [d_vocab, d_model] (read in windows when the table is
 * larger than one storage binding, as GPT-2's 154 MB table is).
 *
 * @module
 */

import { embedding } from "../../ops/indexing.ts";
import type { Tensor } from "../../tensor.ts";
import { getParam } from "../config.ts";
import { type ForwardPass, HookPoint } from "../hooks.ts";

/** TL's `Embed`, with the model's `hook_embed`. */
export class Embed {
  /** Token embeddings. [batch, pos, d_model] */
  readonly hookEmbed = new HookPoint("hook_embed", "[batch, pos, d_model]");

  /** Hook points in the order the forward pass reaches them. */
  hookPoints(): HookPoint[] {
    return [this.hookEmbed];
  }

  /** `W_E[tokens]`: tokens i32 [batch, pos] → [batch, pos, d_model], hooked. */
  forward(pass: ForwardPass, params: ReadonlyMap<string, Tensor>, tokens: Tensor): Tensor {
    const e = embedding(getParam(params, "embed.W_E"), tokens); // [batch, pos, d_model]
    return pass.hook(this.hookEmbed, e);
  }
}
