/**
 * Gradient rules: one per op name recorded by the ops (`record(out, op, inputs, attrs)`).
 *
 * A rule gets the gradient `g` of the output (shape of `out`), the output, the op's inputs, its
 * attributes and the tensors it saved, and returns one gradient per input (null: none). A
 * returned gradient may have the output's broadcast shape: backward sums it back to the input's
 * shape ({@link sumToShape}). Rules run under `noGrad`, inside a scope that frees their
 * temporaries. Simple derivatives are fused into one elementwise dispatch (`fused`).
 *
 * Subgradients at kinks: relu'(0) = 0, abs'(0) = 0 (sign), sign' = 0; `maximum`/`minimum` split
 * the gradient equally between equal operands (as PyTorch); `max`/`min` reductions split it
 * equally among all elements equal to the extreme value (as PyTorch's `amax`/`amin`).
 *
 * @module
 */

import { broadcastShapes } from "../ops/elementwise.ts";
import { cast, div, mul, neg } from "../ops/elementwise.ts";
import { expand, permute, reshape, slice, unsqueeze } from "../ops/movement.ts";
import { mean, sum } from "../ops/reduce.ts";
import { gather, oneHot, scatterAdd } from "../ops/indexing.ts";
import { lnPre } from "../ops/layernorm.ts";
import { matmul } from "../ops/matmul.ts";
import { mapKernel } from "../kernels/elementwise.ts";
import { padSlice } from "../kernels/autograd.ts";
import type { Shape, Tensor } from "../tensor.ts";
import { isFloat } from "../dtype.ts";

/** Attributes an op recorded. */
// deno-lint-ignore no-explicit-any
export type Attrs = Record<string, any>;

/** A gradient rule: input gradients from the output gradient. */
export type Rule = (
  g: Tensor,
  out: Tensor,
  inputs: readonly Tensor[],
  attrs: Attrs,
  saved: readonly Tensor[],
) => (Tensor | null)[];

/**
 * Ops recorded for autograd that have no gradient (their outputs are integer or piecewise
 * constant): backward stops at them. `argmax`/`argmin` are not recorded today (listed in case
 * they are); topk's indices are a plain output (only its values are recorded).
 */
export const NON_DIFFERENTIABLE: ReadonlySet<string> = new Set([
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "eqScalar",
  "neScalar",
  "ltScalar",
  "leScalar",
  "gtScalar",
  "geScalar",
  "sign",
  "argmax",
  "argmin",
  "oneHot",
]);

// ------------------------------------------------------------------ helpers

/**
 * One elementwise dispatch computing `expr` over broadcast inputs (`a`, `b`, `c`), with the
 * scalar `s`; the result has the broadcast shape and (by default) the first input's dtype.
 */
function fused(
  op: string,
  expr: string,
  inputs: Tensor[],
  s = 0,
  outDtype = inputs[0].dtype,
): Tensor {
  let shape: number[] = [];
  for (const t of inputs) shape = broadcastShapes(op, shape, t.shape);
  return mapKernel(inputs[0].engine, {
    op: `${op}Backward`,
    expr,
    inputs,
    outShape: shape,
    outDtype,
    scalar: s,
    scalarType: "f32",
  });
}

/**
 * Sum `g` over the axes along which `shape` was broadcast to `g.shape` (leading axes and size-1
 * axes), giving a tensor of `shape`. Returns `g` itself when the shapes already match.
 */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) {
    throw new RangeError(
      `Cannot sum gradient ${g.describe()} to shape [${shape}]: the gradient has fewer axes`,
    );
  }
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
    else if (shape[i - lead] !== g.shape[i]) {
      throw new RangeError(
        `Cannot sum gradient ${g.describe()} to shape [${shape}]: axis ${i} differs`,
      );
    }
  }
  const s = axes.length > 0 ? sum(g, axes) : g;
  if (s.rank === shape.length && s.shape.every((d, i) => d === shape[i])) return s;
  return reshape(s, shape);
}

/** The output gradient of a reduction, with reduced axes kept as size 1. */
function keepDims(g: Tensor, attrs: Attrs): Tensor {
  if (attrs.keepdims) return g;
  const shape = attrs.shape as number[];
  const axes = new Set(attrs.axes as number[]);
  return reshape(g, shape.map((d, i) => (axes.has(i) ? 1 : d)));
}

/** Number of elements each output of a reduction combines. */
function countOf(attrs: Attrs): number {
  const shape = attrs.shape as number[];
  return (attrs.axes as number[]).reduce((n, a) => n * shape[a], 1);
}

/** `out` (a reduction's output) with reduced axes kept. */
function keepOut(out: Tensor, attrs: Attrs): Tensor {
  return keepDims(out, attrs);
}

const same = (g: Tensor): (Tensor | null)[] => [g];

// Unary derivatives as one fused dispatch each: `a` is g, `b` is x (or out where noted).
const GELU_U = "0.7978845608028654 * (b + 0.044715 * b * b * b)";

// ------------------------------------------------------------------ the rules

/** Gradient rules by op name. */
export const rules: Record<string, Rule> = {
  // ---- unary
  neg: (g) => [neg(g)],
  exp: (g, out) => [mul(g, out)],
  log: (g, _o, [x]) => [div(g, x)],
  sqrt: (g, out) => [fused("sqrt", "0.5 * a / b", [g, out])],
  rsqrt: (g, out) => [fused("rsqrt", "-0.5 * a * b * b * b", [g, out])],
  abs: (g, _o, [x]) => [fused("abs", "a * sign(b)", [g, x])],
  relu: (g, _o, [x]) => [fused("relu", "select(0.0, a, b > 0.0)", [g, x])],
  gelu: (g, _o, [x]) => [
    fused(
      "gelu",
      `a * (0.5 * (1.0 + tanh_s(${GELU_U})) + 0.5 * b * (1.0 - tanh_s(${GELU_U}) * tanh_s(${GELU_U}))` +
        ` * 0.7978845608028654 * (1.0 + 0.134145 * b * b))`,
      [g, x],
    ),
  ],
  geluErf: (g, _o, [x]) => [
    fused(
      "geluErf",
      "a * (0.5 * (1.0 + erf_s(b * 0.7071067811865476)) + b * 0.3989422804014327 * exp(-0.5 * b * b))",
      [g, x],
    ),
  ],
  tanh: (g, out) => [fused("tanh", "a * (1.0 - b * b)", [g, out])],
  sigmoid: (g, out) => [fused("sigmoid", "a * b * (1.0 - b)", [g, out])],
  square: (g, _o, [x]) => [fused("square", "2.0 * a * b", [g, x])],

  // ---- binary (gradients in the output's shape; backward sums them to each input's shape)
  add: (g) => [g, g],
  sub: (g) => [g, neg(g)],
  mul: (g, _o, [a, b]) => [mul(g, b), mul(g, a)],
  div: (g, _o, [a, b]) => [div(g, b), fused("div", "-a * b / (c * c)", [g, a, b])],
  pow: (g, out, [a, b]) => [
    // d/da = b·a^(b−1) (0 where b = 0); d/db = out·ln a (0 where a = 0 and b ≥ 0), as PyTorch.
    fused("pow", "select(a * c * pow_s(b, c - 1.0), 0.0, c == 0.0)", [g, a, b]),
    // out = a^b is 0 or 1 at a = 0 exactly when b ≥ 0.
    fused("pow", "select(a * b * log(c), 0.0, c == 0.0 && b <= 1.0)", [g, out, a]),
  ],
  maximum: (g, _o, [a, b]) => [
    fused("maximum", "select(select(0.0, a, b > c), 0.5 * a, b == c)", [g, a, b]),
    fused("maximum", "select(select(0.0, a, c > b), 0.5 * a, b == c)", [g, a, b]),
  ],
  minimum: (g, _o, [a, b]) => [
    fused("minimum", "select(select(0.0, a, b < c), 0.5 * a, b == c)", [g, a, b]),
    fused("minimum", "select(select(0.0, a, c < b), 0.5 * a, b == c)", [g, a, b]),
  ],

  // ---- binary with a number: attrs {scalar, scalarLeft}
  addScalar: same,
  subScalar: (g, _o, _i, { scalarLeft }) => [scalarLeft ? neg(g) : g],
  mulScalar: (g, _o, _i, { scalar }) => [mul(g, scalar)],
  divScalar: (g, _o, [x], { scalar, scalarLeft }) => [
    scalarLeft ? fused("divScalar", "-a * s / (b * b)", [g, x], scalar) : div(g, scalar),
  ],
  powScalar: (g, out, [x], { scalar, scalarLeft }) => [
    scalarLeft
      // d/dx s^x = s^x · ln s (0 where s = 0 and x ≥ 0)
      ? fused("powScalar", "select(a * b * log(s), 0.0, s == 0.0 && c >= 0.0)", [g, out, x], scalar)
      // d/dx x^s = s · x^(s−1) (0 where s = 0)
      : fused("powScalar", "select(a * s * pow_s(b, s - 1.0), 0.0, s == 0.0)", [g, x], scalar),
  ],
  maximumScalar: (g, _o, [x], { scalar }) => [
    fused("maximumScalar", "select(select(0.0, a, b > s), 0.5 * a, b == s)", [g, x], scalar),
  ],
  minimumScalar: (g, _o, [x], { scalar }) => [
    fused("minimumScalar", "select(select(0.0, a, b < s), 0.5 * a, b == s)", [g, x], scalar),
  ],

  // ---- selection and conversion
  where: (g, _o, [cond, a, b]) => {
    const zero = cond.dtype === "f32" || cond.dtype === "f16"
      ? "0.0"
      : cond.dtype === "i32"
      ? "0"
      : "0u";
    return [
      null,
      a.requiresGrad ? fused("where", `select(0.0, a, b != ${zero})`, [g, cond]) : null,
      b.requiresGrad ? fused("where", `select(a, 0.0, b != ${zero})`, [g, cond]) : null,
    ];
  },
  cast: (g, _o, [x]) => [isFloat(x.dtype) ? cast(g, x.dtype) : null],

  // ---- movement
  contiguous: same,
  clone: same,
  reshape: (g, _o, _i, { shape }) => [reshape(g, shape)],
  permute: (g, _o, _i, { axes }) => {
    const inv = new Array<number>(axes.length);
    (axes as number[]).forEach((a, i) => (inv[a] = i));
    return [permute(g, inv)];
  },
  slice: (g, _o, [x], { starts }) => [padSlice(g, starts, x.shape)],
  expand: (g, _o, _i, { shape }) => [sumToShape(g, shape)],

  // ---- reductions: attrs {axes (sorted), keepdims, shape (input), correction (var/std)}
  sum: (g, _o, _i, attrs) => [expand(keepDims(g, attrs), attrs.shape)],
  mean: (g, _o, _i, attrs) => [expand(div(keepDims(g, attrs), countOf(attrs)), attrs.shape)],
  max: (g, out, [x], attrs) => [extremeGrad(g, out, x, attrs)],
  min: (g, out, [x], attrs) => [extremeGrad(g, out, x, attrs)],
  var: (g, _o, [x], attrs) => {
    // d var / dx = 2 (x − mean) / (N − correction)
    const m = mean(x, attrs.axes, { keepdims: true });
    const s = 2 / (countOf(attrs) - (attrs.correction ?? 0));
    return [fused("var", "a * (b - c) * s", [keepDims(g, attrs), x, m], s)];
  },
  std: (g, out, [x], attrs) => {
    // d std / dx = (x − mean) / ((N − correction) · std)
    const m = mean(x, attrs.axes, { keepdims: true });
    const ratio = div(keepDims(g, attrs), keepOut(out, attrs));
    const s = 1 / (countOf(attrs) - (attrs.correction ?? 0));
    return [fused("std", "a * (b - c) * s", [ratio, x, m], s)];
  },

  // ---- matmul {transA, transB}: C = A'·B' with A' = transA ? Aᵀ : A (last two axes), so
  // dA' = G·B'ᵀ and dB' = A'ᵀ·G, written with the flags instead of transposed copies. Batch axes
  // that were broadcast are summed by backward; 1-D operands are lifted to matrices.
  matmul: (g, _o, [a, b], { transA, transB }) => {
    const aVec = a.rank === 1;
    const bVec = b.rank === 1;
    const ta = !aVec && !!transA;
    const tb = !bVec && !!transB;
    const A = aVec ? reshape(a, [1, a.shape[0]]) : a;
    const B = bVec ? reshape(b, [b.shape[0], 1]) : b;
    // g lacks the m axis when a is 1-D and the n axis when b is: put them back as size 1.
    const gs = [...g.shape];
    if (aVec) gs.splice(bVec ? gs.length : gs.length - 1, 0, 1);
    if (bVec) gs.push(1);
    const G = aVec || bVec ? reshape(g, gs) : g;
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a.requiresGrad) {
      da = ta ? matmul(B, G, { transA: tb, transB: true }) : matmul(G, B, { transB: !tb });
      if (aVec) da = reshape(sumToShape(da, A.shape), a.shape);
    }
    if (b.requiresGrad) {
      db = tb ? matmul(G, A, { transA: true, transB: ta }) : matmul(A, G, { transA: !ta });
      if (bVec) db = reshape(sumToShape(db, B.shape), b.shape);
    }
    return [da, db];
  },

  // ---- indexing: gather {axis, n}; embedding {vocab}; scatterAdd {axis, shape, hasTarget};
  // concat {axis, sizes}
  gather: (g, _o, [x, idx], { axis }) => [scatterAdd(x.shape, idx, g, axis), null],
  embedding: (g, _o, [table, ids]) => [scatterAdd(table.shape, ids, g, 0), null],
  scatterAdd: (g, _o, inputs, { axis, hasTarget }) => {
    const [idx, src] = hasTarget ? inputs.slice(1) : inputs;
    const dsrc = src.requiresGrad ? gather(g, idx, axis) : null;
    return hasTarget ? [g, null, dsrc] : [null, dsrc];
  },
  concat: (g, _o, inputs, { axis, sizes }) => {
    let at = 0;
    return inputs.map((_, k) => {
      const r: [number, number] = [at, at + sizes[k]];
      at += sizes[k];
      return slice(g, g.shape.map((_d, i) => (i === axis ? r : null)));
    });
  },

  // ---- softmax {axis, causal}: masked entries (output 0 / −∞) get no gradient
  softmax: (g, out, _i, { axis }) => {
    // dx = y · (g − Σ g·y)
    const dot = sum(mul(g, out), axis, { keepdims: true });
    return [fused("softmax", "b * (a - c)", [g, out, dot])];
  },
  logSoftmax: (g, out, _i, { axis }) => {
    // dx = g − softmax · Σ g over the entries not masked (output −∞, constant); 0 on masked ones
    const live = fused("logSoftmax", `select(a, 0.0, b < ${F32_LOWEST})`, [g, out]);
    const total = sum(live, axis, { keepdims: true });
    return [
      fused("logSoftmax", `select(a - exp(b) * c, 0.0, b < ${F32_LOWEST})`, [live, out, total]),
    ];
  },

  // ---- layer norm (TransformerLens): {eps, hasWeight, hasBias}, inputs [x, weight?, bias?]
  layerNorm: (g, _o, inputs, { eps, hasWeight, hasBias }) => {
    const [x] = inputs;
    const w = hasWeight ? inputs[1] : null;
    const b = hasBias ? inputs[hasWeight ? 2 : 1] : null;
    const { y: xhat, scale } = lnPre(x, { eps, returnScale: true });
    const dy = w ? mul(g, w) : g;
    // dx = (dŷ − mean(dŷ) − x̂ · mean(dŷ · x̂)) / scale
    const m1 = mean(dy, -1, { keepdims: true });
    const m2 = mean(mul(dy, xhat), -1, { keepdims: true });
    const t = fused("layerNorm", "a - b * c", [dy, xhat, m2]);
    const dx = x.requiresGrad ? fused("layerNorm", "(a - b) / c", [t, m1, scale]) : null;
    const res: (Tensor | null)[] = [dx];
    if (w) res.push(w.requiresGrad ? mul(g, xhat) : null);
    if (b) res.push(g);
    return res;
  },
  layerNormScale: (g, _o, [x], { eps }) => {
    // scale = sqrt(mean((x − mean x)²) + eps): d scale/dx = x̂ / n
    const xhat = lnPre(x, { eps });
    return [fused("layerNormScale", "a * b * s", [g, xhat], 1 / x.shape[x.rank - 1])];
  },

  // ---- losses: saved[0] is the per-row log-sum-exp (f32 [rows])
  crossEntropy: (g, _o, [logits, targets], { reduction, ignoreIndex }, [lse]) => {
    // d/dlogits = (softmax − onehot(target)) · w, w = g (sum, none) or g / #kept (mean),
    // 0 on ignored rows.
    const valid = ignoreIndex === undefined ? null : fused(
      "crossEntropy",
      `select(1.0, 0.0, a == ${intLit(targets, ignoreIndex)})`,
      [targets],
      0,
      g.dtype,
    );
    let w: Tensor = g;
    if (reduction === "mean") {
      const count = valid ? sum(valid) : null;
      w = count ? div(g, count) : div(g, targets.size);
    }
    if (valid) w = mul(w, valid);
    return [softmaxMinusOneHot(logits, targets, lse, w, 1), null];
  },
  logProbsAt: (g, _o, [logits, targets], _a, [lse]) => [
    // d/dlogits = (onehot(target) − softmax) · g
    softmaxMinusOneHot(logits, targets, lse, g, -1),
    null,
  ],

  // ---- topk {k, largest}: saved[0] holds the indices [..., k]; the gradient goes back to them
  topk: (g, _o, [x], _a, [indices]) => {
    const n = x.shape[x.rank - 1];
    const hot = oneHot(indices, n, { dtype: g.dtype }); // [..., k, n]
    return [sum(mul(unsqueeze(g, -1), hot), -2)];
  },
};

/** The most negative finite f32, as WGSL text: `v < F32_LOWEST` holds only for −∞. */
const F32_LOWEST = "-3.4028234663852886e38";

/** An integer literal of `t`'s dtype for WGSL. */
function intLit(t: Tensor, v: number): string {
  return t.dtype === "u32" ? `${v >>> 0}u` : `${v | 0}i`;
}

/**
 * sign · (softmax(logits) − onehot(targets)) · w over the last axis, where the softmax is
 * exp(logits − lse) and `w` has the shape of `targets` (or is a scalar).
 */
function softmaxMinusOneHot(
  logits: Tensor,
  targets: Tensor,
  lse: Tensor,
  w: Tensor,
  sign: 1 | -1,
): Tensor {
  const lead = targets.shape;
  const lseK = reshape(lse.dtype === logits.dtype ? lse : cast(lse, logits.dtype), [...lead, 1]);
  const tK = reshape(targets, [...lead, 1]);
  const v = logits.shape[logits.rank - 1];
  // Column of output element i is i mod v; the target column gets −1.
  const hotExpr = targets.dtype === "u32" ? "(i % u32(s)) == c" : "i32(i % u32(s)) == c";
  const d = fused(
    "crossEntropy",
    `exp(a - b) - select(0.0, 1.0, ${hotExpr})`,
    [logits, lseK, tK],
    v,
  );
  const wK = w.rank === 0 ? w : reshape(w, [...lead, 1]);
  return sign === 1 ? mul(d, wK) : mul(d, neg(wK));
}

/** Gradient of max/min: split equally among the elements equal to the result. */
function extremeGrad(g: Tensor, out: Tensor, x: Tensor, attrs: Attrs): Tensor {
  const ok = keepOut(out, attrs);
  const hits = fused("argextreme", "select(0.0, 1.0, a == b)", [x, ok]);
  const count = sum(hits, attrs.axes, { keepdims: true });
  const share = div(keepDims(g, attrs), count);
  return fused("argextreme", "select(0.0, a, b == c)", [share, x, ok]);
}
