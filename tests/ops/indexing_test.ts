import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { type DType, readTensors, type Tensor } from "../../src/tensor.ts";
import { tensor, zeros } from "../../src/ops/creation.ts";
import { reshape, slice, transpose } from "../../src/ops/movement.ts";
import {
  checkIndices,
  concat,
  embedding,
  gather,
  oneHot,
  scatterAdd,
} from "../../src/ops/indexing.ts";
import { dispose, memory } from "../../src/memory.ts";
import {
  concatRef,
  embeddingRef,
  gatherRef,
  oneHotRef,
  scatterAddRef,
} from "../../src/reference/indexing.ts";

/** Awkward sizes: 1, primes, non-multiples of the 256-thread and 64-thread workgroups. */
const DIM = fc.constantFrom(1, 2, 3, 4, 5, 7, 13, 17, 31, 64, 65);
const SEED = fc.integer({ min: 1, max: 2 ** 31 - 1 });
type Layout = "contiguous" | "offset" | "strided";
const LAYOUT = fc.constantFrom<Layout>("contiguous", "offset", "strided");

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Deterministic xorshift values in [lo, hi), rounded to f32 (integers when `int`). */
function values(n: number, seed: number, lo: number, hi: number, int = false): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const u = lo + (hi - lo) * (s / 2 ** 32);
    out[i] = int ? Math.floor(u) : Math.fround(u);
  }
  return out;
}

function typed(data: ArrayLike<number>, dtype: DType) {
  return dtype === "i32"
    ? Int32Array.from(data)
    : dtype === "u32"
    ? Uint32Array.from(data)
    : Float32Array.from(data);
}

/**
 * Upload `data` of `shape` as a contiguous tensor, a contiguous view at a non-zero offset, or a
 * strided (non-contiguous) view. Returns the tensor and everything to dispose.
 */
function upload(
  data: ArrayLike<number>,
  shape: readonly number[],
  dtype: DType = "f32",
  layout: Layout = "contiguous",
): { t: Tensor; all: Tensor[] } {
  if (layout === "contiguous" || shape.length === 0) {
    const t = tensor(typed(data, dtype), shape, { dtype });
    return { t, all: [t] };
  }
  if (layout === "offset") {
    const inner = size(shape.slice(1));
    const big = new Float64Array(inner + data.length).fill(-999);
    big.set(Array.from(data), inner);
    const b = tensor(typed(big, dtype), [shape[0] + 1, ...shape.slice(1)], { dtype });
    const t = slice(b, [[1, shape[0] + 1]]);
    return { t, all: [b, t] };
  }
  const last = shape[shape.length - 1];
  const rows = size(shape.slice(0, -1));
  const big = new Float64Array(rows * (last + 2)).fill(-999);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < last; c++) big[r * (last + 2) + c + 1] = data[r * last + c];
  }
  const b = tensor(typed(big, dtype), [...shape.slice(0, -1), last + 2], { dtype });
  const ranges = shape.map((_, i) => (i === shape.length - 1 ? [1, last + 1] as const : null));
  const t = slice(b, ranges);
  return { t, all: [b, t] };
}

// ------------------------------------------------------------------ gather / embedding

gpuTest("gather() matches the f64 reference on random shapes", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(DIM, { minLength: 1, maxLength: 4 }).filter((s) => size(s) <= 20000),
      fc.array(DIM, { minLength: 0, maxLength: 2 }),
      fc.nat(3),
      fc.constantFrom<DType>("f32", "i32", "u32"),
      fc.constantFrom<DType>("i32", "u32"),
      LAYOUT,
      SEED,
      async (shape, idxShape, axisPick, dtype, idt, layout, seed) => {
        const axis = axisPick % shape.length;
        const n = shape[axis];
        const xs = values(size(shape), seed, -100, 100, dtype !== "f32");
        const xd = dtype === "u32" ? xs.map(Math.abs) : xs;
        const ids = values(size(idxShape), seed + 1, 0, n, true);
        const x = upload(xd, shape, dtype, layout);
        const i = upload(ids, idxShape, idt);
        // Negative axes count from the end.
        const out = gather(x.t, i.t, axisPick % 2 ? axis - shape.length : axis);
        const [got] = await readTensors([out]);
        const want = gatherRef(xd, shape, ids, idxShape, axis);
        assert.deepEqual(out.shape, want.shape);
        assert.equal(out.dtype, dtype);
        // A copy: exact.
        assertClose(
          got,
          want.data,
          0,
          0,
          `gather ${dtype}[${shape}] axis ${axis} ids [${idxShape}]`,
        );
        dispose([x.all, i.all, out]);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("gather() clamps out-of-range indices to [0, n - 1]", async () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  const ids = tensor(new Int32Array([-5, 0, 2, 3, 1000]), [5]);
  const out = gather(x, ids, 1);
  assert.deepEqual(await out.toArray(), [[1, 1, 3, 3, 3], [4, 4, 6, 6, 6]]);
  const u = tensor(new Uint32Array([7, 1]), [2]);
  const out2 = gather(x, u, 0);
  assert.deepEqual(await out2.toArray(), [[4, 5, 6], [4, 5, 6]]);
  dispose([x, ids, out, u, out2]);
});

gpuTest("embedding() matches the f64 reference, splitting the table into row windows", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(1, 2, 7, 13, 64, 257),
      fc.constantFrom(1, 3, 4, 5, 8, 64, 65),
      fc.array(DIM, { minLength: 0, maxLength: 2 }),
      // undefined: one binding; small: windows of a few rows at 256-byte-aligned offsets.
      fc.constantFrom(undefined, 300, 512, 777, 4096),
      fc.constantFrom<Layout>("contiguous", "offset"),
      fc.constantFrom<DType>("f32", "i32"),
      SEED,
      async (vocab, d, idShape, windowBytes, layout, dtype, seed) => {
        // The window must hold one row plus the 256-byte alignment slack.
        const wb = windowBytes === undefined ? undefined : Math.max(windowBytes, 256 + 4 * d);
        const table = values(vocab * d, seed, -10, 10, dtype === "i32");
        const ids = values(size(idShape), seed + 7, 0, vocab, true);
        const t = upload(table, [vocab, d], dtype, layout);
        const i = upload(ids, idShape, "i32");
        const out = embedding(t.t, i.t, { windowBytes: wb });
        const [got] = await readTensors([out]);
        const want = embeddingRef(table, [vocab, d], ids, idShape);
        assert.deepEqual(out.shape, [...idShape, d]);
        assertClose(got, want.data, 0, 0, `embedding [${vocab}, ${d}] window ${wb}`);
        dispose([t.all, i.all, out]);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest(
  "embedding() and scatterAdd() handle a GPT-2-sized table past maxStorageBufferBindingSize",
  async (eng) => {
    // 50257 × 768 i32 = 154 MB > 128 MiB: built by concat along axis 0 (each half fits one
    // binding), read by embedding in windows, and written by scatterAdd in windows.
    const vocab = 50257;
    const d = 768;
    assert.ok(vocab * d * 4 > eng.maxBinding, "the table must exceed one binding");
    const half = 25000;
    const fillRows = (lo: number, hi: number) => {
      const a = new Int32Array((hi - lo) * d);
      for (let k = 0; k < a.length; k++) a[k] = lo * d + k;
      return tensor(a, [hi - lo, d]);
    };
    const a = fillRows(0, half);
    const b = fillRows(half, vocab);
    const table = concat([a, b], 0);
    dispose([a, b]);
    const border = Math.floor(eng.maxBinding / (4 * d)); // first row past one binding
    const idList = [0, 1, half - 1, half, border - 1, border, border + 1, vocab - 1, 3];
    const ids = tensor(Int32Array.from(idList), [idList.length]);
    const rows = embedding(table, ids);
    const got = await rows.read();
    idList.forEach((r, j) => {
      for (const c of [0, 1, d - 1]) assert.equal(got[j * d + c], r * d + c, `row ${r} col ${c}`);
    });
    table.dispose();
    // Embedding gradient shape: scatter 128 token rows into [50257, 768].
    const tok = Int32Array.from({ length: 128 }, (_, k) => (k * 7919) % vocab);
    tok[5] = border; // a row in the second window
    tok[6] = border; // repeated
    const toks = tensor(tok, [128]);
    const src = reshape(tensor(Int32Array.from({ length: 128 * d }, (_, k) => k % 7), [128 * d]), [
      128,
      d,
    ]);
    const grad = scatterAdd([vocab, d], toks, src);
    const back = embedding(grad, tensor(Int32Array.from([border, tok[0], tok[127], 2]), [4]));
    const g = await back.read();
    for (let c = 0; c < d; c++) {
      assert.equal(g[c], ((5 * d + c) % 7) + ((6 * d + c) % 7), `row ${border} col ${c}`);
      assert.equal(g[d + c], (0 * d + c) % 7);
      assert.equal(g[2 * d + c], (127 * d + c) % 7);
      assert.equal(g[3 * d + c], 0); // row 2 is not hit
    }
    dispose([ids, rows, toks, src, grad, back]);
  },
);

gpuTest("checkIndices() throws naming the first index outside [0, n)", async () => {
  const ok = tensor(new Int32Array([0, 4, 2]), [3]);
  await checkIndices(ok, 5);
  const bad = tensor(new Int32Array([[0, 1], [7, -1]].flat()), [2, 2]);
  await assert.rejects(
    () => checkIndices(bad, 5, "token ids"),
    /token ids #\d+ i32\[2, 2\] hold 7 at position \[1, 0\], outside \[0, 5\)/,
  );
  const f = tensor([1, 2]);
  await assert.rejects(() => checkIndices(f, 5), /must be i32 or u32/);
  dispose([ok, bad, f]);
});

// ------------------------------------------------------------------ scatterAdd

gpuTest("scatterAdd() matches the f64 reference with repeated indices", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(DIM, { minLength: 1, maxLength: 3 }).filter((s) => size(s) <= 5000),
      fc.array(fc.constantFrom(1, 2, 3, 5, 7, 70), { minLength: 0, maxLength: 2 }),
      fc.nat(2),
      fc.boolean(),
      fc.constantFrom<DType>("f32", "i32"),
      fc.constantFrom<Layout>("contiguous", "offset", "strided"),
      SEED,
      async (shape, idxShape, axisPick, withTarget, dtype, layout, seed) => {
        const axis = axisPick % shape.length;
        const n = shape[axis];
        // Few distinct rows: many repeats; sometimes fewer indices than rows, sometimes more
        // (both kernel strategies).
        const ids = values(size(idxShape), seed, 0, Math.min(n, 3 + (seed % 5)), true);
        const srcShape = [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)];
        // Small integers: every f32 partial sum is exact, so GPU and f64 agree exactly.
        const srcData = values(size(srcShape), seed + 1, -8, 8, true);
        const baseData = values(size(shape), seed + 2, -8, 8, true);
        const s = upload(srcData, srcShape, dtype, size(srcShape) ? layout : "contiguous");
        const i = upload(ids, idxShape, "i32");
        const b = upload(baseData, shape, dtype, layout);
        const out = scatterAdd(withTarget ? b.t : shape, i.t, s.t, axis);
        const [got] = await readTensors([out]);
        const want = scatterAddRef(
          shape,
          withTarget ? baseData : null,
          ids,
          idxShape,
          srcData,
          axis,
        );
        assert.deepEqual(out.shape, shape);
        assertClose(got, want.data, 0, 0, `scatterAdd [${shape}] axis ${axis} ids [${idxShape}]`);
        dispose([s.all, i.all, b.all, out]);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest(
  "scatterAdd() is deterministic and equals a sequential f32 sum in index order",
  async () => {
    for (const [n, m] of [[5, 40], [40, 5], [1000, 37]]) {
      const d = 6;
      const idxData = values(m, n + m, 0, Math.min(n, 4), true);
      const srcData = values(m * d, 99, -1, 1);
      const ids = tensor(Int32Array.from(idxData), [m]);
      const src = tensor(Float32Array.from(srcData), [m, d]);
      const a = scatterAdd([n, d], ids, src);
      const b = scatterAdd([n, d], ids, src);
      const [ga, gb] = await readTensors([a, b]);
      const want = new Float32Array(n * d);
      for (let j = 0; j < m; j++) {
        for (let c = 0; c < d; c++) {
          const at = idxData[j] * d + c;
          want[at] = Math.fround(want[at] + srcData[j * d + c]);
        }
      }
      assert.deepEqual(ga, gb, "two runs differ");
      assert.deepEqual(ga, want, `n ${n}, m ${m}: not the sequential f32 sum`);
      dispose([ids, src, a, b]);
    }
  },
);

gpuTest("scatterAdd() splits a large output into row windows", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(3, 17, 64, 100),
      fc.constantFrom(1, 4, 5, 12),
      fc.constantFrom(1, 8, 150),
      fc.boolean(),
      SEED,
      async (n, d, m, withTarget, seed) => {
        const ids = values(m, seed, 0, n, true);
        const srcData = values(m * d, seed + 1, -8, 8, true);
        const baseData = values(n * d, seed + 2, -8, 8, true);
        const i = tensor(Int32Array.from(ids), [m]);
        const s = tensor(Float32Array.from(srcData), [m, d]);
        const b = upload(baseData, [n, d], "f32", "offset");
        const out = scatterAdd(withTarget ? b.t : [n, d], i, s, 0, {
          windowBytes: 256 + 4 * d * 3,
        });
        const [got] = await readTensors([out]);
        const want = scatterAddRef([n, d], withTarget ? baseData : null, ids, [m], srcData, 0);
        assertClose(got, want.data, 0, 0, `scatterAdd windows n ${n} d ${d} m ${m}`);
        dispose([i, s, b.all, out]);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest(
  "scatterAdd() with float values stays within f32 rounding of the f64 reference",
  async () => {
    const shape = [13, 7];
    const ids = values(50, 3, 0, 13, true);
    const srcData = values(50 * 7, 4, -1, 1);
    const i = tensor(Int32Array.from(ids), [50]);
    const s = tensor(Float32Array.from(srcData), [50, 7]);
    const out = scatterAdd(shape, i, s);
    const want = scatterAddRef(shape, null, ids, [50], srcData, 0);
    // Each output is an f32 sum of at most 50 terms of magnitude ≤ 1: error ≤ 50 · 2⁻²⁴ · 50.
    assertClose(await out.read(), want.data, 2e-4, 0, "scatterAdd f32");
    dispose([i, s, out]);
  },
);

// ------------------------------------------------------------------ concat

gpuTest("concat() matches the f64 reference on random shapes and layouts", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(DIM, { minLength: 1, maxLength: 4 }).filter((s) => size(s) <= 5000),
      fc.array(fc.tuple(fc.constantFrom(0, 1, 2, 3, 7, 13), LAYOUT), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.nat(3),
      fc.constantFrom<DType>("f32", "i32"),
      SEED,
      async (shape, parts, axisPick, dtype, seed) => {
        const axis = axisPick % shape.length;
        const inputs = parts.map(([len, layout], k) => {
          const s: number[] = [...shape];
          s[axis] = len;
          const data = values(size(s), seed + k, -50, 50, dtype === "i32");
          const up = upload(data, s, dtype, size(s) ? layout : "contiguous");
          return { data, shape: s, ...up };
        });
        const out = concat(inputs.map((p) => p.t), axis - (axisPick >= 2 ? shape.length : 0));
        const [got] = await readTensors([out]);
        const want = concatRef(inputs, axis);
        assert.deepEqual(out.shape, want.shape);
        assertClose(
          got,
          want.data,
          0,
          0,
          `concat axis ${axis} of [${inputs.map((p) => p.shape).join("], [")}]`,
        );
        dispose([inputs.map((p) => p.all), out]);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("concat() joins transposed views and f16 tensors", async (eng) => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  const at = transpose(a); // [3, 2], strided
  const b = tensor([[7, 8]]);
  const out = concat([at, b], 0);
  assert.deepEqual(await out.toArray(), [[1, 4], [2, 5], [3, 6], [7, 8]]);
  dispose([a, at, b, out]);
  if (eng.hasFeature("shader-f16")) {
    const h1 = tensor([1.5, 2.5, 3], [3], { dtype: "f16" });
    const h2 = tensor([4, 5], [2], { dtype: "f16" });
    const hc = concat([h1, h2, h1]);
    assert.deepEqual(Array.from(await hc.read()), [1.5, 2.5, 3, 4, 5, 1.5, 2.5, 3]);
    dispose([h1, h2, hc]);
  }
});

// ------------------------------------------------------------------ oneHot

gpuTest("oneHot() matches the f64 reference, with zero rows for invalid indices", async (eng) => {
  const dtypes: DType[] = [
    "f32",
    "i32",
    "u32",
    ...(eng.hasFeature("shader-f16") ? ["f16" as DType] : []),
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.array(DIM, { minLength: 0, maxLength: 3 }).filter((s) => size(s) <= 2000),
      fc.constantFrom(1, 2, 7, 13, 64, 257),
      fc.constantFrom(...dtypes),
      fc.constantFrom<DType>("i32", "u32"),
      SEED,
      async (idxShape, n, dtype, idt, seed) => {
        // A few indices fall outside [0, n).
        const lo = idt === "i32" ? -2 : 0;
        const ids = values(size(idxShape), seed, lo, n + 2, true);
        const i = tensor(typed(ids, idt), idxShape, { dtype: idt });
        const out = oneHot(i, n, { dtype });
        const [got] = await readTensors([out]);
        const want = oneHotRef(ids, idxShape, n);
        assert.equal(out.dtype, dtype);
        assert.deepEqual(out.shape, [...idxShape, n]);
        assertClose(got, want.data, 0, 0, `oneHot [${idxShape}] n ${n}`);
        dispose([i, out]);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

// ------------------------------------------------------------------ errors, autograd, memory

gpuTest("gather(), embedding(), scatterAdd(), concat() and oneHot() reject bad inputs", () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  const fi = tensor([0, 1]);
  const ii = tensor(new Int32Array([0, 1]), [2]);
  const i3 = tensor(new Int32Array([0, 1, 1]), [3]);
  assert.throws(() => gather(x, fi, 0), /Cannot run gather: indices #\d+ f32\[2\] have dtype f32/);
  assert.throws(
    () => gather(x, ii, 2),
    /Cannot run gather: axis 2 is out of range for a tensor of rank 2/,
  );
  assert.throws(() => gather(x, ii, -3), /axis -3 is out of range/);
  const s = tensor([5]);
  const sc = reshape(s, []);
  assert.throws(() => gather(sc, ii), /Cannot run gather: .* is a scalar/);
  const empty0 = zeros([0, 3]);
  assert.throws(() => gather(empty0, ii, 0), /Cannot run gather: axis 0 of .* is empty/);
  assert.throws(
    () => embedding(tensor([1, 2, 3]), ii),
    /Cannot run embedding: the table .* must have rank 2/,
  );
  assert.throws(() => embedding(x, fi), /Cannot run embedding: ids .* have dtype f32/);
  assert.throws(
    () => embedding(x, ii, { windowBytes: 16 }),
    /Cannot run embedding: one row of .* does not fit/,
  );
  assert.throws(
    () => scatterAdd([2, 3], fi, x),
    /Cannot run scatterAdd: indices .* have dtype f32/,
  );
  assert.throws(
    () => scatterAdd([4, 3], i3, x),
    /Cannot run scatterAdd: src #\d+ f32\[2, 3\] should have shape \[3, 3\]/,
  );
  assert.throws(
    () => scatterAdd([4, 3], ii, x, 2),
    /Cannot run scatterAdd: axis 2 is out of range/,
  );
  const xi = tensor(new Int32Array(6), [2, 3]);
  assert.throws(() => scatterAdd(xi, ii, x), /Cannot run scatterAdd: dtypes differ/);
  assert.throws(() => scatterAdd([-1, 3], ii, x), /target shape \[-1, 3\] is invalid/);
  const y = tensor([[1, 2], [3, 4]]);
  assert.throws(
    () => concat([x, y], 0),
    /Cannot run concat along axis 0: shapes must match except on that axis \(#\d+ f32\[2, 3\] and #\d+ f32\[2, 2\]\)/,
  );
  assert.throws(() => concat([x, xi], 1), /Cannot run concat: dtypes differ/);
  assert.throws(() => concat([x, x], 2), /Cannot run concat: axis 2 is out of range/);
  assert.throws(() => concat([]), /Cannot run concat: no tensors given/);
  assert.throws(() => concat([x, tensor([1, 2, 3])], 0), /shapes must match/);
  assert.throws(() => oneHot(fi, 3), /Cannot run oneHot: indices .* have dtype f32/);
  assert.throws(
    () => oneHot(ii, -1),
    /Cannot run oneHot: n must be a non-negative integer, got -1/,
  );
  dispose([x, fi, ii, i3, s, sc, empty0, xi, y]);
});

gpuTest("gather(), embedding(), scatterAdd() and concat() record autograd nodes", () => {
  const x = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
  const ids = tensor(new Int32Array([1, 1, 0]), [3]);
  const g = gather(x, ids, 1);
  assert.equal(g.node?.op, "gather");
  assert.deepEqual(g.node?.attrs, { axis: 1, n: 2 });
  assert.deepEqual(g.node?.inputs, [x, ids]);
  const e = embedding(x, ids);
  assert.equal(e.node?.op, "embedding");
  assert.deepEqual(e.node?.attrs, { vocab: 2 });
  const src = tensor([[1, 1], [1, 1], [1, 1]], undefined, { requiresGrad: true });
  const sa = scatterAdd([4, 2], ids, src);
  assert.equal(sa.node?.op, "scatterAdd");
  assert.deepEqual(sa.node?.attrs, { axis: 0, shape: [4, 2], hasTarget: false });
  const c = concat([x, x], 1);
  assert.equal(c.node?.op, "concat");
  assert.deepEqual(c.node?.attrs, { axis: 1, sizes: [2, 2] });
  const plain = tensor([[1, 2]]);
  const p = gather(plain, ids, 1);
  assert.equal(p.node, null);
  dispose([x, ids, g, e, src, sa, c, plain, p]);
});

gpuTest("gather(), scatterAdd(), concat() and oneHot() leave no temporaries", async (eng) => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  const xt = transpose(x); // non-contiguous: copied inside the ops
  const ids = tensor(new Int32Array([2, 0]), [2]);
  const idsT = slice(tensor(new Int32Array([9, 2, 0]), [3]), [[1, 3]]);
  await eng.sync();
  const before = memory().liveTensors;
  const outs = [
    gather(xt, ids, 0),
    scatterAdd([3, 2], ids, gather(xt, idsT, 0)),
    concat([xt, xt], 1),
    oneHot(idsT, 3),
  ];
  // The inner gather's output is a temporary of this test, not of the op.
  assert.equal(memory().liveTensors, before + outs.length + 1);
  dispose(outs);
  dispose([x, xt, ids, idsT]);
});

gpuTest("scatterAdd() sums more than 65535 hits exactly (llvmpipe's loop limit)", async () => {
  // A thread loops over the index list; llvmpipe silently stops loops after 65535 iterations
  // (70000 ones into 2 rows gave 32768 and 32767), so long lists run in chained passes.
  const m = 70001;
  const ids = tensor(new Int32Array(m).map((_, j) => j % 3), [m], { dtype: "i32" });
  const vals = new Float32Array(2 * m).map((_, k) => (k % 5) - 2);
  const want = (rows: number, outer: number) => {
    const out = new Float64Array(outer * rows);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < m; j++) out[o * rows + (j % 3)] += vals[o * m + j];
    }
    return [...out];
  };
  // Fewer rows than indices (one thread per row scans the list), then more rows than indices
  // (one thread per first hit), then two outer rows (the passes copy their slice of src).
  const sa = tensor(vals.subarray(0, m), [m, 1]);
  const a = scatterAdd([3, 1], ids, sa);
  assert.deepEqual([...await a.read()], want(3, 1));
  const sb = tensor(vals.subarray(0, m), [m]);
  const b = scatterAdd([m + 3], ids, sb);
  assert.deepEqual([...(await b.read()).subarray(0, 3)], want(3, 1));
  const sc = tensor(vals, [2, m]);
  const c = scatterAdd([2, 3], ids, sc, 1);
  assert.deepEqual([...await c.read()], want(3, 2));
  dispose([ids, a, b, c, sa, sb, sc]);
});
