/**
 * The reduction kernels (shaders/reduce.wgsl): sum, mean, max, min, var, std, argmax and argmin
 * over any set of axes of a strided tensor, without copying it first.
 *
 * The kept axes index the output rows and the reduced axes the elements of a row; both are walked
 * through the input's own strides (after merging axes that are contiguous with each other). Three
 * plans:
 *
 * - `row`: one workgroup (see {@link reduceWorkgroup}) per output element; each invocation
 *   accumulates a strided share of the row, then the states are merged as a tree in workgroup
 *   memory. The default.
 * - `split`: for a few very long rows, each row is cut into chunks, one workgroup per chunk saves
 *   its state to a scratch buffer, and a second dispatch merges each row's chunk states.
 * - `thread`: one invocation per output element, sequential over the row: short rows, and rows
 *   whose elements are far apart in memory (reducing a leading axis), where neighbouring
 *   invocations then read neighbouring addresses.
 *
 * Accuracy: sums are compensated (TwoSum; about twice f32 precision before the final rounding),
 * variance is Welford per invocation and Chan's pairwise update across invocations and chunks.
 *
 * @module
 */

import src from "../../shaders/reduce.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import { computeType, type DType } from "../dtype.ts";
import { type Shape, sizeOf, type Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { collapse } from "./elementwise.ts";
import { empty, full } from "../ops/creation.ts";

/** A reduction the kernel knows. */
export type ReduceOp = "sum" | "mean" | "max" | "min" | "var" | "std" | "argmax" | "argmin";

/** How a reduction is laid out on the GPU (see the module docs). */
export type ReducePath = "row" | "split" | "thread";

/**
 * Invocations per workgroup of the `row` and `split` plans: 256 on GPUs; 16 on CPU adapters
 * (llvmpipe runs a workgroup on one core and pays for every barrier per group of SIMD lanes:
 * measured 2–4× faster than 256 there). `reduceTuning.wg` overrides it.
 */
export function reduceWorkgroup(eng: Engine): number {
  return reduceTuning.wg ?? (eng.gpu.info.isCpu ? 16 : 256);
}
/** Invocations per workgroup of the `thread` plan. */
export const REDUCE_TWG = 64;
/** Most merged axes on either side (kept or reduced). */
export const REDUCE_MAX_RANK = 8;

/**
 * Thresholds that choose the plan; exported for tests and tuning.
 *
 * `iterBudget` bounds the loop iterations one invocation runs (weighted by the cost of walking a
 * row with several unmerged reduced axes): llvmpipe (Mesa's software Vulkan) silently ends any
 * invocation's loops after about 65k iterations in total, which would truncate long sequential
 * rows without an error.
 */
export const reduceTuning = {
  /** Rows at most this long use `thread`. */
  threadMaxLen: 16,
  /** Strided rows (reduced axes not innermost) use `thread` from this many rows. */
  threadMinRows: 256,
  /** Rows longer than this are split when there are at most `splitMaxRows` of them. */
  splitMinLen: 2048,
  splitMaxRows: 64,
  /** Smallest chunk of a split row, and most chunks per row. */
  chunkMin: 2048,
  maxChunks: 256,
  /** Most (weighted) loop iterations per invocation. */
  iterBudget: 8192,
  /** Workgroup size of the `row`/`split` plans (a power of two); default per adapter. */
  wg: undefined as number | undefined,
};

interface OpInfo {
  /** State family in the WGSL. */
  s: string;
  /** Output function. */
  fin: string;
  /** u32 words per saved state. */
  sw: number;
}

const OPS: Record<ReduceOp, OpInfo> = {
  sum: { s: "sum", fin: "sum_out", sw: 2 },
  mean: { s: "sum", fin: "mean_out", sw: 2 },
  max: { s: "max", fin: "max_out", sw: 1 },
  min: { s: "min", fin: "min_out", sw: 1 },
  var: { s: "var", fin: "var_out", sw: 3 },
  std: { s: "var", fin: "std_out", sw: 3 },
  argmax: { s: "argmax", fin: "argmax_out", sw: 2 },
  argmin: { s: "argmin", fin: "argmin_out", sw: 2 },
};

const EXTREMES: Record<"f32" | "i32" | "u32", [string, string]> = {
  f32: ["-pinf()", "pinf()"],
  i32: ["bitcast<i32>(0x80000000u)", "bitcast<i32>(0x7fffffffu)"],
  u32: ["0u", "0xffffffffu"],
};

/** One reduction. `axes` must be normalised (non-negative), unique and sorted. */
export interface ReduceSpec {
  op: ReduceOp;
  x: Tensor;
  axes: readonly number[];
  keepdims: boolean;
  /** Subtracted from the count in var/std's denominator (0: population, 1: sample). */
  correction?: number;
  /** Force a plan (tests, tuning); by default chosen from the shape. */
  path?: ReducePath;
  /** Chunk length for the `split` plan (rounded to at least 1). */
  chunk?: number;
}

/** The output dtype of a reduction of `d`. */
export function reduceOutDtype(op: ReduceOp, d: DType): DType {
  return op === "argmax" || op === "argmin" ? "i32" : d;
}

/** The output shape of reducing `shape` over (normalised) `axes`. */
export function reducedShape(shape: Shape, axes: readonly number[], keepdims: boolean): number[] {
  const set = new Set(axes);
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/**
 * The plan for `rows` rows of `len` elements. `contiguousRows`: a row's elements are adjacent;
 * `innerRank`: reduced axes left after merging (walking more than one costs more per element).
 */
export function reducePlan(
  rows: number,
  len: number,
  contiguousRows: boolean,
  innerRank = 1,
  wg = 256,
): { path: ReducePath; chunk: number; nchunks: number } {
  const t = reduceTuning;
  const cost = innerRank > 1 ? innerRank + 1 : 1;
  const fitsThread = len * cost <= t.iterBudget;
  if (fitsThread && (len <= t.threadMaxLen || (!contiguousRows && rows >= t.threadMinRows))) {
    return { path: "thread", chunk: len, nchunks: 1 };
  }
  const fitsRow = Math.ceil(len / wg) * cost <= t.iterBudget;
  if (!fitsRow || (len > t.splitMinLen && rows <= t.splitMaxRows)) {
    const chunk = Math.min(
      Math.max(t.chunkMin, Math.ceil(len / t.maxChunks)),
      Math.floor((wg * t.iterBudget) / cost),
    );
    const nchunks = Math.ceil(len / chunk);
    if (nchunks > 1) return { path: "split", chunk, nchunks };
  }
  return { path: "row", chunk: len, nchunks: 1 };
}

/** Run one reduction and return its (contiguous) output. */
export function reduceKernel(eng: Engine, spec: ReduceSpec): Tensor {
  const { op, x, axes, keepdims } = spec;
  const info = OPS[op];
  const outShape = reducedShape(x.shape, axes, keepdims);
  const outDtype = reduceOutDtype(op, x.dtype);
  const rows = sizeOf(outShape);
  const axisSet = new Set(axes);
  const keptAxes = x.shape.map((_, i) => i).filter((i) => !axisSet.has(i));
  const len = sizeOf(axes.map((a) => x.shape[a]));
  if (rows === 0) return empty(outShape, outDtype, eng);
  if (len === 0) {
    if (op === "sum") return full(outShape, 0, { dtype: outDtype, engine: eng });
    if (op === "mean" || op === "var" || op === "std") {
      return full(outShape, NaN, { dtype: outDtype, engine: eng });
    }
    throw new RangeError(
      `Cannot run ${op}: it reduces over ${len} elements (axes [${axes}] of ${x.describe()}) and has no identity`,
    );
  }
  const outer = collapse(keptAxes.map((a) => x.shape[a]), [keptAxes.map((a) => x.strides[a])]);
  const inner = collapse(axes.map((a) => x.shape[a]), [axes.map((a) => x.strides[a])]);
  if (outer.shape.length > REDUCE_MAX_RANK || inner.shape.length > REDUCE_MAX_RANK) {
    throw new RangeError(
      `Cannot run ${op}: ${x.describe()} has more than ${REDUCE_MAX_RANK} kept or reduced axes after merging`,
    );
  }
  const contiguousRows = inner.shape.length === 0 ||
    (inner.shape.length === 1 && inner.strides[0][0] === 1);
  const wg = reduceWorkgroup(eng);
  let plan = reducePlan(rows, len, contiguousRows, inner.shape.length, wg);
  if (spec.path) {
    const chunk = spec.path === "split" ? Math.max(1, Math.floor(spec.chunk ?? plan.chunk)) : len;
    plan = { path: spec.path, chunk, nchunks: Math.ceil(len / chunk) };
  }
  const out = empty(outShape, outDtype, eng);
  checkBindable(op, eng, x, out);

  const t = computeType(x.dtype);
  const [lowest, highest] = EXTREMES[t];
  const outc = info.fin === "mean_out" || info.s === "var"
    ? "f32"
    : info.s.startsWith("arg")
    ? "i32"
    : t;
  const code = (srcType: DType, dstType: DType) => () =>
    fill(src, {
      ENABLE: enables(srcType, dstType),
      S: info.s,
      FIN: info.fin,
      SW: info.sw,
      T: t,
      SRC: srcType,
      DST: dstType,
      OUTC: outc,
      LOWEST: lowest,
      HIGHEST: highest,
      ISNAN: t === "f32" ? "f_is_nan(x)" : "false",
      WG: wg,
      TWG: REDUCE_TWG,
    });
  const keyOf = (srcType: DType, dstType: DType) =>
    `reduce|${info.s}|${info.fin}|${t}|${srcType}|${dstType}|${wg}|${REDUCE_TWG}`;
  const params = (nchunks: number, chunk: number) =>
    new Params()
      .u32(rows)
      .u32(len)
      .u32(chunk)
      .u32(nchunks)
      .u32(outer.shape.length)
      .u32(inner.shape.length)
      .u32(x.offset)
      .u32(0x7f800000)
      .f32(spec.correction ?? 0)
      .f32(1)
      .f32(1)
      .u32(0)
      .vec4u(outer.shape, 2, 1)
      .vec4u(outer.strides[0], 2, 0)
      .vec4u(inner.shape, 2, 1)
      .vec4u(inner.strides[0], 2, 0)
      .bytes();

  if (plan.path === "thread") {
    eng.run({
      label: op,
      key: keyOf(x.dtype, outDtype),
      code: code(x.dtype, outDtype),
      entryPoint: "main_thread",
      params: params(1, len),
      inputs: [x.buffer],
      outputs: [out.buffer],
      workgroups: eng.grid(rows, REDUCE_TWG),
    });
  } else if (plan.path === "row" || plan.nchunks <= 1) {
    eng.run({
      label: op,
      key: keyOf(x.dtype, outDtype),
      code: code(x.dtype, outDtype),
      entryPoint: "main_final",
      params: params(1, len),
      inputs: [x.buffer],
      outputs: [out.buffer],
      workgroups: eng.grid(rows * wg, wg),
    });
  } else {
    const { chunk, nchunks } = plan;
    const partial = empty([rows * nchunks * info.sw], "u32", eng);
    checkBindable(op, eng, partial);
    eng.run({
      label: `${op} (chunks)`,
      key: keyOf(x.dtype, "u32"),
      code: code(x.dtype, "u32"),
      entryPoint: "main_partial",
      params: params(nchunks, chunk),
      inputs: [x.buffer],
      outputs: [partial.buffer],
      workgroups: eng.grid(rows * nchunks * wg, wg),
    });
    eng.run({
      label: `${op} (combine)`,
      key: keyOf("u32", outDtype),
      code: code("u32", outDtype),
      entryPoint: "main_combine",
      params: params(nchunks, chunk),
      inputs: [partial.buffer],
      outputs: [out.buffer],
      workgroups: eng.grid(rows * wg, wg),
    });
    partial.dispose();
  }
  return out;
}
