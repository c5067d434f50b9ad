/**
 * Scatter-add along an axis (shaders/scatter.wgsl): the adjoint of gather, deterministic and
 * without float atomics (every output element is summed by one thread in index order).
 *
 * Strategy: with fewer indices than rows (m < n, e.g. an embedding gradient: 50257 rows, 128
 * ids) the output is filled with the base (or zeros) and then one thread per (o, j, i) whose j
 * is the first index hitting its row sums that row's hits: work ~ outer·m²·inner on top of the
 * fill. Otherwise one thread per output element scans the index list: work ~ outer·n·m·inner.
 *
 * @module
 */

import src from "../../shaders/scatter.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import { computeType } from "../dtype.ts";
import { type Shape, sizeOf, type Tensor } from "../tensor.ts";
import { checkBindable, enables, fill, Params } from "./_util.ts";
import { empty } from "../ops/creation.ts";
import { bindRange, clampExpr, MAX_THREADS, planRows, strideGrid } from "./gather.ts";
import { contiguous, reshape, slice } from "../ops/movement.ts";

/** {@link scatterKernel} over index passes of at most `per` indices, chained through `base`. */
function scatterPasses(
  eng: Engine,
  op: string,
  shape: Shape,
  base: Tensor | null,
  idx: Tensor,
  srcT: Tensor,
  axis: number,
  per: number,
  windowBytes?: number,
): Tensor {
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const m = idx.size;
  let cur = base;
  for (let j0 = 0; j0 < m; j0 += per) {
    const mc = Math.min(per, m - j0);
    const temps: Tensor[] = [idx.view([mc], [1], idx.offset + j0)];
    let srcC: Tensor;
    if (outer === 1) {
      srcC = srcT.view([mc * inner], [1], srcT.offset + j0 * inner);
      temps.push(srcC);
    } else {
      const s3 = reshape(srcT, [outer, m, inner]);
      const part = slice(s3, [null, [j0, j0 + mc], null]);
      srcC = contiguous(part);
      temps.push(s3, part, srcC);
    }
    try {
      const next = scatterKernel(eng, op, shape, cur, temps[0], srcC, axis, windowBytes);
      if (cur && cur !== base) cur.dispose();
      cur = next;
    } finally {
      for (const t of new Set(temps)) if (t !== srcT && t !== idx) t.dispose();
    }
  }
  return cur!;
}

/**
 * out = base (or zeros) with src[o, j, i] added into out[o, clamp(idx[j]), i], summed over j in
 * increasing order. `base`, `idx` and `src` are contiguous (any offset); src has shape
 * shape[:axis] + [idx.size] + shape[axis+1:] (flattened indices). When the axes before `axis`
 * have size 1 and the output is larger than one binding, the output rows are covered by windows
 * of at most `windowBytes` bytes.
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
  // A thread loops over the index list (once per output element it covers on the `rows` path):
  // past the engine's loop budget (llvmpipe), long lists go in passes, each adding its hits on
  // top of the last (still one sequential sum per element, in index order).
  if (m > 1 && Number.isFinite(eng.loopBudget)) {
    const perThread = m < n ? 1 : Math.ceil((outer * n * inner) / MAX_THREADS);
    const maxM = Math.max(1, Math.floor(eng.loopBudget / perThread) - 1);
    if (m > maxM) {
      return scatterPasses(eng, op, shape, base, idx, srcT, axis, maxM, windowBytes);
    }
  }
  const out = empty(shape, dtype, eng);
  try {
    if (out.size === 0) return out;
    checkBindable(op, eng, idx, srcT);
    let plan: [number, number][];
    if (outer === 1) {
      plan = planRows(op, eng, out, inner, n, base ? [0, base.offset] : [0], windowBytes);
    } else {
      checkBindable(op, eng, out, ...(base ? [base] : []));
      plan = [[0, n]];
    }
    const vec = inner % 4 === 0 && srcT.offset % 4 === 0 && (!base || base.offset % 4 === 0);
    const w = vec ? 4 : 1;
    const ct = computeType(dtype);
    const T = vec ? `vec4<${dtype}>` : dtype;
    const CT = vec ? `vec4<${ct}>` : ct;
    const idt = idx.dtype as "i32" | "u32";
    const nb = base ? 1 : 0;
    const useIds = m < n;
    const code = () =>
      fill(src, {
        ENABLE: enables(dtype),
        T,
        CT,
        IDX: idt,
        CLAMP: clampExpr(idt),
        BASE_DECL: base ? `@group(0) @binding(3) var<storage, read> base: array<${T}>;` : "",
        OUT_BINDING: 3 + nb,
        BASE: base ? `${CT}(base[p.base_off + e])` : `${CT}(0)`,
      });
    const key = `scatter|${T}|${idt}|${nb}`;
    for (const [lo, hi] of plan) {
      const win = hi - lo;
      const rows = outer * win;
      const o = bindRange(eng, out, lo * inner, rows * inner);
      const b = base ? bindRange(eng, base, base.offset + lo * inner, rows * inner) : null;
      const params = (total: number, mm: number) =>
        new Params()
          .u32(total)
          .u32(win)
          .u32(lo)
          .u32(n)
          .u32(inner / w)
          .u32(mm)
          .u32(o.off / w)
          .u32(b ? b.off / w : 0)
          .u32(srcT.offset / w)
          .u32(idx.offset)
          .u32(0).u32(0).bytes();
      const total = (rows * inner) / w;
      // `rows` over the window: the whole scatter, or (with m = 0) the fill before `ids`.
      eng.run({
        label: op,
        key,
        code,
        entryPoint: "rows",
        params: params(total, useIds ? 0 : m),
        inputs: [idx.buffer, srcT.buffer, ...(b ? [b.binding] : [])],
        outputs: [o.binding],
        workgroups: strideGrid(eng, total),
      });
      if (useIds && m > 0) {
        const hits = (outer * m * inner) / w;
        eng.run({
          label: op,
          key,
          code,
          entryPoint: "ids",
          params: params(hits, m),
          inputs: [idx.buffer, srcT.buffer],
          outputs: [o.binding],
          workgroups: eng.grid(hits, 256),
        });
      }
    }
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
