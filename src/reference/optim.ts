/**
 * f64 CPU references for the optimizers and gradient clipping (PyTorch's formulas), updating
 * plain arrays in place: the oracle the tests and `doctor` compare the GPU kernels with.
 *
 * @module
 */

/** State and hyperparameters of {@link sgdStepRef}. */
export interface SgdRefOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * One SGD step (torch.optim.SGD) on `p` in place. `buf` is the momentum buffer (same length) or
 * null on the first step; returns the buffer to pass next time (null without momentum).
 *
 * @example
 * ```ts
 * let buf = null;
 * buf = sgdStepRef(p, g, buf, { lr: 0.1, momentum: 0.9 });
 * ```
 */
export function sgdStepRef(
  p: Float64Array,
  g: ArrayLike<number>,
  buf: Float64Array | null,
  o: SgdRefOptions,
): Float64Array | null {
  const mom = o.momentum ?? 0;
  const damp = o.dampening ?? 0;
  const wd = o.weightDecay ?? 0;
  const first = buf === null;
  const b = mom !== 0 ? (buf ?? new Float64Array(p.length)) : null;
  for (let i = 0; i < p.length; i++) {
    let d = g[i] + wd * p[i];
    if (b) {
      b[i] = first ? d : mom * b[i] + (1 - damp) * d;
      d = o.nesterov ? d + mom * b[i] : b[i];
    }
    p[i] -= o.lr * d;
  }
  return b;
}

/** Hyperparameters of {@link adamStepRef}. */
export interface AdamRefOptions {
  lr: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  /** AdamW's decoupled decay (p *= 1 − lr·wd) instead of Adam's L2 term in the gradient. */
  decoupled?: boolean;
}

/**
 * One Adam / AdamW step (torch.optim.Adam / AdamW) on `p` in place, with moments `m`, `v`
 * (updated in place) and `step` counting from 1.
 *
 * @example
 * ```ts
 * adamStepRef(p, g, m, v, 1, { lr: 1e-3, decoupled: true, weightDecay: 0.01 });
 * ```
 */
export function adamStepRef(
  p: Float64Array,
  g: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  step: number,
  o: AdamRefOptions,
): void {
  const [b1, b2] = o.betas ?? [0.9, 0.999];
  const eps = o.eps ?? 1e-8;
  const wd = o.weightDecay ?? 0;
  const bc1 = 1 - b1 ** step;
  const bc2 = 1 - b2 ** step;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i];
    if (o.decoupled) p[i] *= 1 - o.lr * wd;
    else gi += wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    const mhat = m[i] / bc1;
    const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + eps;
    p[i] -= (o.lr * mhat) / denom;
  }
}

/**
 * clip_grad_norm_: scale every gradient in place by min(1, maxNorm / (norm + eps)) where norm is
 * the L2 norm of all of them together; returns the norm.
 *
 * @example
 * ```ts
 * const norm = clipGradNormRef([g1, g2], 1.0);
 * ```
 */
export function clipGradNormRef(grads: Float64Array[], maxNorm: number, eps = 1e-6): number {
  let s = 0;
  for (const g of grads) for (const x of g) s += x * x;
  const norm = Math.sqrt(s);
  const coef = Math.min(1, maxNorm / (norm + eps));
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}
