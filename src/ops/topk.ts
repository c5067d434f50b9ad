/**
 * `topk`: the k largest (or smallest) entries along the last axis, with their indices.
 *
 * @module
 */

import { record } from "../autograd/tape.ts";
import { MAX_K, topkKernel } from "../kernels/topk.ts";
import type { Tensor } from "../tensor.ts";
import { contiguous } from "./movement.ts";

/** Options of {@link topk}. */
export interface TopkOptions {
  /** The largest k (default) or the smallest. */
  largest?: boolean;
}

/**
 * The `k` largest entries of each row along the last axis (k ≤ 64), sorted best first: values
 * `[..., k]` (x's dtype) and indices `[..., k]` (i32). Ties go to the lower index; NaN counts as
 * larger than +∞ (first for `largest`, last otherwise), and −0 equals +0. One workgroup per
 * row; rows of any length (a 50257-entry vocabulary is fine).
 *
 * Recorded for autograd on `values` as "topk" with attrs `{k, largest}`; a view of `indices` is
 * saved on the node.
 *
 * @example
 * ```ts
 * const { values, indices } = topk(logits, 5); // top-5 tokens per position
 * ```
 */
export function topk(
  x: Tensor,
  k: number,
  opts: TopkOptions = {},
): { values: Tensor; indices: Tensor } {
  const largest = opts.largest ?? true;
  if (x.rank === 0) {
    throw new RangeError(`Cannot run topk: ${x.describe()} is a scalar; it has no last axis`);
  }
  const len = x.shape[x.rank - 1];
  if (!Number.isInteger(k) || k < 0) {
    throw new RangeError(`Cannot run topk: k must be a non-negative integer, got ${k}`);
  }
  if (k > MAX_K) {
    throw new RangeError(
      `Cannot run topk: k = ${k} is more than the ${MAX_K} supported (${x.describe()}); ` +
        `sort the rows instead`,
    );
  }
  if (k > len) {
    throw new RangeError(
      `Cannot run topk: k = ${k} is more than the last axis of ${x.describe()} (${len})`,
    );
  }
  const xc = contiguous(x);
  let res: { values: Tensor; indices: Tensor };
  try {
    res = topkKernel(x.engine, xc, k, largest);
  } finally {
    if (xc !== x) xc.dispose();
  }
  const values = record(res.values, "topk", [x], { k, largest });
  const ix = res.indices;
  if (values.node) {
    const saved = ix.view(ix.shape, ix.strides, ix.offset);
    saved.engine.keep(saved); // owned by the node, not by an open scope
    values.node.saved.push(saved);
  }
  return { values, indices: ix };
}
