/**
 * The strided copy behind concat (shaders/concat.wgsl): copy one tensor, through its strides,
 * into a slice of a contiguous output.
 *
 * @module
 */

import src from "../../shaders/concat.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { enables, fill, Params } from "./_util.ts";
import { bindRange, strideGrid } from "./gather.ts";
import { DTYPE_BYTES } from "../dtype.ts";
import { collapse, MAX_RANK } from "./elementwise.ts";

/** Elements from the first to the last one a strided view touches, inclusive. */
function span(shape: readonly number[], strides: readonly number[]): number {
  let s = 1;
  for (let d = 0; d < shape.length; d++) s += (shape[d] - 1) * strides[d];
  return s;
}

/**
 * Copy `x` into `dst` (same dtype) at element offset `dstOff`, where element `c` of `x` (a
 * multi-index) lands at `dstOff + Σ c[d]·dstStrides[d]`. One dispatch. Only the ranges of
 * storage the copy touches are bound, so `dst` may be larger than one storage binding as long as
 * each input's slice of it is not (concat along the first axis builds tensors of any size).
 */
export function copyInto(
  eng: Engine,
  op: string,
  x: Tensor,
  dst: Tensor,
  dstOff: number,
  dstStrides: readonly number[],
): void {
  const n = x.size;
  if (n === 0) return;
  const merged = collapse(x.shape, [[...dstStrides], [...x.strides]]);
  const rank = merged.shape.length;
  const bpe = DTYPE_BYTES[x.dtype];
  if (
    rank <= 1 && merged.strides.every((st) => rank === 0 || st[0] === 1) &&
    (x.offset * bpe) % 4 === 0 && (dstOff * bpe) % 4 === 0 && (n * bpe) % 4 === 0
  ) {
    // Both sides are one contiguous run: a buffer copy (no binding-size limit either).
    eng.copy(x.buffer, x.offset * bpe, dst.buffer, dstOff * bpe, n * bpe);
    return;
  }
  const xr = bindRange(eng, x, x.offset, span(x.shape, x.strides));
  const dr = bindRange(eng, dst, dstOff, span(x.shape, dstStrides));
  for (const [t, r, what] of [[x, xr, "input"], [dst, dr, "output slice for"]] as const) {
    const size = (r.binding as { size: number }).size;
    if (size > eng.maxBinding) {
      throw new RangeError(
        `Cannot run ${op}: the ${what} ${x.describe()} spans ${size} bytes of ${t.describe()}, ` +
          `more than this adapter's maxStorageBufferBindingSize (${eng.maxBinding} bytes); ` +
          `split it along its first axis`,
      );
    }
  }
  if (rank > MAX_RANK) {
    throw new RangeError(
      `Cannot run ${op}: ${rank} axes remain after merging, more than the ${MAX_RANK} supported`,
    );
  }
  const p = new Params()
    .u32(n)
    .u32(rank)
    .u32(xr.off)
    .u32(dr.off)
    .vec4u(merged.shape, 2, 1)
    .vec4u(merged.strides[1], 2, 0)
    .vec4u(merged.strides[0], 2, 0);
  eng.run({
    label: op,
    key: `concat|${x.dtype}`,
    code: () => fill(src, { ENABLE: enables(x.dtype), T: x.dtype }),
    params: p.bytes(),
    inputs: [xr.binding],
    outputs: [dr.binding],
    workgroups: strideGrid(eng, n),
  });
}
