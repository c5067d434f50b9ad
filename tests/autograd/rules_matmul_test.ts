/**
 * Gradient rule of matmul vs finite differences of its f64 CPU reference
 * (tests/autograd/_gradcheck.ts: atol 1e-3, rtol 1e-2, h 1e-3): transpose flags, broadcast batch
 * axes, 1-D operands and transposed views.
 */

import fc from "fast-check";
import { gpuTest, NUM_RUNS } from "../_gpu.ts";
import { gradCheck, ref } from "./_gradcheck.ts";
import { matmul } from "../../src/ops/matmul.ts";
import { transpose } from "../../src/ops/movement.ts";
import { matmulRef } from "../../src/reference/matmul.ts";
import { permuteRef } from "../../src/reference/elementwise.ts";

const DIM = fc.constantFrom(1, 2, 3, 5, 7);
const SEED = fc.integer({ min: 1, max: 2 ** 31 - 1 });
/** Batch axes of a and b that broadcast: a's may be dropped or set to 1. */
const BATCH = fc.array(fc.constantFrom(1, 2, 3), { minLength: 0, maxLength: 2 }).chain((s) =>
  fc.tuple(
    fc.constant(s),
    fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }),
    fc.nat(s.length),
  ).map(([batch, ones, drop]) => [batch, batch.map((d, i) => (ones[i] ? 1 : d)).slice(drop)])
);

gpuTest(
  "matmul gradients match finite differences with transposes and broadcast batches",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        DIM,
        DIM,
        DIM,
        BATCH,
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        SEED,
        async (m, k, n, [ba, bb], transA, transB, swap, seed) => {
          const [batchA, batchB] = swap ? [bb, ba] : [ba, bb];
          const sa = [...batchA, ...(transA ? [k, m] : [m, k])];
          const sb = [...batchB, ...(transB ? [n, k] : [k, n])];
          await gradCheck({
            what: `matmul [${sa}]${transA ? "ᵀ" : ""} @ [${sb}]${transB ? "ᵀ" : ""}`,
            inputs: [ref(sa, seed), ref(sb, seed + 1)],
            gpu: ([a, b]) => matmul(a, b, { transA, transB }),
            ref: ([a, b]) => matmulRef(a.data, a.shape, b.data, b.shape, { transA, transB }).data,
            seed,
          });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("matmul gradients with 1-D operands and transposed views", async () => {
  await fc.assert(
    fc.asyncProperty(DIM, DIM, DIM, fc.constantFrom(1, 2), SEED, async (m, k, n, batch, seed) => {
      await gradCheck({
        what: `matmul [${k}] @ [${batch}, ${k}, ${n}]`,
        inputs: [ref([k], seed), ref([batch, k, n], seed + 1)],
        gpu: ([a, b]) => matmul(a, b),
        ref: ([a, b]) => matmulRef(a.data, a.shape, b.data, b.shape).data,
        seed,
      });
      await gradCheck({
        what: `matmul [${batch}, ${m}, ${k}] @ [${k}]`,
        inputs: [ref([batch, m, k], seed), ref([k], seed + 1)],
        gpu: ([a, b]) => matmul(a, b),
        ref: ([a, b]) => matmulRef(a.data, a.shape, b.data, b.shape).data,
        seed,
      });
      await gradCheck({
        what: `matmul [${k}] @ [${k}]`,
        inputs: [ref([k], seed), ref([k], seed + 1)],
        gpu: ([a, b]) => matmul(a, b),
        ref: ([a, b]) => matmulRef(a.data, a.shape, b.data, b.shape).data,
        seed,
      });
      await gradCheck({
        what: `matmul of transposed views [${k}, ${m}]ᵀ @ [${n}, ${k}]ᵀ`,
        inputs: [ref([k, m], seed), ref([n, k], seed + 1)],
        gpu: ([a, b]) => matmul(transpose(a), transpose(b)),
        ref: ([a, b]) => {
          const at = permuteRef(a, [1, 0]);
          const bt = permuteRef(b, [1, 0]);
          return matmulRef(at.data, at.shape, bt.data, bt.shape).data;
        },
        seed,
      });
    }),
    { numRuns: NUM_RUNS },
  );
});
