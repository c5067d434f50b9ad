/**
 * f64 CPU references for the reductions, softmax and layer norm: plain TypeScript over row-major
 * data and a shape, used by the tests, `doctor`, and anyone checking a GPU result.
 *
 * Semantics match the GPU ops: NaN propagates through sum/max/min/var; argmax/argmin pick the
 * first index of the extreme value, a NaN winning; softmax treats -Infinity (and causally
 * masked) entries as probability 0 and a row with nothing left as all zeros (logSoftmax: all
 * -Infinity); layer norm follows TransformerLens.
 *
 * @module
 */

/** Row-major data with its shape. */
export interface RefTensor {
  data: Float64Array;
  shape: number[];
}

/** A reduction the reference knows. */
export type RefReduceOp = "sum" | "mean" | "max" | "min" | "var" | "std" | "argmax" | "argmin";

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function normAxesRef(axes: number | readonly number[] | null | undefined, rank: number): number[] {
  if (axes === undefined || axes === null) return [...Array(rank).keys()];
  const list = typeof axes === "number" ? [axes] : [...axes];
  const out = list.map((a) => (a < 0 ? a + rank : a));
  for (const a of out) if (a < 0 || a >= rank) throw new RangeError(`axis ${a} out of range`);
  return [...new Set(out)].sort((a, b) => a - b);
}

/** Offsets (row-major, into data of `shape`) of every index of the given axes, in order. */
function offsets(shape: readonly number[], axes: readonly number[]): number[] {
  const st = stridesOf(shape);
  let offs = [0];
  for (const a of axes) {
    const next: number[] = [];
    for (const o of offs) for (let i = 0; i < shape[a]; i++) next.push(o + i * st[a]);
    offs = next;
  }
  return offs;
}

/**
 * Reduce `data` (row-major, shape `shape`) over `axes` (all by default) in f64.
 *
 * @example
 * ```ts
 * refReduce("sum", [1, 2, 3, 4], [2, 2], 1); // { data: [3, 7], shape: [2] }
 * ```
 */
export function refReduce(
  op: RefReduceOp,
  data: ArrayLike<number>,
  shape: readonly number[],
  axes?: number | readonly number[] | null,
  opts: { keepdims?: boolean; correction?: number } = {},
): RefTensor {
  const rank = shape.length;
  const red = normAxesRef(axes, rank);
  const kept = [...Array(rank).keys()].filter((i) => !red.includes(i));
  const outShape: number[] = [];
  for (let i = 0; i < rank; i++) {
    if (!red.includes(i)) outShape.push(shape[i]);
    else if (opts.keepdims) outShape.push(1);
  }
  const rowStarts = offsets(shape, kept);
  const elems = offsets(shape, red);
  const out = new Float64Array(rowStarts.length);
  const correction = opts.correction ?? 0;
  rowStarts.forEach((base, r) => {
    const v = elems.map((e) => data[base + e]);
    out[r] = reduceRow(op, v, correction);
  });
  return { data: out, shape: outShape };
}

function reduceRow(op: RefReduceOp, v: number[], correction: number): number {
  const n = v.length;
  switch (op) {
    case "sum":
      return v.reduce((a, b) => a + b, 0);
    case "mean":
      return v.reduce((a, b) => a + b, 0) / n;
    case "max":
      return v.some(Number.isNaN) ? NaN : v.reduce((a, b) => (b > a ? b : a), -Infinity);
    case "min":
      return v.some(Number.isNaN) ? NaN : v.reduce((a, b) => (b < a ? b : a), Infinity);
    case "var":
    case "std": {
      const m = v.reduce((a, b) => a + b, 0) / n;
      const m2 = v.reduce((a, b) => a + (b - m) * (b - m), 0);
      const den = Math.max(n - correction, 0);
      const r = den === 0 ? (m2 === 0 || Number.isNaN(m2) ? NaN : Infinity) : m2 / den;
      return op === "std" ? Math.sqrt(r) : r;
    }
    case "argmax":
    case "argmin": {
      const nan = v.findIndex(Number.isNaN);
      if (nan >= 0) return nan;
      let best = 0;
      for (let i = 1; i < n; i++) {
        if (op === "argmax" ? v[i] > v[best] : v[i] < v[best]) best = i;
      }
      return best;
    }
  }
}

/** Options of {@link refSoftmax}. */
export interface RefSoftmaxOptions {
  /** Mask entries with k > q + (kLen − qLen) of a [..., q, k] input (axis must be last). */
  causal?: boolean;
  /** Return log-probabilities. */
  log?: boolean;
}

/**
 * Softmax (or log-softmax) of `data` along `axis` in f64. -Infinity and masked entries get
 * probability 0; a row with no entry left is all 0 (log: all -Infinity).
 *
 * @example
 * ```ts
 * refSoftmax([0, Math.log(3)], [2]).data; // [0.25, 0.75]
 * ```
 */
export function refSoftmax(
  data: ArrayLike<number>,
  shape: readonly number[],
  axis = -1,
  opts: RefSoftmaxOptions = {},
): RefTensor {
  const rank = shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  const kept = [...Array(rank).keys()].filter((i) => i !== ax);
  const rowStarts = offsets(shape, kept);
  const elems = offsets(shape, [ax]);
  const n = shape[ax];
  const qLen = rank >= 2 ? shape[rank - 2] : 1;
  const diag = n - qLen;
  const out = new Float64Array(sizeOf(shape));
  rowStarts.forEach((base, r) => {
    const q = r % qLen;
    const live = elems.map((e, j) =>
      !(opts.causal && j > q + diag) && data[base + e] !== -Infinity
    );
    let m = -Infinity;
    elems.forEach((e, j) => {
      if (live[j]) m = Math.max(m, data[base + e]);
    });
    let s = 0;
    elems.forEach((e, j) => {
      if (live[j]) s += Math.exp(data[base + e] - m);
    });
    elems.forEach((e, j) => {
      const x = data[base + e];
      if (!live[j] || s === 0) out[base + e] = opts.log ? -Infinity : 0;
      else out[base + e] = opts.log ? x - m - Math.log(s) : Math.exp(x - m) / s;
    });
  });
  return { data: out, shape: [...shape] };
}

/**
 * Layer norm over the last axis in f64, as TransformerLens computes it:
 * `x = x − mean(x)`, `scale = sqrt(mean(x²) + eps)`, `y = x / scale · w + b`. Returns `y` and
 * `scale` (shape [..., 1]).
 *
 * @example
 * ```ts
 * const { y, scale } = refLayerNorm([1, 2, 3, 4], [1, 4], { eps: 1e-5 });
 * ```
 */
export function refLayerNorm(
  data: ArrayLike<number>,
  shape: readonly number[],
  opts: { weight?: ArrayLike<number>; bias?: ArrayLike<number>; eps?: number } = {},
): { y: RefTensor; scale: RefTensor } {
  const d = shape[shape.length - 1];
  const rows = d === 0 ? 0 : sizeOf(shape) / d;
  const eps = opts.eps ?? 1e-5;
  const y = new Float64Array(sizeOf(shape));
  const scale = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let j = 0; j < d; j++) m += data[r * d + j];
    m /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (data[r * d + j] - m) ** 2;
    const sc = Math.sqrt(v / d + eps);
    scale[r] = sc;
    for (let j = 0; j < d; j++) {
      const w = opts.weight ? opts.weight[j] : 1;
      const b = opts.bias ? opts.bias[j] : 0;
      y[r * d + j] = ((data[r * d + j] - m) / sc) * w + b;
    }
  }
  return {
    y: { data: y, shape: [...shape] },
    scale: { data: scale, shape: [...shape.slice(0, -1), 1] },
  };
}

/**
 * The logical row-major values of a strided view (shape, strides and offset in elements) onto
 * `data`: what a tensor view holds, for checking ops on non-contiguous inputs.
 *
 * @example
 * ```ts
 * refView([0, 1, 2, 3, 4, 5], [3, 2], [1, 3], 0).data; // the transpose of [[0, 1, 2], [3, 4, 5]]
 * ```
 */
export function refView(
  data: ArrayLike<number>,
  shape: readonly number[],
  strides: readonly number[],
  offset = 0,
): RefTensor {
  const out = new Float64Array(sizeOf(shape));
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    let o = offset;
    for (let d = 0; d < shape.length; d++) o += idx[d] * strides[d];
    out[i] = data[o];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape: [...shape] };
}
