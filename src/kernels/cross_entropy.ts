/**
 * Cross-entropy and target log-probabilities (shaders/cross_entropy.wgsl): a fused, stable
 * log-sum-exp per row (one workgroup per row), and a deterministic mean or sum over rows.
 *
 * @module
 */

import src from "../../shaders/cross_entropy.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { empty } from "../ops/creation.ts";

function idxExprs(idt: "i32" | "u32"): { VALID: string; IGNORED: string } {
  return idt === "i32"
    ? { VALID: "tg >= 0 && u32(tg) < p.vocab", IGNORED: "tg == bitcast<i32>(p.ignore_bits)" }
    : { VALID: "tg < p.vocab", IGNORED: "tg == p.ignore_bits" };
}

function params(
  rows: number,
  vocab: number,
  xOff: number,
  tOff: number,
  ignore: number | undefined,
  mode: number,
  mean: number,
) {
  return new Params()
    .u32(rows)
    .u32(vocab)
    .u32(xOff)
    .u32(tOff)
    .i32(ignore ?? 0)
    .u32(ignore === undefined ? 0 : 1)
    .u32(mode)
    .u32(mean)
    .bytes();
}

/**
 * Threads per workgroup. 64 streams a 50257-entry row well enough, and keeps the workgroup
 * arrays small: the GL backend zero-fills them with code that compiles slowly when large.
 */
const WG = 64;

/**
 * Per-row results for contiguous `logits` [rows, vocab] (any offset) and `targets` [rows]:
 * `loss` = lse − x[target] ("loss") or x[target] − lse ("logprob"), 0 where the target is
 * `ignoreIndex`, NaN where it is outside [0, vocab); and `lse`, the row's log-sum-exp. Both f32.
 */
export function crossEntropyRows(
  eng: Engine,
  op: string,
  logits: Tensor,
  targets: Tensor,
  mode: "loss" | "logprob",
  ignoreIndex?: number,
): { loss: Tensor; lse: Tensor } {
  const vocab = logits.shape[logits.rank - 1];
  const rows = logits.size / vocab;
  const loss = empty([rows], "f32", eng);
  const lse = empty([rows], "f32", eng);
  try {
    if (rows === 0) return { loss, lse };
    checkBindable(op, eng, logits, targets, loss, lse);
    const idt = targets.dtype as "i32" | "u32";
    eng.run({
      label: op,
      key: `cross_entropy|rows|${logits.dtype}|${idt}`,
      entryPoint: "rows",
      code: () =>
        fill(src, {
          ENABLE: enables(logits.dtype),
          T: logits.dtype,
          IDX: idt,
          WG,
          ...idxExprs(idt),
        }),
      params: params(
        rows,
        vocab,
        logits.offset,
        targets.offset,
        ignoreIndex,
        mode === "loss" ? 0 : 1,
        0,
      ),
      inputs: [logits.buffer, targets.buffer],
      outputs: [loss.buffer, lse.buffer],
      workgroups: eng.grid(rows * WG, WG),
    });
  } catch (e) {
    loss.dispose();
    lse.dispose();
    throw e;
  }
  return { loss, lse };
}

/**
 * The sum of the f32 per-row `losses` [rows] (contiguous, offset 0), or their mean over the
 * rows whose target is not `ignoreIndex` (NaN when there are none), as a scalar f32 tensor.
 */
export function crossEntropyReduce(
  eng: Engine,
  op: string,
  losses: Tensor,
  targets: Tensor,
  mean: boolean,
  ignoreIndex?: number,
): Tensor {
  const out = empty([], "f32", eng);
  try {
    const rows = losses.size;
    checkBindable(op, eng, losses, targets);
    const idt = targets.dtype as "i32" | "u32";
    eng.run({
      label: op,
      key: `cross_entropy|reduce|${idt}`,
      entryPoint: "reduce",
      code: () =>
        fill(src, {
          ENABLE: "",
          T: "f32",
          IDX: idt,
          WG,
          ...idxExprs(idt),
        }),
      params: params(rows, 1, 0, targets.offset, ignoreIndex, 0, mean ? 1 : 0),
      inputs: [losses.buffer, targets.buffer],
      outputs: [out.buffer],
      workgroups: [1],
    });
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
