/**
 * Losses: `crossEntropy` over the last axis of logits, and `logProbsAt` (the log-probability of
 * each target), from one fused kernel computing a stable log-sum-exp per row.
 *
 * @module
 */

import { record } from "../autograd/tape.ts";
import { isFloat } from "../dtype.ts";
import { crossEntropyReduce, crossEntropyRows } from "../kernels/cross_entropy.ts";
import { fmtShape, type Tensor } from "../tensor.ts";
import { checkIndexDtype } from "./indexing.ts";
import { contiguous, reshape } from "./movement.ts";

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** "mean" (default) over the positions not ignored, "sum", or "none" (one loss per position). */
  reduction?: "mean" | "sum" | "none";
  /** Target value whose positions get loss 0 and are left out of the mean (PyTorch uses -100). */
  ignoreIndex?: number;
}

function checkInputs(op: string, logits: Tensor, targets: Tensor): number {
  if (!isFloat(logits.dtype)) {
    throw new TypeError(`Cannot run ${op}: logits ${logits.describe()} must be f32 or f16`);
  }
  checkIndexDtype(op, targets, "targets");
  if (logits.rank === 0) {
    throw new RangeError(`Cannot run ${op}: logits ${logits.describe()} need a class axis (last)`);
  }
  const lead = logits.shape.slice(0, -1);
  if (targets.rank !== lead.length || targets.shape.some((d, i) => d !== lead[i])) {
    throw new RangeError(
      `Cannot run ${op}: targets ${targets.describe()} should have shape ${fmtShape(lead)} ` +
        `(the logits ${logits.describe()} without their last axis)`,
    );
  }
  const vocab = logits.shape[logits.rank - 1];
  if (vocab === 0) {
    throw new RangeError(`Cannot run ${op}: logits ${logits.describe()} have no classes`);
  }
  return vocab;
}

function rowsOf(
  op: string,
  logits: Tensor,
  targets: Tensor,
  mode: "loss" | "logprob",
  ignoreIndex?: number,
): { loss: Tensor; lse: Tensor } {
  const xc = contiguous(logits);
  const tc = contiguous(targets);
  try {
    return crossEntropyRows(logits.engine, op, xc, tc, mode, ignoreIndex);
  } finally {
    if (xc !== logits) xc.dispose();
    if (tc !== targets) tc.dispose();
  }
}

/**
 * Cross-entropy of `logits [..., vocab]` (f32 or f16) against class indices `targets [...]` (i32
 * or u32): `loss = logsumexp(logits) − logits[target]` per position, computed stably (running
 * max) in one workgroup per row. Returns f32: the mean over positions whose target is not
 * `ignoreIndex` (default; NaN if every position is ignored), their sum, or the per-position
 * losses (`reduction: "none"`, shape of targets, 0 at ignored positions). A target outside
 * [0, vocab) that is not `ignoreIndex` gives NaN (the GPU cannot throw; see `checkIndices`).
 *
 * Recorded for autograd as "crossEntropy" with attrs `{reduction, ignoreIndex}`; the per-row
 * log-sum-exp (f32 [rows]) is saved on the node for the gradient `softmax − onehot`.
 *
 * @example
 * ```ts
 * const logits = tensor([[2, 1, 0.1], [0.5, 2.5, 0.3]]);
 * const loss = crossEntropy(logits, tensor(new Int32Array([0, 1]), [2])); // scalar f32
 * ```
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  opts: CrossEntropyOptions = {},
): Tensor {
  const reduction = opts.reduction ?? "mean";
  if (!["mean", "sum", "none"].includes(reduction)) {
    throw new RangeError(
      `Cannot run crossEntropy: reduction "${reduction}" is not "mean", "sum" or "none"`,
    );
  }
  const ignoreIndex = opts.ignoreIndex;
  if (
    ignoreIndex !== undefined &&
    (!Number.isInteger(ignoreIndex) || Math.abs(ignoreIndex) >= 2 ** 31)
  ) {
    throw new RangeError(`Cannot run crossEntropy: ignoreIndex ${ignoreIndex} is not an i32`);
  }
  checkInputs("crossEntropy", logits, targets);
  const { loss, lse } = rowsOf("crossEntropy", logits, targets, "loss", ignoreIndex);
  let out: Tensor;
  if (reduction === "none") {
    out = reshape(loss, targets.shape);
    if (out !== loss) loss.dispose();
  } else {
    const tc = contiguous(targets);
    out = crossEntropyReduce(
      logits.engine,
      "crossEntropy",
      loss,
      tc,
      reduction === "mean",
      ignoreIndex,
    );
    if (tc !== targets) tc.dispose();
    loss.dispose();
  }
  record(out, "crossEntropy", [logits, targets], { reduction, ignoreIndex });
  if (out.node) {
    lse.engine.keep(lse); // owned by the node, not by an open scope
    out.node.saved.push(lse);
  } else lse.dispose();
  return out;
}

/**
 * Log-probability of each target under `log_softmax(logits)` along the last axis:
 * `logits[..., target] − logsumexp(logits[..., :])`, f32 with the shape of `targets`. A
 * target outside [0, vocab) gives NaN.
 *
 * @example
 * ```ts
 * const lp = logProbsAt(logits, nextTokens); // f32[batch, pos]
 * ```
 */
export function logProbsAt(logits: Tensor, targets: Tensor): Tensor {
  checkInputs("logProbsAt", logits, targets);
  const { loss, lse } = rowsOf("logProbsAt", logits, targets, "logprob");
  const out = reshape(loss, targets.shape);
  if (out !== loss) loss.dispose();
  record(out, "logProbsAt", [logits, targets]);
  if (out.node) {
    lse.engine.keep(lse); // owned by the node, not by an open scope
    out.node.saved.push(lse);
  } else lse.dispose();
  return out;
}
