/**
 * Doctor checks for the optimizer and clipping kernels (shaders/optim.wgsl), the slice-gradient
 * kernel (shaders/autograd.wgsl) and one backward pass, each run once against its f64 CPU
 * reference.
 *
 * @module
 */

import type { CheckResult, DoctorCheck } from "./check.ts";
import { tensor } from "../ops/creation.ts";
import { tanh } from "../ops/elementwise.ts";
import { matmul } from "../ops/matmul.ts";
import { slice } from "../ops/movement.ts";
import { keep, scope } from "../memory.ts";
import { readTensors, type Tensor } from "../tensor.ts";
import { backward } from "../autograd/backward.ts";
import { Adam, AdamW, SGD } from "../optim/optimizers.ts";
import { clipGradNorm } from "../optim/clip.ts";
import { adamStepRef, clipGradNormRef, sgdStepRef } from "../reference/optim.ts";
import { matmulRef } from "../reference/matmul.ts";

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

/** Deterministic f32-representable values in [lo, hi). */
function inputs(n: number, lo: number, hi: number, phase = 0): Float64Array {
  return Float64Array.from(
    { length: n },
    (_, i) => Math.fround(lo + (hi - lo) * (((i + phase) * 0.6180339887) % 1)),
  );
}

const N = 1037;
const STEPS = 3;

/** A parameter with a gradient per step, run through `step` on the GPU. */
async function runOptimizer(
  make: (p: Tensor) => { step(): void; dispose(): void },
  cpuStep: (p: Float64Array, g: Float64Array, k: number) => void,
): Promise<number> {
  return await scope(async () => {
    const cpu = inputs(N, -1, 1);
    const p = tensor(Float32Array.from(cpu), [N], { requiresGrad: true });
    const opt = make(p);
    try {
      for (let k = 0; k < STEPS; k++) {
        const g = inputs(N, -2, 2, 17 * (k + 1));
        p.grad?.dispose();
        p.grad = keep(tensor(Float32Array.from(g), [N]));
        opt.step();
        cpuStep(cpu, g, k);
      }
      const [got] = await readTensors([p]);
      p.grad?.dispose();
      p.grad = null;
      // f32 updates vs f64: a few ulp per step.
      return ratio(got, cpu, 1e-5, 1e-4);
    } finally {
      opt.dispose();
    }
  });
}

/** Checks of the optimizer family. */
export const checks: DoctorCheck[] = [
  {
    name: "SGD (momentum 0.9, Nesterov, weight decay)",
    async run(): Promise<CheckResult> {
      const h = { lr: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true };
      let buf: Float64Array | null = null;
      const r = await runOptimizer(
        (p) => new SGD([p], h),
        (p, g) => (buf = sgdStepRef(p, g, buf, h)),
      );
      return { ratio: r, detail: `f32[${N}], ${STEPS} steps` };
    },
  },
  {
    name: "Adam (weight decay as L2)",
    async run(): Promise<CheckResult> {
      const h = { lr: 0.01, weightDecay: 0.1 };
      const m = new Float64Array(N);
      const v = new Float64Array(N);
      const r = await runOptimizer(
        (p) => new Adam([p], h),
        (p, g, k) => adamStepRef(p, g, m, v, k + 1, h),
      );
      return { ratio: r, detail: `f32[${N}], ${STEPS} steps` };
    },
  },
  {
    name: "AdamW (decoupled weight decay)",
    async run(): Promise<CheckResult> {
      const h = { lr: 0.01, weightDecay: 0.1 };
      const m = new Float64Array(N);
      const v = new Float64Array(N);
      const r = await runOptimizer(
        (p) => new AdamW([p], h),
        (p, g, k) => adamStepRef(p, g, m, v, k + 1, { ...h, decoupled: true }),
      );
      return { ratio: r, detail: `f32[${N}], ${STEPS} steps` };
    },
  },
  {
    name: "clipGradNorm",
    async run(): Promise<CheckResult> {
      return await scope(async () => {
        const sizes = [70001, 300, 1];
        const cpu = sizes.map((n, i) => inputs(n, -1, 1, i));
        const params = cpu.map((g) => {
          const p = tensor(new Float32Array(g.length), [g.length], { requiresGrad: true });
          p.grad = keep(tensor(Float32Array.from(g), [g.length]));
          return p;
        });
        const norm = clipGradNorm(params, 1);
        const want = clipGradNormRef(cpu, 1);
        const [n, ...gs] = await readTensors([norm, ...params.map((p) => p.grad!)]);
        for (const p of params) p.dispose();
        // f32 tree sums of squares: ~1e-6 relative.
        const r = Math.max(
          ratio(n, [want], 1e-6, 1e-5),
          ...gs.map((g, i) => ratio(g, cpu[i], 1e-7, 1e-5)),
        );
        return { ratio: r, detail: `norm of f32[${sizes.join("] + f32[")}]` };
      });
    },
  },
  {
    name: "backward (slice, matmul, tanh) vs f64 finite differences",
    async run(): Promise<CheckResult> {
      return await scope(async () => {
        const [m, k, n] = [5, 7, 3];
        const xd = inputs(m * k, -1, 1);
        const wd = inputs((k + 2) * n, -1, 1, 3);
        const rd = inputs(m * n, -1, 1, 7);
        const x = tensor(Float32Array.from(xd), [m, k]);
        const w = tensor(Float32Array.from(wd), [k + 2, n], { requiresGrad: true });
        const y = tanh(matmul(x, slice(w, [[1, k + 1]])));
        backward(y, { grad: tensor(Float32Array.from(rd), [m, n]) });
        const [got] = await readTensors([w.grad!]);
        // L(w) = Σ tanh(x · w[1:k+1]) · R in f64, central differences with h = 1e-3.
        const loss = (wv: Float64Array) => {
          const y = matmulRef(xd, [m, k], wv.slice(n, (k + 1) * n), [k, n]).data;
          return y.reduce((s, v, i) => s + Math.tanh(v) * rd[i], 0);
        };
        const h = 1e-3;
        const want = new Float64Array(wd.length).map((_, j) => {
          const a = wd.slice();
          const b = wd.slice();
          a[j] += h;
          b[j] -= h;
          return (loss(a) - loss(b)) / (2 * h);
        });
        // f32 gradient vs f64 differences (truncation ~1e-7).
        return {
          ratio: ratio(got, want, 1e-4, 1e-3),
          detail: `d/dw of tanh(f32[${m}, ${k}] @ w[1:${k + 1}])`,
        };
      });
    },
  },
];
