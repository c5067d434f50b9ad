import assert from "node:assert/strict";
import { type Layout, makeInput, rng } from "./_inputs.ts";
import fc from "fast-check";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { tensor } from "../../src/ops/creation.ts";
import { layerNorm, lnPre } from "../../src/ops/layernorm.ts";
import { refLayerNorm } from "../../src/reference/reduce.ts";
import { readTensors } from "../../src/tensor.ts";
import { memory } from "../../src/memory.ts";
import { layerNormTuning } from "../../src/kernels/layernorm.ts";
import type { Engine } from "../../src/gpu/engine.ts";

// Tolerance (GPU f32 vs f64 reference on the same f32 inputs): atol 2e-5, rtol 1e-5 on y and
// scale. The kernel centres as (x − m) − δ (corrected two-pass), so a large mean next to a small
// spread (offset 50 below) costs little; y and scale come out within a few f32 ulp.
const ATOL = 2e-5;
const RTOL = 1e-5;

function values(n: number, seed: number, offset: number, scale: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.fround(offset + (r() * 2 - 1) * scale));
}

gpuTest(
  "layerNorm() matches the f64 reference (TransformerLens formula) on random shapes and layouts",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(1, 2, 3, 5, 17), { minLength: 0, maxLength: 2 }),
        fc.constantFrom(1, 2, 3, 7, 31, 64, 100, 257, 768, 1000),
        fc.constantFrom<Layout>("contiguous", "permuted", "sliced"),
        fc.constantFrom(1e-5, 1e-12, 0.1),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom(0, 3, 50),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        async (lead, d, layout, eps, withW, withB, offset, seed) => {
          const shape = [...lead, d];
          const { t, base, data } = makeInput(shape, layout, (n) => values(n, seed, offset, 2));
          const wv = values(d, seed + 1, 1, 0.5);
          const bv = values(d, seed + 2, 0, 0.5);
          const w = withW ? tensor(wv) : undefined;
          const b = withB ? tensor(bv) : undefined;
          const { y, scale } = layerNorm(t, { weight: w, bias: b, eps, returnScale: true });
          assert.deepEqual(y.shape, shape);
          assert.deepEqual(scale.shape, [...lead, 1]);
          const [gy, gs] = await readTensors([y, scale]);
          const want = refLayerNorm(data, shape, {
            weight: withW ? wv : undefined,
            bias: withB ? bv : undefined,
            eps,
          });
          const what = `[${shape}] ${layout} eps ${eps} w ${withW} b ${withB} offset ${offset}`;
          assertClose(gy, want.y.data, ATOL, RTOL, `y ${what}`);
          assertClose(gs, want.scale.data, ATOL, RTOL, `scale ${what}`);
          [y, scale, w, b].forEach((x) => x?.dispose());
          if (t !== base) t.dispose();
          base.dispose();
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("layerNorm() matches the reference with GPU workgroup sizes (32 … 256) too", async () => {
  // The adapter picks the bounds (8–16 on CPUs, 32–256 on GPUs); run the GPU ones here too.
  const saved = layerNormTuning.cpu;
  layerNormTuning.cpu = layerNormTuning.gpu;
  try {
    for (const shape of [[5, 3], [3, 100], [2, 768], [2, 3000]]) {
      const { t, data } = makeInput(shape, "sliced", (n) => values(n, 11, 20, 1));
      const wv = values(shape[1], 12, 1, 0.5);
      const w = tensor(wv);
      const { y, scale } = layerNorm(t, { weight: w, returnScale: true });
      const [gy, gs] = await readTensors([y, scale]);
      const want = refLayerNorm(data, shape, { weight: wv });
      assertClose(gy, want.y.data, ATOL, RTOL, `y [${shape}]`);
      assertClose(gs, want.scale.data, ATOL, RTOL, `scale [${shape}]`);
      [t, w, y, scale].forEach((x) => x.dispose());
    }
  } finally {
    layerNormTuning.cpu = saved;
  }
});

gpuTest("lnPre() equals layerNorm() without weight and bias (TL's LayerNormPre)", async () => {
  const { t, data } = makeInput([4, 7, 768], "contiguous", (n) => values(n, 3, 1, 3));
  const a = lnPre(t);
  const { y: b, scale } = lnPre(t, { eps: 1e-5, returnScale: true });
  const [ga, gb, gs] = await readTensors([a, b, scale]);
  const want = refLayerNorm(data, [4, 7, 768]);
  assertClose(ga, want.y.data, ATOL, RTOL, "lnPre");
  assertClose(gb, want.y.data, ATOL, RTOL, "lnPre returnScale");
  assertClose(gs, want.scale.data, ATOL, RTOL, "lnPre scale");
  [t, a, b, scale].forEach((x) => x.dispose());
});

gpuTest(
  "layerNorm() works on f16 inputs with f32 weights where the adapter has shader-f16",
  async (eng: Engine) => {
    if (!eng.hasFeature("shader-f16")) return;
    const v = values(3 * 768, 21, 1, 2);
    const x = tensor(v, [3, 768], { dtype: "f16" });
    const wv = values(768, 22, 1, 0.5);
    const w = tensor(wv);
    const { y, scale } = layerNorm(x, { weight: w, returnScale: true });
    assert.equal(y.dtype, "f16");
    assert.equal(scale.dtype, "f16");
    const [xr, gy, gs] = await readTensors([x, y, scale]);
    const want = refLayerNorm(xr, [3, 768], { weight: wv });
    // f32 arithmetic, f16 outputs: relative 2^-11 rounding.
    assertClose(gy, want.y.data, 2e-3, 1e-3, "f16 y");
    assertClose(gs, want.scale.data, 1e-3, 1e-3, "f16 scale");
    [x, w, y, scale].forEach((t) => t.dispose());
  },
);

gpuTest("layerNorm() gives the documented small example", async () => {
  const x = tensor([[1, 2, 3, 4]]);
  const w = tensor([1, 2, 1, 1]);
  const b = tensor([0, 0, 1, 0]);
  const y = layerNorm(x, { weight: w, bias: b, eps: 0 });
  const [got] = await readTensors([y]);
  const s = Math.sqrt(1.25);
  assertClose(got, [-1.5 / s, (-0.5 / s) * 2, 0.5 / s + 1, 1.5 / s], 1e-6, 1e-6, "example");
  [x, w, b, y].forEach((t) => t.dispose());
});

gpuTest(
  "layerNorm() rejects mismatched weight and bias shapes and integer inputs, naming both shapes",
  () => {
    const x = tensor([[1, 2, 3, 4], [5, 6, 7, 8]]);
    const w5 = tensor([1, 1, 1, 1, 1]);
    const w2d = tensor([[1, 1, 1, 1]]);
    const xi = tensor(new Int32Array([1, 2]), [1, 2]);
    assert.throws(
      () => layerNorm(x, { weight: w5 }),
      /Cannot run layerNorm: weight has shape \[5\], but x .*f32\[2, 4\] needs weight of shape \[4\]/,
    );
    assert.throws(
      () => layerNorm(x, { bias: w2d }),
      /Cannot run layerNorm: bias has shape \[1, 4\], but x .*f32\[2, 4\] needs bias of shape \[4\]/,
    );
    assert.throws(
      () => layerNorm(xi),
      /Cannot run layerNorm: .*i32\[1, 2\] has dtype i32; layerNorm needs a float tensor/,
    );
    assert.throws(() => layerNorm(tensor(5, [])), /Cannot run layerNorm: .* is a scalar/);
    assert.throws(
      () => layerNorm(x, { eps: -1 }),
      /Cannot run layerNorm: eps must be a finite number/,
    );
    [x, w5, w2d, xi].forEach((t) => t.dispose());
  },
);

gpuTest("layerNorm() is recorded for autograd as layerNorm (y) and layerNormScale (scale)", () => {
  const x = tensor([[1, 2, 3]], undefined, { requiresGrad: true });
  const w = tensor([1, 1, 1], undefined, { requiresGrad: true });
  const b = tensor([0, 0, 0]);
  const { y, scale } = layerNorm(x, { weight: w, bias: b, eps: 1e-6, returnScale: true });
  assert.equal(y.node?.op, "layerNorm");
  assert.deepEqual(y.node?.inputs, [x, w, b]);
  assert.deepEqual(y.node?.attrs, { eps: 1e-6, hasWeight: true, hasBias: true });
  assert.equal(scale.node?.op, "layerNormScale");
  assert.deepEqual(scale.node?.inputs, [x]);
  const p = lnPre(x);
  assert.deepEqual(p.node?.attrs, { eps: 1e-5, hasWeight: false, hasBias: false });
  [x, w, b, y, scale, p].forEach((t) => t.dispose());
});

gpuTest("layerNorm() frees the contiguous copies of strided weights", async () => {
  const x = tensor([[1, 2, 3], [4, 6, 9]]);
  const wBase = tensor([1, 0, 2, 0, 3, 0]);
  const w = wBase.view([3], [2], 0); // [1, 2, 3], stride 2
  const before = memory().liveTensors;
  const y = layerNorm(x, { weight: w });
  assert.equal(memory().liveTensors, before + 1);
  const [got] = await readTensors([y]);
  assertClose(
    got,
    refLayerNorm([1, 2, 3, 4, 6, 9], [2, 3], { weight: [1, 2, 3] }).y.data,
    ATOL,
    RTOL,
    "strided w",
  );
  [x, wBase, w, y].forEach((t) => t.dispose());
});
