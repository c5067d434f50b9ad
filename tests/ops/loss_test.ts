import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { readTensors } from "../../src/tensor.ts";
import { tensor } from "../../src/ops/creation.ts";
import { reshape, transpose } from "../../src/ops/movement.ts";
import { crossEntropy, logProbsAt } from "../../src/ops/loss.ts";
import { dispose, memory } from "../../src/memory.ts";
import { crossEntropyRef, logProbsAtRef } from "../../src/reference/indexing.ts";

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

// Tolerance: the kernel computes the log-sum-exp in f32 (running max, exp, a tree sum of up to
// 50257 terms, log). The relative error of the sum is ≲ 1e-6, so |lse error| ≲ 1e-6 + ulp(lse);
// with logits of magnitude up to `scale`, f32 rounding of `lse − x[t]` adds ~scale · 6e-8. We
// allow atol 1e-5 · (1 + scale) and rtol 1e-5.
const tol = (scale: number): [number, number] => [1e-5 * (1 + scale), 1e-5];

/** Leading shapes (rows) and vocabularies, including 1, primes and GPT-2's 50257. */
const CASE = fc.oneof(
  fc.tuple(
    fc.array(fc.constantFrom(1, 2, 3, 5, 7, 13), { minLength: 0, maxLength: 2 }),
    fc.constantFrom(1, 2, 7, 13, 64, 65, 257, 2047, 2048, 3001),
  ),
  // Long rows: few of them.
  fc.tuple(fc.constantFrom([1], [2], [3]), fc.constant(50257)),
);

gpuTest("crossEntropy() matches the f64 reference on random shapes and vocabularies", async () => {
  await fc.assert(
    fc.asyncProperty(
      CASE,
      fc.constantFrom<"mean" | "sum" | "none">("mean", "sum", "none"),
      fc.option(fc.constantFrom(-100, 0, 3), { nil: undefined }),
      fc.constantFrom(1, 10, 100),
      fc.boolean(),
      SEED,
      async ([lead, vocab], reduction, ignoreIndex, scale, strided, seed) => {
        const shape = [...lead, vocab];
        const logits = values(size(shape), seed, -scale, scale);
        const targets = values(size(lead), seed + 1, 0, vocab, true);
        // Some positions ignored.
        if (ignoreIndex !== undefined && targets.length > 1) targets[0] = ignoreIndex;
        let x = tensor(Float32Array.from(logits), shape);
        const toDispose = [x];
        if (strided && lead.length === 1) {
          // The same logits as a transposed (non-contiguous) view.
          const tr = new Float32Array(logits.length);
          for (let r = 0; r < lead[0]; r++) {
            for (let c = 0; c < vocab; c++) tr[c * lead[0] + r] = logits[r * vocab + c];
          }
          const xt = tensor(tr, [vocab, lead[0]]);
          x = transpose(xt);
          toDispose.push(xt, x);
        }
        const t = tensor(Int32Array.from(targets), lead, { dtype: "i32" });
        const out = crossEntropy(x, t, { reduction, ignoreIndex });
        const [got] = await readTensors([out]);
        const want = crossEntropyRef(logits, shape, targets, { reduction, ignoreIndex });
        assert.deepEqual(out.shape, want.shape);
        assert.equal(out.dtype, "f32");
        const [atol, rtol] = tol(scale);
        assertClose(
          got,
          want.data,
          atol,
          rtol,
          `crossEntropy [${shape}] ${reduction} ignore ${ignoreIndex}`,
        );
        dispose([toDispose, t, out]);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("logProbsAt() matches the f64 reference on random shapes and vocabularies", async () => {
  await fc.assert(
    fc.asyncProperty(
      CASE,
      fc.constantFrom(1, 10, 100),
      SEED,
      async ([lead, vocab], scale, seed) => {
        const shape = [...lead, vocab];
        const logits = values(size(shape), seed, -scale, scale);
        const targets = values(size(lead), seed + 1, 0, vocab, true);
        const x = tensor(Float32Array.from(logits), shape);
        const t = tensor(Uint32Array.from(targets), lead, { dtype: "u32" });
        const out = logProbsAt(x, t);
        const [got] = await readTensors([out]);
        const want = logProbsAtRef(logits, shape, targets);
        assert.deepEqual(out.shape, lead);
        const [atol, rtol] = tol(scale);
        assertClose(got, want.data, atol, rtol, `logProbsAt [${shape}]`);
        dispose([x, t, out]);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("crossEntropy() is stable for huge and -inf logits", async () => {
  const x = tensor([[1e4, -1e4, 0], [-Infinity, 5, -Infinity], [1e3, 1e3, -3e38]]);
  const t = tensor(new Int32Array([1, 1, 0]), [3]);
  const got = await crossEntropy(x, t, { reduction: "none" }).read();
  // Row 0: lse = 1e4, loss = 2e4. Row 1: only class 1 is possible, loss 0. Row 2: ln 2, less
  // f32 rounding of lse = 1000.69 (ulp 6e-5).
  assertClose(got, [2e4, 0, Math.LN2], 1e-4, 1e-6, "stable losses");
  dispose([x, t]);
});

gpuTest("crossEntropy() ignores ignoreIndex and gives NaN for bad targets", async () => {
  const x = tensor([[1, 2, 3], [1, 1, 1], [0, 0, 5]]);
  const t = tensor(new Int32Array([2, -100, 2]), [3]);
  const none = await crossEntropy(x, t, { reduction: "none", ignoreIndex: -100 }).read();
  const lse0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
  const lse2 = Math.log(2 + Math.exp(5));
  assertClose(none, [lse0 - 3, 0, lse2 - 5], 1e-6, 1e-5, "per-row");
  const mean = await crossEntropy(x, t, { ignoreIndex: -100 }).read();
  assertClose(mean, [(lse0 - 3 + lse2 - 5) / 2], 1e-6, 1e-5, "mean over the rows kept");
  const sum = await crossEntropy(x, t, { reduction: "sum", ignoreIndex: -100 }).read();
  assertClose(sum, [lse0 - 3 + lse2 - 5], 1e-6, 1e-5, "sum");
  const allIgnored = tensor(new Int32Array([7, 7, 7]), [3]);
  assert.ok(Number.isNaN((await crossEntropy(x, allIgnored, { ignoreIndex: 7 }).read())[0]));
  // Without ignoreIndex, -100 is out of range: NaN (the GPU cannot throw).
  const bad = await crossEntropy(x, t, { reduction: "none" }).read();
  assert.ok(Number.isNaN(bad[1]) && !Number.isNaN(bad[0]), `got ${bad}`);
  const badU = tensor(new Uint32Array([0, 3, 1]), [3]);
  const lp = await logProbsAt(x, badU).read();
  assert.ok(Number.isNaN(lp[1]) && !Number.isNaN(lp[0]));
  dispose([x, t, allIgnored, badU]);
});

gpuTest("crossEntropy() takes f16 logits where the adapter has shader-f16", async (eng) => {
  if (!eng.hasFeature("shader-f16")) return;
  const data = [0.5, -1.25, 2, 0.75, 0, 1];
  const x = tensor(data, [2, 3], { dtype: "f16" });
  const t = tensor(new Int32Array([2, 0]), [2]);
  const got = await crossEntropy(x, t, { reduction: "none" }).read();
  const want = crossEntropyRef(data, [2, 3], [2, 0], { reduction: "none" });
  // f16 inputs are exact here (all representable); the math is f32.
  assertClose(got, want.data, 1e-6, 1e-5, "f16 logits");
  dispose([x, t]);
});

gpuTest("crossEntropy() and logProbsAt() reject bad inputs", () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  const tf = tensor([0, 1]);
  const ti = tensor(new Int32Array([0, 1]), [2]);
  const t3 = tensor(new Int32Array([0, 1, 2]), [3]);
  const xi = tensor(new Int32Array(6), [2, 3]);
  assert.throws(
    () => crossEntropy(x, tf),
    /Cannot run crossEntropy: targets #\d+ f32\[2\] have dtype f32/,
  );
  assert.throws(
    () => crossEntropy(x, t3),
    /Cannot run crossEntropy: targets #\d+ i32\[3\] should have shape \[2\] \(the logits #\d+ f32\[2, 3\] without their last axis\)/,
  );
  assert.throws(
    () => crossEntropy(xi, ti),
    /Cannot run crossEntropy: logits .* must be f32 or f16/,
  );
  // deno-lint-ignore no-explicit-any
  assert.throws(() => crossEntropy(x, ti, { reduction: "avg" as any }), /reduction "avg" is not/);
  assert.throws(() => crossEntropy(x, ti, { ignoreIndex: 0.5 }), /ignoreIndex 0.5 is not an i32/);
  const empty = tensor(new Float32Array(0), [2, 0]);
  assert.throws(() => crossEntropy(empty, ti), /have no classes/);
  const s = reshape(tensor([1]), []);
  assert.throws(() => logProbsAt(s, ti), /Cannot run logProbsAt: logits .* need a class axis/);
  assert.throws(() => logProbsAt(x, tf), /Cannot run logProbsAt: targets .* have dtype f32/);
  dispose([x, tf, ti, t3, xi, empty, s]);
});

gpuTest("crossEntropy() records autograd attrs and saves the log-sum-exp", async () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
  const t = tensor(new Int32Array([0, 2]), [2]);
  const before = memory().liveTensors;
  const loss = crossEntropy(x, t, { ignoreIndex: -100 });
  assert.equal(loss.node?.op, "crossEntropy");
  assert.deepEqual(loss.node?.attrs, { reduction: "mean", ignoreIndex: -100 });
  assert.deepEqual(loss.node?.inputs, [x, t]);
  const lse = loss.node!.saved[0];
  assert.deepEqual(lse.shape, [2]);
  const l = Array.from(await lse.read());
  assertClose(
    l,
    [
      Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)),
      6 + Math.log(1 + Math.exp(-1) + Math.exp(-2)),
    ],
    1e-6,
    1e-6,
    "lse",
  );
  // The loss and the saved lse: nothing else stays alive.
  assert.equal(memory().liveTensors, before + 2);
  loss.dispose();
  assert.equal(memory().liveTensors, before);
  const lp = logProbsAt(x, t);
  assert.equal(lp.node?.op, "logProbsAt");
  const plain = crossEntropy(tensor([[1, 2]]), tensor(new Int32Array([1]), [1]));
  assert.equal(plain.node, null);
  dispose([x, t, lp, plain]);
});
