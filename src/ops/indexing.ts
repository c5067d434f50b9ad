/**
 * Indexing ops: `gather` (PyTorch's `index_select`), `embedding`, `scatterAdd` (gather's
 * adjoint), `concat` and `oneHot`, and `checkIndices` to validate indices on the CPU.
 *
 * Out-of-range indices: a GPU kernel cannot throw, so `gather`, `embedding` and `scatterAdd`
 * clamp every index into [0, n − 1] (a negative i32 index reads row 0; an index ≥ n reads row
 * n − 1), and `oneHot` gives a row of zeros. Callers that want an error (tokens past the
 * vocabulary, say) call `await checkIndices(ids, n)` first, which reads the indices back.
 *
 * @module
 */

import { record } from "../autograd/tape.ts";
import type { DType } from "../dtype.ts";
import { copyInto } from "../kernels/concat.ts";
import { gatherKernel } from "../kernels/gather.ts";
import { oneHotKernel } from "../kernels/onehot.ts";
import { scatterKernel } from "../kernels/scatter.ts";
import { contiguousStrides, fmtShape, type Shape, type Tensor } from "../tensor.ts";
import { empty } from "./creation.ts";
import { contiguous, normAxis } from "./movement.ts";

/** Options of {@link gather} and {@link embedding}. */
export interface GatherOptions {
  /**
   * Largest storage binding, in bytes, to bind a window of the source's rows with (default and
   * ceiling: the adapter's maxStorageBufferBindingSize). A source bigger than this is covered
   * window by window; lower it to exercise the splitting with small tensors.
   */
  windowBytes?: number;
}

/** Throw unless `t` holds i32 or u32 indices. */
export function checkIndexDtype(op: string, t: Tensor, what = "indices"): void {
  if (t.dtype !== "i32" && t.dtype !== "u32") {
    throw new TypeError(
      `Cannot run ${op}: ${what} ${t.describe()} have dtype ${t.dtype}; ${what} must be i32 or u32 ` +
        `(cast them with cast(x, "i32"))`,
    );
  }
}

/** Run `fn` on contiguous versions of the tensors, disposing the copies made. */
function withContiguous<T>(ts: Tensor[], fn: (...c: Tensor[]) => T): T {
  const cs = ts.map((t) => contiguous(t));
  try {
    return fn(...cs);
  } finally {
    cs.forEach((c, i) => {
      if (c !== ts[i]) c.dispose();
    });
  }
}

/**
 * Select entries of `x` along `axis` (PyTorch's `index_select`, generalised to index tensors of
 * any shape): the output shape is `x.shape[:axis] + indices.shape + x.shape[axis+1:]` and
 * `out[..., j, ...] = x[..., indices[j], ...]`. Indices are i32 or u32; out-of-range indices are
 * clamped to [0, n − 1] (see {@link checkIndices}). When `x` is larger than one storage binding
 * and every axis before `axis` has size 1, it is read in windows of rows.
 *
 * @example
 * ```ts
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * const cols = gather(x, tensor(new Int32Array([2, 0]), [2]), 1); // [[3, 1], [6, 4]]
 * ```
 */
export function gather(x: Tensor, indices: Tensor, axis = 0, opts: GatherOptions = {}): Tensor {
  checkIndexDtype("gather", indices);
  if (x.rank === 0) {
    throw new RangeError(`Cannot run gather: ${x.describe()} is a scalar; it has no axis to index`);
  }
  const a = normAxis("gather", axis, x.rank, x.shape);
  const out = withContiguous(
    [x, indices],
    (xc, ic) => gatherKernel(x.engine, "gather", xc, ic, a, opts.windowBytes),
  );
  return record(out, "gather", [x, indices], { axis: a, n: x.shape[a] });
}

/**
 * Rows of an embedding table: `table [vocab, d]`, `ids [...]` (i32 or u32) → `[..., d]`. Ids
 * outside [0, vocab) are clamped (see {@link checkIndices} for an error instead). A table bigger
 * than maxStorageBufferBindingSize (GPT-2's 50257 × 768 f32 wte is 154 MB) is read in windows
 * of rows, one dispatch per window.
 *
 * @example
 * ```ts
 * const wte = randn([50257, 768], { std: 0.02 });
 * const ids = tensor(new Int32Array([15496, 995]), [1, 2]);
 * const h = embedding(wte, ids); // f32[1, 2, 768]
 * ```
 */
export function embedding(table: Tensor, ids: Tensor, opts: GatherOptions = {}): Tensor {
  checkIndexDtype("embedding", ids, "ids");
  if (table.rank !== 2) {
    throw new RangeError(
      `Cannot run embedding: the table ${table.describe()} must have rank 2 ([vocab, d])`,
    );
  }
  const out = withContiguous(
    [table, ids],
    (tc, ic) => gatherKernel(table.engine, "embedding", tc, ic, 0, opts.windowBytes),
  );
  return record(out, "embedding", [table, ids], { vocab: table.shape[0] });
}

/**
 * Read `indices` back and throw a RangeError naming the first one outside [0, n) (its position
 * and value). For callers that want an error rather than the GPU ops' clamping, e.g. token ids
 * past the vocabulary. Costs one readback.
 *
 * @example
 * ```ts
 * await checkIndices(ids, wte.shape[0], "token ids");
 * const h = embedding(wte, ids);
 * ```
 */
export async function checkIndices(indices: Tensor, n: number, what = "indices"): Promise<void> {
  checkIndexDtype("checkIndices", indices, what);
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`Cannot run checkIndices: n must be a non-negative integer, got ${n}`);
  }
  const data = await indices.read();
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < 0 || v >= n) {
      const pos = unravel(i, indices.shape);
      throw new RangeError(
        `${what} ${indices.describe()} hold ${v} at position ${fmtShape(pos)}, outside [0, ${n})`,
      );
    }
  }
}

function unravel(i: number, shape: Shape): number[] {
  const pos = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    pos[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return pos;
}

/** Options of {@link scatterAdd}. */
export interface ScatterOptions {
  /** As {@link GatherOptions.windowBytes}, for windows of the output's rows. */
  windowBytes?: number;
}

/**
 * The adjoint of {@link gather}: start from `target` (a shape, meaning zeros, or a tensor, which
 * is not modified) and add `src[..., j, ...]` into row `indices[j]` along `axis`:
 * `out[..., indices[j], ...] += src[..., j, ...]`. `src` has shape
 * `shape[:axis] + indices.shape + shape[axis+1:]`. Repeated indices accumulate. Deterministic
 * without float atomics: each output element sums its hits in increasing j, so the result is
 * bit-identical run to run and equals a sequential f32 sum in that order. Out-of-range indices
 * are clamped like gather's. With fewer indices than rows (an embedding gradient: 50257 rows,
 * 128 ids) the output is filled and one thread per (index, column) sums its row's hits: work
 * ~ outer·m²·inner; otherwise one thread per output element scans the index list: work
 * ~ outer·n·m·inner. An output larger than one storage binding is written in row windows.
 *
 * @example
 * ```ts
 * const ids = tensor(new Int32Array([1, 3, 1]), [3]);
 * const g = scatterAdd([5, 2], ids, ones([3, 2])); // rows 1: [2, 2], 3: [1, 1], others 0
 * ```
 */
export function scatterAdd(
  target: Shape | Tensor,
  indices: Tensor,
  src: Tensor,
  axis = 0,
  opts: ScatterOptions = {},
): Tensor {
  checkIndexDtype("scatterAdd", indices);
  const base = Array.isArray(target) ? null : target as Tensor;
  const shape: Shape = base ? base.shape : [...(target as Shape)];
  if (!base) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new RangeError(`Cannot run scatterAdd: target shape ${fmtShape(shape)} is invalid`);
      }
    }
  }
  if (shape.length === 0) {
    throw new RangeError(`Cannot run scatterAdd: the target is a scalar; it has no axis to index`);
  }
  const a = normAxis("scatterAdd", axis, shape.length, shape);
  if (base && base.dtype !== src.dtype) {
    throw new TypeError(
      `Cannot run scatterAdd: dtypes differ (target ${base.describe()}, src ${src.describe()})`,
    );
  }
  const want = [...shape.slice(0, a), ...indices.shape, ...shape.slice(a + 1)];
  if (want.length !== src.rank || want.some((d, i) => d !== src.shape[i])) {
    throw new RangeError(
      `Cannot run scatterAdd: src ${src.describe()} should have shape ${fmtShape(want)} ` +
        `(target ${fmtShape(shape)} with axis ${a} replaced by indices ${fmtShape(indices.shape)})`,
    );
  }
  const ins = base ? [base, indices, src] : [indices, src];
  const out = withContiguous(ins, (...cs) => {
    const [b, i, s] = base ? cs : [null, cs[0], cs[1]];
    return scatterKernel(src.engine, "scatterAdd", shape, b, i!, s!, a, opts.windowBytes);
  });
  return record(out, "scatterAdd", ins, { axis: a, shape, hasTarget: base !== null });
}

/**
 * Join tensors along an existing axis. All must share the dtype and every other axis. One strided
 * copy per input into its slice of the output; only that slice is bound, so concatenating along
 * the first axis can build a tensor larger than maxStorageBufferBindingSize.
 *
 * @example
 * ```ts
 * const ab = concat([a, b], -1); // [2, 3] and [2, 4] -> [2, 7]
 * ```
 */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("Cannot run concat: no tensors given");
  const first = tensors[0];
  if (first.rank === 0) {
    throw new RangeError(
      `Cannot run concat: ${first.describe()} is a scalar; it has no axis to join`,
    );
  }
  const a = normAxis("concat", axis, first.rank, first.shape);
  for (const t of tensors) {
    if (t.dtype !== first.dtype) {
      throw new TypeError(
        `Cannot run concat: dtypes differ (${first.describe()} and ${t.describe()})`,
      );
    }
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new RangeError(
        `Cannot run concat along axis ${a}: shapes must match except on that axis ` +
          `(${first.describe()} and ${t.describe()})`,
      );
    }
  }
  const sizes = tensors.map((t) => t.shape[a]);
  const shape = [...first.shape];
  shape[a] = sizes.reduce((x, y) => x + y, 0);
  const eng = first.engine;
  const out = empty(shape, first.dtype, eng);
  const strides = contiguousStrides(shape);
  let at = 0;
  try {
    for (const t of tensors) {
      copyInto(eng, "concat", t, out, at * strides[a], strides);
      at += t.shape[a];
    }
  } catch (e) {
    out.dispose();
    throw e;
  }
  return record(out, "concat", [...tensors], { axis: a, sizes });
}

/** Options of {@link oneHot}. */
export interface OneHotOptions {
  /** Output dtype (default f32). */
  dtype?: DType;
}

/**
 * One-hot vectors: `indices [...]` (i32 or u32) → `[..., n]` with 1 at each index and 0
 * elsewhere (f32 unless `dtype` says otherwise). An index outside [0, n) gives a row of zeros.
 *
 * @example
 * ```ts
 * const y = oneHot(tensor(new Int32Array([2, 0]), [2]), 3); // [[0, 0, 1], [1, 0, 0]]
 * ```
 */
export function oneHot(indices: Tensor, n: number, opts: OneHotOptions = {}): Tensor {
  checkIndexDtype("oneHot", indices);
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`Cannot run oneHot: n must be a non-negative integer, got ${n}`);
  }
  const out = withContiguous(
    [indices],
    (ic) => oneHotKernel(indices.engine, ic, n, opts.dtype ?? "f32"),
  );
  return record(out, "oneHot", [indices], { n });
}
