/**
 * Recording ops for reverse-mode autodiff. Ops call {@link record} after computing their output;
 * when no input needs a gradient (or grad mode is off) nothing is kept.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";

/** Global switch: `noGrad(fn)` turns recording off inside fn. */
export const gradState = { enabled: true };

/**
 * Run `fn` without recording gradients (like `torch.no_grad()`).
 *
 * @example
 * ```ts
 * const y = noGrad(() => mul(w, 2)); // y.requiresGrad is false even if w's is true
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradState.enabled;
  gradState.enabled = false;
  try {
    return fn();
  } finally {
    gradState.enabled = prev;
  }
}

/**
 * Run `fn` with recording on, even inside {@link noGrad} (like `torch.enable_grad()`).
 *
 * @example
 * ```ts
 * noGrad(() => enableGrad(() => mul(w, 2))); // recorded
 * ```
 */
export function enableGrad<T>(fn: () => T): T {
  const prev = gradState.enabled;
  gradState.enabled = true;
  try {
    return fn();
  } finally {
    gradState.enabled = prev;
  }
}

/** Whether ops are being recorded now. */
export function isGradEnabled(): boolean {
  return gradState.enabled;
}

/** True when an op on these inputs must be recorded. */
export function needsGrad(inputs: readonly (Tensor | undefined | null)[]): boolean {
  if (!gradState.enabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/**
 * Mark `out` as made by `op` from `inputs`, so backward can apply the op's gradient rule
 * (src/autograd/rules.ts has one per op name). Record every attribute the rule needs. Tensors in
 * `saved` are owned by the node from then on (disposed with it, or at once when nothing is
 * recorded). Returns `out`.
 */
export function record(
  out: Tensor,
  op: string,
  inputs: Tensor[],
  attrs: Record<string, unknown> = {},
  saved: Tensor[] = [],
): Tensor {
  if (!needsGrad(inputs)) {
    for (const t of saved) if (t !== out && !inputs.includes(t)) t.dispose();
    return out;
  }
  out.requiresGrad = true;
  out.node = { op, inputs, attrs, saved };
  return out;
}
