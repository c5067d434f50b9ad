/**
 * Reductions: `sum`, `mean`, `max`, `min`, `variance` (exported also as `var`), `std`, `argmax`
 * and `argmin`, over any set of axes, reading strided views in place (src/kernels/reduce.ts).
 *
 * Axes: `undefined` (or `null`) reduces every axis; a number or a list of numbers reduces those
 * (negative axes count from the end; an empty list reduces nothing, as in NumPy). Repeated or
 * out-of-range axes throw, naming the op, the axis and the shape.
 *
 * Autograd: each op is recorded as itself (`record(out, "sum", [x], {axes, keepdims, shape})`,
 * likewise `"mean"`, `"max"`, `"min"`, and `"var"` / `"std"` with `correction` too), where `axes`
 * are normalised and sorted and `shape` is the input shape. `argmax`/`argmin` return i32 indices
 * and are not recorded (they have no gradient).
 *
 * @module
 */

import { record } from "../autograd/tape.ts";
import { isFloat } from "../dtype.ts";
import { reduceKernel, type ReduceOp } from "../kernels/reduce.ts";
import { fmtShape, type Tensor } from "../tensor.ts";

/** Options of every reduction. */
export interface ReduceOptions {
  /** Keep reduced axes as size 1 (default false). */
  keepdims?: boolean;
}

/** Options of `variance` / `std`. */
export interface VarOptions extends ReduceOptions {
  /**
   * Subtracted from the number of elements in the denominator: 0 (the default) gives the
   * population variance, 1 the sample (unbiased) variance, as PyTorch's `correction`.
   */
  correction?: number;
}

/** Which axes a reduction reduces. */
export type Axes = number | readonly number[] | null | undefined;

/**
 * Normalise `axes` for `op` on a tensor of shape `shape`: non-negative, sorted, unique. Throws
 * naming the op, the axis and the shape on an out-of-range or repeated axis.
 */
export function normAxes(op: string, axes: Axes, shape: readonly number[]): number[] {
  const rank = shape.length;
  if (axes === undefined || axes === null) return shape.map((_, i) => i);
  const list = typeof axes === "number" ? [axes] : [...axes];
  const seen = new Set<number>();
  for (const a of list) {
    const n = a < 0 ? a + rank : a;
    if (!Number.isInteger(a) || n < 0 || n >= rank) {
      throw new RangeError(
        `Cannot run ${op}: axis ${a} is out of range for shape ${fmtShape(shape)} (rank ${rank})`,
      );
    }
    if (seen.has(n)) {
      throw new RangeError(
        `Cannot run ${op}: axis ${a} is repeated in [${list.join(", ")}] for shape ${
          fmtShape(shape)
        }`,
      );
    }
    seen.add(n);
  }
  return [...seen].sort((a, b) => a - b);
}

function needFloat(op: string, x: Tensor): void {
  if (!isFloat(x.dtype)) {
    throw new TypeError(
      `Cannot run ${op}: ${x.describe()} has dtype ${x.dtype}; ${op} needs a float tensor (cast it first)`,
    );
  }
}

function reduceOp(
  op: ReduceOp,
  x: Tensor,
  axes: Axes,
  opts: VarOptions,
  extra: Record<string, unknown> = {},
): Tensor {
  const norm = normAxes(op, axes, x.shape);
  const keepdims = opts.keepdims ?? false;
  const out = reduceKernel(x.engine, {
    op,
    x,
    axes: norm,
    keepdims,
    correction: opts.correction,
  });
  return record(out, op, [x], { axes: norm, keepdims, shape: x.shape, ...extra });
}

/**
 * Sum over `axes` (all by default). f32, f16, i32 and u32 (integers wrap on overflow).
 * Compensated: the f32 result is close to the correctly rounded sum.
 *
 * @example
 * ```ts
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * sum(x);                          // 21, shape []
 * sum(x, 1);                       // [6, 15]
 * sum(x, -1, { keepdims: true });  // [[6], [15]]
 * ```
 */
export function sum(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceOp("sum", x, axes, opts);
}

/**
 * Mean over `axes` (all by default). Float tensors only.
 *
 * @example
 * ```ts
 * const m = mean(resid, -1, { keepdims: true }); // [batch, pos, 1]
 * ```
 */
export function mean(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  needFloat("mean", x);
  return reduceOp("mean", x, axes, opts);
}

/**
 * Largest value over `axes` (all by default). A NaN in a row makes the result NaN.
 *
 * @example
 * ```ts
 * const top = max(logits, -1); // [batch, pos]
 * ```
 */
export function max(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceOp("max", x, axes, opts);
}

/**
 * Smallest value over `axes` (all by default). A NaN in a row makes the result NaN.
 *
 * @example
 * ```ts
 * const lo = min(x, [0, 1]);
 * ```
 */
export function min(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return reduceOp("min", x, axes, opts);
}

/**
 * Variance over `axes` (all by default): population by default, `{correction: 1}` for the sample
 * variance. Float tensors only. Exported also as `var`.
 *
 * @example
 * ```ts
 * const v = variance(x, -1);                     // population
 * const s = variance(x, -1, { correction: 1 }); // sample, like torch.var's default
 * ```
 */
export function variance(x: Tensor, axes?: Axes, opts: VarOptions = {}): Tensor {
  needFloat("var", x);
  const correction = opts.correction ?? 0;
  return reduceOp("var", x, axes, { ...opts, correction }, { correction });
}

export { variance as var };

/**
 * Standard deviation over `axes`: the square root of {@link variance} (same options).
 *
 * @example
 * ```ts
 * const sd = std(x, -1, { keepdims: true });
 * ```
 */
export function std(x: Tensor, axes?: Axes, opts: VarOptions = {}): Tensor {
  needFloat("std", x);
  const correction = opts.correction ?? 0;
  return reduceOp("std", x, axes, { ...opts, correction }, { correction });
}

function argOp(op: "argmax" | "argmin", x: Tensor, axis: number | undefined, opts: ReduceOptions) {
  if (axis !== undefined && typeof axis !== "number") {
    throw new TypeError(`Cannot run ${op}: axis must be one number or undefined, got [${axis}]`);
  }
  if (x.size === 0) {
    throw new RangeError(`Cannot run ${op}: ${x.describe()} is empty`);
  }
  const norm = normAxes(op, axis, x.shape);
  return reduceKernel(x.engine, { op, x, axes: norm, keepdims: opts.keepdims ?? false });
}

/**
 * Index (i32) of the largest value along `axis`; ties give the first index, a NaN wins (the first
 * NaN), as in PyTorch. With no axis: the index into the flattened (row-major) tensor. Not recorded for
 * autograd.
 *
 * @example
 * ```ts
 * const next = argmax(logits, -1); // i32[batch, pos]
 * ```
 */
export function argmax(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  return argOp("argmax", x, axis, opts);
}

/**
 * Index (i32) of the smallest value along `axis`; ties give the first index, a NaN wins (the first
 * NaN), as in PyTorch. With no axis: the index into the flattened tensor. Not recorded for autograd.
 *
 * @example
 * ```ts
 * const i = argmin(dist, 0);
 * ```
 */
export function argmin(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  return argOp("argmin", x, axis, opts);
}
