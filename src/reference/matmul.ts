/**
 * f64 CPU reference for `matmul` (NumPy `matmul` semantics plus transpose flags). Plain
 * TypeScript over row-major Float64Array data; used by tests, `doctor` and anyone checking a
 * GPU result.
 *
 * @module
 */

/** Transpose flags, as in {@link matmulRef}. */
export interface MatmulRefOptions {
  /** Treat the last two axes of `a` as swapped (ignored for a 1-D `a`). */
  transA?: boolean;
  /** Treat the last two axes of `b` as swapped (ignored for a 1-D `b`). */
  transB?: boolean;
}

/** Result of {@link matmulRef}: row-major values and their shape. */
export interface MatmulRefResult {
  data: Float64Array;
  shape: number[];
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * `a @ b` in f64: a is [..., m, k] ([..., k, m] with transA), b is [..., k, n] ([..., n, k] with
 * transB); batch axes broadcast NumPy-style. A 1-D `a` is a row vector [1, k] and a 1-D `b` a
 * column vector [k, 1]; the added axis is dropped from the result, as in NumPy.
 *
 * @example
 * ```ts
 * const { data, shape } = matmulRef(new Float64Array([1, 2, 3, 4]), [2, 2], new Float64Array([1, 0, 0, 1]), [2, 2]);
 * // data = [1, 2, 3, 4], shape = [2, 2]
 * ```
 */
export function matmulRef(
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  opts: MatmulRefOptions = {},
): MatmulRefResult {
  if (aShape.length === 0 || bShape.length === 0) {
    throw new RangeError(`matmulRef: 0-d operands are not allowed ([${aShape}] @ [${bShape}])`);
  }
  if (a.length !== size(aShape) || b.length !== size(bShape)) {
    throw new RangeError(`matmulRef: data lengths do not match shapes [${aShape}] and [${bShape}]`);
  }
  const aVec = aShape.length === 1;
  const bVec = bShape.length === 1;
  const a2 = aVec ? [1, aShape[0]] : [...aShape];
  const b2 = bVec ? [bShape[0], 1] : [...bShape];
  const ta = !aVec && !!opts.transA;
  const tb = !bVec && !!opts.transB;
  const ar = a2.length;
  const br = b2.length;
  // Logical sizes and element strides of the last two axes.
  const m = ta ? a2[ar - 1] : a2[ar - 2];
  const k = ta ? a2[ar - 2] : a2[ar - 1];
  const k2 = tb ? b2[br - 1] : b2[br - 2];
  const n = tb ? b2[br - 2] : b2[br - 1];
  if (k !== k2) {
    throw new RangeError(`matmulRef: inner dimensions differ ([${aShape}] @ [${bShape}])`);
  }
  const sAm = ta ? 1 : a2[ar - 1];
  const sAk = ta ? a2[ar - 1] : 1;
  const sBk = tb ? 1 : b2[br - 1];
  const sBn = tb ? b2[br - 1] : 1;
  const aBatch = a2.slice(0, ar - 2);
  const bBatch = b2.slice(0, br - 2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = aBatch[aBatch.length - rank + i] ?? 1;
    const db = bBatch[bBatch.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`matmulRef: batch axes do not broadcast ([${aShape}] @ [${bShape}])`);
    }
    batch.push(da === 1 ? db : da);
  }
  const strideOf = (bs: number[], mat: number) => {
    const st = new Array<number>(rank).fill(0);
    let acc = mat;
    for (let i = bs.length - 1; i >= 0; i--) {
      const j = rank - bs.length + i;
      st[j] = bs[i] === 1 ? 0 : acc;
      acc *= bs[i];
    }
    return st;
  };
  const aSt = strideOf(aBatch, m * k);
  const bSt = strideOf(bBatch, k * n);
  const nb = size(batch);
  const out = new Float64Array(nb * m * n);
  const idx = new Array<number>(rank).fill(0);
  for (let t = 0; t < nb; t++) {
    let rem = t;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d] = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
    }
    let oa = 0;
    let ob = 0;
    for (let d = 0; d < rank; d++) {
      oa += idx[d] * aSt[d];
      ob += idx[d] * bSt[d];
    }
    const oc = t * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[oa + i * sAm + p * sAk] * b[ob + p * sBk + j * sBn];
        out[oc + i * n + j] = s;
      }
    }
  }
  const shape = [...batch];
  if (!aVec) shape.push(m);
  if (!bVec) shape.push(n);
  return { data: out, shape };
}
