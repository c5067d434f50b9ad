/**
 * Seeded uniform and normal random numbers on the GPU (shaders/random.wgsl, Philox-4x32-10).
 *
 * @module
 */

import src from "../../shaders/random.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { checkBindable, fill, Params } from "./_util.ts";

/**
 * Fill the f32 tensor `out` from the Philox stream of `seed` at `offset`: uniform on [a, b) or
 * normal with mean a and standard deviation b.
 */
export function randomFill(
  eng: Engine,
  out: Tensor,
  dist: "uniform" | "normal",
  seed: number,
  a: number,
  b: number,
  offset = 0,
): void {
  const n = out.size;
  if (n === 0) return;
  checkBindable(dist === "normal" ? "randn" : "rand", eng, out);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  const p = new Params().u32(n).u32(lo).u32(hi).u32(offset).f32(a).f32(b).u32(0).u32(0);
  eng.run({
    label: dist === "normal" ? "randn" : "rand",
    key: `random|${dist}`,
    code: () => fill(src, { NORMAL: dist === "normal" ? "true" : "false" }),
    params: p.bytes(),
    inputs: [],
    outputs: [out.buffer],
    workgroups: eng.grid(Math.ceil(n / 4), 64),
  });
}
