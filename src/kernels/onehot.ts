/**
 * One-hot encoding (shaders/onehot.wgsl).
 *
 * @module
 */

import src from "../../shaders/onehot.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { DType } from "../dtype.ts";
import type { Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { empty } from "../ops/creation.ts";
import { strideGrid } from "./gather.ts";

/**
 * out[..., c] = (idx[...] == c) for c in [0, n), of `dtype`; `idx` is contiguous (any offset).
 * Indices outside [0, n) give rows of zeros.
 */
export function oneHotKernel(eng: Engine, idx: Tensor, n: number, dtype: DType): Tensor {
  const out = empty([...idx.shape, n], dtype, eng);
  try {
    const total = out.size;
    if (total === 0) return out;
    checkBindable("oneHot", eng, idx, out);
    const idt = idx.dtype as "i32" | "u32";
    const p = new Params().u32(total).u32(n).u32(idx.offset).u32(0);
    eng.run({
      label: "oneHot",
      key: `onehot|${dtype}|${idt}`,
      code: () =>
        fill(src, {
          ENABLE: enables(dtype),
          T: dtype,
          IDX: idt,
          MATCH: idt === "i32" ? "raw >= 0 && u32(raw) == c" : "raw == c",
        }),
      params: p.bytes(),
      inputs: [idx.buffer],
      outputs: [out.buffer],
      workgroups: strideGrid(eng, total),
    });
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
