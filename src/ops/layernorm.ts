/**
 * Layer norm over the last axis, exactly as TransformerLens computes it (`LayerNorm` and
 * `LayerNormPre` in transformer_lens/components):
 *
 * ```
 * x      = x − mean(x, -1)
 * scale  = sqrt(mean(x², -1) + eps)      // hook_scale, shape [..., 1]
 * y      = (x / scale) · w + b           // hook_normalized (after w and b)
 * ```
 *
 * For `LayerNormPre` (no w, b) `hook_normalized` is `x / scale`: use {@link lnPre}.
 *
 * One fused kernel per call (src/kernels/layernorm.ts).
 *
 * Autograd: `y` is recorded as `record(y, "layerNorm", [x, weight?, bias?], {eps, hasWeight,
 * hasBias})` (inputs in that order, absent ones left out; the flags say which are present).
 * `scale` is a separate recorded output, `record(scale, "layerNormScale", [x], {eps})`
 * (d scale / dx = (x − mean) / (n · scale)), so it is differentiable on its own.
 *
 * @module
 */

import { record } from "../autograd/tape.ts";
import { isFloat } from "../dtype.ts";
import { layerNormKernel } from "../kernels/layernorm.ts";
import { fmtShape, type Tensor } from "../tensor.ts";
import { contiguous } from "./movement.ts";

/** Options of {@link layerNorm}. */
export interface LayerNormOptions {
  /** Per-feature gain `w`, shape [d] where d is x's last axis (TL's `ln.w`). */
  weight?: Tensor;
  /** Per-feature bias `b`, shape [d] (TL's `ln.b`). */
  bias?: Tensor;
  /** Added to the variance (default 1e-5, TL's `cfg.eps`). */
  eps?: number;
  /** Also return `scale` = sqrt(var + eps), shape [..., 1] (TL's `hook_scale`). */
  returnScale?: boolean;
}

/** `layerNorm` with `returnScale: true`. */
export interface LayerNormResult {
  /** The output, after weight and bias: what TL's `hook_normalized` sees. */
  y: Tensor;
  /** sqrt(var + eps), shape [..., 1]: TL's `hook_scale`. */
  scale: Tensor;
}

function checkParam(x: Tensor, p: Tensor | undefined, what: "weight" | "bias"): void {
  if (!p) return;
  const d = x.shape[x.rank - 1];
  if (p.rank !== 1 || p.shape[0] !== d) {
    throw new RangeError(
      `Cannot run layerNorm: ${what} has shape ${
        fmtShape(p.shape)
      }, but x ${x.describe()} needs ${what} of shape [${d}] (its last axis)`,
    );
  }
  if (!isFloat(p.dtype)) {
    throw new TypeError(`Cannot run layerNorm: ${what} ${p.describe()} must be a float tensor`);
  }
}

/**
 * Layer norm over the last axis: `(x − mean) / sqrt(var + eps) · weight + bias` (population
 * variance), following TransformerLens exactly. With `returnScale: true` returns `{y, scale}`.
 *
 * @example
 * ```ts
 * const y = layerNorm(resid, { weight: ln1w, bias: ln1b, eps: 1e-5 });
 * const { y: normed, scale } = layerNorm(resid, { weight: w, bias: b, returnScale: true });
 * ```
 */
export function layerNorm(
  x: Tensor,
  opts: LayerNormOptions & { returnScale: true },
): LayerNormResult;
export function layerNorm(x: Tensor, opts?: LayerNormOptions & { returnScale?: false }): Tensor;
export function layerNorm(x: Tensor, opts?: LayerNormOptions): Tensor | LayerNormResult;
export function layerNorm(x: Tensor, opts: LayerNormOptions = {}): Tensor | LayerNormResult {
  return run("layerNorm", x, opts);
}

/**
 * TransformerLens's `LayerNormPre`: centre and normalise, no weight or bias (for models whose
 * layer-norm weights were folded into the next layer). Returns `x / scale`, or `{y, scale}` with
 * `returnScale: true`.
 *
 * @example
 * ```ts
 * const normalized = lnPre(resid); // hook_normalized of LayerNormPre
 * ```
 */
export function lnPre(x: Tensor, opts: { eps?: number; returnScale: true }): LayerNormResult;
export function lnPre(x: Tensor, opts?: { eps?: number; returnScale?: false }): Tensor;
export function lnPre(
  x: Tensor,
  opts: { eps?: number; returnScale?: boolean } = {},
): Tensor | LayerNormResult {
  return run("lnPre", x, { eps: opts.eps, returnScale: opts.returnScale });
}

function run(op: string, x: Tensor, opts: LayerNormOptions): Tensor | LayerNormResult {
  if (!isFloat(x.dtype)) {
    throw new TypeError(
      `Cannot run ${op}: ${x.describe()} has dtype ${x.dtype}; ${op} needs a float tensor (cast it first)`,
    );
  }
  if (x.rank === 0) {
    throw new RangeError(`Cannot run ${op}: ${x.describe()} is a scalar; it needs a last axis`);
  }
  const eps = opts.eps ?? 1e-5;
  if (!(eps >= 0) || !Number.isFinite(eps)) {
    throw new RangeError(`Cannot run ${op}: eps must be a finite number ≥ 0, got ${eps}`);
  }
  const { weight, bias } = opts;
  checkParam(x, weight, "weight");
  checkParam(x, bias, "bias");
  const w = weight ? contiguous(weight) : undefined;
  const b = bias ? contiguous(bias) : undefined;
  let res: { y: Tensor; scale?: Tensor };
  try {
    res = layerNormKernel(x.engine, {
      op,
      x,
      weight: w,
      bias: b,
      eps,
      scale: opts.returnScale ?? false,
    });
  } finally {
    if (w && w !== weight) w.dispose();
    if (b && b !== bias) b.dispose();
  }
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const y = record(res.y, "layerNorm", inputs, {
    eps,
    hasWeight: weight !== undefined,
    hasBias: bias !== undefined,
  });
  if (!res.scale) return y;
  return { y, scale: record(res.scale, "layerNormScale", [x], { eps }) };
}
