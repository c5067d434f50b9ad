import assert from "node:assert/strict";
import { type Layout, makeInput, rng } from "./_inputs.ts";
import fc from "fast-check";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { tensor } from "../../src/ops/creation.ts";
import {
  argmax,
  argmin,
  max,
  mean,
  min,
  normAxes,
  std,
  sum,
  var as varOp,
  variance,
} from "../../src/ops/reduce.ts";
import {
  reduceKernel,
  type ReducePath,
  reducePlan,
  reduceTuning,
} from "../../src/kernels/reduce.ts";
import { refReduce, type RefReduceOp } from "../../src/reference/reduce.ts";
import { readTensors, sizeOf, type Tensor } from "../../src/tensor.ts";
import { memory } from "../../src/memory.ts";
import type { Engine } from "../../src/gpu/engine.ts";

// ------------------------------------------------------------------ helpers

type Kind = "uniform" | "offset" | "ints";
/** A tensor of logical shape `shape` laid out as asked, and its logical row-major values. */
function makeReduceInput(
  shape: number[],
  layout: Layout,
  seed: number,
  kind: Kind,
  dtype: "f32" | "i32" = "f32",
): { t: Tensor; base: Tensor; data: Float64Array } {
  return makeInput(shape, layout, (n) => values(n, seed, kind), dtype);
}

function values(n: number, seed: number, kind: Kind): number[] {
  const r = rng(seed);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    if (kind === "ints") out[i] = Math.floor(r() * 7) - 3; // many ties
    else if (kind === "offset") out[i] = Math.fround(10 + (r() * 2 - 1));
    else out[i] = Math.fround(r() * 2 - 1);
  }
  return out;
}

/**
 * Per-element tolerance of a reduction of `n` f32 values (documented in one place):
 * - sum: |err| ≤ 1e-5·sqrt(n)·mean|x| + 1e-6·|want| (the compensated f32 sum is usually within
 *   an ulp or two of the f64 sum; the second term is the f32 rounding of a large result);
 * - mean: the same divided by n;
 * - var: |err| ≤ 1e-5·sqrt(n)·|want| + 1e-7·mean(x²) (the second term: f32 Welford loses about
 *   eps·mean² to cancellation when the mean is large next to the spread);
 * - std: 1e-5·sqrt(n)·|want| + sqrt(1e-7·mean(x²)) (|√a − √b| ≤ √|a − b|);
 * - max/min/argmax/argmin and integer sums: exact.
 */
function tolerance(op: RefReduceOp, n: number, absSum: number, sqSum: number, want: number) {
  const m = Math.max(n, 1);
  const rn = Math.sqrt(m);
  switch (op) {
    case "sum":
      return 1e-5 * rn * (absSum / m) + 1e-6 * Math.abs(want);
    case "mean":
      return (1e-5 * rn * (absSum / m)) / m + 1e-6 * Math.abs(want);
    case "var":
      return 1e-5 * rn * Math.abs(want) + 1e-7 * (sqSum / m);
    case "std":
      return 1e-5 * rn * Math.abs(want) + Math.sqrt(1e-7 * (sqSum / m));
    default:
      return 0;
  }
}

function compare(
  op: RefReduceOp,
  got: ArrayLike<number>,
  data: Float64Array,
  shape: number[],
  axes: number[] | undefined,
  keepdims: boolean,
  correction = 0,
  what = "",
): void {
  const want = refReduce(op, data, shape, axes, { keepdims, correction });
  const absSum = refReduce("sum", data.map(Math.abs), shape, axes).data;
  const sqSum = refReduce("sum", data.map((v) => v * v), shape, axes).data;
  const n = sizeOf(normAxes(op, axes, shape).map((a) => shape[a]));
  assert.equal(got.length, want.data.length, `${what} ${op}: output length`);
  for (let i = 0; i < got.length; i++) {
    const w = want.data[i];
    const g = got[i];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    const tol = tolerance(op, n, absSum[i], sqSum[i], w);
    if (!(Math.abs(g - w) <= tol)) {
      throw new Error(
        `${what} ${op} over axes [${axes}] of [${shape}] (keepdims ${keepdims}): element ${i} is ${g}, want ${w} (tolerance ${tol})`,
      );
    }
  }
}

const dimArb = fc.constantFrom(1, 1, 2, 3, 4, 5, 7, 8, 13, 17, 31, 64, 129, 300);
const shapeArbOf = (maxSize: number) =>
  fc.array(dimArb, { minLength: 0, maxLength: 4 }).filter((s) => sizeOf(s) <= maxSize);

/** A shape, a subset of its axes (some written negative) or undefined, and the options. */
const caseArbOf = (maxSize: number) =>
  shapeArbOf(maxSize).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      axes: fc.option(
        fc.subarray(shape.map((_, i) => i)).chain((axes) =>
          fc.tuple(...axes.map((a) => fc.constantFrom(a, a - shape.length))).map((v) =>
            v as number[]
          )
        ),
        { nil: undefined, freq: 4 },
      ),
      keepdims: fc.boolean(),
      layout: fc.constantFrom<Layout>("contiguous", "permuted", "sliced"),
      kind: fc.constantFrom<Kind>("uniform", "offset", "ints"),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    })
  );
const caseArb = caseArbOf(60_000);

const FLOAT_OPS = ["sum", "mean", "max", "min", "var", "std", "argmax", "argmin"] as const;

function runOp(
  op: (typeof FLOAT_OPS)[number],
  t: Tensor,
  axes: number[] | undefined,
  keepdims: boolean,
) {
  switch (op) {
    case "sum":
      return sum(t, axes, { keepdims });
    case "mean":
      return mean(t, axes, { keepdims });
    case "max":
      return max(t, axes, { keepdims });
    case "min":
      return min(t, axes, { keepdims });
    case "var":
      return variance(t, axes, { keepdims });
    case "std":
      return std(t, axes, { keepdims, correction: 1 });
    case "argmax":
    case "argmin":
      throw new Error("one axis only");
  }
}

// ------------------------------------------------------------------ properties

gpuTest(
  "sum() mean() max() min() var() std() match the f64 reference on random shapes, axes and layouts",
  async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const { t, base, data } = makeReduceInput(c.shape, c.layout, c.seed, c.kind);
        const ops = ["sum", "mean", "max", "min", "var", "std"] as const;
        const outs = ops.map((op) => runOp(op, t, c.axes, c.keepdims));
        const got = await readTensors(outs);
        const norm = normAxes("test", c.axes, c.shape);
        const outShape = c.shape.flatMap((
          d,
          i,
        ) => (norm.includes(i) ? (c.keepdims ? [1] : []) : [d]));
        ops.forEach((op, k) => {
          assert.deepEqual(outs[k].shape, outShape, `${op} output shape`);
          compare(op, got[k], data, c.shape, c.axes, c.keepdims, op === "std" ? 1 : 0, c.layout);
        });
        outs.forEach((o) => o.dispose());
        if (t !== base) t.dispose();
        base.dispose();
      }),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest(
  "argmax() argmin() match the f64 reference (first index on ties) on random shapes and layouts",
  async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, fc.boolean(), async (c, flat) => {
        if (sizeOf(c.shape) === 0) return;
        const { t, base, data } = makeReduceInput(c.shape, c.layout, c.seed, c.kind);
        const axis = flat || c.shape.length === 0
          ? undefined
          : (c.seed % c.shape.length) - (c.seed % 2 === 0 ? 0 : c.shape.length);
        const outs = [
          argmax(t, axis, { keepdims: c.keepdims }),
          argmin(t, axis, { keepdims: c.keepdims }),
        ];
        assert.equal(outs[0].dtype, "i32");
        const got = await readTensors(outs);
        const axes = axis === undefined ? undefined : [axis];
        compare("argmax", got[0], data, c.shape, axes, c.keepdims, 0, c.layout);
        compare("argmin", got[1], data, c.shape, axes, c.keepdims, 0, c.layout);
        outs.forEach((o) => o.dispose());
        if (t !== base) t.dispose();
        base.dispose();
      }),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("sum() max() min() argmax() are exact on i32 tensors", async () => {
  await fc.assert(
    fc.asyncProperty(caseArb, async (c) => {
      if (sizeOf(c.shape) === 0) return;
      const { t, base, data } = makeReduceInput(c.shape, c.layout, c.seed, "ints", "i32");
      const axis = c.shape.length === 0 ? undefined : c.seed % c.shape.length;
      const outs = [
        sum(t, c.axes, { keepdims: c.keepdims }),
        max(t, c.axes, { keepdims: c.keepdims }),
        min(t, c.axes, { keepdims: c.keepdims }),
        argmax(t, axis),
      ];
      assert.deepEqual(outs.map((o) => o.dtype), ["i32", "i32", "i32", "i32"]);
      const got = await readTensors(outs);
      compare("sum", got[0], data, c.shape, c.axes, c.keepdims, 0, "i32");
      compare("max", got[1], data, c.shape, c.axes, c.keepdims, 0, "i32");
      compare("min", got[2], data, c.shape, c.axes, c.keepdims, 0, "i32");
      compare(
        "argmax",
        got[3],
        data,
        c.shape,
        axis === undefined ? undefined : [axis],
        false,
        0,
        "i32",
      );
      outs.forEach((o) => o.dispose());
      if (t !== base) t.dispose();
      base.dispose();
    }),
    { numRuns: NUM_RUNS },
  );
});

gpuTest(
  "sum() mean() max() var() argmax() match the reference with every workgroup size (8 … 256)",
  async () => {
    // The adapter picks the size (16 on CPUs, 256 on GPUs); run the others here too.
    try {
      await fc.assert(
        fc.asyncProperty(caseArbOf(10_000), fc.constantFrom(8, 32, 64, 256), async (c, wg) => {
          if (sizeOf(c.shape) === 0) return;
          reduceTuning.wg = wg;
          const { t, base, data } = makeReduceInput(c.shape, c.layout, c.seed, c.kind);
          const ops = ["sum", "mean", "max", "var"] as const;
          const outs = ops.map((op) => runOp(op, t, c.axes, c.keepdims));
          outs.push(argmax(t));
          const got = await readTensors(outs);
          ops.forEach((op, k) =>
            compare(op, got[k], data, c.shape, c.axes, c.keepdims, 0, `wg ${wg}`)
          );
          compare("argmax", got[4], data, c.shape, undefined, false, 0, `wg ${wg}`);
          outs.forEach((o) => o.dispose());
          if (t !== base) t.dispose();
          base.dispose();
        }),
        { numRuns: NUM_RUNS },
      );
    } finally {
      reduceTuning.wg = undefined;
    }
  },
);

gpuTest(
  "reduceKernel() gives the same answers on every plan (row, split, thread)",
  async (eng: Engine) => {
    const shapeSmall = fc
      .array(fc.constantFrom(1, 2, 3, 5, 7, 31, 64, 257, 1000), { minLength: 1, maxLength: 3 })
      .filter((s) => sizeOf(s) <= 8000); // the thread plan runs whole rows in one invocation
    await fc.assert(
      fc.asyncProperty(
        shapeSmall,
        fc.constantFrom<Layout>("contiguous", "permuted", "sliced"),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 700 }),
        async (shape, layout, seed, chunk) => {
          const { t, base, data } = makeReduceInput(
            shape,
            layout,
            seed,
            seed % 3 === 0 ? "ints" : "uniform",
          );
          const axes = shape.map((_, i) => i).filter((i) =>
            (seed >> i) & 1 || i === shape.length - 1
          );
          const paths: ReducePath[] = ["row", "split", "thread"];
          const ops = ["sum", "mean", "max", "var", "argmax"] as const;
          const outs: Tensor[] = [];
          for (const path of paths) {
            for (const op of ops) {
              outs.push(reduceKernel(eng, { op, x: t, axes, keepdims: false, path, chunk }));
            }
          }
          const got = await readTensors(outs);
          let k = 0;
          for (const path of paths) {
            for (const op of ops) {
              compare(
                op,
                got[k++],
                data,
                shape,
                axes,
                false,
                0,
                `plan ${path}`,
              );
            }
          }
          outs.forEach((o) => o.dispose());
          if (t !== base) t.dispose();
          base.dispose();
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

// ------------------------------------------------------------------ long rows and examples

gpuTest(
  "sum() mean() max() var() argmax() on long last axes (3000, 50257) match the reference",
  async () => {
    for (const shape of [[3000], [2, 3000], [1, 50257], [3, 50257]]) {
      for (const kind of ["uniform", "offset"] as const) {
        const { t, data } = makeReduceInput(
          shape,
          "contiguous",
          shape[shape.length - 1] + shape[0],
          kind,
        );
        const ops = ["sum", "mean", "max", "min", "var", "std"] as const;
        const outs = ops.map((op) => runOp(op, t, [-1], false));
        outs.push(argmax(t, -1), argmin(t, -1));
        const got = await readTensors(outs);
        ops.forEach((op, k) => compare(op, got[k], data, shape, [-1], false, op === "std" ? 1 : 0));
        compare("argmax", got[6], data, shape, [-1], false);
        compare("argmin", got[7], data, shape, [-1], false);
        outs.forEach((o) => o.dispose());
        t.dispose();
      }
    }
    // The long rows really take the split plan.
    assert.equal(reducePlan(3, 50257, true).path, "split");
    assert.equal(reducePlan(1, 3000, true).path, "split");
  },
);

gpuTest("sum() of every axis of a 3000 × 1100 tensor is accurate (compensated)", async () => {
  const n = 3000 * 1100;
  const raw = new Float32Array(n);
  for (let i = 0; i < n; i++) raw[i] = Math.fround(0.1 + (i % 10) * 1e-3);
  const t = tensor(raw, [3000, 1100]);
  const [got] = await readTensors([sum(t)]);
  let want = 0;
  for (let i = 0; i < n; i++) want += raw[i];
  // f32 result: the compensated sum rounds to within a couple of f32 ulps of the f64 sum.
  assert.ok(Math.abs(got[0] - want) <= 4 * want * 2 ** -24, `sum ${got[0]} vs ${want}`);
  t.dispose();
});

gpuTest(
  "sum() keeps every rounding error (compensated) on each plan: [1e8, 1, 1, 1, -1e8] sums to 3",
  async (eng: Engine) => {
    const x = tensor([1e8, 1, 1, 1, -1e8]);
    const outs = (["row", "split", "thread"] as const).map((path) =>
      reduceKernel(eng, { op: "sum", x, axes: [0], keepdims: false, path, chunk: 2 })
    );
    outs.push(sum(x), mean(x));
    const got = (await readTensors(outs)).map((a) => a[0]);
    assert.deepEqual(got, [3, 3, 3, 3, 0.6000000238418579]);
    outs.forEach((o) => o.dispose());
    x.dispose();
  },
);

gpuTest("sum() mean() max() var() argmax() give the documented small examples", async () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  const outs = [
    sum(x),
    sum(x, 1),
    sum(x, -1, { keepdims: true }),
    mean(x, 0),
    max(x, [0, 1]),
    min(x, []),
    variance(x, 1),
    varOp(x, 1, { correction: 1 }),
    std(x),
    argmax(x),
    argmax(x, 0),
    argmin(x, 1, { keepdims: true }),
  ];
  const got = (await readTensors(outs)).map((a) => Array.from(a));
  assert.deepEqual(got[0], [21]);
  assert.deepEqual(outs[0].shape, []);
  assert.deepEqual(got[1], [6, 15]);
  assert.deepEqual(outs[2].shape, [2, 1]);
  assert.deepEqual(got[3], [2.5, 3.5, 4.5]);
  assert.deepEqual(got[4], [6]);
  assert.deepEqual(got[5], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(outs[5].shape, [2, 3]);
  assert.ok(Math.abs(got[6][0] - 2 / 3) < 1e-6 && Math.abs(got[6][1] - 2 / 3) < 1e-6);
  assert.deepEqual(got[7], [1, 1]);
  assert.ok(Math.abs(got[8][0] - Math.sqrt(35 / 12)) < 1e-6);
  assert.deepEqual(got[9], [5]);
  assert.deepEqual(got[10], [1, 1, 1]);
  assert.deepEqual(got[11], [0, 0]);
  assert.deepEqual(outs[11].shape, [2, 1]);
  outs.forEach((o) => o.dispose());
  x.dispose();
});

gpuTest("max() min() argmax() handle NaN, ±Infinity and ties like PyTorch", async () => {
  const x = tensor([[1, NaN, 3, NaN], [-Infinity, -Infinity, -Infinity, -Infinity], [
    2,
    7,
    7,
    Infinity,
  ]]);
  const outs = [max(x, 1), min(x, 1), argmax(x, 1), argmin(x, 1), sum(x, 1), variance(x, 1)];
  const got = (await readTensors(outs)).map((a) => Array.from(a));
  assert.deepEqual(got[0], [NaN, -Infinity, Infinity]);
  assert.deepEqual(got[1], [NaN, -Infinity, 2]);
  assert.deepEqual(got[2], [1, 0, 3]);
  assert.deepEqual(got[3], [1, 0, 0]);
  assert.deepEqual(got[4], [NaN, -Infinity, Infinity]);
  assert.ok(Number.isNaN(got[5][0]) && Number.isNaN(got[5][1]) && Number.isNaN(got[5][2]));
  outs.forEach((o) => o.dispose());
  x.dispose();
});

gpuTest(
  "sum() mean() over an empty axis give 0 and NaN; var() with correction ≥ n gives NaN",
  async () => {
    const e = tensor(new Float32Array(0), [2, 0]);
    const one = tensor([[5]]);
    const outs = [sum(e, 1), mean(e, 1), variance(one, 1, { correction: 1 })];
    const got = (await readTensors(outs)).map((a) => Array.from(a));
    assert.deepEqual(got[0], [0, 0]);
    assert.deepEqual(got[1], [NaN, NaN]);
    assert.deepEqual(got[2], [NaN]);
    assert.throws(() => max(e, 1), /Cannot run max: it reduces over 0 elements/);
    assert.throws(() => argmax(e), /Cannot run argmax: .* is empty/);
    outs.forEach((o) => o.dispose());
    e.dispose();
    one.dispose();
  },
);

gpuTest(
  "sum() max() argmax() var() work on f16 tensors where the adapter has shader-f16",
  async (eng: Engine) => {
    if (!eng.hasFeature("shader-f16")) return;
    const v = values(7 * 300, 3, "uniform");
    const x = tensor(v, [7, 300], { dtype: "f16" });
    const outs = [sum(x, -1), max(x, 0), argmax(x, -1), variance(x, -1)];
    assert.deepEqual(outs.map((o) => o.dtype), ["f16", "f16", "i32", "f16"]);
    const [xr, ...got] = await readTensors([x, ...outs]);
    const data = Float64Array.from(xr); // the values as rounded to f16
    // Accumulation is in f32; only the f16 output rounding (rel 2^-11) remains.
    assertClose(got[0], refReduce("sum", data, [7, 300], -1).data, 1e-2, 1e-3, "f16 sum");
    assert.deepEqual(Array.from(got[1]), Array.from(refReduce("max", data, [7, 300], 0).data));
    assert.deepEqual(Array.from(got[2]), Array.from(refReduce("argmax", data, [7, 300], -1).data));
    assertClose(got[3], refReduce("var", data, [7, 300], -1).data, 1e-4, 1e-3, "f16 var");
    outs.forEach((o) => o.dispose());
    x.dispose();
  },
);

// ------------------------------------------------------------------ errors, records, memory

gpuTest("sum() mean() argmax() reject bad axes and dtypes with clear errors", () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  const xi = tensor(new Int32Array([1, 2]), [2]);
  assert.throws(
    () => sum(x, 2),
    /Cannot run sum: axis 2 is out of range for shape \[2, 3\] \(rank 2\)/,
  );
  assert.throws(() => max(x, -3), /Cannot run max: axis -3 is out of range for shape \[2, 3\]/);
  assert.throws(
    () => mean(x, [1, -1]),
    /Cannot run mean: axis -1 is repeated in \[1, -1\] for shape \[2, 3\]/,
  );
  assert.throws(() => sum(x, 0.5), /Cannot run sum: axis 0.5 is out of range/);
  assert.throws(
    () => mean(xi),
    /Cannot run mean: .*i32\[2\] has dtype i32; mean needs a float tensor/,
  );
  assert.throws(() => variance(xi), /Cannot run var: .* needs a float tensor/);
  assert.throws(() => argmax(x, 5), /Cannot run argmax: axis 5 is out of range/);
  assert.throws(
    () => argmax(x, [0, 1] as unknown as number),
    /Cannot run argmax: axis must be one number/,
  );
  x.dispose();
  xi.dispose();
});

gpuTest("sum() mean() var() max() are recorded for autograd with their attrs", () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
  const s = sum(x, -1, { keepdims: true });
  assert.equal(s.node?.op, "sum");
  assert.deepEqual(s.node?.attrs, { axes: [1], keepdims: true, shape: [2, 3] });
  assert.equal(s.node?.inputs[0], x);
  const m = mean(x);
  assert.equal(m.node?.op, "mean");
  assert.deepEqual(m.node?.attrs.axes, [0, 1]);
  const v = variance(x, 0, { correction: 1 });
  assert.equal(v.node?.op, "var");
  assert.equal(v.node?.attrs.correction, 1);
  assert.equal(max(x, 1).node?.op, "max");
  assert.equal(argmax(x, 1).node, null);
  const plain = tensor([1, 2]);
  assert.equal(sum(plain).node, null);
  [x, s, m, v, plain].forEach((t) => t.dispose());
});

gpuTest("sum() on the split plan frees its scratch buffer", () => {
  const x = tensor(new Float32Array(50257).fill(1), [1, 50257]);
  const before = memory().liveTensors;
  const y = sum(x, -1);
  assert.equal(memory().liveTensors, before + 1);
  y.dispose();
  x.dispose();
});
