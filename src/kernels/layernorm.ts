/**
 * The fused layer-norm kernel (shaders/layernorm.wgsl): one workgroup per row of the last axis,
 * mean, corrected two-pass variance and output in one dispatch, optional weight, bias and scale
 * output. Strided inputs are read in place; weight and bias must be contiguous 1-D tensors.
 *
 * @module
 */

import src from "../../shaders/layernorm.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { collapse } from "./elementwise.ts";
import { empty } from "../ops/creation.ts";

/** Most leading axes after merging. */
export const LAYERNORM_MAX_RANK = 8;
/** Longest row: 3 passes of at most 8192 iterations per invocation (llvmpipe's loop limit). */
export const LAYERNORM_MAX_LEN = 256 * 8192;

/** Workgroup bounds; the kernel picks a power of two within them (tests and tuning may change them). */
export const layerNormTuning = {
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
export function layerNormWorkgroup(n: number, isCpu = false): number {
  const [lo, hi] = isCpu ? layerNormTuning.cpu : layerNormTuning.gpu;
  let wg = lo;
  while (wg < n && wg < hi) wg *= 2;
  while (wg < 256 && Math.ceil(n / wg) > 8192) wg *= 2;
  return wg;
}

/** One layer norm over the last axis of `x`. `weight`/`bias` contiguous, shape [n]. */
export interface LayerNormSpec {
  op: string;
  x: Tensor;
  weight?: Tensor;
  bias?: Tensor;
  eps: number;
  /** Also write sqrt(var + eps) as [..., 1]. */
  scale: boolean;
}

/** Run one layer norm; returns y (contiguous, x's shape and dtype) and scale when asked. */
export function layerNormKernel(eng: Engine, spec: LayerNormSpec): { y: Tensor; scale?: Tensor } {
  const { x, weight, bias } = spec;
  const n = x.shape[x.rank - 1];
  const rows = n === 0 ? 0 : x.size / n;
  const y = empty(x.shape, x.dtype, eng);
  const scale = spec.scale ? empty([...x.shape.slice(0, -1), 1], x.dtype, eng) : undefined;
  if (rows === 0) return { y, scale };
  if (n > LAYERNORM_MAX_LEN) {
    throw new RangeError(
      `Cannot run ${spec.op}: rows of ${n} elements (${x.describe()}) are longer than the ${LAYERNORM_MAX_LEN} supported`,
    );
  }
  const tensors = [x, y, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  checkBindable(spec.op, eng, ...tensors, ...(scale ? [scale] : []));
  const outerAxes = x.shape.slice(0, -1).map((_, i) => i);
  const outer = collapse(outerAxes.map((a) => x.shape[a]), [outerAxes.map((a) => x.strides[a])]);
  if (outer.shape.length > LAYERNORM_MAX_RANK) {
    throw new RangeError(
      `Cannot run ${spec.op}: ${x.describe()} has more than ${LAYERNORM_MAX_RANK} leading axes after merging`,
    );
  }
  const wg = layerNormWorkgroup(n, eng.gpu.info.isCpu);
  const bindings: string[] = [`@group(0) @binding(1) var<storage, read> X: array<${x.dtype}>;`];
  const inputs: GPUBuffer[] = [x.buffer];
  let b = 2;
  if (weight) {
    bindings.push(`@group(0) @binding(${b++}) var<storage, read> W: array<${weight.dtype}>;`);
    inputs.push(weight.buffer);
  }
  if (bias) {
    bindings.push(`@group(0) @binding(${b++}) var<storage, read> B: array<${bias.dtype}>;`);
    inputs.push(bias.buffer);
  }
  bindings.push(`@group(0) @binding(${b++}) var<storage, read_write> Y: array<${x.dtype}>;`);
  const outputs: GPUBuffer[] = [y.buffer];
  if (scale) {
    bindings.push(`@group(0) @binding(${b++}) var<storage, read_write> S: array<${x.dtype}>;`);
    outputs.push(scale.buffer);
  }
  const dtypes = [x.dtype, weight?.dtype ?? "f32", bias?.dtype ?? "f32"];
  const p = new Params()
    .u32(rows)
    .u32(n)
    .u32(outer.shape.length)
    .u32(x.offset)
    .u32(x.strides[x.rank - 1])
    .u32(weight?.offset ?? 0)
    .u32(bias?.offset ?? 0)
    .f32(spec.eps)
    .vec4u(outer.shape, 2, 1)
    .vec4u(outer.strides[0], 2, 0);
  eng.run({
    label: spec.op,
    key: `layernorm|${x.dtype}|${weight?.dtype ?? "-"}|${bias?.dtype ?? "-"}|${spec.scale}|${wg}`,
    code: () =>
      fill(src, {
        ENABLE: enables(...dtypes),
        BINDINGS: bindings.join("\n"),
        LOAD_W: weight ? "f32(W[p.w_off + j])" : "1.0",
        LOAD_B: bias ? "f32(B[p.b_off + j])" : "0.0",
        STORE_SCALE: scale ? `S[row] = ${x.dtype}(scale);` : "",
        OUT: x.dtype,
        WG: wg,
      }),
    params: p.bytes(),
    inputs,
    outputs,
    workgroups: eng.grid(rows * wg, wg),
  });
  return { y, scale };
}
