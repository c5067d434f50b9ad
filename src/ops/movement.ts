/**
 * Movement ops: views that share storage (`reshape`, `permute`, `transpose`, `slice`,
 * `expand`, `squeeze`, `unsqueeze`) and `contiguous`, which copies a view into fresh storage.
 *
 * @module
 */

import { record } from "../autograd/tape.ts";
import { mapKernel } from "../kernels/elementwise.ts";
import { fmtShape, type Shape, sizeOf, type Tensor } from "../tensor.ts";

/** Normalise a possibly negative axis; throws naming the op when out of range. */
export function normAxis(op: string, axis: number, rank: number, shape?: Shape): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank) {
    throw new RangeError(
      `Cannot run ${op}: axis ${axis} is out of range for a tensor of rank ${rank}${
        shape ? ` (shape ${fmtShape(shape)})` : ""
      }`,
    );
  }
  return a;
}

/**
 * A copy of `x` laid out row-major (returns `x` itself if it already is — check identity before
 * disposing).
 */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous) return x;
  const out = mapKernel(x.engine, {
    op: "contiguous",
    expr: "a",
    inputs: [x],
    outShape: x.shape,
    outDtype: x.dtype,
  });
  return record(out, "contiguous", [x]);
}

/** Always a fresh copy. */
export function clone(x: Tensor): Tensor {
  const out = mapKernel(x.engine, {
    op: "clone",
    expr: "a",
    inputs: [x],
    outShape: x.shape,
    outDtype: x.dtype,
  });
  return record(out, "clone", [x]);
}

/**
 * Same elements, new shape (one axis may be -1). A view when the layout allows, else a copy.
 *
 * @example
 * ```ts
 * const y = reshape(x, [2, -1]);
 * ```
 */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const neg = s.filter((d) => d === -1).length;
  if (neg > 1) throw new RangeError(`Cannot run reshape: more than one -1 in ${fmtShape(shape)}`);
  if (neg === 1) {
    const known = sizeOf(s.filter((d) => d !== -1));
    const i = s.indexOf(-1);
    s[i] = known === 0 ? 0 : x.size / known;
    if (!Number.isInteger(s[i])) {
      throw new RangeError(
        `Cannot run reshape: ${x.describe()} cannot take shape ${fmtShape(shape)}`,
      );
    }
  }
  if (s.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(s) !== x.size) {
    throw new RangeError(
      `Cannot run reshape: ${x.describe()} has ${x.size} elements, shape ${fmtShape(shape)} has ${
        sizeOf(s)
      }`,
    );
  }
  let out: Tensor;
  if (x.isContiguous) {
    out = x.view(s, contiguousOf(s), x.offset);
  } else {
    const c = contiguous(x);
    out = c.view(s, contiguousOf(s), c.offset);
    c.dispose();
  }
  return record(out, "reshape", [x], { shape: x.shape });
}

function contiguousOf(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

/**
 * Reorder axes (a view).
 *
 * @example
 * ```ts
 * const z = permute(q, [0, 2, 1, 3]); // [b, p, h, d] -> [b, h, p, d]
 * ```
 */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length !== x.rank) {
    throw new RangeError(
      `Cannot run permute: ${axes.length} axes [${axes}] given for ${x.describe()}`,
    );
  }
  const norm = axes.map((a) => normAxis("permute", a, x.rank, x.shape));
  if (new Set(norm).size !== norm.length) {
    throw new RangeError(`Cannot run permute: axes [${axes}] repeat an axis`);
  }
  const out = x.view(norm.map((a) => x.shape[a]), norm.map((a) => x.strides[a]), x.offset);
  return record(out, "permute", [x], { axes: norm });
}

/** Swap two axes (default: the last two). A view. */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  if (x.rank < 2 && a === -2 && b === -1) return permute(x, x.shape.map((_, i) => i));
  const i = normAxis("transpose", a, x.rank, x.shape);
  const j = normAxis("transpose", b, x.rank, x.shape);
  const axes = x.shape.map((_, k) => k);
  [axes[i], axes[j]] = [axes[j], axes[i]];
  return permute(x, axes);
}

/**
 * Take `[start, end)` along each axis (a view). `ranges[i]` may be a number (start, to the end),
 * `[start, end]`, or null for the whole axis; negative indices count from the end.
 *
 * @example
 * ```ts
 * const firstRow = slice(x, [[0, 1]]);
 * const lastCols = slice(x, [null, [-2, x.shape[1]]]);
 * ```
 */
export function slice(
  x: Tensor,
  ranges: readonly (number | readonly [number, number] | null)[],
): Tensor {
  if (ranges.length > x.rank) {
    throw new RangeError(`Cannot run slice: ${ranges.length} ranges for ${x.describe()}`);
  }
  const starts: number[] = [];
  const shape: number[] = [];
  for (let d = 0; d < x.rank; d++) {
    const r = ranges[d] ?? null;
    const n = x.shape[d];
    let [s, e] = r === null ? [0, n] : typeof r === "number" ? [r, n] : [r[0], r[1]];
    if (s < 0) s += n;
    if (e < 0) e += n;
    if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e > n || s > e) {
      throw new RangeError(
        `Cannot run slice: range [${r}] on axis ${d} is outside ${x.describe()}`,
      );
    }
    starts.push(s);
    shape.push(e - s);
  }
  let offset = x.offset;
  for (let d = 0; d < x.rank; d++) offset += starts[d] * x.strides[d];
  const out = x.view(shape, x.strides, offset);
  return record(out, "slice", [x], { starts });
}

/** Broadcast to a larger shape (a view with stride 0 on broadcast axes). */
export function expand(x: Tensor, shape: Shape): Tensor {
  if (shape.length < x.rank) {
    throw new RangeError(`Cannot run expand: ${x.describe()} to shape ${fmtShape(shape)}`);
  }
  const lead = shape.length - x.rank;
  const strides = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < x.rank; i++) {
    if (x.shape[i] === shape[lead + i]) strides[lead + i] = x.strides[i];
    else if (x.shape[i] !== 1) {
      throw new RangeError(
        `Cannot run expand: ${x.describe()} cannot broadcast to ${fmtShape(shape)}`,
      );
    }
  }
  const out = x.view(shape, strides, x.offset);
  return record(out, "expand", [x], { shape: x.shape });
}

/** Insert a size-1 axis at `axis`. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis("unsqueeze", axis, x.rank + 1);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

/** Drop size-1 axes (all, or the one given). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normAxis("squeeze", axis, x.rank, x.shape);
  if (x.shape[a] !== 1) {
    throw new RangeError(`Cannot run squeeze: axis ${axis} of ${x.describe()} is not 1`);
  }
  const s = [...x.shape];
  s.splice(a, 1);
  return reshape(x, s);
}
