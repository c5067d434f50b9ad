/**
 * Elementwise ops: unary math, binary arithmetic and comparisons with NumPy broadcasting,
 * `where`, and `cast`. All run through one strided kernel (src/kernels/elementwise.ts).
 *
 * @module
 */

import { record } from "../autograd/tape.ts";
import { computeType, type DType, isFloat } from "../dtype.ts";
import { mapKernel } from "../kernels/elementwise.ts";
import { fmtShape, type Shape, type Tensor } from "../tensor.ts";

/** The broadcast of two shapes (NumPy rules); throws naming the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(
        `Cannot run ${op}: shapes ${fmtShape(a)} and ${
          fmtShape(b)
        } do not broadcast (axis ${i}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

// ------------------------------------------------------------------ unary

/** Unary ops and their WGSL (in f32 unless noted). */
export const UNARY = {
  neg: "-a",
  exp: "exp(a)",
  log: "log(a)",
  sqrt: "sqrt(a)",
  rsqrt: "inverseSqrt(a)",
  abs: "abs(a)",
  relu: "max(a, 0.0)",
  /** GPT-2's gelu_new: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). */
  gelu: "0.5 * a * (1.0 + tanh_s(0.7978845608028654 * (a + 0.044715 * a * a * a)))",
  /** Exact gelu: 0.5 x (1 + erf(x / √2)). */
  geluErf: "0.5 * a * (1.0 + erf_s(a * 0.7071067811865476))",
  tanh: "tanh_s(a)",
  sigmoid: "sigmoid_s(a)",
  square: "a * a",
  sign: "sign(a)",
} as const;

/** Name of a unary op. */
export type UnaryOp = keyof typeof UNARY;

const INT_UNARY: Partial<Record<UnaryOp, string>> = {
  neg: "-a",
  abs: "abs(a)",
  relu: "max(a, 0)",
  square: "a * a",
  sign: "sign(a)",
};

/** Apply a unary op by name. */
export function unary(op: UnaryOp, x: Tensor): Tensor {
  let expr: string | undefined = UNARY[op];
  if (expr === undefined) throw new TypeError(`Cannot run unary: unknown op "${op}"`);
  if (!isFloat(x.dtype)) {
    expr = x.dtype === "i32" ? INT_UNARY[op] : undefined;
    if (!expr) {
      throw new TypeError(
        `Cannot run ${op}: ${x.describe()} has dtype ${x.dtype}; ${op} needs a float tensor (cast it first)`,
      );
    }
  }
  const out = mapKernel(x.engine, { op, expr, inputs: [x], outShape: x.shape, outDtype: x.dtype });
  return record(out, op, [x]);
}

/** −x */
export const neg = (x: Tensor): Tensor => unary("neg", x);
/** eˣ */
export const exp = (x: Tensor): Tensor => unary("exp", x);
/** Natural log. */
export const log = (x: Tensor): Tensor => unary("log", x);
/** √x */
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
/** 1/√x */
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
/** |x| */
export const abs = (x: Tensor): Tensor => unary("abs", x);
/** max(x, 0) */
export const relu = (x: Tensor): Tensor => unary("relu", x);
/** gelu, tanh approximation (GPT-2's `gelu_new`). */
export const gelu = (x: Tensor): Tensor => unary("gelu", x);
/** gelu with erf (PyTorch's exact `gelu`). */
export const geluErf = (x: Tensor): Tensor => unary("geluErf", x);
/** tanh, stable for large |x|. */
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
/** 1/(1+e⁻ˣ), stable for large |x|. */
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
/** x² */
export const square = (x: Tensor): Tensor => unary("square", x);

// ------------------------------------------------------------------ binary

const BINARY = {
  add: "a + b",
  sub: "a - b",
  mul: "a * b",
  div: "a / b",
  pow: "pow_s(a, b)",
  maximum: "max(a, b)",
  minimum: "min(a, b)",
  eq: "select(0u, 1u, a == b)",
  ne: "select(0u, 1u, a != b)",
  lt: "select(0u, 1u, a < b)",
  le: "select(0u, 1u, a <= b)",
  gt: "select(0u, 1u, a > b)",
  ge: "select(0u, 1u, a >= b)",
} as const;

/** Name of a binary op. */
export type BinaryOp = keyof typeof BINARY;

const COMPARISONS = new Set<BinaryOp>(["eq", "ne", "lt", "le", "gt", "ge"]);

/**
 * Apply a binary op with broadcasting. Either side may be a number (a scalar of the other's
 * dtype). Comparisons return u32 0/1 masks.
 */
export function binary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
  const expr0: string = BINARY[op];
  if (expr0 === undefined) throw new TypeError(`Cannot run binary: unknown op "${op}"`);
  if (typeof a === "number" && typeof b === "number") {
    throw new TypeError(`Cannot run ${op}: both operands are numbers; one must be a tensor`);
  }
  const isCmp = COMPARISONS.has(op);
  if (typeof a === "number" || typeof b === "number") {
    const t = (typeof a === "number" ? b : a) as Tensor;
    const s = (typeof a === "number" ? a : b) as number;
    const ct = computeType(t.dtype);
    if (op === "pow" && ct !== "f32") {
      throw new TypeError(`Cannot run pow: ${t.describe()} is not float`);
    }
    // The tensor is input `a`; the number is `s`.
    const fixed = typeof a === "number" ? swapExpr(expr0) : expr0.replace(/\bb\b/g, "s");
    const out = mapKernel(t.engine, {
      op,
      expr: fixed,
      inputs: [t],
      outShape: t.shape,
      outDtype: isCmp ? "u32" : t.dtype,
      scalar: s,
      scalarType: ct,
    });
    return record(out, `${op}Scalar`, [t], { scalar: s, scalarLeft: typeof a === "number" });
  }
  if (a.dtype !== b.dtype) {
    throw new TypeError(
      `Cannot run ${op}: dtypes differ (${a.describe()} and ${b.describe()}); cast one first`,
    );
  }
  if (op === "pow" && !isFloat(a.dtype)) {
    throw new TypeError(`Cannot run pow: ${a.describe()} is not float`);
  }
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = mapKernel(a.engine, {
    op,
    expr: expr0,
    inputs: [a, b],
    outShape: shape,
    outDtype: isCmp ? "u32" : a.dtype,
  });
  return record(out, op, [a, b]);
}

/** Expression with the scalar `s` on the left and the tensor as `a` on the right. */
function swapExpr(expr: string): string {
  return expr.replace(/\b[ab]\b/g, (v) => (v === "a" ? "s" : "a"));
}

/** a + b (broadcasting) */
export const add = (a: Tensor | number, b: Tensor | number): Tensor => binary("add", a, b);
/** a − b */
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binary("sub", a, b);
/** a × b */
export const mul = (a: Tensor | number, b: Tensor | number): Tensor => binary("mul", a, b);
/** a ÷ b */
export const div = (a: Tensor | number, b: Tensor | number): Tensor => binary("div", a, b);
/** aᵇ (negative bases with integer exponents allowed) */
export const pow = (a: Tensor | number, b: Tensor | number): Tensor => binary("pow", a, b);
/** Elementwise max. */
export const maximum = (a: Tensor | number, b: Tensor | number): Tensor => binary("maximum", a, b);
/** Elementwise min. */
export const minimum = (a: Tensor | number, b: Tensor | number): Tensor => binary("minimum", a, b);
/** a == b as u32 0/1 */
export const eq = (a: Tensor | number, b: Tensor | number): Tensor => binary("eq", a, b);
/** a != b as u32 0/1 */
export const ne = (a: Tensor | number, b: Tensor | number): Tensor => binary("ne", a, b);
/** a < b as u32 0/1 */
export const lt = (a: Tensor | number, b: Tensor | number): Tensor => binary("lt", a, b);
/** a <= b as u32 0/1 */
export const le = (a: Tensor | number, b: Tensor | number): Tensor => binary("le", a, b);
/** a > b as u32 0/1 */
export const gt = (a: Tensor | number, b: Tensor | number): Tensor => binary("gt", a, b);
/** a >= b as u32 0/1 */
export const ge = (a: Tensor | number, b: Tensor | number): Tensor => binary("ge", a, b);

/**
 * `cond ? a : b` elementwise, broadcasting all three. `cond` is any dtype (nonzero is true).
 *
 * @example
 * ```ts
 * const masked = where(gt(x, 0), x, zeros(x.shape));
 * ```
 */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype) {
    throw new TypeError(
      `Cannot run where: dtypes of a and b differ (${a.describe()}, ${b.describe()})`,
    );
  }
  const shape = broadcastShapes("where", broadcastShapes("where", cond.shape, a.shape), b.shape);
  const zero = computeType(cond.dtype) === "f32"
    ? "0.0"
    : computeType(cond.dtype) === "i32"
    ? "0"
    : "0u";
  const out = mapKernel(a.engine, {
    op: "where",
    // Inputs: a = cond, b = then, c = else.
    expr: `select(c, b, a != ${zero})`,
    inputs: [cond, a, b],
    outShape: shape,
    outDtype: a.dtype,
  });
  return record(out, "where", [cond, a, b]);
}

/**
 * Convert dtype (f32 → i32 truncates toward zero; values outside i32 clamp).
 *
 * @example
 * ```ts
 * const mask = cast(gt(x, 0), "f32");
 * ```
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const out = mapKernel(x.engine, {
    op: "cast",
    expr: `${computeType(dtype)}(a)`,
    inputs: [x],
    outShape: x.shape,
    outDtype: dtype,
  });
  return record(out, "cast", [x], { from: x.dtype });
}
