/**
 * Gradient rules of the reductions, softmax / logSoftmax and layer norm vs finite differences of
 * their f64 CPU references (tests/autograd/_gradcheck.ts: atol 1e-3, rtol 1e-2, h 1e-3).
 */

import fc from "fast-check";
import assert from "node:assert/strict";
import { gpuTest, NUM_RUNS } from "../_gpu.ts";
import { gradCheck, type Ref, ref } from "./_gradcheck.ts";
import { max, mean, min, std, sum, variance } from "../../src/ops/reduce.ts";
import { logSoftmax, softmax } from "../../src/ops/softmax.ts";
import { layerNorm, lnPre } from "../../src/ops/layernorm.ts";
import { permute } from "../../src/ops/movement.ts";
import { tensor } from "../../src/ops/creation.ts";
import { backward } from "../../src/autograd/backward.ts";
import { scope } from "../../src/memory.ts";
import { refLayerNorm, refReduce, refSoftmax } from "../../src/reference/reduce.ts";
import { permuteRef } from "../../src/reference/elementwise.ts";

const DIM = fc.constantFrom(1, 2, 3, 5);
const SHAPE = fc.array(DIM, { minLength: 1, maxLength: 3 });
const SEED = fc.integer({ min: 1, max: 2 ** 31 - 1 });

/** A shape with a random subset of its axes (possibly empty, possibly all) and keepdims. */
const SHAPE_AXES = SHAPE.chain((s) =>
  fc.tuple(
    fc.constant(s),
    fc.subarray(s.map((_, i) => i)),
    fc.boolean(),
    fc.boolean(),
  )
);

gpuTest("sum, mean, var and std gradients match finite differences over any axes", async () => {
  await fc.assert(
    fc.asyncProperty(SHAPE_AXES, SEED, async ([shape, axes, keepdims, negative], seed) => {
      const ax = negative ? axes.map((a) => a - shape.length) : axes;
      const x = ref(shape, seed, -2, 2);
      const count = axes.reduce((n, a) => n * shape[a], 1);
      await gradCheck({
        what: `sum over [${ax}] of [${shape}]`,
        inputs: [x],
        gpu: ([t]) => sum(t, ax, { keepdims }),
        ref: ([r]) => refReduce("sum", r.data, r.shape, ax, { keepdims }).data,
        seed,
      });
      await gradCheck({
        what: `mean over [${ax}] of [${shape}]`,
        inputs: [x],
        gpu: ([t]) => mean(t, ax, { keepdims }),
        ref: ([r]) => refReduce("mean", r.data, r.shape, ax, { keepdims }).data,
        seed,
      });
      for (const correction of count > 1 ? [0, 1] : [0]) {
        await gradCheck({
          what: `var (correction ${correction}) over [${ax}] of [${shape}]`,
          inputs: [x],
          gpu: ([t]) => variance(t, ax, { keepdims, correction }),
          ref: ([r]) => refReduce("var", r.data, r.shape, ax, { keepdims, correction }).data,
          seed,
        });
        const spread = refReduce("std", x.data, x.shape, ax, { keepdims, correction }).data;
        if (count > 1 && Math.min(...spread) > 0.1) {
          // std's derivative is unbounded near 0 (and finite differences straddle the kink):
          // check it only where every row has spread.
          await gradCheck({
            what: `std (correction ${correction}) over [${ax}] of [${shape}]`,
            inputs: [x],
            gpu: ([t]) => std(t, ax, { keepdims, correction }),
            ref: ([r]) => refReduce("std", r.data, r.shape, ax, { keepdims, correction }).data,
            seed,
          });
        }
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("max and min gradients go to the extreme element (views too)", async () => {
  await fc.assert(
    fc.asyncProperty(SHAPE_AXES, SEED, async ([shape, axes, keepdims], seed) => {
      // Distinct values (a shuffled grid) so the extreme is unique and h cannot change it.
      const n = shape.reduce<number>((a, b) => a * b, 1);
      const x: Ref = { data: ref(shape, seed).data.map((_, i) => ((i * 7919) % n) * 0.1), shape };
      x.data = x.data.map((v, i) => Math.fround(v + ref([n], seed + 1).data[i] * 0.01));
      for (const op of ["max", "min"] as const) {
        const f = op === "max" ? max : min;
        await gradCheck({
          what: `${op} over [${axes}] of [${shape}]`,
          inputs: [x],
          gpu: ([t]) => f(t, axes, { keepdims }),
          ref: ([r]) => refReduce(op, r.data, r.shape, axes, { keepdims }).data,
          seed,
        });
        if (shape.length >= 2) {
          const perm = shape.map((_, i) => shape.length - 1 - i);
          await gradCheck({
            what: `${op} over [${axes}] of a permuted [${shape}]`,
            inputs: [x],
            gpu: ([t]) => f(permute(t, perm), axes, { keepdims }),
            ref: ([r]) => {
              const p = permuteRef(r, perm);
              return refReduce(op, p.data, p.shape, axes, { keepdims }).data;
            },
            seed,
          });
        }
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("max splits the gradient equally among tied elements (as PyTorch's amax)", async () => {
  await scope(async () => {
    const x = tensor([[3, 1, 3], [0, 2, 1]], undefined, { requiresGrad: true });
    backward(max(x, 1), { grad: tensor([1, 4]) });
    assert.deepEqual(await x.grad!.toArray(), [[0.5, 0, 0.5], [0, 4, 0]]);
  });
});

gpuTest(
  "softmax and logSoftmax gradients match finite differences on any axis, causal too",
  async () => {
    await fc.assert(
      fc.asyncProperty(SHAPE, fc.nat(2), SEED, async (shape, axisPick, seed) => {
        const axis = axisPick % shape.length;
        const x = ref(shape, seed, -3, 3);
        for (const log of [false, true]) {
          const name = log ? "logSoftmax" : "softmax";
          const f = log ? logSoftmax : softmax;
          await gradCheck({
            what: `${name} on axis ${axis} of [${shape}]`,
            inputs: [x],
            gpu: ([t]) => f(t, axis),
            ref: ([r]) => refSoftmax(r.data, r.shape, axis, { log }).data,
            seed,
          });
          if (shape.length >= 2) {
            // Masked entries of logSoftmax are −∞ whatever x is: the reference counts them as 0
            // (a constant), and their seed R must not leak into the other entries' gradients.
            const fix = (v: number) => (v === -Infinity ? 0 : v);
            await gradCheck({
              what: `causal ${name} of [${shape}]`,
              inputs: [x],
              gpu: ([t]) => f(t, -1, { causal: true }),
              ref: ([r]) => refSoftmax(r.data, r.shape, -1, { log, causal: true }).data.map(fix),
              forward: ([r]) => refSoftmax(r.data, r.shape, -1, { log, causal: true }).data,
              seed,
            });
          }
        }
      }),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("layerNorm and lnPre gradients (x, weight, bias) match finite differences", async () => {
  await fc.assert(
    fc.asyncProperty(
      SHAPE.filter((s) => s[s.length - 1] > 1),
      SEED,
      fc.boolean(),
      async (shape, seed, affine) => {
        const d = shape[shape.length - 1];
        const x = ref(shape, seed, -2, 2);
        const w = ref([d], seed + 1, 0.5, 1.5);
        const b = ref([d], seed + 2);
        const eps = 1e-5;
        if (affine) {
          await gradCheck({
            what: `layerNorm(x, w, b) of [${shape}]`,
            inputs: [x, w, b],
            gpu: ([t, tw, tb]) => layerNorm(t, { weight: tw, bias: tb, eps }),
            ref: ([r, rw, rb]) =>
              refLayerNorm(r.data, r.shape, { weight: rw.data, bias: rb.data, eps }).y.data,
            seed,
          });
          await gradCheck({
            what: `layerNorm(x, w) scale output of [${shape}]`,
            inputs: [x, w],
            gpu: ([t, tw]) => layerNorm(t, { weight: tw, eps, returnScale: true }).scale,
            ref: ([r]) => refLayerNorm(r.data, r.shape, { eps }).scale.data,
            seed,
          });
        } else {
          await gradCheck({
            what: `lnPre of [${shape}]`,
            inputs: [x],
            gpu: ([t]) => lnPre(t, { eps }),
            ref: ([r]) => refLayerNorm(r.data, r.shape, { eps }).y.data,
            seed,
          });
        }
      },
    ),
    { numRuns: NUM_RUNS },
  );
});
