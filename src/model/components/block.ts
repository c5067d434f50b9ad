/**
 * A transformer block (TL's `TransformerBlock`): pre-norm attention then MLP, each added to the
 * residual stream.
 *
 * ```
 * resid_mid  = resid_pre + attn(ln1(resid_pre))      (+ pos_embed on q, k for shortformer)
 * resid_post = resid_mid + mlp(ln2(resid_mid))       (attn-only: resid_post = resid_mid,
 *                                                     and there is no hook_resid_mid)
 * ```
 *
 * @module
 */

import { add } from "../../ops/elementwise.ts";
import type { Tensor } from "../../tensor.ts";
import type { HookedTransformerConfig } from "../config.ts";
import { type ForwardPass, HookPoint } from "../hooks.ts";
import { Attention } from "./attention.ts";
import { LayerNorm } from "./layer_norm.ts";
import { MLP } from "./mlp.ts";

/** TL's `TransformerBlock`, `blocks.{layer}`. */
export class TransformerBlock {
  readonly ln1: LayerNorm;
  readonly attn: Attention;
  readonly ln2: LayerNorm | null;
  readonly mlp: MLP | null;
  /** Residual stream entering the block. [batch, pos, d_model] */
  readonly hookResidPre: HookPoint;
  /** Attention output, b_O included. [batch, pos, d_model] */
  readonly hookAttnOut: HookPoint;
  /** Residual stream between attention and MLP (not in attn-only models). [batch, pos, d_model] */
  readonly hookResidMid: HookPoint | null;
  /** MLP output, b_out included (not in attn-only models). [batch, pos, d_model] */
  readonly hookMlpOut: HookPoint | null;
  /** Residual stream leaving the block. [batch, pos, d_model] */
  readonly hookResidPost: HookPoint;

  constructor(readonly cfg: HookedTransformerConfig, readonly layer: number) {
    const p = `blocks.${layer}`;
    const hp = (n: string) => new HookPoint(`${p}.${n}`, "[batch, pos, d_model]", layer);
    this.hookResidPre = hp("hook_resid_pre");
    this.ln1 = new LayerNorm(cfg, `${p}.ln1`, layer);
    this.attn = new Attention(cfg, `${p}.attn`, layer);
    this.hookAttnOut = hp("hook_attn_out");
    if (cfg.attnOnly) {
      this.hookResidMid = null;
      this.ln2 = null;
      this.mlp = null;
      this.hookMlpOut = null;
    } else {
      this.hookResidMid = hp("hook_resid_mid");
      this.ln2 = new LayerNorm(cfg, `${p}.ln2`, layer);
      this.mlp = new MLP(cfg, `${p}.mlp`, layer);
      this.hookMlpOut = hp("hook_mlp_out");
    }
    this.hookResidPost = hp("hook_resid_post");
  }

  /** Hook points in the order the forward pass reaches them. */
  hookPoints(): HookPoint[] {
    const out = [this.hookResidPre, ...this.ln1.hookPoints(), ...this.attn.hookPoints()];
    out.push(this.hookAttnOut);
    if (this.hookResidMid && this.ln2 && this.mlp && this.hookMlpOut) {
      out.push(this.hookResidMid, ...this.ln2.hookPoints(), ...this.mlp.hookPoints());
      out.push(this.hookMlpOut);
    }
    out.push(this.hookResidPost);
    return out;
  }

  /**
   * The block on `residPre` [batch, pos, d_model] (consumed: freed by the block) → resid_post.
   * `posEmbed` is the shortformer positional embedding (left to the caller), else null.
   */
  forward(
    pass: ForwardPass,
    params: ReadonlyMap<string, Tensor>,
    residPre: Tensor,
    posEmbed: Tensor | null,
  ): Tensor {
    const resid = pass.hook(this.hookResidPre, residPre);
    const normed = this.ln1.forward(pass, params, resid); // resid itself when normalization null
    const qkIn = posEmbed ? add(normed, posEmbed) : normed;
    const attn0 = this.attn.forward(pass, params, qkIn, normed);
    if (qkIn !== normed) pass.free(qkIn);
    if (normed !== resid) pass.free(normed);
    const attnOut = pass.hook(this.hookAttnOut, attn0);
    const mid0 = add(resid, attnOut);
    pass.free(resid, attnOut);
    if (!this.hookResidMid || !this.ln2 || !this.mlp || !this.hookMlpOut) {
      return pass.hook(this.hookResidPost, mid0);
    }
    const mid = pass.hook(this.hookResidMid, mid0);
    const normed2 = this.ln2.forward(pass, params, mid);
    const mlp0 = this.mlp.forward(pass, params, normed2);
    if (normed2 !== mid) pass.free(normed2);
    const mlpOut = pass.hook(this.hookMlpOut, mlp0);
    const post0 = add(mid, mlpOut);
    pass.free(mid, mlpOut);
    return pass.hook(this.hookResidPost, post0);
  }
}
