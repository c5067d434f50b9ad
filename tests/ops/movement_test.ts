import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { tensor } from "../../src/ops/creation.ts";
import {
  contiguous,
  expand,
  permute,
  reshape,
  slice,
  squeeze,
  transpose,
  unsqueeze,
} from "../../src/ops/movement.ts";
import { readTensors } from "../../src/tensor.ts";
import { tidy } from "../../src/memory.ts";
import { permuteRef, refSize, sliceRef } from "../../src/reference/elementwise.ts";

const DIM = fc.constantFrom(1, 2, 3, 5, 7, 13);
const SHAPE = fc.array(DIM, { minLength: 1, maxLength: 5 }).filter((s) => refSize(s) <= 5000);

gpuTest(
  "permute() then contiguous() matches the reference on random shapes and axis orders",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        SHAPE.chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length, maxLength: s.length }),
          )
        ),
        async ([shape, axes]) => {
          const data = Float64Array.from({ length: refSize(shape) }, (_, i) => i);
          const x = tensor(Float32Array.from(data), shape);
          const p = permute(x, axes);
          const c = contiguous(p);
          const want = permuteRef({ data, shape }, axes);
          assert.deepEqual([...c.shape], want.shape);
          assert.ok(c.isContiguous);
          assertClose(await c.read(), want.data, 0, 0, `permute [${shape}] by [${axes}]`);
          // Reading a view directly gives the same values.
          assertClose(await p.read(), want.data, 0, 0, "view read");
          for (const t of new Set([x, p, c])) t.dispose();
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("slice() matches the reference on random ranges", async () => {
  await fc.assert(
    fc.asyncProperty(
      SHAPE.chain((s) =>
        fc.tuple(
          fc.constant(s),
          fc.tuple(...s.map((d) =>
            fc.tuple(fc.nat(d), fc.nat(d)).map(([a, b]) =>
              [Math.min(a, b), Math.max(a, b)] as [number, number]
            )
          )),
        )
      ),
      async ([shape, ranges]) => {
        const data = Float64Array.from({ length: refSize(shape) }, (_, i) => i * 0.5);
        const x = tensor(Float32Array.from(data), shape);
        const s = slice(x, ranges);
        const want = sliceRef({ data, shape }, ranges.map((r) => r[0]), ranges.map((r) => r[1]));
        assertClose(await s.read(), want.data, 0, 0, `slice [${shape}] ${JSON.stringify(ranges)}`);
        x.dispose();
        s.dispose();
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest(
  "reshape(), transpose(), expand(), squeeze(), unsqueeze() give the right shapes and values",
  async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const out = tidy(() => ({
      r: reshape(x, [3, -1]),
      t: transpose(x),
      rt: reshape(transpose(x), [6]),
      e: expand(tensor([[1], [2]]), [3, 2, 4]),
      s: squeeze(tensor([[[7]], [[8]]])),
      u: unsqueeze(x, 1),
    }));
    const [r, t, rt, e, s, u] = await readTensors([out.r, out.t, out.rt, out.e, out.s, out.u]);
    assert.deepEqual([...r], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...out.r.shape], [3, 2]);
    assert.deepEqual([...t], [1, 4, 2, 5, 3, 6]);
    assert.deepEqual([...rt], [1, 4, 2, 5, 3, 6]);
    assert.deepEqual([...out.e.shape], [3, 2, 4]);
    assert.deepEqual([...e].slice(0, 8), [1, 1, 1, 1, 2, 2, 2, 2]);
    assert.deepEqual([...s], [7, 8]);
    assert.deepEqual([...out.u.shape], [2, 1, 3]);
    assert.deepEqual([...u], [1, 2, 3, 4, 5, 6]);
    assert.equal(out.r.buffer, x.buffer, "reshape of a contiguous tensor is a view");
    for (const v of Object.values(out)) v.dispose();
    x.dispose();
  },
);

gpuTest("movement errors name the op, the axis and the shape", () => {
  tidy(() => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.throws(
      () => reshape(x, [4, 2]),
      /Cannot run reshape: .*f32\[2, 3\] has 6 elements, shape \[4, 2\] has 8/,
    );
    assert.throws(() => permute(x, [0, 0]), /repeat an axis/);
    assert.throws(
      () => transpose(x, 0, 2),
      /Cannot run transpose: axis 2 is out of range for a tensor of rank 2/,
    );
    assert.throws(() => slice(x, [[0, 3]]), /Cannot run slice: range \[0,3\] on axis 0/);
    assert.throws(() => expand(x, [2, 4]), /cannot broadcast/);
    assert.throws(() => squeeze(x, 0), /axis 0 of .* is not 1/);
  });
});
