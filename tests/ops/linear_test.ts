/**
 * linear(), linearConcat() and linearMany() (src/ops/linear.ts) against the f64 reference, on the packed-weight
 * kernel (src/kernels/linear.ts, forced on for every size here) and on the plain matmul path:
 * random shapes with awkward sizes, weights split over row slabs and column chunks, the cache
 * following in-place weight updates, gradients, errors and memory.
 */

import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { tensor } from "../../src/ops/creation.ts";
import { linear, linearAct, linearConcat, linearMany } from "../../src/ops/linear.ts";
import { add, gelu, relu } from "../../src/ops/elementwise.ts";
import { matmul } from "../../src/ops/matmul.ts";
import { sum } from "../../src/ops/reduce.ts";
import { linearSettings, linearWeightBytes } from "../../src/kernels/linear.ts";
import { matmulRef } from "../../src/reference/matmul.ts";
import { valueAndGrad } from "../../src/autograd/backward.ts";
import { memory } from "../../src/memory.ts";
import type { Engine } from "../../src/gpu/engine.ts";

/** Awkward sizes: 1, primes, non-multiples of 4 and of the kernel's 16 x 128 block. */
const DIM = fc.constantFrom(1, 2, 3, 5, 7, 13, 16, 17, 31, 64, 67, 129, 130);

/** f32 accumulation over k terms in [-1, 1): well inside 1e-4·sqrt(k) absolute, 1e-4 relative. */
const tol = (k: number): [number, number] => [1e-4 * Math.sqrt(Math.max(k, 1)), 1e-4];

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed >>> 0) || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = 2 * (s / 2 ** 32) - 1;
  }
  return out;
}

/** f64 reference of x·W + b for x [m, k], W [k, n], b [n] (or none). */
function ref(x: Float32Array, w: Float32Array, b: Float32Array | null, m: number, k: number) {
  const n = w.length / k;
  const y = matmulRef(x, [m, k], w, [k, n]).data;
  if (b) { for (let i = 0; i < y.length; i++) y[i] += b[i % n]; }
  return y;
}

/** Run `fn` with the packed-weight kernel forced on (any size) and the given limits. */
async function forced<T>(
  fn: () => Promise<T>,
  limits: Partial<typeof linearSettings> = {},
): Promise<T> {
  const saved = { ...linearSettings };
  Object.assign(linearSettings, { enabled: true, minFlops: 0, minRows: 1 }, limits);
  try {
    return await fn();
  } finally {
    Object.assign(linearSettings, saved);
  }
}

/** Whether the packed-weight kernel runs on this adapter (CPU adapters only). */
const packs = (eng: Engine) => eng.gpu.info.isCpu;

gpuTest("linear() matches the f64 reference on random shapes, bias or not", async (eng) => {
  await forced(() =>
    fc.assert(
      fc.asyncProperty(
        DIM,
        DIM,
        DIM,
        fc.constantFrom(1, 2, 3),
        fc.boolean(),
        fc.integer({ min: 1, max: 1e9 }),
        async (m, k, n, lead, withBias, seed) => {
          const xs = values(lead * m * k, seed);
          const ws = values(k * n, seed + 1);
          const bs = withBias ? values(n, seed + 2) : null;
          const x = tensor(xs, [lead, m, k]);
          const w = tensor(ws, [k, n]);
          const b = bs ? tensor(bs, [n]) : null;
          const y = linear(x, w, b);
          assert.deepEqual(y.shape, [lead, m, n]);
          const [atol, rtol] = tol(k);
          assertClose(
            await y.read(),
            ref(xs, ws, bs, lead * m, k),
            atol,
            rtol,
            `linear ${m}x${k}x${n}`,
          );
          for (const t of [x, w, b, y]) t?.dispose();
        },
      ),
      { numRuns: NUM_RUNS },
    )
  );
  if (packs(eng)) assert.ok(linearWeightBytes(eng) > 0, "the packed-weight kernel ran");
});

gpuTest(
  "linear() splits weights over row slabs and column chunks, inputs over row passes",
  async (eng) => {
    // Windows of 4 KiB and textures 64 texels wide: a [300, 700] weight needs row slabs and three
    // column chunks, and 70 input rows of 300 values need several passes.
    await forced(async () => {
      const [m, k, n] = [70, 300, 700];
      const xs = values(m * k, 3);
      const ws = values(k * n, 4);
      const bs = values(n, 5);
      const x = tensor(xs, [m, k]);
      const w = tensor(ws, [k, n]);
      const b = tensor(bs, [n]);
      const y = linear(x, w, b);
      const [atol, rtol] = tol(k);
      assertClose(await y.read(), ref(xs, ws, bs, m, k), atol, rtol, "windowed linear");
      for (const t of [x, w, b, y]) t.dispose();
    }, { maxWindowBytes: 16384, maxTextureWidth: 64 });
    void eng;
  },
);

gpuTest(
  "linearConcat() of [heads, d_model, d_head] weights equals each linear side by side",
  async () => {
    await forced(() =>
      fc.assert(
        fc.asyncProperty(
          fc.constantFrom(1, 3, 4),
          fc.constantFrom(1, 3, 4, 8),
          DIM,
          DIM,
          fc.integer({ min: 1, max: 1e9 }),
          async (h, d, m, k, seed) => {
            const xs = values(m * k, seed);
            const x = tensor(xs, [m, k]);
            const ws = [0, 1, 2].map((i) => values(h * k * d, seed + 1 + i));
            const bs = [0, 1].map((i) => values(h * d, seed + 9 + i));
            const w = ws.map((v) => tensor(v, [h, k, d]));
            const b = [tensor(bs[0], [h, d]), null, tensor(bs[1], [h, d])];
            const y = linearConcat(x, w, b);
            const n = h * d;
            assert.deepEqual(y.shape, [m, 3 * n]);
            const got = await y.read();
            // The reference: W_i as [k, h·d] (column h·d + j), biases (zeros for none).
            for (let i = 0; i < 3; i++) {
              const w2 = new Float32Array(k * n);
              for (let hh = 0; hh < h; hh++) {
                for (let kk = 0; kk < k; kk++) {
                  for (let j = 0; j < d; j++) {
                    w2[kk * n + hh * d + j] = ws[i][(hh * k + kk) * d + j];
                  }
                }
              }
              const bi = i === 0 ? bs[0] : i === 2 ? bs[1] : null;
              const want = ref(xs, w2, bi, m, k);
              const part = new Float32Array(m * n);
              for (let r = 0; r < m; r++) {
                part.set(got.subarray(r * 3 * n + i * n, r * 3 * n + (i + 1) * n), r * n);
              }
              const [atol, rtol] = tol(k);
              assertClose(part, want, atol, rtol, `linearConcat block ${i} (h ${h}, d ${d})`);
            }
            for (const t of [x, ...w, ...b, y]) t?.dispose();
          },
        ),
        { numRuns: NUM_RUNS },
      )
    );
  },
);

gpuTest("linearMany() equals linear() of each weight, sharing one input", async () => {
  await forced(async () => {
    const [m, k] = [19, 33];
    const xs = values(m * k, 31);
    const x = tensor(xs, [1, m, k]);
    const w = [tensor(values(k * 7, 32), [k, 7]), tensor(values(3 * k * 5, 33), [3, k, 5])];
    const b = [tensor(values(7, 34), [7]), null];
    const many = linearMany(x, w, b);
    assert.deepEqual(many.map((t) => t.shape), [[1, m, 7], [1, m, 15]]);
    for (let i = 0; i < 2; i++) {
      const one = linear(x, w[i], b[i]);
      assertClose(await many[i].read(), await one.read(), 1e-6, 1e-6, `output ${i}`);
      one.dispose();
    }
    assert.throws(() => linearMany(x, []), /Cannot run linearMany: no weights/);
    for (const t of [x, ...w, ...b, ...many]) t?.dispose();
  });
});

gpuTest("linearAct() equals linear() then gelu/relu, with and without hook_pre", async () => {
  await forced(async () => {
    const [m, k, n] = [21, 37, 45];
    const x = tensor(values(m * k, 41).map((v) => 3 * v), [m, k]);
    const w = tensor(values(k * n, 42), [k, n]);
    const b = tensor(values(n, 43), [n]);
    for (const act of ["gelu_new", "relu"] as const) {
      const y = linear(x, w, b);
      const want = act === "relu" ? relu(y) : gelu(y);
      const [yv, wv] = [await y.read(), await want.read()];
      for (const keepPre of [false, true]) {
        const r = linearAct(x, w, b, act, { keepPre });
        assert.equal(r.pre === null, !keepPre);
        // Same products; the activation's own rounding differs by a few ulps at most.
        assertClose(await r.post.read(), wv, 1e-6, 1e-5, `${act} post`);
        if (r.pre) assertClose(await r.pre.read(), yv, 0, 0, `${act} pre`);
        r.post.dispose();
        r.pre?.dispose();
      }
      y.dispose();
      want.dispose();
    }
    assert.throws(() => linearAct(x, w, b, "tanh" as "relu"), /act must be "gelu_new" or "relu"/);
    for (const t of [x, w, b]) t.dispose();
  });
});

gpuTest("linear() repacks a weight after it changes in place", async (eng) => {
  await forced(async () => {
    const [m, k, n] = [5, 9, 6];
    const xs = values(m * k, 11);
    const x = tensor(xs, [m, k]);
    const w1 = values(k * n, 12);
    const w = tensor(w1, [k, n]);
    assertClose(await linear(x, w).read(), ref(xs, w1, null, m, k), ...tol(k), "first");
    // An upload into the weight's buffer (as a checkpoint load would do).
    const w2 = values(k * n, 13);
    eng.write(w.buffer, w.offset * 4, w2);
    assertClose(await linear(x, w).read(), ref(xs, w2, null, m, k), ...tol(k), "after write");
    // A kernel writing the weight (an optimizer step is one): w <- w + w, through a copy.
    const doubled = add(w, w);
    eng.copy(doubled.buffer, 0, w.buffer, w.offset * 4, k * n * 4);
    doubled.dispose();
    const w3 = w2.map((v) => 2 * v);
    assertClose(await linear(x, w).read(), ref(xs, w3, null, m, k), ...tol(k), "after copy");
    x.dispose();
    w.dispose();
  });
});

gpuTest("linear() with gradients is matmul then add, and its gradients match", async () => {
  const [m, k, n] = [4, 6, 5];
  const x = tensor(values(m * k, 21), [m, k]);
  const w = tensor(values(k * n, 22), [k, n]);
  const b = tensor(values(n, 23), [n]);
  const f1 = valueAndGrad((x: typeof w, w2: typeof w, b2: typeof w) => sum(linear(x, w2, b2)));
  const f2 = valueAndGrad((x: typeof w, w2: typeof w, b2: typeof w) => sum(add(matmul(x, w2), b2)));
  const { value: v1, grads: g1 } = f1(x, w, b);
  const { value: v2, grads: g2 } = f2(x, w, b);
  assertClose(await v1.read(), await v2.read(), 1e-6, 1e-6, "value");
  for (let i = 0; i < 3; i++) {
    assertClose(await g1[i].read(), await g2[i].read(), 1e-6, 1e-6, `gradient ${i}`);
  }
  for (const t of [x, w, b, v1, v2, ...g1, ...g2]) t.dispose();
});

gpuTest("linear() errors name the op and the shapes", () => {
  const x = tensor(values(12, 1), [3, 4]);
  const w = tensor(values(10, 2), [5, 2]);
  assert.throws(
    () => linear(x, w),
    /Cannot run linear: .*\(4\).*x is #\d+ f32\[3, 4\].*W is #\d+ f32\[5, 2\]/,
  );
  const w2 = tensor(values(8, 3), [4, 2]);
  const b = tensor(values(3, 4), [3]);
  assert.throws(() => linear(x, w2, b), /bias 0 is #\d+ f32\[3\], but weight 0 has 2 outputs/);
  assert.throws(() => linearConcat(x, []), /no weights/);
  for (const t of [x, w, w2, b]) t.dispose();
});

gpuTest("linear() in a loop keeps live tensors and packed weights constant", async (eng) => {
  await forced(async () => {
    const x = tensor(values(40 * 24, 5), [2, 20, 24]);
    const w = tensor(values(24 * 3 * 8, 6), [3, 24, 8]);
    const run = () => linearConcat(x, [w, w], []).dispose();
    run();
    await eng.sync();
    const live = memory().liveTensors;
    const packed = linearWeightBytes(eng);
    for (let i = 0; i < 30; i++) run();
    await eng.sync();
    assert.equal(memory().liveTensors, live, "live tensors grew");
    assert.equal(linearWeightBytes(eng), packed, "packed weights grew");
    // The plain path (a [heads, k, d] weight is copied to [k, heads·d]) frees its copies too.
    linearSettings.enabled = false;
    for (let i = 0; i < 5; i++) run();
    await eng.sync();
    assert.equal(memory().liveTensors, live, "live tensors grew on the plain path");
    x.dispose();
    w.dispose();
  });
});
