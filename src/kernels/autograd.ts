/**
 * Kernels that gradient rules need and the public ops do not provide (shaders/autograd.wgsl):
 * `padSlice`, the gradient of `slice`.
 *
 * @module
 */

import src from "../../shaders/autograd.wgsl" with { type: "text" };
import { type Shape, sizeOf, type Tensor } from "../tensor.ts";
import { fmtShape } from "../tensor.ts";
import { empty } from "../ops/creation.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";

/** Most axes `padSlice` handles. */
export const PAD_MAX_RANK = 8;

/**
 * A zero tensor of `shape` with `g` written at offset `starts` (the adjoint of
 * `slice(x, starts..starts+g.shape)`). `g` may be any view.
 *
 * @example
 * ```ts
 * const dx = padSlice(dy, [1, 0], x.shape); // dy: f32[2, 3] into f32[4, 3] at row 1
 * ```
 */
export function padSlice(g: Tensor, starts: readonly number[], shape: Shape): Tensor {
  const eng = g.engine;
  const rank = shape.length;
  if (g.rank !== rank || starts.length !== rank) {
    throw new RangeError(
      `Cannot run padSlice: ${g.describe()} with starts [${starts}] does not fit shape ${
        fmtShape(shape)
      }`,
    );
  }
  for (let d = 0; d < rank; d++) {
    if (starts[d] < 0 || starts[d] + g.shape[d] > shape[d]) {
      throw new RangeError(
        `Cannot run padSlice: ${g.describe()} at starts [${starts}] overflows shape ${
          fmtShape(shape)
        } on axis ${d}`,
      );
    }
  }
  if (rank > PAD_MAX_RANK) {
    throw new RangeError(
      `Cannot run padSlice: rank ${rank} is more than the ${PAD_MAX_RANK} axes supported`,
    );
  }
  const out = empty(shape, g.dtype, eng);
  const n = sizeOf(shape);
  if (n === 0) return out;
  checkBindable("padSlice", eng, g, out);
  const p = new Params().u32(n).u32(rank).u32(g.offset).u32(0)
    .vec4u(shape, 2, 1)
    .vec4u(starts, 2, 0)
    .vec4u(starts.map((s, d) => s + g.shape[d]), 2, 1)
    .vec4u(g.strides, 2, 0);
  eng.run({
    label: "padSlice",
    key: `padSlice|${g.dtype}`,
    code: () => fill(src, { ENABLE: enables(g.dtype), T: g.dtype }),
    params: p.bytes(),
    inputs: [g.buffer],
    outputs: [out.buffer],
    workgroups: eng.grid(n, 256),
  });
  return out;
}
