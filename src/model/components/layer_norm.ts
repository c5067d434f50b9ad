/**
 * Layer norm as TransformerLens computes it: `LayerNorm` (normalization "LN": centre, scale, then
 * weight and bias) and `LayerNormPre` ("LNPre": centre and scale only), each with
 * `hook_scale` [batch, pos, 1] and `hook_normalized` [batch, pos, length]. With normalization
 * null the component is the identity and has no hook points.
 *
 * @module
 */

import { layerNorm, type LayerNormResult, lnPre } from "../../ops/layernorm.ts";
import { add, div, mul, sub } from "../../ops/elementwise.ts";
import { mean } from "../../ops/reduce.ts";
import type { Tensor } from "../../tensor.ts";
import { getParam, type HookedTransformerConfig } from "../config.ts";
import { type ForwardPass, HookPoint } from "../hooks.ts";

/** TL's `LayerNorm` / `LayerNormPre` (or identity), e.g. `blocks.0.ln1`, `ln_final`. */
export class LayerNorm {
  /** sqrt(mean((x − mean x)²) + eps). [batch, pos, 1] */
  readonly hookScale: HookPoint | null;
  /** (x − mean x) / scale (· w + b for "LN"). [batch, pos, length] */
  readonly hookNormalized: HookPoint | null;

  constructor(
    readonly cfg: HookedTransformerConfig,
    /** Parameter and hook prefix, e.g. "blocks.0.ln1" or "ln_final". */
    readonly prefix: string,
    readonly layer: number | null,
  ) {
    const on = cfg.normalization !== null;
    this.hookScale = on ? new HookPoint(`${prefix}.hook_scale`, "[batch, pos, 1]", layer) : null;
    this.hookNormalized = on
      ? new HookPoint(`${prefix}.hook_normalized`, "[batch, pos, length]", layer)
      : null;
  }

  hookPoints(): HookPoint[] {
    return this.hookScale && this.hookNormalized ? [this.hookScale, this.hookNormalized] : [];
  }

  /**
   * Normalise `x` [batch, pos, length]. Returns `x` itself when normalization is null (the caller
   * must not free it twice), else a new tensor. A hook that replaces `hook_scale` changes the
   * output, as in TL (the output is then recomputed from the hooked scale).
   */
  forward(pass: ForwardPass, params: ReadonlyMap<string, Tensor>, x: Tensor): Tensor {
    if (!this.hookScale || !this.hookNormalized) return x;
    const eps = this.cfg.eps;
    const ln = this.cfg.normalization === "LN";
    const w = ln ? getParam(params, `${this.prefix}.w`) : null;
    const b = ln ? getParam(params, `${this.prefix}.b`) : null;
    const res: LayerNormResult = w && b
      ? layerNorm(x, { weight: w, bias: b, eps, returnScale: true })
      : lnPre(x, { eps, returnScale: true });
    const scale = pass.hook(this.hookScale, res.scale); // [batch, pos, 1]
    let y = res.y;
    if (scale !== res.scale) {
      // The scale was replaced: normalise with it, as TL does (x − mean) / scale · w + b.
      pass.free(y);
      const mu = mean(x, -1, { keepdims: true });
      const centred = sub(x, mu);
      const normed = div(centred, scale);
      pass.free(mu, centred);
      if (w && b) {
        const scaled = mul(normed, w);
        y = add(scaled, b);
        pass.free(normed, scaled);
      } else {
        y = normed;
      }
    }
    pass.free(scale);
    return pass.hook(this.hookNormalized, y); // [batch, pos, length]
  }
}
