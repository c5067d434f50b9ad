/**
 * Gradient clipping by global norm, on the GPU without readback.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { engine as defaultEngine } from "../gpu/engine.ts";
import { globalNorm } from "../kernels/optim.ts";
import { checkUpdatable } from "../kernels/optim.ts";

/** Options of {@link clipGradNorm}. */
export interface ClipOptions {
  /** Added to the norm in the scale factor (default 1e-6, as PyTorch). */
  eps?: number;
}

function gradsOf(op: string, params: Iterable<Tensor>): Tensor[] {
  const grads: Tensor[] = [];
  for (const p of params) {
    if (!p.grad) continue;
    checkUpdatable(op, "gradient", p.grad);
    grads.push(p.grad);
  }
  return grads;
}

function normView(pair: Tensor): Tensor {
  const norm = pair.view([], [], 0);
  pair.dispose();
  return norm;
}

/**
 * Scale every `.grad` of `params` in place by min(1, maxNorm / (norm + eps)), where norm is the
 * L2 norm of all the gradients together (PyTorch's `clip_grad_norm_`). Parameters without a
 * gradient are skipped. Returns the norm before clipping as an f32 scalar tensor (in the caller's
 * scope); nothing is read back.
 *
 * @example
 * ```ts
 * const norm = clipGradNorm(params, 1.0);
 * opt.step();
 * ```
 */
export function clipGradNorm(
  params: Iterable<Tensor>,
  maxNorm: number,
  opts: ClipOptions = {},
): Tensor {
  if (!(maxNorm > 0)) {
    throw new RangeError(`Cannot run clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  }
  const eps = opts.eps ?? 1e-6;
  const grads = gradsOf("clipGradNorm", params);
  const eng = grads[0]?.engine ?? defaultEngine();
  return normView(globalNorm(eng, grads, maxNorm, eps, true));
}

/**
 * The L2 norm of all the `.grad`s of `params` together, as an f32 scalar tensor (no readback).
 *
 * @example
 * ```ts
 * const norm = gradNorm(params);
 * ```
 */
export function gradNorm(params: Iterable<Tensor>): Tensor {
  const grads = gradsOf("gradNorm", params);
  const eng = grads[0]?.engine ?? defaultEngine();
  return normView(globalNorm(eng, grads, Infinity, 0, false));
}
