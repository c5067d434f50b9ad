/**
 * The strided copy behind concat (shaders/concat.wgsl): copy one tensor, through its strides,
 * into a slice of a contiguous output.
 *
 * @module
 */

import src from "../../shaders/concat.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { collapse, MAX_RANK } from "./elementwise.ts";

/**
 * Copy `x` into `dst` (same dtype) at element offset `dstOff`, where element `c` of `x` (a
 * multi-index) lands at `dstOff + Σ c[d]·dstStrides[d]`. One dispatch.
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
  checkBindable(op, eng, x, dst);
  const merged = collapse(x.shape, [[...dstStrides], [...x.strides]]);
  const rank = merged.shape.length;
  if (rank > MAX_RANK) {
    throw new RangeError(
      `Cannot run ${op}: ${rank} axes remain after merging, more than the ${MAX_RANK} supported`,
    );
  }
  const p = new Params()
    .u32(n)
    .u32(rank)
    .u32(x.offset)
    .u32(dstOff)
    .vec4u(merged.shape, 2, 1)
    .vec4u(merged.strides[1], 2, 0)
    .vec4u(merged.strides[0], 2, 0);
  eng.run({
    label: op,
    key: `concat|${x.dtype}`,
    code: () => fill(src, { ENABLE: enables(x.dtype), T: x.dtype }),
    params: p.bytes(),
    inputs: [x.buffer],
    outputs: [dst.buffer],
    workgroups: eng.grid(n, 256),
  });
}
