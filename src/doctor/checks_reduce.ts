/**
 * Doctor checks for the reduction family: sum, mean, max, min, var, argmax, softmax, logSoftmax
 * and layerNorm, each run once on awkward shapes (primes, a long row that takes the split plan,
 * a transposed view) against the f64 references in src/reference/reduce.ts.
 *
 * @module
 */

import type { CheckResult, DoctorCheck } from "./check.ts";
import { init } from "../gpu/engine.ts";
import { tensor } from "../ops/creation.ts";
import { transpose } from "../ops/movement.ts";
import { argmax, max, mean, min, sum, variance } from "../ops/reduce.ts";
import { logSoftmax, softmax } from "../ops/softmax.ts";
import { layerNorm } from "../ops/layernorm.ts";
import { refLayerNorm, refReduce, refSoftmax, refView } from "../reference/reduce.ts";
import { readTensors, type Tensor } from "../tensor.ts";

/** Deterministic values on [-1, 1) (plus `offset`). */
function values(n: number, seed: number, offset = 0): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = offset + (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Largest |got − want| / (atol + rtol·|want|); NaN where both are NaN counts as equal. */
function ratio(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): number {
  if (got.length !== want.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if ((Number.isNaN(g) && Number.isNaN(w)) || g === w) continue;
    const r = Math.abs(g - w) / (atol + rtol * Math.abs(w));
    worst = Number.isNaN(r) ? Infinity : Math.max(worst, r);
  }
  return worst;
}

/** Run `op` on x (made by `make`), compare with `want`, free everything. */
async function check(
  make: () => { x: Tensor; data: ArrayLike<number>; shape: number[]; free: Tensor[] },
  op: (x: Tensor) => Tensor,
  want: (data: ArrayLike<number>, shape: number[]) => ArrayLike<number>,
  atol: number,
  rtol: number,
  detail: string,
): Promise<CheckResult> {
  await init();
  const { x, data, shape, free } = make();
  const y = op(x);
  try {
    const [got] = await readTensors([y]);
    return { ratio: ratio(got, want(data, shape), atol, rtol), detail };
  } finally {
    y.dispose();
    for (const t of free) t.dispose();
  }
}

function plain(shape: number[], seed: number, offset = 0) {
  return () => {
    const data = values(shape.reduce((a, b) => a * b, 1), seed, offset);
    const x = tensor(data, shape);
    return { x, data, shape, free: [x] };
  };
}

/** A transposed (non-contiguous) view of shape [a, b]. */
function transposed(a: number, b: number, seed: number) {
  return () => {
    const raw = values(a * b, seed);
    const base = tensor(raw, [b, a]);
    const x = transpose(base);
    const data = refView(raw, x.shape, x.strides, x.offset).data;
    return { x, data, shape: [a, b], free: [x, base] };
  };
}

/** The reduction family's checks. */
export const checks: DoctorCheck[] = [
  {
    name: "sum",
    run: () =>
      check(
        plain([3, 50257], 1),
        (x) => sum(x, -1),
        (d, s) => refReduce("sum", d, s, -1).data,
        1e-3,
        1e-5,
        "last axis of f32[3, 50257] (split plan)",
      ),
  },
  {
    name: "mean",
    run: () =>
      check(
        transposed(37, 129, 2),
        (x) => mean(x, 0),
        (d, s) => refReduce("mean", d, s, 0).data,
        1e-6,
        1e-5,
        "axis 0 of a transposed f32[37, 129]",
      ),
  },
  {
    name: "max",
    run: () =>
      check(
        plain([7, 13, 31], 3),
        (x) => max(x, [0, 2]),
        (d, s) => refReduce("max", d, s, [0, 2]).data,
        0,
        0,
        "axes [0, 2] of f32[7, 13, 31]",
      ),
  },
  {
    name: "min",
    run: () =>
      check(
        plain([257, 3], 4),
        (x) => min(x, -2),
        (d, s) => refReduce("min", d, s, -2).data,
        0,
        0,
        "axis -2 of f32[257, 3]",
      ),
  },
  {
    name: "var",
    run: () =>
      check(
        plain([5, 3001], 5, 10),
        (x) => variance(x, -1, { correction: 1 }),
        (d, s) => refReduce("var", d, s, -1, { correction: 1 }).data,
        1e-5,
        1e-4,
        "sample, last axis of f32[5, 3001] centred at 10",
      ),
  },
  {
    name: "argmax",
    run: () =>
      check(
        plain([11, 50257], 6),
        (x) => argmax(x, -1),
        (d, s) => refReduce("argmax", d, s, -1).data,
        0,
        0,
        "last axis of f32[11, 50257]",
      ),
  },
  {
    name: "softmax",
    run: () =>
      check(
        plain([2, 12, 37, 37], 7),
        (x) => softmax(x, -1, { causal: true }),
        (d, s) => refSoftmax(d, s, -1, { causal: true }).data,
        1e-6,
        2e-5,
        "causal, f32[2, 12, 37, 37]",
      ),
  },
  {
    name: "logSoftmax",
    run: () =>
      check(
        transposed(131, 50, 8),
        (x) => logSoftmax(x, 0),
        (d, s) => refSoftmax(d, s, 0, { log: true }).data,
        2e-5,
        1e-6,
        "axis 0 of a transposed f32[131, 50]",
      ),
  },
  {
    name: "layerNorm",
    run: async () => {
      await init();
      const shape = [3, 17, 768];
      const data = values(3 * 17 * 768, 9, 2);
      const wv = values(768, 10, 1);
      const bv = values(768, 11);
      const x = tensor(data, shape);
      const w = tensor(wv);
      const b = tensor(bv);
      const { y, scale } = layerNorm(x, { weight: w, bias: b, eps: 1e-5, returnScale: true });
      try {
        const [gy, gs] = await readTensors([y, scale]);
        const want = refLayerNorm(data, shape, { weight: wv, bias: bv, eps: 1e-5 });
        return {
          ratio: Math.max(
            ratio(gy, want.y.data, 2e-5, 1e-5),
            ratio(gs, want.scale.data, 2e-5, 1e-5),
          ),
          detail: "f32[3, 17, 768] with weight, bias and scale",
        };
      } finally {
        [x, w, b, y, scale].forEach((t) => t.dispose());
      }
    },
  },
];
