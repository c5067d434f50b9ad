/**
 * Gradient checking for the autograd tests: the GPU's analytic gradient (f32, from `backward`)
 * against central finite differences of the op's f64 CPU reference.
 *
 * The loss is L = Σ out · R for a random R, so every output element matters; backward is
 * seeded with R directly (d L / d out = R). Finite differences: (L(x + h) − L(x − h)) / 2h in
 * f64 with h = 1e-3, truncation error O(h² f''') ≈ 1e-6 for the smooth ops tested, so the
 * tolerance (atol 1e-3, rtol 1e-2 by default) is set by the f32 gradient, not by the reference.
 * Inputs are f32-representable so the GPU and the reference see the same numbers.
 */

import { assertClose } from "../_gpu.ts";
import { scope } from "../../src/memory.ts";
import { tensor, zeros } from "../../src/ops/creation.ts";
import { backward } from "../../src/autograd/backward.ts";
import { readTensors, type Tensor } from "../../src/tensor.ts";

/** A CPU tensor: f64 values (row-major) and a shape. */
export interface Ref {
  data: Float64Array;
  shape: number[];
}

/** Deterministic uniform values in [lo, hi), rounded to f32. */
export function values(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(n);
  let s = (seed >>> 0) || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = Math.fround(lo + (hi - lo) * (s / 2 ** 32));
  }
  return out;
}

/** A random f32-representable CPU tensor. */
export function ref(shape: number[], seed: number, lo = -1, hi = 1): Ref {
  return { data: values(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape: [...shape] };
}

/** One gradient check. */
export interface GradCase {
  what: string;
  /** The differentiable inputs (made as f32 leaves with requiresGrad, unless `wrt` says not). */
  inputs: Ref[];
  /** Indices of the inputs to check (default all). */
  wrt?: number[];
  /** The op on the GPU, from the leaves (may make views of them first). */
  gpu: (xs: Tensor[]) => Tensor;
  /** The op in f64 on the CPU: the output's row-major values. */
  ref: (xs: Ref[]) => ArrayLike<number>;
  /** The expected forward values when they differ from `ref` (default `ref`). */
  forward?: (xs: Ref[]) => ArrayLike<number>;
  atol?: number;
  rtol?: number;
  h?: number;
  seed?: number;
}

/** Analytic f32 gradient vs f64 central differences; throws naming the case and the element. */
export async function gradCheck(c: GradCase): Promise<void> {
  const wrt = c.wrt ?? c.inputs.map((_, i) => i);
  const h = c.h ?? 1e-3;
  const want0 = c.ref(c.inputs);
  const m = want0.length;
  const r = values(m, (c.seed ?? 7) + 12345);
  const loss = (xs: Ref[]) => {
    const o = c.ref(xs);
    let s = 0;
    for (let i = 0; i < m; i++) s += o[i] * r[i];
    return s;
  };
  const got = await scope(async () => {
    const xs = c.inputs.map((x, i) =>
      tensor(Float32Array.from(x.data), x.shape, { requiresGrad: wrt.includes(i) })
    );
    const out = c.gpu(xs);
    if (out.size !== m) {
      throw new Error(
        `${c.what}: the GPU output ${out.describe()} has ${out.size} elements, the reference ${m}`,
      );
    }
    backward(out, { grad: tensor(Float32Array.from(r), out.shape) });
    const grads = wrt.map((i) => xs[i].grad ?? zeros(xs[i].shape));
    const [fwd, ...data] = (await readTensors([out, ...grads])) as Float32Array[];
    // The forward value too, loosely: a wrong forward would make the gradient check meaningless.
    assertClose(fwd, (c.forward ?? c.ref)(c.inputs), 1e-4, 1e-3, `${c.what}: forward value`);
    return data;
  });
  wrt.forEach((i, k) => {
    const x = c.inputs[i];
    const fd = new Float64Array(x.data.length);
    for (let j = 0; j < x.data.length; j++) {
      const plus = c.inputs.map((y, q) => (q === i ? { ...y, data: y.data.slice() } : y));
      const minus = c.inputs.map((y, q) => (q === i ? { ...y, data: y.data.slice() } : y));
      plus[i].data[j] += h;
      minus[i].data[j] -= h;
      fd[j] = (loss(plus) - loss(minus)) / (2 * h);
    }
    assertClose(
      got[k],
      fd,
      c.atol ?? 1e-3,
      c.rtol ?? 1e-2,
      `${c.what}: d/d(input ${i}, shape [${x.shape}])`,
    );
  });
}

/** Push values away from kinks: |v − k| ≥ gap for each kink k (keeps the sign of v − k). */
export function awayFrom(data: Float64Array, kinks: number[], gap = 0.02): Float64Array {
  return data.map((v) => {
    for (const k of kinks) {
      if (Math.abs(v - k) < gap) v = Math.fround(k + (v >= k ? gap : -gap) * 1.5);
    }
    return v;
  });
}
