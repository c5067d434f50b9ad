/**
 * Optimizers that update parameters in place on the GPU: `SGD`, `Adam`, `AdamW`, with PyTorch's
 * formulas (bias correction; AdamW's decoupled weight decay). One dispatch per parameter per
 * step, no readback; the learning rate and step count travel in each dispatch's uniform, so a
 * schedule can change the rate every step (`setLr`) at no cost.
 *
 * Parameters without a gradient (`.grad` null) are skipped, like PyTorch. State tensors
 * (momentum, moments) are made on a parameter's first step, belong to the optimizer and outlive
 * every scope; `dispose()` frees them.
 *
 * @module
 */

import { fmtShape, type Tensor } from "../tensor.ts";
import { zeros } from "../ops/creation.ts";
import { keep } from "../memory.ts";
import { zeroGrad } from "../autograd/backward.ts";
import { adamStep, checkUpdatable, sgdStep } from "../kernels/optim.ts";

function checkNumber(
  op: string,
  name: string,
  v: number,
  lo: number,
  hi = Infinity,
  hiOpen = false,
) {
  if (!Number.isFinite(v) || v < lo || v > hi || (hiOpen && v === hi)) {
    throw new RangeError(
      `Cannot make ${op}: ${name} = ${v} is outside [${lo}, ${hi}${hiOpen ? ")" : "]"}`,
    );
  }
}

/** What every optimizer does. */
export abstract class Optimizer {
  /** The parameters, in order. */
  readonly params: readonly Tensor[];
  /** Steps taken with `step()`. */
  stepCount = 0;
  #lr: number;
  #disposed = false;

  constructor(readonly name: string, params: Iterable<Tensor>, lr: number) {
    this.params = [...params];
    if (this.params.length === 0) throw new RangeError(`Cannot make ${name}: no parameters given`);
    if (new Set(this.params).size !== this.params.length) {
      throw new RangeError(`Cannot make ${name}: a parameter is listed twice`);
    }
    for (const p of this.params) checkUpdatable(name, "parameter", p);
    checkNumber(name, "lr", lr, 0);
    this.#lr = lr;
  }

  /** The learning rate of the next step. */
  get lr(): number {
    return this.#lr;
  }

  /**
   * Set the learning rate (a schedule calls this every step; no recompilation).
   *
   * @example
   * ```ts
   * opt.setLr(schedule(opt.stepCount));
   * ```
   */
  setLr(lr: number): void {
    checkNumber(this.name, "lr", lr, 0);
    this.#lr = lr;
  }

  /** Update every parameter that has a gradient, in place. */
  step(): void {
    if (this.#disposed) {
      throw new Error(`Cannot run ${this.name}.step(): the optimizer was disposed`);
    }
    this.stepCount++;
    this.params.forEach((p, i) => {
      const g = p.grad;
      if (!g) return;
      if (g.shape.length !== p.shape.length || g.shape.some((d, k) => d !== p.shape[k])) {
        throw new RangeError(
          `Cannot run ${this.name}.step(): the gradient of ${p.describe()} has shape ${
            fmtShape(g.shape)
          }`,
        );
      }
      checkUpdatable(`${this.name}.step()`, "gradient", g);
      this.update(i, p, g);
    });
  }

  /** Free every parameter's `.grad` (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    zeroGrad(this.params);
  }

  /** Free the optimizer's state tensors. */
  dispose(): void {
    this.#disposed = true;
    for (const t of this.tensors()) t.dispose();
  }

  /** The state tensors (for `memory()` accounting and `dispose`). */
  abstract tensors(): Tensor[];

  /** Apply the update to parameter `i`. */
  protected abstract update(i: number, p: Tensor, g: Tensor): void;

  /** A zero state tensor shaped like `p`, owned by the optimizer. */
  protected state(p: Tensor): Tensor {
    return keep(zeros(p.shape, { engine: p.engine }));
  }
}

/** Options of {@link SGD}. */
export interface SGDOptions {
  lr: number;
  /** Momentum factor (default 0: plain SGD). */
  momentum?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (default false). */
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent, PyTorch's `torch.optim.SGD`: d = g + wd·p; with momentum,
 * buf = d on the first step, then momentum·buf + (1 − dampening)·d, and d = buf (or
 * d + momentum·buf with Nesterov); p −= lr·d.
 *
 * @example
 * ```ts
 * const opt = new SGD([w, b], { lr: 0.1, momentum: 0.9 });
 * tidy(() => backward(loss(w, b)));
 * opt.step();
 * opt.zeroGrad();
 * ```
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  #bufs: (Tensor | null)[];

  constructor(params: Iterable<Tensor>, opts: SGDOptions) {
    super("SGD", params, opts.lr);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    checkNumber("SGD", "momentum", this.momentum, 0);
    checkNumber("SGD", "dampening", this.dampening, 0, 1);
    checkNumber("SGD", "weightDecay", this.weightDecay, 0);
    if (this.nesterov && (this.momentum === 0 || this.dampening !== 0)) {
      throw new RangeError("Cannot make SGD: Nesterov momentum needs momentum > 0 and dampening 0");
    }
    this.#bufs = this.params.map(() => null);
  }

  protected update(i: number, p: Tensor, g: Tensor): void {
    let buf: Tensor | null = null;
    let first = false;
    if (this.momentum !== 0) {
      buf = this.#bufs[i];
      if (!buf) {
        buf = this.#bufs[i] = this.state(p);
        first = true;
      }
    }
    sgdStep(p, g, buf, {
      lr: this.lr,
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
      first,
    });
  }

  tensors(): Tensor[] {
    return this.#bufs.filter((t): t is Tensor => t !== null && !t.isDisposed);
  }
}

/** Options of {@link Adam} and {@link AdamW}. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay rates of the moments (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay (default 0.01). */
  weightDecay?: number;
}

interface AdamState {
  m: Tensor;
  v: Tensor;
  step: number;
}

/** Adam and AdamW share everything but the weight decay. */
class AdamBase extends Optimizer {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  #state: (AdamState | null)[];

  constructor(
    name: string,
    params: Iterable<Tensor>,
    opts: AdamOptions,
    defaultDecay: number,
    readonly decoupled: boolean,
  ) {
    super(name, params, opts.lr ?? 1e-3);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? defaultDecay;
    checkNumber(name, "betas[0]", this.betas[0], 0, 1, true);
    checkNumber(name, "betas[1]", this.betas[1], 0, 1, true);
    checkNumber(name, "eps", this.eps, 0);
    checkNumber(name, "weightDecay", this.weightDecay, 0);
    this.#state = this.params.map(() => null);
  }

  protected update(i: number, p: Tensor, g: Tensor): void {
    let s = this.#state[i];
    if (!s) s = this.#state[i] = { m: this.state(p), v: this.state(p), step: 0 };
    s.step++;
    adamStep(p, g, s.m, s.v, {
      lr: this.lr,
      beta1: this.betas[0],
      beta2: this.betas[1],
      eps: this.eps,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
      step: s.step,
    });
  }

  /** Per-parameter state: first and second moments and the step count (null before a step). */
  stateOf(i: number): Readonly<AdamState> | null {
    return this.#state[i];
  }

  tensors(): Tensor[] {
    return this.#state.flatMap((s) => (s ? [s.m, s.v] : [])).filter((t) => !t.isDisposed);
  }
}

/**
 * Adam, PyTorch's `torch.optim.Adam`: g += wd·p; m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²;
 * p −= lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps).
 *
 * @example
 * ```ts
 * const opt = new Adam(params, { lr: 1e-3 });
 * ```
 */
export class Adam extends AdamBase {
  constructor(params: Iterable<Tensor>, opts: AdamOptions = {}) {
    super("Adam", params, opts, 0, false);
  }
}

/**
 * AdamW, PyTorch's `torch.optim.AdamW`: p *= 1 − lr·wd (decoupled decay, default wd 0.01), then
 * the Adam update without L2 in the gradient.
 *
 * @example
 * ```ts
 * const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0.1 });
 * opt.step();
 * opt.zeroGrad();
 * ```
 */
export class AdamW extends AdamBase {
  constructor(params: Iterable<Tensor>, opts: AdamOptions = {}) {
    super("AdamW", params, opts, 0.01, true);
  }
}
