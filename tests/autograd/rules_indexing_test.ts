/**
 * Gradient rules of the indexing ops (gather, embedding, scatterAdd, concat), the losses
 * (crossEntropy, logProbsAt) and topk vs finite differences of their f64 CPU references
 * (tests/autograd/_gradcheck.ts: atol 1e-3, rtol 1e-2, h 1e-3).
 */

import fc from "fast-check";
import assert from "node:assert/strict";
import { gpuTest, NUM_RUNS } from "../_gpu.ts";
import { gradCheck, ref } from "./_gradcheck.ts";
import { concat, embedding, gather, oneHot, scatterAdd } from "../../src/ops/indexing.ts";
import { crossEntropy, logProbsAt } from "../../src/ops/loss.ts";
import { topk } from "../../src/ops/topk.ts";
import { transpose } from "../../src/ops/movement.ts";
import { tensor } from "../../src/ops/creation.ts";
import { backward } from "../../src/autograd/backward.ts";
import { scope } from "../../src/memory.ts";
import {
  concatRef,
  crossEntropyRef,
  gatherRef,
  logProbsAtRef,
  scatterAddRef,
  topkRef,
} from "../../src/reference/indexing.ts";
import { permuteRef } from "../../src/reference/elementwise.ts";

const DIM = fc.constantFrom(1, 2, 3, 5);
const SEED = fc.integer({ min: 1, max: 2 ** 31 - 1 });

const ids = (n: number, m: number, seed: number) =>
  Int32Array.from({ length: m }, (_, j) => (seed * 31 + j * 17 + ((j * j) % 7)) % n);

gpuTest(
  "gather and embedding gradients scatter-add back, repeated indices accumulating",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(DIM, { minLength: 1, maxLength: 3 }),
        fc.nat(2),
        fc.integer({ min: 1, max: 6 }),
        SEED,
        async (shape, ap, m, seed) => {
          const axis = ap % shape.length;
          const idx = ids(shape[axis], m, seed);
          const x = ref(shape, seed);
          await gradCheck({
            what: `gather axis ${axis} of [${shape}] with ${m} indices`,
            inputs: [x],
            gpu: ([t]) => gather(t, tensor(idx, [m]), axis),
            ref: ([r]) => gatherRef(r.data, r.shape, idx, [m], axis).data,
            seed,
          });
          const table = ref([shape[0], 3], seed + 1);
          await gradCheck({
            what: `embedding [${shape[0]}, 3] with ids [1, ${m}]`,
            inputs: [table],
            gpu: ([t]) => embedding(t, tensor(idx.map((v) => v % shape[0]), [1, m])),
            ref: ([r]) => gatherRef(r.data, r.shape, idx.map((v) => v % shape[0]), [1, m], 0).data,
            seed,
          });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("scatterAdd gradients: the target passes through, the source gathers", async () => {
  await fc.assert(
    fc.asyncProperty(DIM, DIM, fc.integer({ min: 1, max: 6 }), SEED, async (n, d, m, seed) => {
      const idx = ids(n, m, seed);
      await gradCheck({
        what: `scatterAdd into [${n}, ${d}] from [${m}, ${d}]`,
        inputs: [ref([n, d], seed), ref([m, d], seed + 1)],
        gpu: ([base, src]) => scatterAdd(base, tensor(idx, [m]), src, 0),
        ref: ([base, src]) => scatterAddRef([n, d], base.data, idx, [m], src.data, 0).data,
        seed,
      });
      await gradCheck({
        what: `scatterAdd into zeros [${d}, ${n}] along axis 1`,
        inputs: [ref([d, m], seed + 2)],
        gpu: ([src]) => scatterAdd([d, n], tensor(idx, [m]), src, 1),
        ref: ([src]) => scatterAddRef([d, n], null, idx, [m], src.data, 1).data,
        seed,
      });
    }),
    { numRuns: NUM_RUNS },
  );
});

gpuTest(
  "concat gradients are the slices of the output gradient (views as inputs too)",
  async () => {
    await fc.assert(
      fc.asyncProperty(DIM, DIM, DIM, fc.boolean(), SEED, async (a, b, c, ax1, seed) => {
        const axis = ax1 ? 1 : 0;
        const s1 = axis === 0 ? [a, c] : [c, a];
        const s2 = axis === 0 ? [b, c] : [c, b];
        await gradCheck({
          what: `concat of [${s1}], [${s2}] (transposed) and [${s1}] on axis ${axis}`,
          inputs: [ref(s1, seed), ref([s2[1], s2[0]], seed + 1)],
          gpu: ([x, y]) => concat([x, transpose(y), x], axis),
          ref: ([x, y]) => concatRef([x, permuteRef(y, [1, 0]), x], axis).data,
          seed,
        });
      }),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("crossEntropy gradients match for every reduction, with ignored positions", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(DIM, { minLength: 0, maxLength: 2 }),
      fc.integer({ min: 1, max: 7 }),
      fc.constantFrom("mean", "sum", "none") as fc.Arbitrary<"mean" | "sum" | "none">,
      fc.boolean(),
      SEED,
      async (lead, vocab, reduction, ignore, seed) => {
        const rows = lead.reduce<number>((x, y) => x * y, 1);
        const t = ids(vocab, rows, seed);
        // Ignore the first position (when there is more than one, so a mean stays defined).
        const ignoreIndex = ignore && rows > 1 ? -100 : undefined;
        if (ignoreIndex !== undefined) t[0] = ignoreIndex;
        await gradCheck({
          what: `crossEntropy(${reduction}${
            ignoreIndex !== undefined ? ", ignore" : ""
          }) of [${lead}, ${vocab}]`,
          inputs: [ref([...lead, vocab], seed, -3, 3)],
          gpu: ([x]) => crossEntropy(x, tensor(t, lead), { reduction, ignoreIndex }),
          ref: ([x]) => crossEntropyRef(x.data, x.shape, t, { reduction, ignoreIndex }).data,
          seed,
        });
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("crossEntropy with an ignoreIndex inside [0, vocab) and u32 targets", async () => {
  const t = new Uint32Array([2, 1, 2, 0]);
  await gradCheck({
    what: "crossEntropy(mean, ignoreIndex 2, u32 targets)",
    inputs: [ref([4, 3], 5, -2, 2)],
    gpu: ([x]) => crossEntropy(x, tensor(t, [4]), { ignoreIndex: 2 }),
    ref: ([x]) => crossEntropyRef(x.data, x.shape, t, { ignoreIndex: 2 }).data,
  });
});

gpuTest("logProbsAt gradients match finite differences", async () => {
  await fc.assert(
    fc.asyncProperty(DIM, DIM, fc.integer({ min: 1, max: 7 }), SEED, async (a, b, vocab, seed) => {
      const t = ids(vocab, a * b, seed);
      await gradCheck({
        what: `logProbsAt of [${a}, ${b}, ${vocab}]`,
        inputs: [ref([a, b, vocab], seed, -3, 3)],
        gpu: ([x]) => logProbsAt(x, tensor(t, [a, b])),
        ref: ([x]) => logProbsAtRef(x.data, x.shape, t).data,
        seed,
      });
    }),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("topk values' gradients go back to the chosen entries", async () => {
  await fc.assert(
    fc.asyncProperty(
      DIM,
      fc.integer({ min: 1, max: 9 }),
      fc.boolean(),
      SEED,
      async (rows, len, largest, seed) => {
        const k = 1 + (seed % len);
        // Distinct values so the choice is stable under ±h.
        const x = ref([rows, len], seed);
        x.data = x.data.map((_, i) =>
          Math.fround(((i * 7919) % (rows * len)) * 0.1 + (seed % 5) * 0.01)
        );
        await gradCheck({
          what: `topk(k=${k}, ${largest ? "largest" : "smallest"}) of [${rows}, ${len}]`,
          inputs: [x],
          gpu: ([t]) => topk(t, k, { largest }).values,
          ref: ([r]) => topkRef(r.data, r.shape, k, largest).values,
          seed,
        });
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("oneHot, comparisons and index inputs carry no gradient", async () => {
  await scope(async () => {
    const x = tensor([0.5, 1.5], undefined, { requiresGrad: true });
    const i = tensor(new Int32Array([1, 0]), [2]);
    const h = oneHot(i, 3);
    assert.equal(h.requiresGrad, false);
    const y = gather(x, i);
    backward(y, { grad: tensor([1, 2]) });
    assert.deepEqual(await x.grad!.toArray(), [2, 1]);
  });
});
