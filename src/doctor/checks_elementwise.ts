/**
 * Doctor checks for the elementwise, movement and random kernels.
 *
 * @module
 */

import type { CheckResult, DoctorCheck } from "./check.ts";
import { rand, tensor } from "../ops/creation.ts";
import { binary, type BinaryOp, UNARY, unary, type UnaryOp, where } from "../ops/elementwise.ts";
import { contiguous, permute } from "../ops/movement.ts";
import { readTensors, type Tensor } from "../tensor.ts";
import { BINARY_REF, mapRef, permuteRef, UNARY_REF } from "../reference/elementwise.ts";
import { randRef } from "../reference/random.ts";

function ratio(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i]) continue;
    const r = Math.abs(got[i] - want[i]) / (atol + rtol * Math.abs(want[i]));
    worst = Math.max(worst, Number.isNaN(r) ? Infinity : r);
  }
  return worst;
}

function inputs(n: number, lo: number, hi: number): Float64Array {
  return Float64Array.from(
    { length: n },
    (_, i) => Math.fround(lo + (hi - lo) * ((i * 0.6180339887) % 1)),
  );
}

async function runAndFree(ts: Tensor[], outs: Tensor[]): Promise<Float32Array[]> {
  try {
    return (await readTensors(outs)) as Float32Array[];
  } finally {
    for (const t of new Set([...ts, ...outs])) t.dispose();
  }
}

const DOMAIN: Record<string, [number, number]> = { log: [0.01, 9], sqrt: [0, 9], rsqrt: [0.01, 9] };

const unaryChecks: DoctorCheck[] = (Object.keys(UNARY) as UnaryOp[]).map((op) => ({
  name: op,
  async run(): Promise<CheckResult> {
    const [lo, hi] = DOMAIN[op] ?? [-6, 6];
    const data = inputs(37 * 29, lo, hi);
    const x = tensor(Float32Array.from(data), [37, 29]);
    const [got] = await runAndFree([x], [unary(op, x)]);
    const want = mapRef([{ data, shape: [37, 29] }], UNARY_REF[op]).data;
    return { ratio: ratio(got, want, 2e-6, 2e-5), detail: "f32[37, 29]" };
  },
}));

const binaryChecks: DoctorCheck[] = (
  ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "lt"] as BinaryOp[]
).map((op) => ({
  name: op,
  async run(): Promise<CheckResult> {
    const a = inputs(31 * 17, 0.5, 3);
    const b = inputs(17, -2, 2);
    const ta = tensor(Float32Array.from(a), [31, 17]);
    const tb = tensor(Float32Array.from(b), [17]);
    const [got] = await runAndFree([ta, tb], [binary(op, ta, tb)]);
    const want =
      mapRef([{ data: a, shape: [31, 17] }, { data: b, shape: [17] }], BINARY_REF[op]).data;
    return {
      ratio: ratio(got, want, 1e-5, op === "pow" ? 1e-4 : 1e-5),
      detail: "f32[31, 17] with f32[17]",
    };
  },
}));

/** Checks for elementwise, movement and random kernels. */
export const checks: DoctorCheck[] = [
  ...unaryChecks,
  ...binaryChecks,
  {
    name: "where",
    async run() {
      const c = tensor(new Uint32Array([1, 0, 1, 0, 0]), [5]);
      const a = tensor([1, 2, 3, 4, 5]);
      const b = tensor([-1, -2, -3, -4, -5]);
      const [got] = await runAndFree([c, a, b], [where(c, a, b)]);
      return { ratio: ratio(got, [1, -2, 3, -4, -5], 0, 0), detail: "f32[5]" };
    },
  },
  {
    name: "contiguous",
    async run() {
      const data = inputs(5 * 7 * 3, -1, 1);
      const x = tensor(Float32Array.from(data), [5, 7, 3]);
      const [got] = await runAndFree([x], [contiguous(permute(x, [2, 0, 1]))]);
      const want = permuteRef({ data, shape: [5, 7, 3] }, [2, 0, 1]).data;
      return { ratio: ratio(got, want, 0, 0), detail: "permute f32[5, 7, 3] by [2, 0, 1]" };
    },
  },
  {
    name: "rand",
    async run() {
      const [got] = await runAndFree([], [rand([1001], { seed: 12345 })]);
      return {
        ratio: ratio(got, randRef(1001, 12345), 0, 0),
        detail: "Philox f32[1001], bit-exact",
      };
    },
  },
];
