/**
 * clipGradNorm / gradNorm on the GPU vs the f64 reference of PyTorch's clip_grad_norm_.
 */

import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { readTensors, type Tensor } from "../../src/tensor.ts";
import { tensor, zeros } from "../../src/ops/creation.ts";
import { keep, memory, scope } from "../../src/memory.ts";
import { clipGradNorm, gradNorm } from "../../src/optim/clip.ts";
import { clipGradNormRef } from "../../src/reference/optim.ts";
import { values } from "../autograd/_gradcheck.ts";

// Sizes around the 256-thread workgroup and past the 256-workgroup cap (65536 elements).
const SIZE = fc.constantFrom(0, 1, 5, 255, 256, 257, 4099, 70001);
const SEED = fc.integer({ min: 1, max: 2 ** 31 - 1 });

function withGrads(
  sizes: number[],
  seed: number,
  scale: number,
): { params: Tensor[]; cpu: Float64Array[] } {
  const cpu = sizes.map((n, i) => values(n, seed + i, -scale, scale));
  const params = cpu.map((g) => {
    const p = zeros([g.length], { requiresGrad: true });
    p.grad = keep(tensor(Float32Array.from(g), [g.length]));
    return p;
  });
  return { params, cpu };
}

// Tolerance: the norm is an f32 tree sum of squares (relative error ~1e-6 for these sizes);
// the scaled gradients inherit it: rtol 1e-5.
gpuTest(
  "clipGradNorm() scales by min(1, max/(norm+eps)) and returns the norm, on the GPU",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(SIZE, { minLength: 1, maxLength: 4 }),
        fc.constantFrom(0.01, 1, 10),
        fc.constantFrom(0.5, 1, 100),
        SEED,
        async (sizes, scale, maxNorm, seed) => {
          await scope(async () => {
            const { params, cpu } = withGrads(sizes, seed, scale);
            const submits = memory().submits;
            const norm = clipGradNorm(params, maxNorm);
            assert.equal(memory().submits, submits, "no readback or submit");
            assert.deepEqual(norm.shape, []);
            const want = clipGradNormRef(cpu, maxNorm);
            const [n, ...gs] = await readTensors([norm, ...params.map((p) => p.grad!)]);
            assertClose(n, [want], 1e-6, 1e-5, "norm");
            gs.forEach((g, i) => assertClose(g, cpu[i], 1e-7, 1e-5, `grad ${i} of [${sizes}]`));
            const again = await gradNorm(params).read();
            assertClose(again, [Math.min(want, maxNorm)], 1e-6, 1e-5, "gradNorm after clipping");
          });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("clipGradNorm() skips parameters without .grad and frees its temporaries", async () => {
  await scope(async () => {
    const a = zeros([3], { requiresGrad: true });
    a.grad = keep(tensor([3, 0, 4]));
    const b = zeros([2], { requiresGrad: true });
    const before = memory();
    const norm = clipGradNorm([a, b], 1);
    assert.equal(memory().liveTensors, before.liveTensors + 1);
    assertClose(await norm.read(), [5], 1e-6, 1e-6);
    assertClose(await a.grad!.read(), [0.6, 0, 0.8], 1e-6, 1e-6);
    norm.dispose();
    assert.equal(memory().liveBytes, before.liveBytes);
    assert.deepEqual(await clipGradNorm([b], 1).toArray(), 0);
    assert.throws(() => clipGradNorm([a], 0), /maxNorm must be > 0/);
  });
});
