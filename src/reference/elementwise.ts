/**
 * f64 CPU references for the elementwise and movement ops: the oracle the tests and `doctor`
 * compare GPU results with. Arrays are row-major Float64Array with a shape.
 *
 * @module
 */

/** A CPU tensor: values (row-major) and a shape. */
export interface RefTensor {
  data: Float64Array;
  shape: number[];
}

/** Number of elements. */
export function refSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** erf to ~1e-15 (series for small |x|, continued fraction for large). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf x = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1))
    let sum = 0;
    let term = ax;
    for (let n = 0; n < 100; n++) {
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
      term *= -ax * ax / (n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by Lentz's continued fraction.
  const z = ax;
  let f = z;
  let c = z;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = z + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = z + an / c;
    if (c === 0) c = 1e-300;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-z * z) / (Math.sqrt(Math.PI) * f);
  return Math.sign(x) * (1 - erfc);
}

/** Unary references by op name. */
export const UNARY_REF: Record<string, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: Math.abs,
  relu: (x) => Math.max(x, 0),
  gelu: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  geluErf: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  square: (x) => x * x,
  sign: Math.sign,
};

/** Binary references by op name (comparisons give 0/1). */
export const BINARY_REF: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  maximum: Math.max,
  minimum: Math.min,
  eq: (a, b) => Number(a === b),
  ne: (a, b) => Number(a !== b),
  lt: (a, b) => Number(a < b),
  le: (a, b) => Number(a <= b),
  gt: (a, b) => Number(a > b),
  ge: (a, b) => Number(a >= b),
};

/** NumPy broadcast of shapes (throws on mismatch). */
export function broadcastShapeRef(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Index into `x` (shape `s`) for output multi-index `idx` of a broadcast result. */
function bIndex(s: readonly number[], idx: number[]): number {
  let off = 0;
  const lead = idx.length - s.length;
  for (let i = 0; i < s.length; i++) off = off * s[i] + (s[i] === 1 ? 0 : idx[lead + i]);
  return off;
}

/** Apply `f` elementwise over broadcast inputs. */
export function mapRef(
  inputs: RefTensor[],
  f: (...v: number[]) => number,
): RefTensor {
  const shape = inputs.reduce<number[]>((s, t) => broadcastShapeRef(s, t.shape), []);
  const n = refSize(shape);
  const data = new Float64Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let r = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = r % shape[d];
      r = Math.floor(r / shape[d]);
    }
    data[i] = f(...inputs.map((t) => t.data[bIndex(t.shape, idx)]));
  }
  return { data, shape };
}

/** Permute axes. */
export function permuteRef(x: RefTensor, axes: readonly number[]): RefTensor {
  const shape = axes.map((a) => x.shape[a]);
  const inStrides: number[] = [];
  let acc = 1;
  for (let i = x.shape.length - 1; i >= 0; i--) {
    inStrides[i] = acc;
    acc *= x.shape[i];
  }
  const n = refSize(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let r = i;
    let off = 0;
    for (let d = shape.length - 1; d >= 0; d--) {
      const c = r % shape[d];
      r = Math.floor(r / shape[d]);
      off += c * inStrides[axes[d]];
    }
    data[i] = x.data[off];
  }
  return { data, shape };
}

/** Take `[start, end)` on each axis. */
export function sliceRef(
  x: RefTensor,
  starts: readonly number[],
  ends: readonly number[],
): RefTensor {
  const shape = x.shape.map((_, d) => ends[d] - starts[d]);
  const n = refSize(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let r = i;
    let off = 0;
    let stride = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const c = r % shape[d];
      r = Math.floor(r / shape[d]);
      off += (c + starts[d]) * stride;
      stride *= x.shape[d];
    }
    data[i] = x.data[off];
  }
  return { data, shape };
}
