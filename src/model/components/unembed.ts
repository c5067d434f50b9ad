/**
 * Unembedding: logits = x @ `unembed.W_U` [d_model, d_vocab] + `unembed.b_U` (W_U is read in
 * windows by matmul when larger than one storage binding).
 *
 * @module
 */

import type { Tensor } from "../../tensor.ts";
import { getParam } from "../config.ts";
import type { ForwardPass, HookPoint } from "../hooks.ts";
import { linear } from "./mlp.ts";

/** TL's `Unembed` (no hook points). */
export class Unembed {
  hookPoints(): HookPoint[] {
    return [];
  }

  /** [batch, pos, d_model] → logits [batch, pos, d_vocab]. */
  forward(pass: ForwardPass, params: ReadonlyMap<string, Tensor>, x: Tensor): Tensor {
    return linear(pass, x, getParam(params, "unembed.W_U"), getParam(params, "unembed.b_U"));
  }
}
