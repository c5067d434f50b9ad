/**
 * `softmax` and `logSoftmax` along any axis, numerically stable (the row maximum is subtracted),
 * fused into one kernel per call (src/kernels/softmax.ts), with an optional causal mask for
 * attention scores.
 *
 * Masking: -Infinity inputs (and, with `causal`, the future keys) get probability 0 and
 * log-probability -Infinity. A row where every entry is masked gives all zeros from `softmax`
 * and all -Infinity from `logSoftmax` (PyTorch gives NaN there); with `causal` such rows occur
 * only when there are more queries than keys. A NaN input makes its row NaN; a +Infinity input
 * gives NaN in its own entry at least (possibly in the whole row, which is what PyTorch gives).
 *
 * Autograd: recorded as `record(y, "softmax", [x], {axis, causal})` and
 * `record(y, "logSoftmax", [x], {axis, causal})`, `axis` normalised (non-negative).
 *
 * @module
 */

import { record } from "../autograd/tape.ts";
import { isFloat } from "../dtype.ts";
import { softmaxKernel } from "../kernels/softmax.ts";
import type { Tensor } from "../tensor.ts";
import { normAxis } from "./movement.ts";

/** Options of {@link softmax} and {@link logSoftmax}. */
export interface SoftmaxOptions {
  /**
   * Causal mask for attention scores [..., q, k] (softmax over the last axis only): key k is
   * masked for query q when k > q + (kLen − qLen), so with a cache of past keys each query still
   * sees every key up to its own position.
   */
  causal?: boolean;
}

function run(op: "softmax" | "logSoftmax", x: Tensor, axis: number, opts: SoftmaxOptions): Tensor {
  if (!isFloat(x.dtype)) {
    throw new TypeError(
      `Cannot run ${op}: ${x.describe()} has dtype ${x.dtype}; ${op} needs a float tensor (cast it first)`,
    );
  }
  if (x.rank === 0) {
    throw new RangeError(
      `Cannot run ${op}: ${x.describe()} is a scalar; it needs at least one axis`,
    );
  }
  const ax = normAxis(op, axis, x.rank, x.shape);
  const causal = opts.causal ?? false;
  if (causal && (x.rank < 2 || ax !== x.rank - 1)) {
    throw new RangeError(
      `Cannot run ${op}: the causal mask needs the softmax over the last axis of a [..., q, k] tensor (got axis ${axis} of ${x.describe()})`,
    );
  }
  const out = softmaxKernel(x.engine, { op, x, axis: ax, log: op === "logSoftmax", causal });
  return record(out, op, [x], { axis: ax, causal });
}

/**
 * exp(x − max) / Σ exp(x − max) along `axis` (default the last).
 *
 * @example
 * ```ts
 * const probs = softmax(logits);                        // over the last axis
 * const pattern = softmax(scores, -1, { causal: true }); // [batch, head, q, k]
 * ```
 */
export function softmax(x: Tensor, axis = -1, opts: SoftmaxOptions = {}): Tensor {
  return run("softmax", x, axis, opts);
}

/**
 * x − max − log Σ exp(x − max) along `axis` (default the last): log-probabilities, accurate where
 * `log(softmax(x))` would underflow.
 *
 * @example
 * ```ts
 * const logProbs = logSoftmax(logits); // [batch, pos, d_vocab]
 * ```
 */
export function logSoftmax(x: Tensor, axis = -1, opts: SoftmaxOptions = {}): Tensor {
  return run("logSoftmax", x, axis, opts);
}
