/**
 * The fused softmax / log-softmax kernel (shaders/softmax.wgsl): one workgroup per row, the row
 * read twice (online max and sum, then the output), any axis of a strided input read in place.
 *
 * @module
 */

import src from "../../shaders/softmax.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import { contiguousStrides, type Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { collapse } from "./elementwise.ts";
import { empty } from "../ops/creation.ts";

/** Most outer axes (all but the softmax axis) after merging. */
export const SOFTMAX_MAX_RANK = 8;
/**
 * Longest row: each invocation then loops at most 2 · 8192 times (llvmpipe ends loops past about
 * 65k iterations per invocation, silently).
 */
export const SOFTMAX_MAX_LEN = 256 * 8192;

/** Workgroup bounds; the kernel picks a power of two within them (tests and tuning may change them). */
export const softmaxTuning = {
  /** GPUs: [32, 256]. */
  gpu: [32, 256] as [number, number],
  /**
   * CPU adapters: [8, 16]. llvmpipe runs a workgroup on one core and pays for every barrier per
   * group of SIMD lanes: measured 4–10× faster than 256 for rows of 128–768.
   */
  cpu: [8, 16] as [number, number],
};

/**
 * Invocations per workgroup for rows of `n` elements: the next power of two ≥ n within the
 * adapter's bounds, raised (up to 256) until each invocation loops at most 8192 times per pass
 * (llvmpipe silently ends loops past about 65k iterations per invocation).
 */
export function softmaxWorkgroup(n: number, isCpu = false): number {
  const [lo, hi] = isCpu ? softmaxTuning.cpu : softmaxTuning.gpu;
  let wg = lo;
  while (wg < n && wg < hi) wg *= 2;
  while (wg < 256 && Math.ceil(n / wg) > 8192) wg *= 2;
  return wg;
}

/** One softmax. `axis` must be normalised; `causal` requires axis = rank − 1 and rank ≥ 2. */
export interface SoftmaxSpec {
  op: string;
  x: Tensor;
  axis: number;
  log: boolean;
  causal: boolean;
}

/** Run one softmax and return its (contiguous) output. */
export function softmaxKernel(eng: Engine, spec: SoftmaxSpec): Tensor {
  const { x, axis } = spec;
  const out = empty(x.shape, x.dtype, eng);
  const n = x.shape[axis];
  const rows = n === 0 ? 0 : x.size / n;
  if (rows === 0) return out;
  if (n > SOFTMAX_MAX_LEN) {
    throw new RangeError(
      `Cannot run ${spec.op}: rows of ${n} elements (axis ${axis} of ${x.describe()}) are longer than the ${SOFTMAX_MAX_LEN} supported`,
    );
  }
  checkBindable(spec.op, eng, x, out);
  const outStrides = contiguousStrides(x.shape);
  const outerAxes = x.shape.map((_, i) => i).filter((i) => i !== axis);
  const outer = collapse(outerAxes.map((a) => x.shape[a]), [
    outerAxes.map((a) => x.strides[a]),
    outerAxes.map((a) => outStrides[a]),
  ]);
  if (outer.shape.length > SOFTMAX_MAX_RANK) {
    throw new RangeError(
      `Cannot run ${spec.op}: ${x.describe()} has more than ${SOFTMAX_MAX_RANK} other axes after merging`,
    );
  }
  const qlen = spec.causal ? x.shape[x.rank - 2] : 1;
  const wg = softmaxWorkgroup(n, eng.gpu.info.isCpu);
  const p = new Params()
    .u32(rows)
    .u32(n)
    .u32(outer.shape.length)
    .u32(x.offset)
    .u32(x.strides[axis])
    .u32(outStrides[axis])
    .u32(spec.causal ? 1 : 0)
    .u32(qlen)
    .i32(n - qlen)
    .u32(0x7f800000)
    .u32(0)
    .u32(0)
    .vec4u(outer.shape, 2, 1)
    .vec4u(outer.strides[0], 2, 0)
    .vec4u(outer.strides[1], 2, 0);
  eng.run({
    label: spec.op,
    key: `softmax|${x.dtype}|${wg}|${spec.log}`,
    code: () =>
      fill(src, {
        ENABLE: enables(x.dtype),
        IN: x.dtype,
        OUT: x.dtype,
        WG: wg,
        LOG: spec.log ? "true" : "false",
      }),
    params: p.bytes(),
    inputs: [x.buffer],
    outputs: [out.buffer],
    workgroups: eng.grid(rows * wg, wg),
  });
  return out;
}
