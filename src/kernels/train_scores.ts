/**
 * Per-head induction and previous-token scores from attention patterns
 * (shaders/train_scores.wgsl): one small dispatch, no readback.
 *
 * @module
 */

import src from "../../shaders/train_scores.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { checkBindable, Params } from "./_util.ts";

/**
 * Write (induction, previous-token) of each head of `pattern` (f32 [batch, heads, pos, pos],
 * contiguous, any offset) into `out` at element `outOffset` + 2·head. `runs` is i32 [batch, 2]
 * (contiguous, any offset): the start of the first copy of the repeated run and its length, per
 * row.
 */
export function headScoresKernel(
  eng: Engine,
  pattern: Tensor,
  runs: Tensor,
  out: Tensor,
  outOffset: number,
): void {
  const [batch, heads, pos] = pattern.shape;
  checkBindable("headScores", eng, pattern, runs, out);
  const p = new Params()
    .u32(batch).u32(heads).u32(pos).u32(pattern.offset)
    .u32(out.offset + outOffset).u32(runs.offset).u32(0).u32(0);
  eng.run({
    label: "headScores",
    key: "train_scores",
    code: () => src,
    params: p.bytes(),
    inputs: [pattern.buffer, runs.buffer],
    outputs: [out.buffer],
    workgroups: [Math.ceil(heads / 64)],
  });
}
