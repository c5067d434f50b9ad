/**
 * Top-k along the last axis (shaders/topk.wgsl): one workgroup per row, per-thread sorted lists
 * merged in a tree in workgroup memory.
 *
 * @module
 */

import src from "../../shaders/topk.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { DType } from "../dtype.ts";
import type { Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { empty } from "../ops/creation.ts";

/** Largest k the kernel supports. */
export const MAX_K = 64;

function nextPow2(v: number): number {
  let p = 1;
  while (p < v) p *= 2;
  return p;
}

/** Body of key_of(raw): a u32 whose unsigned order is the value order (flipped for smallest). */
function keyBody(dtype: DType, largest: boolean): string {
  const flip = largest ? "0u" : "0xffffffffu";
  if (dtype === "u32") return `return raw ^ ${flip};`;
  if (dtype === "i32") return `return (bitcast<u32>(raw) ^ 0x80000000u) ^ ${flip};`;
  return [
    "var b = bitcast<u32>(f32(raw));",
    `  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu ^ ${flip}; }`,
    "  if (b == 0x80000000u) { b = 0u; }",
    "  let key = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);",
    `  return key ^ ${flip};`,
  ].join("\n");
}

/**
 * The `k` largest (or smallest) elements of each row of contiguous `x` (any offset) along its
 * last axis, sorted best first, ties to the lower index: values [..., k] of x's dtype and
 * indices [..., k] i32. Requires 1 ≤ k ≤ min(MAX_K, row length).
 */
export function topkKernel(
  eng: Engine,
  x: Tensor,
  k: number,
  largest: boolean,
): { values: Tensor; indices: Tensor } {
  const len = x.shape[x.rank - 1];
  const shape = [...x.shape.slice(0, -1), k];
  const values = empty(shape, x.dtype, eng);
  const indices = empty(shape, "i32", eng);
  const rows = len === 0 ? 0 : x.size / len;
  if (rows === 0 || k === 0) return { values, indices };
  checkBindable("topk", eng, x, values, indices);
  const K = nextPow2(k);
  const WG = Math.min(256, 4096 / K, Math.max(32, nextPow2(len)));
  const p = new Params().u32(rows).u32(len).u32(k).u32(x.offset);
  eng.run({
    label: "topk",
    key: `topk|${x.dtype}|${largest}|${K}|${WG}`,
    code: () =>
      fill(src, { ENABLE: enables(x.dtype), T: x.dtype, KEY: keyBody(x.dtype, largest), K, WG }),
    params: p.bytes(),
    inputs: [x.buffer],
    outputs: [values.buffer, indices.buffer],
    workgroups: eng.grid(rows * WG, WG),
  });
  return { values, indices };
}
