/**
 * Learning-rate schedules: functions from the step (0 for the first optimizer step) to the
 * learning rate, following Hugging Face's `get_*_schedule_with_warmup` (the warm-up starts at 0
 * and reaches `lr` at step `warmupSteps`). Apply one with `opt.setLr(schedule(opt.stepCount))`
 * before each `opt.step()`.
 *
 * @module
 */

/** A learning-rate schedule: step (0-based) → learning rate. */
export type Schedule = (step: number) => number;

function checkSteps(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) {
    throw new RangeError(`Cannot make ${op}: ${name} must be a non-negative integer, got ${v}`);
  }
}

function checkLr(op: string, name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) {
    throw new RangeError(`Cannot make ${op}: ${name} must be a finite number ≥ 0, got ${v}`);
  }
}

/**
 * The same rate every step.
 *
 * @example
 * ```ts
 * const s = constantSchedule(1e-3); // s(0) = s(1000) = 1e-3
 * ```
 */
export function constantSchedule(lr: number): Schedule {
  checkLr("constantSchedule", "lr", lr);
  return () => lr;
}

/** Options of the warm-up schedules. */
export interface WarmupOptions {
  /** Peak learning rate. */
  lr: number;
  /** Steps of linear warm-up from 0 to `lr` (default 0). */
  warmupSteps?: number;
}

/** Options of the decaying schedules. */
export interface DecayOptions extends WarmupOptions {
  /** Step at which the decay ends (warm-up included). */
  totalSteps: number;
  /** Rate at and after `totalSteps` (default 0). */
  minLr?: number;
}

function warmup(lr: number, warmupSteps: number, step: number): number | null {
  return step < warmupSteps ? (lr * step) / warmupSteps : null;
}

/**
 * Linear warm-up from 0 to `lr` over `warmupSteps`, then constant.
 *
 * @example
 * ```ts
 * const s = warmupSchedule({ lr: 1e-3, warmupSteps: 100 }); // s(50) = 5e-4, s(200) = 1e-3
 * ```
 */
export function warmupSchedule(opts: WarmupOptions): Schedule {
  const { lr, warmupSteps = 0 } = opts;
  checkLr("warmupSchedule", "lr", lr);
  checkSteps("warmupSchedule", "warmupSteps", warmupSteps);
  return (step) => warmup(lr, warmupSteps, step) ?? lr;
}

function checkDecay(op: string, o: DecayOptions): Required<DecayOptions> {
  const r = { warmupSteps: 0, minLr: 0, ...o };
  checkLr(op, "lr", r.lr);
  checkLr(op, "minLr", r.minLr);
  checkSteps(op, "warmupSteps", r.warmupSteps);
  checkSteps(op, "totalSteps", r.totalSteps);
  if (r.totalSteps < r.warmupSteps) {
    throw new RangeError(
      `Cannot make ${op}: totalSteps (${r.totalSteps}) is less than warmupSteps (${r.warmupSteps})`,
    );
  }
  return r;
}

/**
 * Linear warm-up, then linear decay from `lr` to `minLr` at `totalSteps` (constant after).
 *
 * @example
 * ```ts
 * const s = linearSchedule({ lr: 1e-3, warmupSteps: 10, totalSteps: 110 }); // s(60) = 5e-4
 * ```
 */
export function linearSchedule(opts: DecayOptions): Schedule {
  const { lr, warmupSteps, totalSteps, minLr } = checkDecay("linearSchedule", opts);
  return (step) => {
    const w = warmup(lr, warmupSteps, step);
    if (w !== null) return w;
    const span = totalSteps - warmupSteps;
    const t = span === 0 ? 1 : Math.min(1, (step - warmupSteps) / span);
    return lr + (minLr - lr) * t;
  };
}

/**
 * Linear warm-up, then half a cosine from `lr` down to `minLr` at `totalSteps` (constant after).
 *
 * @example
 * ```ts
 * const s = cosineSchedule({ lr: 1e-3, warmupSteps: 100, totalSteps: 10_000, minLr: 1e-5 });
 * opt.setLr(s(opt.stepCount));
 * ```
 */
export function cosineSchedule(opts: DecayOptions): Schedule {
  const { lr, warmupSteps, totalSteps, minLr } = checkDecay("cosineSchedule", opts);
  return (step) => {
    const w = warmup(lr, warmupSteps, step);
    if (w !== null) return w;
    const span = totalSteps - warmupSteps;
    const t = span === 0 ? 1 : Math.min(1, (step - warmupSteps) / span);
    return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
}
