/**
 * Doctor checks for the indexing family: gather, embedding (split into row windows), scatterAdd
 * (both strategies), concat, oneHot, crossEntropy, logProbsAt and topk. Each runs its kernel
 * once on awkward sizes and compares with the f64 reference.
 *
 * @module
 */

import type { CheckResult, DoctorCheck } from "./check.ts";
import { tensor } from "../ops/creation.ts";
import { concat, embedding, gather, oneHot, scatterAdd } from "../ops/indexing.ts";
import { crossEntropy, logProbsAt } from "../ops/loss.ts";
import { transpose } from "../ops/movement.ts";
import { topk } from "../ops/topk.ts";
import { readTensors, type Tensor } from "../tensor.ts";
import {
  concatRef,
  crossEntropyRef,
  embeddingRef,
  gatherRef,
  logProbsAtRef,
  oneHotRef,
  scatterAddRef,
  topkRef,
} from "../reference/indexing.ts";

function ratio(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): number {
  if (got.length !== want.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i]))) continue;
    const r = Math.abs(got[i] - want[i]) / (atol + rtol * Math.abs(want[i]));
    worst = Math.max(worst, Number.isNaN(r) ? Infinity : r);
  }
  return worst;
}

/** Deterministic f32-representable values in [lo, hi). */
function inputs(n: number, lo: number, hi: number, seed = 0): Float64Array {
  return Float64Array.from(
    { length: n },
    (_, i) => Math.fround(lo + (hi - lo) * (((i + seed) * 0.6180339887) % 1)),
  );
}

/** Deterministic integers in [0, n). */
function ints(count: number, n: number, seed = 0): Int32Array {
  return Int32Array.from({ length: count }, (_, i) => ((i + seed) * 7919 + 13) % n);
}

async function readAndFree(ts: Tensor[], outs: Tensor[]): Promise<ArrayLike<number>[]> {
  try {
    return await readTensors(outs);
  } finally {
    for (const t of new Set([...ts, ...outs])) t.dispose();
  }
}

/** Checks for the indexing, loss and top-k kernels. */
export const checks: DoctorCheck[] = [
  {
    name: "gather",
    async run(): Promise<CheckResult> {
      const shape = [5, 37, 3];
      const data = inputs(5 * 37 * 3, -4, 4);
      const ids = ints(2 * 13, 37);
      const x = tensor(Float32Array.from(data), shape);
      const i = tensor(ids, [2, 13]);
      const [got] = await readAndFree([x, i], [gather(x, i, 1)]);
      const want = gatherRef(data, shape, ids, [2, 13], 1).data;
      return { ratio: ratio(got, want, 0, 0), detail: "f32[5, 37, 3] along axis 1 by i32[2, 13]" };
    },
  },
  {
    name: "embedding",
    async run(): Promise<CheckResult> {
      const data = inputs(257 * 12, -1, 1);
      const ids = ints(31, 257);
      const t = tensor(Float32Array.from(data), [257, 12]);
      const i = tensor(ids, [31]);
      // Windows of 20 rows: the path a table past maxStorageBufferBindingSize takes.
      const [got] = await readAndFree([t, i], [embedding(t, i, { windowBytes: 256 + 20 * 48 })]);
      const want = embeddingRef(data, [257, 12], ids, [31]).data;
      return { ratio: ratio(got, want, 0, 0), detail: "f32[257, 12] by i32[31], 20-row windows" };
    },
  },
  {
    name: "scatterAdd",
    async run(): Promise<CheckResult> {
      // 40 ids into 7 rows (one thread per output element) and into 301 rows (per index).
      let worst = 0;
      for (const n of [7, 301]) {
        const ids = ints(40, n);
        const src = inputs(40 * 5, -1, 1, n);
        const i = tensor(ids, [40]);
        const s = tensor(Float32Array.from(src), [40, 5]);
        const [got] = await readAndFree([i, s], [scatterAdd([n, 5], i, s)]);
        const want = scatterAddRef([n, 5], null, ids, [40], src, 0).data;
        // f32 sums of ≤ 40 terms of magnitude ≤ 1.
        worst = Math.max(worst, ratio(got, want, 1e-5, 1e-5));
      }
      return { ratio: worst, detail: "i32[40] ids into f32[7, 5] and f32[301, 5]" };
    },
  },
  {
    name: "concat",
    async run(): Promise<CheckResult> {
      const a = inputs(3 * 5, -1, 1, 1);
      const b = inputs(3 * 2, -1, 1, 2);
      const ta = tensor(Float32Array.from(a), [3, 5]);
      const tb = tensor(Float32Array.from(b), [2, 3]);
      const tbt = transpose(tb); // a strided [3, 2] view
      const bt = Float64Array.from({ length: 6 }, (_, k) => b[(k % 2) * 3 + Math.floor(k / 2)]);
      const [got] = await readAndFree([ta, tb, tbt], [concat([ta, tbt, ta], 1)]);
      const want = concatRef([
        { data: a, shape: [3, 5] },
        { data: bt, shape: [3, 2] },
        { data: a, shape: [3, 5] },
      ], 1).data;
      return {
        ratio: ratio(got, want, 0, 0),
        detail: "f32[3, 5], strided f32[3, 2], f32[3, 5] on axis 1",
      };
    },
  },
  {
    name: "oneHot",
    async run(): Promise<CheckResult> {
      const ids = Int32Array.from([0, 6, 3, -1, 7, 2, 6]);
      const i = tensor(ids, [7]);
      const [got] = await readAndFree([i], [oneHot(i, 7)]);
      const want = oneHotRef(ids, [7], 7).data;
      return { ratio: ratio(got, want, 0, 0), detail: "i32[7] (two out of range) into 7 classes" };
    },
  },
  {
    name: "crossEntropy",
    async run(): Promise<CheckResult> {
      const shape = [3, 2053];
      const data = inputs(3 * 2053, -20, 20);
      const tg = ints(3, 2053);
      const x = tensor(Float32Array.from(data), shape);
      const t = tensor(tg, [3]);
      const outs = [crossEntropy(x, t, { reduction: "none" }), crossEntropy(x, t)];
      const [none, mean] = await readAndFree([x, t], outs);
      const wNone = crossEntropyRef(data, shape, tg, { reduction: "none" }).data;
      const wMean = crossEntropyRef(data, shape, tg).data;
      // f32 log-sum-exp of 2053 terms of magnitude ≤ 20.
      const r = Math.max(ratio(none, wNone, 2e-4, 1e-5), ratio(mean, wMean, 2e-4, 1e-5));
      return { ratio: r, detail: "f32[3, 2053], per row and mean" };
    },
  },
  {
    name: "logProbsAt",
    async run(): Promise<CheckResult> {
      const shape = [2, 5, 7];
      const data = inputs(70, -3, 3);
      const tg = ints(10, 7);
      const x = tensor(Float32Array.from(data), shape);
      const t = tensor(tg, [2, 5]);
      const [got] = await readAndFree([x, t], [logProbsAt(x, t)]);
      const want = logProbsAtRef(data, shape, tg).data;
      return { ratio: ratio(got, want, 1e-5, 1e-5), detail: "f32[2, 5, 7]" };
    },
  },
  {
    name: "topk",
    async run(): Promise<CheckResult> {
      const shape = [2, 5003];
      // Values on a coarse grid: many ties, broken by the lower index.
      const data = inputs(2 * 5003, -50, 50).map(Math.round);
      const x = tensor(Float32Array.from(data), shape);
      const { values, indices } = topk(x, 37);
      const [gv, gi] = await readAndFree([x], [values, indices]);
      const want = topkRef(data, shape, 37);
      const r = Math.max(ratio(gv, want.values, 0, 0), ratio(gi, want.indices, 0, 0));
      return { ratio: r, detail: "f32[2, 5003], k = 37, with ties" };
    },
  },
];
