/**
 * Geometry of a toy model's weights (Elhage et al. 2022, "Toy Models of Superposition"), in f64
 * on the CPU from read-back weights. W is m rows of n numbers; feature i's direction is the
 * column W_i ∈ ℝᵐ, and Ŵ_i = W_i / ‖W_i‖ (0 when W_i = 0).
 *
 * - Gram matrix WᵀW: (WᵀW)_ij = W_i · W_j.
 * - Feature norms ‖W_i‖ (≈ 1: represented, ≈ 0: not).
 * - Superposition of feature i: Σ_{j≠i} (Ŵ_i · W_j)² (0 when i shares its direction with none).
 * - Feature dimensionality D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)² (1: a dedicated dimension, 1/2: an
 *   antipodal pair, 2/5: a pentagon; 0 for an unrepresented feature).
 * - Dimensions per feature: m / ‖W‖_F².
 *
 * `gramTensor` computes WᵀW of every instance on the GPU.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { matmul } from "../ops/matmul.ts";

/** W as m rows of n numbers. */
export type Weights = readonly (readonly number[])[];

function dims(W: Weights): [number, number] {
  const m = W.length;
  const n = m > 0 ? W[0].length : 0;
  for (const row of W) {
    if (row.length !== n) {
      throw new RangeError(
        `Cannot compute toy metrics: W rows must all have ${n} numbers, got [${
          W.map((r) => r.length)
        }]`,
      );
    }
  }
  return [m, n];
}

/**
 * WᵀW (n × n): entry [i][j] is W_i · W_j.
 *
 * @example
 * ```ts
 * gram([[1, 0, 1], [0, 1, 1]]); // [[1, 0, 1], [0, 1, 1], [1, 1, 2]]
 * ```
 */
export function gram(W: Weights): number[][] {
  const [m, n] = dims(W);
  const out = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += W[k][i] * W[k][j];
      out[i][j] = s;
      out[j][i] = s;
    }
  }
  return out;
}

/**
 * ‖W_i‖ for every feature.
 *
 * @example
 * ```ts
 * featureNorms([[3, 0], [4, 0]]); // [5, 0]
 * ```
 */
export function featureNorms(W: Weights): number[] {
  const [m, n] = dims(W);
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let k = 0; k < m; k++) s += W[k][i] * W[k][i];
    return Math.sqrt(s);
  });
}

/** Σ_j (Ŵ_i · W_j)² for each i, including j = i, from the Gram matrix. */
function projections(G: number[][]): { total: number[]; self: number[] } {
  const n = G.length;
  const total: number[] = [];
  const self: number[] = [];
  for (let i = 0; i < n; i++) {
    const nrm2 = G[i][i];
    if (nrm2 <= 0) {
      total.push(0);
      self.push(0);
      continue;
    }
    // (Ŵ_i·W_j)² as (G_ij / ‖W_i‖)², which does not underflow for tiny columns.
    const nrm = Math.sqrt(nrm2);
    let s = 0;
    for (let j = 0; j < n; j++) {
      const t = G[i][j] / nrm;
      s += t * t;
    }
    total.push(s);
    self.push(nrm2);
  }
  return { total, self };
}

/**
 * Superposition of each feature: Σ_{j≠i} (Ŵ_i · W_j)².
 *
 * @example
 * ```ts
 * superposition([[1, -1]]); // [1, 1]: an antipodal pair
 * ```
 */
export function superposition(W: Weights): number[] {
  const { total, self } = projections(gram(W));
  return total.map((t, i) => Math.max(0, t - self[i]));
}

/**
 * Feature dimensionality D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)² (0 for a zero column).
 *
 * @example
 * ```ts
 * featureDimensionality([[1, -1, 0]]); // [0.5, 0.5, 0]
 * ```
 */
export function featureDimensionality(W: Weights): number[] {
  const { total, self } = projections(gram(W));
  return total.map((t, i) => dimensionality(self[i], t));
}

/** ‖W_i‖² / Σ_j (Ŵ_i·W_j)², clamped to [0, 1] (the sum includes ‖W_i‖² itself, so only
 * rounding, at tiny norms, could push it past 1). */
function dimensionality(self: number, total: number): number {
  return total > 0 ? Math.min(1, self / total) : 0;
}

/**
 * Dimensions per feature: m / ‖W‖_F² (Infinity when W = 0).
 *
 * @example
 * ```ts
 * dimensionsPerFeature([[1, 0], [0, 1]]); // 1
 * ```
 */
export function dimensionsPerFeature(W: Weights): number {
  const [m] = dims(W);
  let f = 0;
  for (const row of W) for (const v of row) f += v * v;
  return f > 0 ? m / f : Infinity;
}

/**
 * Angle in degrees between features i and j (NaN when either column is 0).
 *
 * @example
 * ```ts
 * featureAngle([[1, 0], [0, 1]], 0, 1); // 90
 * ```
 */
export function featureAngle(W: Weights, i: number, j: number): number {
  const [m] = dims(W);
  let d = 0, a = 0, b = 0;
  for (let k = 0; k < m; k++) {
    d += W[k][i] * W[k][j];
    a += W[k][i] * W[k][i];
    b += W[k][j] * W[k][j];
  }
  if (a === 0 || b === 0) return NaN;
  return (Math.acos(Math.max(-1, Math.min(1, d / Math.sqrt(a * b)))) * 180) / Math.PI;
}

/** Everything {@link toyMetrics} reports for one instance. */
export interface ToyMetrics {
  /** ‖W_i‖. */
  featureNorms: number[];
  /** Σ_{j≠i} (Ŵ_i · W_j)². */
  superposition: number[];
  /** D_i. */
  dimensionality: number[];
  /** m / ‖W‖_F². */
  dimensionsPerFeature: number;
  /** ‖W‖_F². */
  frobeniusSq: number;
  /** Features with ‖W_i‖ > threshold. */
  represented: number;
}

/**
 * All metrics of one instance's W (m rows of n numbers). `threshold` decides which features
 * count as represented (default 0.5).
 *
 * @example
 * ```ts
 * const m = toyMetrics(snap.instances[0].W);
 * console.log(m.represented, m.dimensionality);
 * ```
 */
export function toyMetrics(W: Weights, threshold = 0.5): ToyMetrics {
  const [m] = dims(W);
  const G = gram(W);
  const { total, self } = projections(G);
  const norms = self.map(Math.sqrt);
  let f = 0;
  for (let i = 0; i < G.length; i++) f += G[i][i];
  return {
    featureNorms: norms,
    superposition: total.map((t, i) => Math.max(0, t - self[i])),
    dimensionality: total.map((t, i) => dimensionality(self[i], t)),
    dimensionsPerFeature: f > 0 ? m / f : Infinity,
    frobeniusSq: f,
    represented: norms.filter((x) => x > threshold).length,
  };
}

/**
 * WᵀW of every instance on the GPU: W f32 [I, m, n] (e.g. `model.weights().W`) gives
 * f32 [I, n, n].
 *
 * @example
 * ```ts
 * const G = gramTensor(model.weights().W);
 * ```
 */
export function gramTensor(W: Tensor): Tensor {
  if (W.rank !== 3) {
    throw new RangeError(`Cannot run gramTensor: W must be [instances, m, n], got ${W.describe()}`);
  }
  return matmul(W, W, { transA: true });
}
