import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { type DType, readTensors } from "../../src/tensor.ts";
import { tensor } from "../../src/ops/creation.ts";
import { reshape, transpose } from "../../src/ops/movement.ts";
import { topk } from "../../src/ops/topk.ts";
import { dispose, memory, tidy } from "../../src/memory.ts";
import { topkRef } from "../../src/reference/indexing.ts";

const SEED = fc.integer({ min: 1, max: 2 ** 31 - 1 });
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

/** Row lengths: 1, primes, around the 64-thread workgroup, and GPT-2's vocabulary. */
const CASE = fc.oneof(
  fc.tuple(
    fc.array(fc.constantFrom(1, 2, 3, 7), { minLength: 0, maxLength: 2 }),
    fc.constantFrom(1, 2, 7, 31, 32, 33, 63, 64, 65, 100, 257, 1000, 4099),
  ),
  fc.tuple(fc.constantFrom([], [2]), fc.constant(50257)),
  // More rows than the kernel's 256 workgroups: each loops over several rows.
  fc.tuple(fc.constant([300]), fc.constantFrom(5, 70)),
);

gpuTest(
  "topk() matches the f64 reference on random shapes, with ties to the lower index",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        CASE,
        fc.integer({ min: 1, max: 64 }),
        fc.boolean(),
        fc.constantFrom<DType>("f32", "i32", "u32"),
        // Few distinct values: many ties.
        fc.constantFrom(3, 50, 1e6),
        SEED,
        async ([lead, len], kWant, largest, dtype, spread, seed) => {
          const k = Math.min(kWant, len);
          const shape = [...lead, len];
          const lo = dtype === "u32" ? 0 : -spread;
          const data = values(size(shape), seed, lo, spread, dtype !== "f32" || spread === 3);
          const x = tensor(typed(data, dtype), shape, { dtype });
          const { values: v, indices: ix } = topk(x, k, { largest });
          const [gv, gi] = await readTensors([v, ix]);
          const want = topkRef(data, shape, k, largest);
          assert.deepEqual(v.shape, want.shape);
          assert.equal(v.dtype, dtype);
          assert.equal(ix.dtype, "i32");
          const what = `topk ${dtype}[${shape}] k ${k} largest ${largest}`;
          // Selection and copying: exact.
          assert.deepEqual(Array.from(gi), Array.from(want.indices), `${what}: indices`);
          assertClose(gv, want.values, 0, 0, `${what}: values`);
          dispose([x, v, ix]);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("topk() orders NaN above +inf, treats -0 as +0, and reads strided views", async () => {
  const data = [0, NaN, -Infinity, -0, Infinity, 1, NaN, -1];
  const x = tensor(Float32Array.from(data), [8]);
  const big = topk(x, 8);
  const [bv, bi] = await readTensors([big.values, big.indices]);
  assert.deepEqual(Array.from(bi), [1, 6, 4, 5, 0, 3, 7, 2]);
  assert.ok(Number.isNaN(bv[0]) && Number.isNaN(bv[1]) && bv[2] === Infinity);
  const small = topk(x, 4, { largest: false });
  assert.deepEqual(Array.from(await small.indices.read()), [2, 7, 0, 3]);
  const m = tensor([[1, 5], [4, 2], [3, 6]]);
  const mt = transpose(m); // [[1, 4, 3], [5, 2, 6]], strided
  const r = topk(mt, 2);
  assert.deepEqual(await r.values.toArray(), [[4, 3], [6, 5]]);
  assert.deepEqual(await r.indices.toArray(), [[1, 2], [2, 0]]);
  dispose([x, big, small, m, mt, r]);
});

gpuTest("topk() with k = 0 returns empty tensors", async () => {
  const x = tensor([[1, 2], [3, 4]]);
  const r = topk(x, 0);
  assert.deepEqual(r.values.shape, [2, 0]);
  assert.deepEqual(r.indices.shape, [2, 0]);
  assert.equal((await r.values.read()).length, 0);
  dispose([x, r]);
});

gpuTest("topk() rejects k too large, bad k and scalars", () => {
  const x = tensor(new Float32Array(100), [2, 50]);
  assert.throws(
    () => topk(x, 51),
    /Cannot run topk: k = 51 is more than the last axis of #\d+ f32\[2, 50\] \(50\)/,
  );
  const y = tensor(new Float32Array(200), [200]);
  assert.throws(() => topk(y, 65), /Cannot run topk: k = 65 is more than the 64 supported/);
  assert.throws(() => topk(y, -1), /k must be a non-negative integer, got -1/);
  assert.throws(() => topk(y, 1.5), /k must be a non-negative integer, got 1.5/);
  const s = reshape(tensor([1]), []);
  assert.throws(() => topk(s, 1), /Cannot run topk: .* is a scalar/);
  dispose([x, y, s]);
});

gpuTest("topk() records autograd on values and leaves no temporaries", async (eng) => {
  const x = tensor([[3, 1, 2], [0, 5, 4]], undefined, { requiresGrad: true });
  await eng.sync();
  const before = memory().liveTensors;
  const r = tidy(() => topk(transpose(transpose(x)), 2));
  assert.equal(r.values.node?.op, "topk");
  assert.deepEqual(r.values.node?.attrs, { k: 2, largest: true });
  const saved = r.values.node!.saved[0];
  assert.deepEqual(Array.from(await saved.read()), [0, 2, 1, 2]);
  // values, indices and the node's view of the indices.
  assert.equal(memory().liveTensors, before + 3);
  dispose(r);
  assert.equal(memory().liveTensors, before);
  x.dispose();
});
