/**
 * Optimizer and clipping kernels (shaders/optim.wgsl): in-place SGD and Adam(W) updates of one
 * parameter per dispatch, and the global gradient norm and its clip, all without readback.
 * Hyperparameters travel in the uniform of each dispatch, so changing the learning rate never
 * recompiles a pipeline.
 *
 * @module
 */

import src from "../../shaders/optim.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { empty } from "../ops/creation.ts";
import { checkBindable, Params } from "./_util.ts";

/** Flag bits of the optimizer uniform (see shaders/optim.wgsl). */
export const FLAG_FIRST = 1;
export const FLAG_NESTEROV = 2;
export const FLAG_DECOUPLED = 4;

/** The uniform shared by every entry point of shaders/optim.wgsl. */
export interface OptimUniform {
  n: number;
  offP: number;
  offG: number;
  flags?: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  stepSize?: number;
  bc2Sqrt?: number;
}

function pack(u: OptimUniform): Uint8Array {
  return new Params()
    .u32(u.n).u32(u.offP).u32(u.offG).u32(u.flags ?? 0)
    .f32(u.lr ?? 0).f32(u.beta1 ?? 0).f32(u.beta2 ?? 0).f32(u.eps ?? 0)
    .f32(u.weightDecay ?? 0).f32(u.stepSize ?? 0).f32(u.bc2Sqrt ?? 1).f32(0)
    .bytes();
}

function dispatch(
  eng: Engine,
  entry: string,
  u: OptimUniform,
  inputs: GPUBuffer[],
  outputs: GPUBuffer[],
  workgroups: [number, number?, number?],
): void {
  eng.run({
    label: `optim.${entry}`,
    key: "optim",
    code: () => src,
    entryPoint: entry,
    params: pack(u),
    inputs,
    outputs,
    workgroups,
  });
}

/** Check that `t` is an f32 tensor laid out row-major (it may start at an offset). */
export function checkUpdatable(op: string, what: string, t: Tensor): void {
  if (t.dtype !== "f32") {
    throw new TypeError(
      `Cannot run ${op}: ${what} ${t.describe()} is ${t.dtype}; only f32 is supported`,
    );
  }
  if (!t.isContiguous) {
    throw new TypeError(
      `Cannot run ${op}: ${what} ${t.describe()} is a strided view; make it contiguous first`,
    );
  }
}

/**
 * One SGD step on `param` in place (PyTorch's formula). `buf` is the momentum buffer (same size,
 * offset 0), or null without momentum.
 */
export function sgdStep(
  param: Tensor,
  grad: Tensor,
  buf: Tensor | null,
  h: {
    lr: number;
    momentum: number;
    dampening: number;
    weightDecay: number;
    nesterov: boolean;
    first: boolean;
  },
): void {
  const eng = param.engine;
  const n = param.size;
  if (n === 0) return;
  checkBindable("SGD", eng, param, grad);
  const u: OptimUniform = {
    n,
    offP: param.offset,
    offG: grad.offset,
    flags: (h.first ? FLAG_FIRST : 0) | (h.nesterov ? FLAG_NESTEROV : 0),
    lr: h.lr,
    beta1: h.momentum,
    beta2: h.dampening,
    weightDecay: h.weightDecay,
  };
  if (buf) {
    dispatch(eng, "sgd", u, [grad.buffer], [param.buffer, buf.buffer], eng.grid(n, 256));
  } else {
    dispatch(eng, "sgd_plain", u, [grad.buffer], [param.buffer], eng.grid(n, 256));
  }
}

/**
 * One Adam (or AdamW, when `decoupled`) step on `param` in place, PyTorch's formula. `m`, `v`:
 * the moment buffers (same size, offset 0). `step` counts from 1.
 */
export function adamStep(
  param: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  h: {
    lr: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
    decoupled: boolean;
    step: number;
  },
): void {
  const eng = param.engine;
  const n = param.size;
  if (n === 0) return;
  checkBindable(h.decoupled ? "AdamW" : "Adam", eng, param, grad);
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  dispatch(
    eng,
    "adam",
    {
      n,
      offP: param.offset,
      offG: grad.offset,
      flags: h.decoupled ? FLAG_DECOUPLED : 0,
      lr: h.lr,
      beta1: h.beta1,
      beta2: h.beta2,
      eps: h.eps,
      weightDecay: h.weightDecay,
      stepSize: h.lr / bc1,
      bc2Sqrt: Math.sqrt(bc2),
    },
    [grad.buffer],
    [param.buffer, m.buffer, v.buffer],
    eng.grid(n, 256),
  );
}

/** Most workgroups one tensor's sum of squares uses. */
const MAX_GROUPS = 256;

/**
 * The global L2 norm of `tensors` (f32, contiguous) as a GPU tensor `[norm, coef]` with
 * coef = min(1, maxNorm / (norm + eps)); when `scaleInPlace`, each tensor is then multiplied by
 * coef in place. No readback.
 */
export function globalNorm(
  eng: Engine,
  tensors: readonly Tensor[],
  maxNorm: number,
  eps: number,
  scaleInPlace: boolean,
): Tensor {
  const groups = tensors.map((t) => Math.min(MAX_GROUPS, Math.max(1, Math.ceil(t.size / 256))));
  const total = Math.max(1, groups.reduce((a, b) => a + b, 0));
  const partials = empty([total], "f32", eng);
  const out = empty([2], "f32", eng);
  try {
    let base = 0;
    tensors.forEach((t, k) => {
      checkBindable("clipGradNorm", eng, t);
      if (t.size === 0) {
        // Still write this slot: a zero partial.
        dispatch(eng, "sumsq", { n: 0, offP: base, offG: 0, flags: 1 }, [t.buffer], [
          partials.buffer,
        ], [1]);
      } else {
        dispatch(
          eng,
          "sumsq",
          { n: t.size, offP: base, offG: t.offset, flags: groups[k] },
          [
            t.buffer,
          ],
          [partials.buffer],
          [groups[k]],
        );
      }
      base += groups[k];
    });
    if (tensors.length === 0) {
      dispatch(eng, "sumsq", { n: 0, offP: 0, offG: 0, flags: 1 }, [out.buffer], [
        partials.buffer,
      ], [1]);
    }
    dispatch(
      eng,
      "clip_norm",
      { n: total, offP: 0, offG: 0, beta1: maxNorm, eps },
      [partials.buffer],
      [out.buffer],
      [1],
    );
    if (scaleInPlace) {
      for (const t of tensors) {
        if (t.size === 0) continue;
        dispatch(eng, "scale", { n: t.size, offP: t.offset, offG: 0 }, [out.buffer], [
          t.buffer,
        ], eng.grid(t.size, 256));
      }
    }
  } finally {
    partials.dispose();
  }
  return out;
}
