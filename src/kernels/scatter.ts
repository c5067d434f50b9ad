/**
 * Scatter-add along an axis (shaders/scatter.wgsl): the adjoint of gather, deterministic and
 * without float atomics. One workgroup per output row scans the index list.
 *
 * Cost: every output row reads the whole index list once per 64·16 columns, so the work is
 * about outer·n·m index reads (n: the scattered axis, m: the number of indices) plus one read of
 * src per hit. For an embedding gradient (n = 50257 rows, m = 128 token ids) that is 6.4 M index
 * reads; for very large n·m (say 10⁵ rows × 10⁵ indices) it becomes slow.
 *
 * @module
 */

import src from "../../shaders/scatter.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import { computeType } from "../dtype.ts";
import { type Shape, sizeOf, type Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { empty } from "../ops/creation.ts";
import { bindRange, clampExpr, planRows } from "./gather.ts";

/** Threads per workgroup (one workgroup per output row). */
const WG = 64;
/** Most columns per thread per pass over the index list. */
const MAX_K = 16;

/**
 * out = base (or zeros) with src[o, j, i] added into out[o, clamp(idx[j]), i], summed over j in
 * increasing order. `base`, `idx` and `src` are contiguous (any offset); src has shape
 * shape[:axis] + [idx.size] + shape[axis+1:] (flattened indices). When the axes before `axis`
 * have size 1 and the output is larger than one binding, the output rows are covered by windows
 * of at most `windowBytes` bytes, one dispatch each.
 */
export function scatterKernel(
  eng: Engine,
  op: string,
  shape: Shape,
  base: Tensor | null,
  idx: Tensor,
  srcT: Tensor,
  axis: number,
  windowBytes?: number,
): Tensor {
  const outer = sizeOf(shape.slice(0, axis));
  const n = shape[axis];
  const inner = sizeOf(shape.slice(axis + 1));
  const m = idx.size;
  const dtype = srcT.dtype;
  const out = empty(shape, dtype, eng);
  if (out.size === 0) return out;
  checkBindable(op, eng, idx, srcT);
  let plan: [number, number][];
  if (outer === 1) {
    plan = planRows(op, eng, out, inner, n, base ? [0, base.offset] : [0], windowBytes);
  } else {
    checkBindable(op, eng, out, ...(base ? [base] : []));
    plan = [[0, n]];
  }
  const K = Math.min(MAX_K, Math.max(1, Math.ceil(inner / WG)));
  const CT = computeType(dtype);
  const idt = idx.dtype as "i32" | "u32";
  const nb = base ? 1 : 0;
  const baseDecl = base
    ? `@group(0) @binding(1) var<storage, read> base: array<${dtype}>;`
    : "";
  const bindings = [
    `@group(0) @binding(${1 + nb}) var<storage, read> idx: array<${idt}>;`,
    `@group(0) @binding(${2 + nb}) var<storage, read> src: array<${dtype}>;`,
    `@group(0) @binding(${3 + nb}) var<storage, read_write> out: array<${dtype}>;`,
  ].join("\n");
  for (const [lo, hi] of plan) {
    const win = hi - lo;
    const rows = outer * win;
    const o = bindRange(eng, out, lo * inner, rows * inner);
    const b = base ? bindRange(eng, base, base.offset + lo * inner, rows * inner) : null;
    const p = new Params()
      .u32(rows)
      .u32(win)
      .u32(lo)
      .u32(n)
      .u32(inner)
      .u32(m)
      .u32(o.off)
      .u32(b ? b.off : 0)
      .u32(srcT.offset)
      .u32(idx.offset)
      .u32(0).u32(0);
    eng.run({
      label: op,
      key: `scatter|${dtype}|${idt}|${K}|${nb}`,
      code: () =>
        fill(src, {
          ENABLE: enables(dtype),
          T: dtype,
          CT,
          IDX: idt,
          CLAMP: clampExpr(idt),
          K,
          BASE_DECL: baseDecl,
          BASE: base ? `${CT}(base[p.base_off + g * p.inner + col])` : `${CT}(0)`,
          BINDINGS: bindings,
        }),
      params: p.bytes(),
      inputs: [...(b ? [b.binding] : []), idx.buffer, srcT.buffer],
      outputs: [o.binding],
      workgroups: eng.grid(rows * WG, WG),
    });
  }
  return out;
}
