import assert from "node:assert/strict";
import { type Layout, makeInput, rng } from "./_inputs.ts";
import fc from "fast-check";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { tensor } from "../../src/ops/creation.ts";
import { logSoftmax, softmax } from "../../src/ops/softmax.ts";
import { refSoftmax } from "../../src/reference/reduce.ts";
import { readTensors, sizeOf } from "../../src/tensor.ts";
import type { Engine } from "../../src/gpu/engine.ts";
import { softmaxTuning } from "../../src/kernels/softmax.ts";

// Tolerances (GPU f32 vs f64 reference on the same f32 inputs):
// - softmax: atol 1e-6, rtol 2e-5 — WGSL's exp may be off by a few ulp per unit of |x − max|
//   (tiny probabilities are covered by atol);
// - logSoftmax: atol 2e-5, rtol 1e-6 — x − max is rounded to f32 once (relative to |want|), and
//   log(sum) carries ~1e-7 absolute error.
const SM_ATOL = 1e-6;
const SM_RTOL = 2e-5;
const LSM_ATOL = 2e-5;
const LSM_RTOL = 1e-6;

/** Values on [-scale, scale], with a share of -Infinity entries. */
function values(n: number, seed: number, scale: number, negInf: number): number[] {
  const r = rng(seed);
  return Array.from(
    { length: n },
    () => (r() < negInf ? -Infinity : Math.fround((r() * 2 - 1) * scale)),
  );
}

const dimArb = fc.constantFrom(1, 2, 3, 5, 7, 8, 13, 31, 64, 128, 129, 300);
const shapeArb = fc.array(dimArb, { minLength: 1, maxLength: 4 }).filter((s) =>
  sizeOf(s) <= 60_000
);

gpuTest(
  "softmax() logSoftmax() match the f64 reference on random shapes, axes, layouts and scales",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb,
        fc.nat(),
        fc.constantFrom<Layout>("contiguous", "permuted", "sliced"),
        fc.constantFrom(1, 30, 1e4),
        fc.constantFrom(0, 0, 0.2, 0.9),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        async (shape, axisPick, layout, scale, negInf, seed) => {
          const rank = shape.length;
          const axis = (axisPick % rank) - (axisPick % 2 === 0 ? rank : 0);
          const { t, base, data } = makeInput(shape, layout, (n) => values(n, seed, scale, negInf));
          const outs = [softmax(t, axis), logSoftmax(t, axis)];
          const [p, lp] = await readTensors(outs);
          const what = `[${shape}] axis ${axis} ${layout} scale ${scale}`;
          assertClose(p, refSoftmax(data, shape, axis).data, SM_ATOL, SM_RTOL, `softmax ${what}`);
          assertClose(
            lp,
            refSoftmax(data, shape, axis, { log: true }).data,
            LSM_ATOL,
            LSM_RTOL,
            `logSoftmax ${what}`,
          );
          outs.forEach((o) => o.dispose());
          if (t !== base) t.dispose();
          base.dispose();
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("softmax() logSoftmax() with causal: true match the masked f64 reference", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(1, 2, 3),
      fc.constantFrom(1, 2, 5, 16, 33),
      fc.constantFrom(1, 2, 5, 16, 33, 70),
      fc.constantFrom<Layout>("contiguous", "permuted", "sliced"),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      async (b, q, k, layout, seed) => {
        const shape = [b, q, k];
        const { t, base, data } = makeInput(shape, layout, (n) => values(n, seed, 5, 0));
        const outs = [softmax(t, -1, { causal: true }), logSoftmax(t, -1, { causal: true })];
        const [p, lp] = await readTensors(outs);
        const what = `causal [${shape}] ${layout}`;
        assertClose(
          p,
          refSoftmax(data, shape, -1, { causal: true }).data,
          SM_ATOL,
          SM_RTOL,
          `softmax ${what}`,
        );
        assertClose(
          lp,
          refSoftmax(data, shape, -1, { causal: true, log: true }).data,
          LSM_ATOL,
          LSM_RTOL,
          `logSoftmax ${what}`,
        );
        // Each row sums to 1 unless every key is masked (k < q: the first q − k rows are zeros).
        for (let r = 0; r < b * q; r++) {
          let s = 0;
          for (let j = 0; j < k; j++) s += p[r * k + j];
          const masked = (r % q) + (k - q) < 0;
          assert.ok(Math.abs(s - (masked ? 0 : 1)) < 1e-5, `row ${r} sums to ${s}`);
        }
        outs.forEach((o) => o.dispose());
        if (t !== base) t.dispose();
        base.dispose();
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest(
  "softmax() logSoftmax() match the reference with GPU workgroup sizes (32 … 256) too",
  async () => {
    // The adapter picks the bounds (8–16 on CPUs, 32–256 on GPUs); run the GPU ones here too.
    const saved = softmaxTuning.cpu;
    softmaxTuning.cpu = softmaxTuning.gpu;
    try {
      for (
        const [shape, causal] of [[[3, 5, 5], true], [[2, 300], false], [[4, 129, 64], true], [[
          2,
          3000,
        ], false]] as const
      ) {
        const { t, data } = makeInput([...shape], "contiguous", (n) => values(n, 5, 10, 0.1));
        const outs = [softmax(t, -1, { causal }), logSoftmax(t, -1, { causal })];
        const [p, lp] = await readTensors(outs);
        assertClose(
          p,
          refSoftmax(data, [...shape], -1, { causal }).data,
          SM_ATOL,
          SM_RTOL,
          `softmax [${shape}]`,
        );
        assertClose(
          lp,
          refSoftmax(data, [...shape], -1, { causal, log: true }).data,
          LSM_ATOL,
          LSM_RTOL,
          `log [${shape}]`,
        );
        outs.forEach((o) => o.dispose());
        t.dispose();
      }
    } finally {
      softmaxTuning.cpu = saved;
    }
  },
);

gpuTest("softmax() logSoftmax() on long rows (3000, 50257) match the reference", async () => {
  for (const shape of [[3, 3000], [2, 50257]]) {
    const { t, data } = makeInput(shape, "contiguous", (n) => values(n, shape[1], 20, 0.01));
    const outs = [softmax(t), logSoftmax(t)];
    const [p, lp] = await readTensors(outs);
    assertClose(p, refSoftmax(data, shape).data, SM_ATOL, SM_RTOL, `softmax [${shape}]`);
    assertClose(
      lp,
      refSoftmax(data, shape, -1, { log: true }).data,
      LSM_ATOL,
      LSM_RTOL,
      `logSoftmax [${shape}]`,
    );
    outs.forEach((o) => o.dispose());
    t.dispose();
  }
});

gpuTest("softmax() handles ±1e4, -Infinity, fully masked rows and NaN as documented", async () => {
  const x = tensor([
    [1e4, -1e4, 1e4 - 1, 0],
    [-Infinity, 0, -Infinity, Math.log(3)],
    [-Infinity, -Infinity, -Infinity, -Infinity],
    [1, NaN, 2, 3],
  ]);
  const outs = [softmax(x), logSoftmax(x)];
  const [p, lp] = (await readTensors(outs)).map((a) => Array.from(a));
  const e = Math.exp(-1);
  assertClose(p.slice(0, 4), [1 / (1 + e), 0, e / (1 + e), 0], 1e-6, 1e-5, "±1e4 row");
  assertClose(p.slice(4, 8), [0, 0.25, 0, 0.75], 1e-6, 1e-5, "-Infinity row");
  assert.deepEqual(p.slice(8, 12), [0, 0, 0, 0]);
  assert.ok(p.slice(12).every(Number.isNaN), "a NaN input makes its row NaN");
  assertClose(
    lp.slice(0, 4),
    [-Math.log1p(e), -2e4 - Math.log1p(e), -1 - Math.log1p(e), -1e4 - Math.log1p(e)],
    1e-3,
    1e-6,
    "log ±1e4",
  );
  assert.equal(lp[4], -Infinity);
  assert.equal(lp[6], -Infinity);
  assert.deepEqual(lp.slice(8, 12), [-Infinity, -Infinity, -Infinity, -Infinity]);
  outs.forEach((o) => o.dispose());
  x.dispose();
});

gpuTest("softmax() works on f16 tensors where the adapter has shader-f16", async (eng: Engine) => {
  if (!eng.hasFeature("shader-f16")) return;
  const v = values(5 * 37, 7, 4, 0.1);
  const x = tensor(v, [5, 37], { dtype: "f16" });
  const y = softmax(x);
  assert.equal(y.dtype, "f16");
  const [got] = await readTensors([y]);
  // Inputs rounded to f16 first; outputs are f16 (3 decimal digits).
  const [xr] = await readTensors([x]);
  assertClose(got, refSoftmax(xr, [5, 37]).data, 1e-3, 2e-3, "f16 softmax");
  x.dispose();
  y.dispose();
});

gpuTest(
  "softmax() logSoftmax() reject integer tensors, bad axes and misplaced causal masks",
  () => {
    const xi = tensor(new Int32Array([1, 2, 3]), [3]);
    const x = tensor([[1, 2], [3, 4]]);
    assert.throws(
      () => softmax(xi),
      /Cannot run softmax: .*i32\[3\] has dtype i32; softmax needs a float tensor/,
    );
    assert.throws(() => logSoftmax(xi), /Cannot run logSoftmax: .* needs a float tensor/);
    assert.throws(
      () => softmax(x, 2),
      /Cannot run softmax: axis 2 is out of range for a tensor of rank 2 \(shape \[2, 2\]\)/,
    );
    assert.throws(
      () => softmax(x, 0, { causal: true }),
      /Cannot run softmax: the causal mask needs the softmax over the last axis/,
    );
    const v = tensor([1, 2, 3]);
    assert.throws(() => softmax(v, -1, { causal: true }), /causal mask needs .* \[\.\.\., q, k\]/);
    [xi, x, v].forEach((t) => t.dispose());
  },
);

gpuTest("softmax() logSoftmax() are recorded for autograd with axis and causal", () => {
  const x = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
  const p = softmax(x, -1, { causal: true });
  assert.equal(p.node?.op, "softmax");
  assert.deepEqual(p.node?.attrs, { axis: 1, causal: true });
  assert.equal(p.node?.inputs[0], x);
  const lp = logSoftmax(x, 0);
  assert.equal(lp.node?.op, "logSoftmax");
  assert.deepEqual(lp.node?.attrs, { axis: 0, causal: false });
  [x, p, lp].forEach((t) => t.dispose());
});
