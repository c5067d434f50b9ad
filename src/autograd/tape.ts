/**
 * Recording ops for reverse-mode autodiff. Ops call {@link record} after computing their output;
 * when no input needs a gradient (or grad mode is off) nothing is kept.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";

/** Global switch: `noGrad(fn)` turns recording off inside fn. */
export const gradState = { enabled: true };

/** Run `fn` without recording gradients. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradState.enabled;
  gradState.enabled = false;
  try {
    return fn();
  } finally {
    gradState.enabled = prev;
  }
}

/** True when an op on these inputs must be recorded. */
export function needsGrad(inputs: readonly (Tensor | undefined | null)[]): boolean {
  if (!gradState.enabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/**
 * Mark `out` as made by `op` from `inputs`, so backward can apply the op's gradient rule.
 * Returns `out`.
 */
export function record(
  out: Tensor,
  op: string,
  inputs: Tensor[],
  attrs: Record<string, unknown> = {},
): Tensor {
  if (!needsGrad(inputs)) return out;
  out.requiresGrad = true;
  out.node = { op, inputs, attrs, saved: [] };
  return out;
}
