/**
 * Learned positional embedding: the first `pos` rows of `pos_embed.W_pos` [n_ctx, d_model],
 * repeated over the batch.
 *
 * @module
 */

import { clone, expand, slice, unsqueeze } from "../../ops/movement.ts";
import type { Tensor } from "../../tensor.ts";
import { getParam } from "../config.ts";
import { type ForwardPass, HookPoint } from "../hooks.ts";

/** TL's `PosEmbed`, with the model's `hook_pos_embed`. */
export class PosEmbed {
  /** Positional embeddings, repeated over the batch. [batch, pos, d_model] */
  readonly hookPosEmbed = new HookPoint("hook_pos_embed", "[batch, pos, d_model]");

  hookPoints(): HookPoint[] {
    return [this.hookPosEmbed];
  }

  /** `W_pos[:pos]` broadcast to [batch, pos, d_model] (a fresh tensor), hooked. */
  forward(
    pass: ForwardPass,
    params: ReadonlyMap<string, Tensor>,
    batch: number,
    pos: number,
  ): Tensor {
    const W = getParam(params, "pos_embed.W_pos");
    const rows = slice(W, [[0, pos]]);
    const one = unsqueeze(rows, 0);
    const wide = expand(one, [batch, pos, W.shape[1]]);
    const pe = clone(wide); // [batch, pos, d_model], fresh storage
    pass.free(rows, one, wide);
    return pass.hook(this.hookPosEmbed, pe);
  }
}
