/**
 * Inputs the op tests share: a seeded generator, and tensors of a logical shape laid out
 * contiguously, with the axes reversed (read back through permute) or as a slice of a larger
 * tensor, with their logical row-major values for the f64 references.
 */

import { tensor } from "../../src/ops/creation.ts";
import { permute, slice } from "../../src/ops/movement.ts";
import { refView } from "../../src/reference/reduce.ts";
import { type DType, sizeOf, type Tensor } from "../../src/tensor.ts";

/** mulberry32: uniform numbers in [0, 1) from a 32-bit seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How a test input is stored. */
export type Layout = "contiguous" | "permuted" | "sliced";

/**
 * A tensor of logical shape `shape` stored as `layout` (values from `raw(n)` for its storage of
 * n elements), the tensor holding the storage, and the logical row-major values.
 */
export function makeInput(
  shape: number[],
  layout: Layout,
  raw: (n: number) => number[],
  dtype: DType = "f32",
): { t: Tensor; base: Tensor; data: Float64Array } {
  const rank = shape.length;
  if (layout === "permuted" && rank >= 2) {
    // Store with the axes reversed, view back through permute.
    const perm = shape.map((_, i) => rank - 1 - i);
    const baseShape = perm.map((a) => shape[a]);
    const v = raw(sizeOf(baseShape));
    const base = tensor(v, baseShape, { dtype });
    const t = permute(base, perm);
    return { t, base, data: refView(v, t.shape, t.strides, t.offset).data };
  }
  if (layout === "sliced") {
    const baseShape = shape.map((d, i) => d + 1 + (i % 2));
    const v = raw(sizeOf(baseShape));
    const base = tensor(v, baseShape, { dtype });
    const t = slice(base, shape.map((d) => [1, 1 + d] as [number, number]));
    return { t, base, data: refView(v, t.shape, t.strides, t.offset).data };
  }
  const v = raw(sizeOf(shape));
  const base = tensor(v, shape, { dtype });
  return { t: base, base, data: Float64Array.from(v) };
}
