/**
 * Autodiff and training: `backward`, the functional `grad` / `valueAndGrad`, grad-mode switches,
 * the optimizers, learning-rate schedules and gradient clipping.
 *
 * @example
 * ```ts
 * const opt = new AdamW(params, { lr: 1e-3 });
 * const schedule = cosineSchedule({ lr: 1e-3, warmupSteps: 100, totalSteps: 10_000 });
 * for (let step = 0; step < 10_000; step++) {
 *   tidy(() => backward(crossEntropy(model(x), y)));
 *   clipGradNorm(params, 1.0).dispose();
 *   opt.setLr(schedule(step));
 *   opt.step();
 *   opt.zeroGrad();
 * }
 * ```
 *
 * @module
 */

export {
  backward,
  type BackwardOptions,
  detach,
  grad,
  gradients,
  type ValueAndGrad,
  valueAndGrad,
  zeroGrad,
} from "./backward.ts";
export { enableGrad, isGradEnabled, noGrad } from "./tape.ts";
export { type Attrs, NON_DIFFERENTIABLE, type Rule, rules } from "./rules.ts";
export {
  Adam,
  type AdamOptions,
  AdamW,
  Optimizer,
  SGD,
  type SGDOptions,
} from "../optim/optimizers.ts";
export {
  constantSchedule,
  cosineSchedule,
  type DecayOptions,
  linearSchedule,
  type Schedule,
  type WarmupOptions,
  warmupSchedule,
} from "../optim/schedules.ts";
export { clipGradNorm, type ClipOptions, gradNorm } from "../optim/clip.ts";
