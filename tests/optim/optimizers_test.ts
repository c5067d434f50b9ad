/**
 * SGD, Adam and AdamW on the GPU vs the f64 CPU references of PyTorch's formulas
 * (src/reference/optim.ts) over several steps with random gradients.
 */

import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { readTensors, type Tensor } from "../../src/tensor.ts";
import { tensor, zeros } from "../../src/ops/creation.ts";
import { keep, memory, scope, tidy } from "../../src/memory.ts";
import { transpose } from "../../src/ops/movement.ts";
import { Adam, AdamW, SGD } from "../../src/optim/optimizers.ts";
import { adamStepRef, sgdStepRef } from "../../src/reference/optim.ts";
import { values } from "../autograd/_gradcheck.ts";

const SIZE = fc.constantFrom(1, 3, 17, 256, 257, 1000);
const SEED = fc.integer({ min: 1, max: 2 ** 31 - 1 });
const STEPS = 6;

/** Parameters of the given sizes, f32 values, as GPU leaves and f64 copies. */
function makeParams(sizes: number[], seed: number): { gpu: Tensor[]; cpu: Float64Array[] } {
  const cpu = sizes.map((n, i) => values(n, seed + i, -1, 1));
  const gpu = cpu.map((d) => tensor(Float32Array.from(d), [d.length], { requiresGrad: true }));
  return { gpu, cpu };
}

/** Step `k`'s gradient of parameter `i` (f32 values; some zeros). */
function gradOf(n: number, seed: number, i: number, k: number): Float64Array {
  return values(n, seed * 7 + i * 131 + k * 17, -2, 2).map((v, j) => ((j + k) % 11 === 0 ? 0 : v));
}

/** Set each parameter's .grad for step k (owned by the parameter, like backward does). */
function setGrads(params: Tensor[], seed: number, k: number): void {
  params.forEach((p, i) => {
    p.grad?.dispose();
    p.grad = keep(tensor(Float32Array.from(gradOf(p.size, seed, i, k)), p.shape));
  });
}

// Tolerance: f32 kernels vs f64 reference after a few steps. Each update is O(lr) and computed
// with a handful of f32 operations, so the parameters agree to ~1e-6 relative; 1e-5 / 1e-4 leaves
// room for the sqrt and division in Adam.
const ATOL = 1e-5;
const RTOL = 1e-4;

gpuTest("SGD matches PyTorch's formula (momentum, dampening, Nesterov, weight decay)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(SIZE, { minLength: 1, maxLength: 3 }),
      fc.record({
        lr: fc.constantFrom(0.1, 0.01),
        momentum: fc.constantFrom(0, 0.9),
        dampening: fc.constantFrom(0, 0.3),
        weightDecay: fc.constantFrom(0, 0.05),
        nesterov: fc.boolean(),
      }),
      SEED,
      async (sizes, h, seed) => {
        if (h.nesterov && (h.momentum === 0 || h.dampening !== 0)) h.nesterov = false;
        await scope(async () => {
          const { gpu, cpu } = makeParams(sizes, seed);
          const opt = new SGD(gpu, h);
          let bufs: (Float64Array | null)[] = cpu.map(() => null);
          for (let k = 0; k < STEPS; k++) {
            setGrads(gpu, seed, k);
            opt.step();
            bufs = cpu.map((p, i) => sgdStepRef(p, gradOf(p.length, seed, i, k), bufs[i], h));
          }
          const got = await readTensors(gpu);
          got.forEach((g, i) =>
            assertClose(g, cpu[i], ATOL, RTOL, `SGD ${JSON.stringify(h)} param ${i}`)
          );
          opt.dispose();
        });
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest(
  "Adam and AdamW match PyTorch's formulas (bias correction, L2 vs decoupled decay)",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(SIZE, { minLength: 1, maxLength: 3 }),
        fc.record({
          lr: fc.constantFrom(1e-3, 0.05),
          betas: fc.constantFrom([0.9, 0.999] as const, [0.8, 0.95] as const),
          eps: fc.constantFrom(1e-8, 1e-6),
          weightDecay: fc.constantFrom(0, 0.01, 0.1),
        }),
        fc.boolean(),
        SEED,
        async (sizes, h, decoupled, seed) => {
          await scope(async () => {
            const { gpu, cpu } = makeParams(sizes, seed);
            const opt = decoupled ? new AdamW(gpu, h) : new Adam(gpu, h);
            const ms = cpu.map((p) => new Float64Array(p.length));
            const vs = cpu.map((p) => new Float64Array(p.length));
            for (let k = 0; k < STEPS; k++) {
              setGrads(gpu, seed, k);
              opt.step();
              cpu.forEach((p, i) =>
                adamStepRef(p, gradOf(p.length, seed, i, k), ms[i], vs[i], k + 1, {
                  ...h,
                  decoupled,
                })
              );
            }
            const got = await readTensors(gpu);
            const what = `${decoupled ? "AdamW" : "Adam"} ${JSON.stringify(h)}`;
            got.forEach((g, i) => assertClose(g, cpu[i], ATOL, RTOL, `${what} param ${i}`));
            const m0 = await opt.stateOf(0)!.m.read();
            assertClose(m0, ms[0], 1e-6, 1e-5, `${what} first moment`);
            assert.equal(opt.stateOf(0)!.step, STEPS);
            opt.dispose();
          });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest(
  "setLr() changes the rate without compiling; params without .grad are skipped",
  async () => {
    await scope(async () => {
      const { gpu, cpu } = makeParams([5, 4], 9);
      const opt = new AdamW(gpu, { lr: 0.1 });
      setGrads(gpu, 9, 0);
      gpu[1].grad!.dispose();
      gpu[1].grad = null;
      opt.step();
      const pipelines = memory().pipelines;
      const m = [new Float64Array(5), new Float64Array(4)];
      const v = [new Float64Array(5), new Float64Array(4)];
      adamStepRef(cpu[0], gradOf(5, 9, 0, 0), m[0], v[0], 1, {
        lr: 0.1,
        weightDecay: 0.01,
        decoupled: true,
      });
      for (let k = 1; k < 4; k++) {
        const lr = 0.1 / (k + 1);
        opt.setLr(lr);
        setGrads(gpu, 9, k);
        opt.step();
        // Parameter 1 starts its own step count at its first gradient, like PyTorch.
        adamStepRef(cpu[0], gradOf(5, 9, 0, k), m[0], v[0], k + 1, {
          lr,
          weightDecay: 0.01,
          decoupled: true,
        });
        adamStepRef(cpu[1], gradOf(4, 9, 1, k), m[1], v[1], k, {
          lr,
          weightDecay: 0.01,
          decoupled: true,
        });
      }
      assert.equal(memory().pipelines, pipelines, "no new pipeline for a new learning rate");
      assert.equal(opt.lr, 0.025);
      assert.equal(opt.stepCount, 4);
      const got = await readTensors(gpu);
      got.forEach((g, i) => assertClose(g, cpu[i], ATOL, RTOL, `param ${i}`));
      opt.zeroGrad();
      assert.equal(gpu[0].grad, null);
      opt.dispose();
    });
  },
);

gpuTest(
  "optimizer state belongs to the optimizer: it outlives scopes and dispose() frees it",
  () => {
    tidy(() => {
      const p = zeros([64], { requiresGrad: true });
      const before = memory();
      const opt = new Adam([p], { lr: 0.01 });
      tidy(() => {
        setGrads([p], 1, 0);
        opt.step(); // makes m and v inside this scope
      });
      assert.equal(opt.tensors().every((t) => !t.isDisposed), true);
      assert.equal(memory().liveTensors, before.liveTensors + 3); // m, v, p.grad
      opt.zeroGrad();
      opt.dispose();
      assert.equal(memory().liveTensors, before.liveTensors);
      assert.equal(memory().liveBytes, before.liveBytes);
      assert.throws(() => opt.step(), /disposed/);
    });
  },
);

gpuTest("optimizers reject bad parameters and hyperparameters with clear errors", () => {
  tidy(() => {
    const p = zeros([2, 3], { requiresGrad: true });
    assert.throws(() => new SGD([], { lr: 0.1 }), /no parameters/);
    assert.throws(() => new SGD([p, p], { lr: 0.1 }), /listed twice/);
    assert.throws(() => new SGD([zeros([2], { dtype: "i32" })], { lr: 0.1 }), /i32; only f32/);
    assert.throws(() => new SGD([transpose(p)], { lr: 0.1 }), /strided view/);
    assert.throws(() => new SGD([p], { lr: -1 }), /lr = -1/);
    assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), /Nesterov/);
    assert.throws(() => new Adam([p], { betas: [1, 0.9] }), /betas\[0\] = 1/);
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = keep(zeros([3]));
    assert.throws(() => opt.step(), /gradient of .* has shape \[3\]/);
    assert.throws(() => opt.setLr(NaN), /lr = NaN/);
    opt.zeroGrad();
  });
});
