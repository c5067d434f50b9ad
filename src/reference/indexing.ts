/**
 * f64 CPU references for the indexing family: gather, embedding, scatterAdd, concat, oneHot,
 * crossEntropy, logProbsAt and topk. Plain TypeScript over flat row-major arrays and shapes, with
 * the same out-of-range conventions as the GPU ops (gather/scatterAdd clamp indices into
 * [0, n − 1], oneHot gives zero rows, crossEntropy gives NaN for invalid targets).
 *
 * @module
 */

/** A flat row-major array with its shape. */
export interface RefArray {
  data: Float64Array;
  shape: number[];
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function clampIndex(v: number, n: number): number {
  return Math.min(Math.max(v, 0), n - 1);
}

/**
 * `out[o, j, i] = x[o, clamp(idx[j]), i]`: PyTorch `index_select` with an index array of any
 * shape; output shape `xShape[:axis] + idxShape + xShape[axis+1:]`.
 */
export function gatherRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  idx: ArrayLike<number>,
  idxShape: readonly number[],
  axis: number,
): RefArray {
  const outer = size(xShape.slice(0, axis));
  const n = xShape[axis];
  const inner = size(xShape.slice(axis + 1));
  const m = size(idxShape);
  const shape = [...xShape.slice(0, axis), ...idxShape, ...xShape.slice(axis + 1)];
  const data = new Float64Array(outer * m * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const r = clampIndex(idx[j], n);
      for (let i = 0; i < inner; i++) {
        data[(o * m + j) * inner + i] = x[(o * n + r) * inner + i];
      }
    }
  }
  return { data, shape };
}

/** Rows `ids` of a `[vocab, d]` table: `[...idsShape, d]`. */
export function embeddingRef(
  table: ArrayLike<number>,
  tableShape: readonly number[],
  ids: ArrayLike<number>,
  idsShape: readonly number[],
): RefArray {
  return gatherRef(table, tableShape, ids, idsShape, 0);
}

/**
 * `out = base (or zeros)`, then `out[o, clamp(idx[j]), i] += src[o, j, i]` for every j, in
 * increasing j, in f64.
 */
export function scatterAddRef(
  shape: readonly number[],
  base: ArrayLike<number> | null,
  idx: ArrayLike<number>,
  idxShape: readonly number[],
  src: ArrayLike<number>,
  axis: number,
): RefArray {
  const outer = size(shape.slice(0, axis));
  const n = shape[axis];
  const inner = size(shape.slice(axis + 1));
  const m = size(idxShape);
  const data = new Float64Array(size(shape));
  if (base) { for (let k = 0; k < data.length; k++) data[k] = base[k]; }
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const r = clampIndex(idx[j], n);
      for (let i = 0; i < inner; i++) {
        data[(o * n + r) * inner + i] += src[(o * m + j) * inner + i];
      }
    }
  }
  return { data, shape: [...shape] };
}

/** Join arrays along `axis`. */
export function concatRef(
  parts: readonly { data: ArrayLike<number>; shape: readonly number[] }[],
  axis: number,
): RefArray {
  const s0 = parts[0].shape;
  const outer = size(s0.slice(0, axis));
  const inner = size(s0.slice(axis + 1));
  const total = parts.reduce((a, p) => a + p.shape[axis], 0);
  const shape = [...s0];
  shape[axis] = total;
  const data = new Float64Array(size(shape));
  let at = 0;
  for (const p of parts) {
    const len = p.shape[axis];
    for (let o = 0; o < outer; o++) {
      for (let r = 0; r < len; r++) {
        for (let i = 0; i < inner; i++) {
          data[(o * total + at + r) * inner + i] = p.data[(o * len + r) * inner + i];
        }
      }
    }
    at += len;
  }
  return { data, shape };
}

/** `[...idxShape, n]` with 1 where the index equals the class; zero rows for invalid indices. */
export function oneHotRef(
  idx: ArrayLike<number>,
  idxShape: readonly number[],
  n: number,
): RefArray {
  const m = size(idxShape);
  const data = new Float64Array(m * n);
  for (let j = 0; j < m; j++) {
    const v = idx[j];
    if (v >= 0 && v < n) data[j * n + v] = 1;
  }
  return { data, shape: [...idxShape, n] };
}

/** Per-row log-sum-exp of `[rows, vocab]` logits, in f64 with a running max. */
export function logSumExpRows(
  logits: ArrayLike<number>,
  rows: number,
  vocab: number,
): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < vocab; c++) m = Math.max(m, logits[r * vocab + c]);
    let s = 0;
    for (let c = 0; c < vocab; c++) s += Math.exp(logits[r * vocab + c] - m);
    out[r] = m + Math.log(s);
  }
  return out;
}

/**
 * Cross-entropy over the last axis of `logits` (shape `[..., vocab]`) against `targets` (shape
 * `[...]`): per position `lse − logits[target]`, 0 where the target is `ignoreIndex`, NaN where
 * it is outside [0, vocab). Reduction "mean" averages over positions not ignored (NaN if none),
 * "sum" adds them, "none" keeps them.
 */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  shape: readonly number[],
  targets: ArrayLike<number>,
  opts: { reduction?: "mean" | "sum" | "none"; ignoreIndex?: number } = {},
): RefArray {
  const vocab = shape[shape.length - 1];
  const rows = size(shape.slice(0, -1));
  const lse = logSumExpRows(logits, rows, vocab);
  const losses = new Float64Array(rows);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (opts.ignoreIndex !== undefined && t === opts.ignoreIndex) continue;
    count++;
    losses[r] = t >= 0 && t < vocab ? lse[r] - logits[r * vocab + t] : NaN;
  }
  const reduction = opts.reduction ?? "mean";
  if (reduction === "none") return { data: losses, shape: shape.slice(0, -1) };
  const sum = losses.reduce((a, b) => a + b, 0);
  return {
    data: Float64Array.of(reduction === "sum" ? sum : count ? sum / count : NaN),
    shape: [],
  };
}

/** `logits[..., target] − logsumexp(logits[..., :])`, NaN for targets outside [0, vocab). */
export function logProbsAtRef(
  logits: ArrayLike<number>,
  shape: readonly number[],
  targets: ArrayLike<number>,
): RefArray {
  const vocab = shape[shape.length - 1];
  const rows = size(shape.slice(0, -1));
  const lse = logSumExpRows(logits, rows, vocab);
  const data = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    data[r] = t >= 0 && t < vocab ? logits[r * vocab + t] - lse[r] : NaN;
  }
  return { data, shape: shape.slice(0, -1) };
}

/**
 * The k largest (or smallest) of each row along the last axis, best first, ties to the lower
 * index, NaN above +∞, −0 equal to +0: values and indices, both of shape `[..., k]`.
 */
export function topkRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  k: number,
  largest = true,
): { values: Float64Array; indices: Int32Array; shape: number[] } {
  const len = shape[shape.length - 1];
  const rows = len === 0 ? 0 : size(shape) / len;
  const values = new Float64Array(rows * k);
  const indices = new Int32Array(rows * k);
  // Rank of a value in the wanted order: larger is better.
  const rank = (v: number) => (Number.isNaN(v) ? Infinity : v);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: len }, (_, c) => c);
    order.sort((a, b) => {
      const va = x[r * len + a];
      const vb = x[r * len + b];
      const na = Number.isNaN(va);
      const nb = Number.isNaN(vb);
      if (na !== nb) return (na ? -1 : 1) * (largest ? 1 : -1);
      if (!na && rank(va) !== rank(vb)) {
        return (largest ? rank(vb) - rank(va) : rank(va) - rank(vb)) > 0 ? 1 : -1;
      }
      return a - b;
    });
    for (let q = 0; q < k; q++) {
      indices[r * k + q] = order[q];
      values[r * k + q] = x[r * len + order[q]];
    }
  }
  return { values, indices, shape: [...shape.slice(0, -1), k] };
}
