/**
 * The strided, broadcasting elementwise kernel (shaders/elementwise.wgsl): one kernel for unary,
 * binary and ternary maps, specialised by expression and dtypes.
 *
 * @module
 */

import src from "../../shaders/elementwise.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import { computeType, type DType } from "../dtype.ts";
import { type Shape, sizeOf, type Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { empty } from "../ops/creation.ts";

/** Most axes an elementwise op takes after merging contiguous axes. */
export const MAX_RANK = 8;

/** One elementwise map. */
export interface MapSpec {
  /** Op name, for errors and the pipeline label. */
  op: string;
  /** WGSL expression in `a`, `b`, `c` (compute-typed inputs) and `s` (the scalar). */
  expr: string;
  inputs: Tensor[];
  outShape: Shape;
  outDtype: DType;
  /** Value of `s`. */
  scalar?: number;
  /** Value of `s2`. */
  scalar2?: number;
  /** WGSL type of `s` (defaults to the compute type of the first input). */
  scalarType?: "f32" | "i32" | "u32";
}

/** Strides of `t` broadcast to `shape` (0 on broadcast axes). */
export function broadcastStrides(t: Tensor, shape: Shape): number[] {
  const out = new Array<number>(shape.length).fill(0);
  const lead = shape.length - t.rank;
  for (let i = 0; i < t.rank; i++) {
    const d = t.shape[i];
    if (d === shape[lead + i]) out[lead + i] = d === 1 ? 0 : t.strides[i];
    else if (d === 1) out[lead + i] = 0;
    else throw new Error(`internal: cannot broadcast ${t.describe()} to [${shape}]`);
  }
  return out;
}

/** Merge adjacent axes that every operand walks contiguously; drops size-1 axes. */
export function collapse(
  shape: Shape,
  strides: number[][],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    const mergeable = last >= 0 &&
      strides.every((s, k) => outStrides[k][last] === s[d] * shape[d]);
    if (mergeable) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

const NAMES = ["a", "b", "c"];

/**
 * WGSL that computes each input's element index from the output index `i`, unrolled for the
 * rank. An input whose merged layout is the output's (rank 1, stride 1) indexes directly.
 */
function indexCode(rank: number, strides: number[][], nInputs: number): string {
  const lines: string[] = [];
  const direct = strides.map((s) => rank === 1 && s[0] === 1);
  if (rank > 1 || direct.some((d) => !d)) {
    if (rank > 0) lines.push("var rem = i;");
    for (let d = rank - 1; d >= 0; d--) {
      const dim = `p.shape[${d >> 2}][${d & 3}]`;
      if (d > 0) {
        lines.push(`let c${d} = rem % ${dim};`);
        lines.push(`rem = rem / ${dim};`);
      } else lines.push(`let c0 = rem;`);
    }
  }
  for (let k = 0; k < nInputs; k++) {
    const n = NAMES[k];
    if (direct[k]) {
      lines.push(`let i${n} = p.off_${n} + i;`);
      continue;
    }
    const terms = [`p.off_${n}`];
    for (let d = 0; d < rank; d++) {
      if (strides[k][d] !== 0) terms.push(`c${d} * p.stride_${n}[${d >> 2}][${d & 3}]`);
    }
    lines.push(`let i${n} = ${terms.join(" + ")};`);
  }
  return lines.join("\n  ");
}

function bitsOf(v: number, t: "f32" | "i32" | "u32"): number {
  const dv = new DataView(new ArrayBuffer(4));
  if (t === "f32") dv.setFloat32(0, v, true);
  else if (t === "i32") dv.setInt32(0, v, true);
  else dv.setUint32(0, v >>> 0, true);
  return dv.getUint32(0, true);
}

/** Run one elementwise map and return its (contiguous) output. */
export function mapKernel(eng: Engine, spec: MapSpec): Tensor {
  const { inputs, outShape, outDtype } = spec;
  const n = sizeOf(outShape);
  const out = empty(outShape, outDtype, eng);
  if (n === 0) return out;
  checkBindable(spec.op, eng, ...inputs, out);
  const strides = inputs.map((t) => broadcastStrides(t, outShape));
  // The output is contiguous: add its strides so merged axes stay valid for it too.
  let outStrides = 1;
  const outS = new Array<number>(outShape.length);
  for (let d = outShape.length - 1; d >= 0; d--) {
    outS[d] = outStrides;
    outStrides *= outShape[d];
  }
  const merged = collapse(outShape, [outS, ...strides]);
  const rank = merged.shape.length;
  if (rank > MAX_RANK) {
    throw new RangeError(
      `Cannot run ${spec.op}: ${rank} axes remain after merging, more than the ${MAX_RANK} supported`,
    );
  }
  const ct = spec.scalarType ?? computeType(inputs[0]?.dtype ?? outDtype);
  const dtypes = [...inputs.map((t) => t.dtype), outDtype];
  const bindings = inputs.map((t, k) =>
    `@group(0) @binding(${k + 1}) var<storage, read> ${NAMES[k].toUpperCase()}: array<${t.dtype}>;`
  );
  bindings.push(
    `@group(0) @binding(${inputs.length + 1}) var<storage, read_write> out: array<${outDtype}>;`,
  );
  const loads = inputs.map((t, k) =>
    `let ${NAMES[k]} = ${computeType(t.dtype)}(${NAMES[k].toUpperCase()}[i${NAMES[k]}]);`
  ).join("\n  ");
  const index = indexCode(rank, merged.strides.slice(1), inputs.length);
  const wg = eng.gpu.info.isCpu ? 64 : 256;
  const key = `elementwise|${spec.expr}|${dtypes.join(",")}|${ct}|${index}|${wg}`;
  const p = new Params()
    .u32(n)
    .u32(rank)
    .u32(bitsOf(spec.scalar ?? 0, ct))
    .u32(bitsOf(spec.scalar2 ?? 0, ct))
    .vec4u(merged.shape, 2, 1);
  for (let k = 0; k < 3; k++) p.vec4u(k < inputs.length ? merged.strides[k + 1] : [], 2, 0);
  for (let k = 0; k < 3; k++) p.u32(k < inputs.length ? inputs[k].offset : 0);
  p.u32(0);
  eng.run({
    label: spec.op,
    key,
    code: () =>
      fill(src, {
        ENABLE: enables(...dtypes),
        BINDINGS: bindings.join("\n"),
        LOADS: loads,
        EXPR: spec.expr,
        OUT: outDtype,
        CT: ct,
        INDEX: index,
        WG: wg,
      }),
    params: p.bytes(),
    inputs: inputs.map((t) => t.buffer),
    outputs: [out.buffer],
    workgroups: eng.grid(n, wg),
  });
  return out;
}
