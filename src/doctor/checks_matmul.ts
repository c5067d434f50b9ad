/**
 * Doctor checks for matmul: each kernel variant once against the f64 reference, and the GFLOP/s
 * figure for doctor's summary.
 *
 * @module
 */

import type { CheckResult, DoctorCheck } from "./check.ts";
import { type Engine, engine } from "../gpu/engine.ts";
import { readTensors } from "../tensor.ts";
import { randn, tensor } from "../ops/creation.ts";
import { matmul, matmulConfigFor, matmulVariants, tuneMatmul } from "../ops/matmul.ts";
import { matmulRef } from "../reference/matmul.ts";

function values(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.fround(2 * (s / 2 ** 32) - 1);
  }
  return out;
}

/** Largest |got − want| / (atol + rtol·|want|). */
function ratio(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const r = Math.abs(got[i] - want[i]) / (atol + rtol * Math.abs(want[i]));
    if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
  }
  return worst;
}

/** Run a * b with every variant; the worst ratio over variants. */
async function allVariants(
  aShape: number[],
  bShape: number[],
  opts: { transA?: boolean; transB?: boolean },
): Promise<CheckResult> {
  const eng = engine();
  const ad = values(aShape.reduce((x, y) => x * y, 1), 7);
  const bd = values(bShape.reduce((x, y) => x * y, 1), 11);
  const want = matmulRef(ad, aShape, bd, bShape, opts);
  const k = opts.transA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  // f32 accumulation of k terms in [-1, 1): atol 1e-4·sqrt(k), rtol 1e-4.
  const atol = 1e-4 * Math.sqrt(k);
  const a = tensor(Float32Array.from(ad), aShape, { engine: eng });
  const b = tensor(Float32Array.from(bd), bShape, { engine: eng });
  const variants = matmulVariants();
  const outs = variants.map((variant) => matmul(a, b, { ...opts, variant }));
  try {
    const got = await readTensors(outs);
    const ratios = got.map((g) => ratio(g, want.data, atol, 1e-4));
    const worst = Math.max(...ratios);
    const t = (x: boolean | undefined) => (x ? "ᵀ" : "");
    return {
      ratio: worst,
      detail:
        `f32[${aShape.join(", ")}]${t(opts.transA)} @ f32[${bShape.join(", ")}]${
          t(opts.transB)
        }: ` +
        variants.map((v, i) => `${v} ${ratios[i].toFixed(3)}`).join(", "),
    };
  } finally {
    [a, b, ...outs].forEach((t) => t.dispose());
  }
}

/** Matmul checks: an awkward 2-D shape and a batched, transposed, broadcast one. */
export const checks: DoctorCheck[] = [
  {
    name: "matmul 37x129 @ 129x64 (every variant)",
    run: () => allVariants([37, 129], [129, 64], {}),
  },
  {
    name: "matmul batched, transposed, broadcast (every variant)",
    run: () => allVariants([3, 1, 40, 33], [2, 21, 40], { transA: true, transB: true }),
  },
];

/** Result of {@link matmulGflops}. */
export interface MatmulGflops {
  gflops: number;
  m: number;
  n: number;
  k: number;
  /** The kernel config that ran (after autotuning). */
  config: string;
}

/**
 * Matmul throughput for doctor's summary: an n x n x n product (1024 by default), autotuned
 * first, then the median of 3 timings of 4 products each (one sync per timing).
 *
 * @example
 * ```ts
 * const { gflops, config } = await matmulGflops(await init());
 * console.log(`matmul: ${gflops.toFixed(1)} GFLOP/s (${config})`);
 * ```
 */
export async function matmulGflops(eng: Engine = engine(), size = 1024): Promise<MatmulGflops> {
  const a = randn([size, size], { seed: 1, engine: eng });
  const b = randn([size, size], { seed: 2, engine: eng });
  try {
    await tuneMatmul(a, b);
    const once = async () => {
      const t0 = performance.now();
      for (let i = 0; i < 4; i++) matmul(a, b).dispose();
      await eng.sync();
      return (4 * 2 * size ** 3) / (performance.now() - t0) / 1e6;
    };
    await once(); // warm-up
    const samples = [await once(), await once(), await once()].sort((x, y) => x - y);
    return { gflops: samples[1], m: size, n: size, k: size, config: matmulConfigFor(a, b) };
  } finally {
    a.dispose();
    b.dispose();
  }
}
