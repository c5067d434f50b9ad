/**
 * `matmul`: batched matrix products with NumPy broadcasting, transpose flags and strided views
 * (a transposed view is read in place), on the kernels of `src/kernels/matmul.ts`.
 *
 * @module
 */

import { record } from "../autograd/tape.ts";
import type { Engine } from "../gpu/engine.ts";
import {
  chooseConfig,
  classKey,
  classOf,
  configName,
  defaultConfig,
  MATMUL_VARIANTS,
  type MatmulConfig,
  type MatmulVariant,
  type MatOperand,
  type MatProblem,
  orient,
  registerConfig,
  runMatmul,
  textureApplies,
  tuneClass,
  type TuneResult,
} from "../kernels/matmul.ts";
import { contiguousStrides, fmtShape, sizeOf, type Tensor } from "../tensor.ts";
import { type DType } from "../dtype.ts";
import { empty, full } from "./creation.ts";
import { contiguous } from "./movement.ts";

export type { MatmulConfig, MatmulVariant, TuneResult } from "../kernels/matmul.ts";
export { matmulTextureBytes, releaseMatmulTextures } from "../kernels/matmul.ts";

/** Options for {@link matmul}. */
export interface MatmulOptions {
  /** Use `a` with its last two axes swapped (ignored for a 1-D `a`). */
  transA?: boolean;
  /** Use `b` with its last two axes swapped (ignored for a 1-D `b`). */
  transB?: boolean;
  /**
   * Force a kernel variant (tests, benchmarks). By default the autotuned winner for the shape
   * class is used, or the adapter's default before tuning has finished.
   */
  variant?: MatmulVariant;
}

/**
 * The kernel variants `matmul` can use; pass one as `{ variant }` to force it.
 *
 * @example
 * ```ts
 * for (const variant of matmulVariants()) matmul(a, b, { variant });
 * ```
 */
export function matmulVariants(): MatmulVariant[] {
  return [...MATMUL_VARIANTS];
}

function show(t: Tensor): string {
  return `${t.name ? `"${t.name}" ` : ""}${t.dtype}${fmtShape(t.shape)}`;
}

function operands(a: Tensor, b: Tensor, o: MatmulOptions): string {
  const flags = [o.transA ? "transA" : "", o.transB ? "transB" : ""].filter((s) => s).join(", ");
  return `(a is ${show(a)}, b is ${show(b)}${flags ? `, ${flags}` : ""})`;
}

/** A logical 2-D view of the last axes: sizes and element strides. */
interface Mat2 {
  rows: number;
  cols: number;
  rs: number;
  cs: number;
}

function lastTwo(t: Tensor, vec: "row" | "col" | null, trans: boolean): Mat2 {
  if (vec === "row") return { rows: 1, cols: t.shape[0], rs: 0, cs: t.strides[0] };
  if (vec === "col") return { rows: t.shape[0], cols: 1, rs: t.strides[0], cs: 0 };
  const r = t.rank;
  const m: Mat2 = {
    rows: t.shape[r - 2],
    cols: t.shape[r - 1],
    rs: t.strides[r - 2],
    cs: t.strides[r - 1],
  };
  return trans ? { rows: m.cols, cols: m.rows, rs: m.cs, cs: m.rs } : m;
}

/**
 * How the kernels can read a logical matrix in place, or null when it must be copied.
 * `colMajor` false: columns contiguous, ld = row stride; true: rows contiguous, ld = column stride.
 * A single row or column has ld 0 (it is never used).
 */
function layoutOf(x: Mat2, preferColMajor: boolean): { colMajor: boolean; ld: number } | null {
  const rowOk = x.cs === 1 || x.cols === 1;
  const colOk = x.rs === 1 || x.rows === 1;
  const row = { colMajor: false, ld: x.rows === 1 ? 0 : x.rs };
  const col = { colMajor: true, ld: x.cols === 1 ? 0 : x.cs };
  if (rowOk && colOk) return preferColMajor ? col : row;
  if (rowOk) return row;
  if (colOk) return col;
  return null;
}

interface Built {
  problem: MatProblem;
  outShape: number[];
  outDtype: DType;
  temps: Tensor[];
}

function build(a: Tensor, b: Tensor, o: MatmulOptions, out: Tensor | null, copy: boolean): Built {
  const what = operands(a, b, o);
  for (const t of [a, b]) {
    if (t.dtype !== "f32" && t.dtype !== "f16") {
      throw new TypeError(
        `Cannot run matmul: dtype ${t.dtype} is not supported ${what}; use f32 or f16`,
      );
    }
    if (t.rank === 0) {
      throw new RangeError(`Cannot run matmul: 0-d tensors have no matrix axes ${what}`);
    }
  }
  if (a.engine !== b.engine) {
    throw new Error(`Cannot run matmul: a and b live on different engines ${what}`);
  }
  const aVec = a.rank === 1;
  const bVec = b.rank === 1;
  let A = lastTwo(a, aVec ? "row" : null, !!o.transA);
  let B = lastTwo(b, bVec ? "col" : null, !!o.transB);
  if (A.cols !== B.rows) {
    throw new RangeError(`Cannot run matmul: inner dimensions differ ${what}`);
  }
  const m = A.rows;
  const k = A.cols;
  const n = B.cols;
  // Batch axes broadcast NumPy-style.
  const aB = aVec ? [] : a.shape.slice(0, -2);
  const bB = bVec ? [] : b.shape.slice(0, -2);
  const rank = Math.max(aB.length, bB.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = aB[aB.length - rank + i] ?? 1;
    const db = bB[bB.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(
        `Cannot run matmul: batch axes ${fmtShape(aB)} and ${
          fmtShape(bB)
        } do not broadcast ${what}`,
      );
    }
    batch.push(da === 1 ? db : da);
  }
  const outShape = [...batch, ...(aVec ? [] : [m]), ...(bVec ? [] : [n])];
  const outDtype: DType = a.dtype === "f16" && b.dtype === "f16" ? "f16" : "f32";

  // Read in place where one of the two matrix axes is contiguous, else copy (or, when only
  // planning, pretend to: a copy is contiguous from offset 0).
  const temps: Tensor[] = [];
  const copyOf = (t: Tensor): Tensor => {
    if (!copy) return fakeContiguous(t);
    const c = contiguous(t);
    if (c !== t) temps.push(c);
    return c;
  };
  let ta = a;
  let tb = b;
  // A: prefer k contiguous. B (seen transposed, n x k): prefer k contiguous, unless n = 1.
  let la = layoutOf(A, false);
  if (!la) {
    ta = copyOf(a);
    A = lastTwo(ta, aVec ? "row" : null, !!o.transA);
    la = layoutOf(A, false)!;
  }
  const bT = (x: Mat2): Mat2 => ({ rows: x.cols, cols: x.rows, rs: x.cs, cs: x.rs });
  let lb = layoutOf(bT(B), n !== 1);
  if (!lb) {
    tb = copyOf(b);
    B = lastTwo(tb, bVec ? "col" : null, !!o.transB);
    lb = layoutOf(bT(B), n !== 1)!;
  }
  const batchStrides = (t: Tensor, isVec: boolean) => {
    const bs = isVec ? [] : t.shape.slice(0, -2);
    const ss = isVec ? [] : t.strides.slice(0, -2);
    const outS = new Array<number>(rank).fill(0);
    for (let i = 0; i < bs.length; i++) outS[rank - bs.length + i] = bs[i] === 1 ? 0 : ss[i];
    return outS;
  };
  const cStrides = contiguousStrides([...batch, m, n]);
  // When only planning, a pretend copy has no buffer yet: a placeholder as big as a buffer may be.
  const placeholder = { size: 2 ** 52 } as GPUBuffer;
  const opA: MatOperand = {
    buffer: ta === a || copy ? ta.buffer : placeholder,
    dtype: a.dtype,
    offset: ta.offset,
    ld: la.ld,
    // Kernel A: t means m (rows) contiguous, i.e. the logical matrix is column-major.
    t: la.colMajor,
    batch: batchStrides(ta, aVec),
  };
  const opB: MatOperand = {
    buffer: tb === b || copy ? tb.buffer : placeholder,
    dtype: b.dtype,
    offset: tb.offset,
    ld: lb.ld,
    // layoutOf saw B transposed (n x k): row-major there means k contiguous, i.e. kernel B t.
    t: !lb.colMajor,
    batch: batchStrides(tb, bVec),
  };
  const opC: MatOperand = {
    buffer: out ? out.buffer : placeholder,
    dtype: outDtype,
    offset: out ? out.offset : 0,
    ld: n,
    t: false,
    batch: cStrides.slice(0, rank),
  };
  const problem = orient({ m, n, k, batch, a: opA, b: opB, c: opC });
  return { problem, outShape, outDtype, temps };
}

/** Stand-in with contiguous strides (for planning without copying). */
function fakeContiguous(t: Tensor): Tensor {
  return {
    shape: t.shape,
    strides: contiguousStrides(t.shape),
    offset: 0,
    rank: t.rank,
  } as unknown as Tensor;
}

/**
 * Matrix product `a @ b` with NumPy `matmul` semantics: a is [..., m, k] (or [..., k, m] with
 * `transA`), b is [..., k, n] (or [..., n, k] with `transB`); batch axes broadcast; a 1-D `a` is a
 * row vector and a 1-D `b` a column vector, and their added axis is dropped from the result.
 * f32 (or f16 storage) in, f32 accumulation; the result is f16 only when both inputs are.
 * Transposed and other strided views are read in place when one matrix axis is contiguous.
 *
 * @example
 * ```ts
 * const logits = matmul(resid, W_U);                 // [b, p, d] @ [d, vocab]
 * const scores = matmul(q, k, { transB: true });     // [b, h, p, d] @ [b, h, p, d]^T
 * ```
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  if (opts.variant !== undefined && !MATMUL_VARIANTS.includes(opts.variant)) {
    throw new RangeError(
      `Cannot run matmul: unknown variant "${opts.variant}" (use ${
        MATMUL_VARIANTS.map((v) => `"${v}"`).join(" or ")
      })`,
    );
  }
  const eng: Engine = a.engine;
  const plan = build(a, b, opts, null, false);
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  if (sizeOf(plan.outShape) === 0) {
    return record(empty(plan.outShape, plan.outDtype, eng), "matmul", [a, b], { transA, transB });
  }
  if (plan.problem.k === 0) {
    const z = full(plan.outShape, 0, { dtype: plan.outDtype, engine: eng });
    return record(z, "matmul", [a, b], { transA, transB });
  }
  const out = empty(plan.outShape, plan.outDtype, eng);
  const built = build(a, b, opts, out, true);
  try {
    const cfg = chooseConfig(eng, built.problem, opts.variant);
    runMatmul(eng, built.problem, cfg);
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    for (const t of built.temps) t.dispose();
  }
  return record(out, "matmul", [a, b], { transA, transB });
}

/**
 * The config `matmul(a, b, opts)` would use now (tuned winner, forced variant or the adapter's
 * default), as text, e.g. "register 16x16 wg8 ku1". Starts nothing.
 *
 * @example
 * ```ts
 * console.log(matmulConfigFor(x, w)); // "register 16x16 wg8 ku1"
 * ```
 */
export function matmulConfigFor(a: Tensor, b: Tensor, opts: MatmulOptions = {}): string {
  const { problem } = build(a, b, opts, null, false);
  const eng = a.engine;
  const c = classOf(problem);
  let cfg: MatmulConfig;
  if (opts.variant) cfg = defaultConfig(eng, c, opts.variant);
  else {
    const s = eng.tuned.get(classKey(c)) as { result?: TuneResult } | undefined;
    cfg = s?.result?.config ?? defaultConfig(eng, c);
  }
  // The texture kernel falls back to the register kernel where it does not apply.
  if (cfg.variant === "texture" && !textureApplies(eng, problem, cfg)) cfg = registerConfig(c);
  return configName(cfg);
}

/**
 * Autotune `matmul` for the shape class of `a @ b` now (normally this happens in the background
 * on first use) and return the timings; later calls in the class use the winner.
 *
 * @example
 * ```ts
 * const r = await tuneMatmul(x, w);
 * console.log(r.entries); // [{ config: "register 16x16 wg8 ku1", ms: 4.1, gflops: 32.7 }, ...]
 * ```
 */
export function tuneMatmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Promise<TuneResult> {
  const { problem } = build(a, b, opts, null, false);
  return tuneClass(a.engine, classOf(problem));
}
