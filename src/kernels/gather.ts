/**
 * Gather along an axis (shaders/gather.wgsl), and the helpers that bind windows of rows of a
 * tensor whose storage is bigger than one storage binding (used by scatter too).
 *
 * @module
 */

import src from "../../shaders/gather.wgsl" with { type: "text" };
import type { Binding, Engine } from "../gpu/engine.ts";
import { DTYPE_BYTES } from "../dtype.ts";
import { fmtShape, sizeOf, type Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { empty } from "../ops/creation.ts";

/** A window of a tensor's storage: a binding at an aligned offset and the element offset in it. */
export interface BoundRange {
  binding: Binding;
  /** Elements from the start of the binding to the first element asked for. */
  off: number;
}

function alignment(eng: Engine): number {
  return eng.limits.minStorageBufferOffsetAlignment ?? 256;
}

/**
 * Bind `count` elements of `t`'s storage starting at element `start`: the binding starts at the
 * aligned byte offset at or below it (minStorageBufferOffsetAlignment, 256 bytes) and `off`
 * says how many elements in the wanted range starts.
 */
export function bindRange(eng: Engine, t: Tensor, start: number, count: number): BoundRange {
  const bpe = DTYPE_BYTES[t.dtype];
  const align = alignment(eng);
  const startB = start * bpe;
  const at = Math.floor(startB / align) * align;
  const want = Math.max(4, Math.ceil((startB - at + count * bpe) / 4) * 4);
  const size = Math.min(t.buffer.size - at, want);
  return { binding: { buffer: t.buffer, offset: at, size }, off: (startB - at) / bpe };
}

/**
 * Split `rows` rows of `rowElems` elements each into windows [lo, hi) that can each be bound in
 * one storage binding of at most `limitBytes` (default and ceiling: the adapter's
 * maxStorageBufferBindingSize), given the element offsets at which the region starts in each
 * tensor that is windowed the same way. Throws naming the op when one row does not fit.
 */
export function planRows(
  op: string,
  eng: Engine,
  t: Tensor,
  rowElems: number,
  rows: number,
  starts: number[],
  limitBytes?: number,
): [number, number][] {
  const bpe = DTYPE_BYTES[t.dtype];
  const align = alignment(eng);
  const limit = Math.floor(Math.min(limitBytes ?? eng.maxBinding, eng.maxBinding) / 4) * 4;
  const rowBytes = rowElems * bpe;
  const skew = Math.max(...starts.map((s) => (s * bpe) % align));
  if (rows * rowBytes + skew <= limit) return [[0, rows]];
  const per = Math.floor((limit - align) / rowBytes);
  if (per < 1) {
    throw new RangeError(
      `Cannot run ${op}: one row of ${t.describe()} (${rowElems} elements, ${rowBytes} bytes) does ` +
        `not fit in one storage binding of ${limit} bytes (maxStorageBufferBindingSize ` +
        `${eng.maxBinding}, less ${align} bytes for offset alignment)`,
    );
  }
  const out: [number, number][] = [];
  for (let lo = 0; lo < rows; lo += per) out.push([lo, Math.min(rows, lo + per)]);
  return out;
}

/** Most threads a grid-stride kernel launches: 4096 workgroups of 256 (each loops over the rest). */
export const MAX_THREADS = 4096 * 256;

/**
 * Workgroups for a 1-D grid-stride kernel over `n` items with 256-thread workgroups: one
 * thread per item up to {@link MAX_THREADS}, fewer beyond (software adapters pay per workgroup).
 */
export function strideGrid(eng: Engine, n: number): [number, number, number] {
  return eng.grid(Math.min(n, MAX_THREADS), 256);
}

/** WGSL expression clamping the raw index `raw` (of the index dtype) into [0, p.n - 1]. */
export function clampExpr(idxDtype: "i32" | "u32"): string {
  return idxDtype === "i32" ? "u32(clamp(raw, 0, i32(p.n) - 1))" : "min(raw, p.n - 1u)";
}

/**
 * out[o, j, i] = x[o, clamp(idx[j]), i] with `x` and `idx` contiguous (any offset); the output
 * shape is x.shape[:axis] + idx.shape + x.shape[axis+1:]. When the axes before `axis` all have
 * size 1 and `x` is larger than one binding, the rows are covered by windows of at most
 * `windowBytes` bytes, one dispatch each.
 */
export function gatherKernel(
  eng: Engine,
  op: string,
  x: Tensor,
  idx: Tensor,
  axis: number,
  windowBytes?: number,
): Tensor {
  const outer = sizeOf(x.shape.slice(0, axis));
  const n = x.shape[axis];
  const inner = sizeOf(x.shape.slice(axis + 1));
  const m = idx.size;
  const outShape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
  const out = empty(outShape, x.dtype, eng);
  try {
    const total = outer * m * inner;
    if (total === 0) return out;
    if (n === 0) {
      throw new RangeError(
        `Cannot run ${op}: axis ${axis} of ${x.describe()} is empty, so no index is valid`,
      );
    }
    checkBindable(op, eng, idx, out);
    let plan: [number, number][];
    if (outer === 1) {
      plan = planRows(op, eng, x, inner, n, [x.offset], windowBytes);
    } else {
      const whole = x.shape.slice(axis);
      if ((x.offset + outer * n * inner) * DTYPE_BYTES[x.dtype] > eng.maxBinding) {
        throw new RangeError(
          `Cannot run ${op}: ${x.describe()} is larger than maxStorageBufferBindingSize ` +
            `(${eng.maxBinding} bytes) and axis ${axis} is not its first non-trivial axis; ` +
            `gather from slices of shape ${fmtShape(whole)}`,
        );
      }
      plan = [[0, n]];
    }
    const vec = x.dtype !== "f16" && inner % 4 === 0 && x.offset % 4 === 0;
    const w = vec ? 4 : 1;
    const T = vec ? `vec4<${x.dtype}>` : x.dtype;
    const idt = idx.dtype as "i32" | "u32";
    for (const [lo, hi] of plan) {
      const r = outer === 1
        ? bindRange(eng, x, x.offset + lo * inner, (hi - lo) * inner)
        : { binding: x.buffer, off: x.offset };
      const p = new Params()
        .u32(total / w)
        .u32(inner / w)
        .u32(m)
        .u32(n)
        .u32(lo)
        .u32(hi)
        .u32(r.off / w)
        .u32((n * inner) / w)
        .u32(idx.offset)
        .u32(0).u32(0).u32(0);
      eng.run({
        label: op,
        key: `gather|${T}|${idt}`,
        code: () => fill(src, { ENABLE: enables(x.dtype), T, IDX: idt, CLAMP: clampExpr(idt) }),
        params: p.bytes(),
        inputs: [r.binding, idx.buffer],
        outputs: [out.buffer],
        workgroups: strideGrid(eng, total / w),
      });
    }
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
