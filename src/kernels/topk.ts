/**
 * Top-k along the last axis (shaders/topk.wgsl): a workgroup per row at a time, a threshold from
 * the threads' best elements, per-thread sorted lists (in a global scratch buffer) merged in a
 * tree.
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

/** Most workgroups one dispatch uses (each loops over rows; bounds the list scratch: 6 MiB). */
const MAX_GROUPS = 256;

/**
 * Body of key_of(raw): a u32 whose unsigned order is the value order, xor `p.flip` (all ones
 * for the smallest k).
 */
function keyBody(dtype: DType): string {
  if (dtype === "u32") return "return raw ^ p.flip;";
  if (dtype === "i32") return "return (bitcast<u32>(raw) ^ 0x80000000u) ^ p.flip;";
  return [
    "var b = bitcast<u32>(f32(raw));",
    "  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu ^ p.flip; }",
    "  if (b == 0x80000000u) { b = 0u; }",
    "  let key = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);",
    "  return key ^ p.flip;",
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
  try {
    const rows = len === 0 ? 0 : x.size / len;
    if (rows === 0 || k === 0) return { values, indices };
    checkBindable("topk", eng, x, values, indices);
    // Two list lengths only (each is a pipeline; compiling is slow on software adapters):
    // insertion only walks the filled part of a list, so a long list costs little for small k.
    const K = k <= 8 ? 8 : MAX_K;
    // 64 threads per row: enough to stream a 50257-entry row, and k <= WG, which the threshold
    // of pass 1 needs.
    const WG = 64;
    // Workgroups loop over rows, so the scratch for their lists stays bounded.
    const groups = Math.min(rows, MAX_GROUPS);
    const lists = empty([groups * WG * K * 1.5], "u32", eng);
    const p = new Params().u32(rows).u32(len).u32(k).u32(x.offset).u32(largest ? 0 : 0xffffffff)
      .u32(0).u32(0).u32(0);
    eng.run({
      label: "topk",
      key: `topk|${x.dtype}|${K}|${WG}`,
      code: () => fill(src, { ENABLE: enables(x.dtype), T: x.dtype, KEY: keyBody(x.dtype), K, WG }),
      params: p.bytes(),
      inputs: [x.buffer],
      outputs: [values.buffer, indices.buffer, lists.buffer],
      workgroups: [groups],
    });
    lists.dispose();
  } catch (e) {
    values.dispose();
    indices.dispose();
    throw e;
  }
  return { values, indices };
}
