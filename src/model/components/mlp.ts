/**
 * The MLP: `hook_pre = x @ W_in + b_in`, `hook_post = act(hook_pre)`, output
 * `hook_post @ W_out + b_out`; and {@link linear}, the affine map the other components share.
 *
 * @module
 */

import { needsGrad } from "../../autograd/tape.ts";
import { add, gelu, geluErf, relu } from "../../ops/elementwise.ts";
import { linear as linearOp, linearAct } from "../../ops/linear.ts";
import { matmul } from "../../ops/matmul.ts";
import { reshape } from "../../ops/movement.ts";
import type { Tensor } from "../../tensor.ts";
import { getParam, type HookedTransformerConfig } from "../config.ts";
import { type ForwardPass, HookPoint } from "../hooks.ts";

/**
 * `x @ w + b` over the last axis of `x` [..., d_in] with `w` [d_in, d_out] and `b` [d_out] (or
 * null): the leading axes are flattened into one matrix so the product is a single matmul.
 * Frees its temporaries through `pass`; `x` is left to the caller.
 */
export function linear(pass: ForwardPass, x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  // Inference: the packed-weight kernel where it applies (it frees its own temporaries).
  if (!pass.recording && !needsGrad([x])) return linearOp(x, w, b);
  const dIn = x.shape[x.rank - 1];
  const lead = x.shape.slice(0, -1);
  const x2 = reshape(x, [-1, dIn]); // a view when x is contiguous
  const y = matmul(x2, w);
  pass.free(x2);
  let out = y;
  if (b) {
    out = add(y, b);
    pass.free(y);
  }
  const shaped = reshape(out, [...lead, w.shape[1]]);
  pass.free(out);
  return shaped;
}

/** TL's `MLP`, e.g. `blocks.0.mlp`. */
export class MLP {
  /** Pre-activation. [batch, pos, d_mlp] */
  readonly hookPre: HookPoint;
  /** Post-activation (neurons). [batch, pos, d_mlp] */
  readonly hookPost: HookPoint;

  constructor(readonly cfg: HookedTransformerConfig, readonly prefix: string, layer: number) {
    this.hookPre = new HookPoint(`${prefix}.hook_pre`, "[batch, pos, d_mlp]", layer);
    this.hookPost = new HookPoint(`${prefix}.hook_post`, "[batch, pos, d_mlp]", layer);
  }

  hookPoints(): HookPoint[] {
    return [this.hookPre, this.hookPost];
  }

  /** The MLP of `x` [batch, pos, d_model] → [batch, pos, d_model] (before hook_mlp_out). */
  forward(pass: ForwardPass, params: ReadonlyMap<string, Tensor>, x: Tensor): Tensor {
    const p = this.prefix;
    const W_in = getParam(params, `${p}.W_in`);
    const b_in = getParam(params, `${p}.b_in`);
    let post0: Tensor;
    const fusable = this.cfg.act === "gelu_new" || this.cfg.act === "relu";
    if (fusable && !pass.recording && !needsGrad([x]) && !pass.hasHooks(this.hookPre)) {
      // Nothing replaces hook_pre: the activation is applied as the product is stored, and
      // hook_pre is written only when the cache keeps it.
      const keepPre = pass.caches(this.hookPre);
      const r = linearAct(x, W_in, b_in, this.cfg.act as "gelu_new" | "relu", { keepPre });
      if (r.pre) pass.free(pass.hook(this.hookPre, r.pre));
      post0 = r.post;
    } else {
      const pre0 = linear(pass, x, W_in, b_in);
      const pre = pass.hook(this.hookPre, pre0); // [batch, pos, d_mlp]
      const act = this.cfg.act === "relu" ? relu : this.cfg.act === "gelu" ? geluErf : gelu;
      post0 = act(pre);
      pass.free(pre);
    }
    const post = pass.hook(this.hookPost, post0); // [batch, pos, d_mlp]
    const out = linear(pass, post, getParam(params, `${p}.W_out`), getParam(params, `${p}.b_out`));
    pass.free(post);
    return out; // [batch, pos, d_model]
  }
}
