import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import type { Engine } from "../../src/gpu/engine.ts";
import { readTensors, type Tensor } from "../../src/tensor.ts";
import { randn, tensor } from "../../src/ops/creation.ts";
import { expand, permute, reshape, slice, transpose } from "../../src/ops/movement.ts";
import {
  matmul,
  matmulConfigFor,
  type MatmulVariant,
  matmulVariants,
  tuneMatmul,
} from "../../src/ops/matmul.ts";
import { matmulSettings } from "../../src/kernels/matmul.ts";
import { tidy } from "../../src/memory.ts";
import { matmulRef } from "../../src/reference/matmul.ts";

/** Awkward sizes: 1, primes, non-multiples of 4, 16 (register block) and 64 (tile). */
const DIM = fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 31, 33, 64, 67);

/**
 * Tolerance for f32 accumulation against the f64 reference, with inputs in [-1, 1):
 * the rounding error of a k-term dot product grows like sqrt(k)·eps·|terms|, far below
 * atol = 1e-4·sqrt(k); rtol 1e-4 covers the large entries.
 */
const tol = (k: number): [number, number] => [1e-4 * Math.sqrt(Math.max(k, 1)), 1e-4];

function values(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = (seed >>> 0) || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = Math.fround(2 * (s / 2 ** 32) - 1);
  }
  return out;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** How an operand is laid out in GPU memory (its logical value never changes). */
type Layout = "plain" | "tview" | "offset" | "padded";

/**
 * A GPU tensor with logical shape `shape` and values `data` (row-major), stored as:
 * plain (contiguous), tview (stored with the last two axes swapped, then a transpose view),
 * offset (contiguous at element offset 3: not 16-byte aligned), padded (rows of a wider
 * tensor: row stride > columns).
 */
function make(data: Float64Array, shape: number[], layout: Layout): Tensor {
  const r = shape.length;
  if (layout === "tview" && r >= 2) {
    const sw = [...shape];
    [sw[r - 2], sw[r - 1]] = [sw[r - 1], sw[r - 2]];
    const st = new Float32Array(data.length);
    const rows = shape[r - 2];
    const cols = shape[r - 1];
    for (let b = 0; b < data.length / (rows * cols || 1); b++) {
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          st[b * rows * cols + j * rows + i] = data[b * rows * cols + i * cols + j];
        }
      }
    }
    return transpose(tensor(st, sw));
  }
  if (layout === "offset") {
    const flat = new Float32Array(data.length + 3);
    flat.set(data, 3);
    return reshape(slice(tensor(flat, [flat.length]), [[3, flat.length]]), shape);
  }
  if (layout === "padded" && r >= 1) {
    const cols = shape[r - 1];
    const wide = [...shape.slice(0, -1), cols + 3];
    const st = new Float32Array(size(wide));
    for (let row = 0; row < data.length / (cols || 1); row++) {
      for (let j = 0; j < cols; j++) st[row * (cols + 3) + j] = data[row * cols + j];
    }
    return slice(tensor(st, wide), [...shape.slice(0, -1).map(() => null), [0, cols]]);
  }
  return tensor(Float32Array.from(data), shape);
}

/** Batch shapes that broadcast together: some axes 1, some leading axes dropped. */
const BATCH = fc.array(fc.constantFrom(1, 2, 3), { maxLength: 2 }).chain((bs) =>
  fc.tuple(
    fc.constant(bs),
    fc.array(fc.boolean(), { minLength: bs.length, maxLength: bs.length }),
    fc.nat(bs.length),
    fc.array(fc.boolean(), { minLength: bs.length, maxLength: bs.length }),
    fc.nat(bs.length),
  ).map(([b, onesA, dropA, onesB, dropB]) => [
    b.map((d, i) => (onesA[i] ? 1 : d)).slice(dropA),
    b.map((d, i) => (onesB[i] ? 1 : d)).slice(dropB),
  ])
);

const LAYOUT = fc.constantFrom<Layout>("plain", "tview", "offset", "padded");

gpuTest(
  "matmul() matches the f64 reference on random shapes, layouts and every variant",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        DIM,
        DIM,
        DIM,
        BATCH,
        fc.boolean(),
        fc.boolean(),
        LAYOUT,
        LAYOUT,
        fc.integer({ min: 1, max: 2 ** 30 }),
        async (m, k, n, [ba, bb], transA, transB, la, lb, seed) => {
          const aShape = [...ba, ...(transA ? [k, m] : [m, k])];
          const bShape = [...bb, ...(transB ? [n, k] : [k, n])];
          const ad = values(size(aShape), seed);
          const bd = values(size(bShape), seed + 1);
          const want = matmulRef(ad, aShape, bd, bShape, { transA, transB });
          const variants = matmulVariants();
          const outs = tidy(() => {
            const a = make(ad, aShape, la);
            const b = make(bd, bShape, lb);
            return variants.map((variant) => matmul(a, b, { transA, transB, variant }));
          });
          const got = await readTensors(outs);
          outs.forEach((o) => o.dispose());
          const [atol, rtol] = tol(k);
          variants.forEach((v, i) => {
            assert.deepEqual([...outs[i].shape], want.shape);
            assertClose(
              got[i],
              want.data,
              atol,
              rtol,
              `${v}: [${aShape}]${la} @ [${bShape}]${lb} tA=${transA} tB=${transB}`,
            );
          });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("matmul() follows NumPy rules for 1-D operands", async () => {
  const cases: [number[], number[]][] = [
    [[7], [7]],
    [[7], [7, 5]],
    [[5, 7], [7]],
    [[2, 3, 5, 7], [7]],
    [[7], [2, 7, 5]],
    [[40], [40, 33]],
    [[33, 40], [40]],
  ];
  for (const [as, bs] of cases) {
    const ad = values(size(as), 1);
    const bd = values(size(bs), 2);
    const want = matmulRef(ad, as, bd, bs);
    for (const variant of matmulVariants()) {
      const out = tidy(() => matmul(make(ad, as, "plain"), make(bd, bs, "plain"), { variant }));
      assert.deepEqual([...out.shape], want.shape, `[${as}] @ [${bs}] shape`);
      assertClose(
        await out.read(),
        want.data,
        ...tol(as[as.length - 1]),
        `${variant} [${as}] @ [${bs}]`,
      );
      out.dispose();
    }
  }
});

gpuTest("matmul() broadcasts batch axes without copying them", async (eng) => {
  const ad = values(2 * 1 * 9 * 8, 3);
  const bd = values(3 * 8 * 12, 4);
  const want = matmulRef(ad, [2, 1, 9, 8], bd, [3, 8, 12]);
  const a = tensor(Float32Array.from(ad), [2, 1, 9, 8]);
  const b = tensor(Float32Array.from(bd), [3, 8, 12]);
  // An expanded view (stride 0) reads in place too. (The buffer kernels run on the engine, so
  // its dispatch counter sees them; the texture kernel repacks by design.)
  const bx = expand(b, [2, 3, 8, 12]);
  const before = eng.memory().dispatches;
  const out = matmul(a, bx, { variant: "register" });
  assert.equal(eng.memory().dispatches - before, 1, "one dispatch, no copies");
  assert.deepEqual([...out.shape], [2, 3, 9, 12]);
  assertClose(await out.read(), want.data, ...tol(8), "broadcast batch");
  [a, b, bx, out].forEach((t) => t.dispose());
});

gpuTest("matmul() reads transposed views in place and copies only when it must", async (eng) => {
  const ad = values(40 * 30, 5);
  const bd = values(40 * 20, 6);
  const a = tensor(Float32Array.from(ad), [40, 30]);
  const b = tensor(Float32Array.from(bd), [40, 20]);
  const before = eng.memory();
  const at = transpose(a);
  const out = matmul(at, b, { variant: "register" });
  assert.equal(eng.memory().dispatches - before.dispatches, 1, "a transposed view costs no copy");
  assertClose(
    await out.read(),
    matmulRef(ad, [40, 30], bd, [40, 20], { transA: true }).data,
    ...tol(40),
  );
  // A permuted 3-D view with neither matrix axis contiguous needs one copy, freed afterwards.
  const x = tensor(Float32Array.from(values(4 * 5 * 6, 7)), [4, 5, 6]);
  const xq = permute(x, [2, 0, 1]); // [6, 4, 5], strides [1, 30, 6]: neither of the last two is 1
  const w = tensor(Float32Array.from(values(5 * 3, 8)), [5, 3]);
  const live = eng.memory().liveTensors;
  const d0 = eng.memory().dispatches;
  const y = matmul(xq, w, { variant: "register" });
  assert.equal(eng.memory().dispatches - d0, 2, "one copy and one matmul");
  assert.equal(eng.memory().liveTensors - live, 1, "the copy is freed; only the output remains");
  const xd = Array.from(await x.read());
  const xqd = new Float64Array(6 * 4 * 5);
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 5; l++) xqd[i * 20 + j * 5 + l] = xd[j * 30 + l * 6 + i];
    }
  }
  assertClose(await y.read(), matmulRef(xqd, [6, 4, 5], values(15, 8), [5, 3]).data, ...tol(5));
  [a, b, at, out, x, xq, w, y].forEach((t) => t.dispose());
});

gpuTest(
  "matmul() splits operands larger than the binding window (forced small window)",
  async () => {
    const saved = matmulSettings.maxWindowBytes;
    try {
      // 4 KiB windows: every operand below spans more, so the work splits along m, n and k.
      matmulSettings.maxWindowBytes = 4096;
      const cases: [number[], number[], boolean, boolean][] = [
        [[70, 90], [90, 50], false, false],
        [[90, 70], [90, 50], true, false],
        [[70, 90], [50, 90], false, true],
        [[3, 20, 30], [30, 41], false, false],
        [[2, 37], [37, 300], false, false],
      ];
      for (const [as, bs, transA, transB] of cases) {
        const ad = values(size(as), 11);
        const bd = values(size(bs), 12);
        const want = matmulRef(ad, as, bd, bs, { transA, transB });
        for (const variant of matmulVariants()) {
          const out = tidy(() =>
            matmul(make(ad, as, "plain"), make(bd, bs, "plain"), { transA, transB, variant })
          );
          assertClose(await out.read(), want.data, ...tol(90), `${variant} [${as}]@[${bs}]`);
          out.dispose();
        }
      }
    } finally {
      matmulSettings.maxWindowBytes = saved;
    }
  },
);

gpuTest(
  "matmul() handles a real operand over 128 MiB (GPT-2 unembedding [768, 50257])",
  async (eng) => {
    const k = 768;
    const n = 50257;
    if (k * n * 4 <= eng.maxBinding) {
      // This adapter binds it whole; the splitting is covered by the forced-window test.
      return;
    }
    // Deterministic weights the CPU can recompute: w[p][j] = ((p * 131 + j * 7) % 97 - 48) / 64,
    // filled a period (97 columns) at a time.
    const period = new Float32Array(97 + n);
    for (let j = 0; j < period.length; j++) period[j] = (((j * 7) % 97) - 48) / 64;
    const w = new Float32Array(k * n);
    // Row p is the period shifted by s columns, where 7 s = 131 p (mod 97).
    const inv7 = 14; // 7 * 14 = 98 = 1 (mod 97)
    for (let p = 0; p < k; p++) {
      const shift = ((p * 131) % 97) * inv7 % 97;
      w.set(period.subarray(shift, shift + n), p * n);
    }
    const xd = values(2 * k, 21);
    const W = tensor(w, [k, n]);
    const x = tensor(Float32Array.from(xd), [2, k]);
    const out = matmul(x, W);
    const got = await out.read();
    const cols = [0, 1, 4095, 25000, 33554, n - 2, n - 1];
    for (let i = 0; i < 2; i++) {
      for (const j of cols) {
        let s = 0;
        for (let p = 0; p < k; p++) s += xd[i * k + p] * w[p * n + j];
        assertClose([got[i * n + j]], [s], ...tol(k), `row ${i} column ${j}`);
      }
    }
    [W, x, out].forEach((t) => t.dispose());
  },
);

gpuTest("matmul() with k = 0 gives zeros, and empty shapes give empty results", async () => {
  const z = tidy(() =>
    matmul(tensor(new Float32Array(0), [3, 0]), tensor(new Float32Array(0), [0, 4]))
  );
  assert.deepEqual([...z.shape], [3, 4]);
  assert.deepEqual(Array.from(await z.read()), new Array(12).fill(0));
  const e = tidy(() =>
    matmul(tensor(new Float32Array(0), [0, 3]), tensor(new Float32Array(12), [3, 4]))
  );
  assert.deepEqual([...e.shape], [0, 4]);
  z.dispose();
  e.dispose();
});

gpuTest("matmul() errors name the op and both shapes", () => {
  const a = tensor(new Float32Array(6), [2, 3]);
  const b = tensor(new Float32Array(20), [4, 5]);
  assert.throws(() => matmul(a, b), {
    message: "Cannot run matmul: inner dimensions differ (a is f32[2, 3], b is f32[4, 5])",
  });
  assert.throws(
    () => matmul(a, b, { transB: true }),
    /inner dimensions differ \(a is f32\[2, 3\], b is f32\[4, 5\], transB\)/,
  );
  const c = tensor(new Float32Array(2 * 3 * 4), [2, 3, 4]);
  const d = tensor(new Float32Array(3 * 4 * 5), [3, 4, 5]);
  assert.throws(
    () => matmul(c, d),
    /Cannot run matmul: batch axes \[2\] and \[3\] do not broadcast \(a is f32\[2, 3, 4\], b is f32\[3, 4, 5\]\)/,
  );
  const i = tensor(new Int32Array(12), [3, 4]);
  assert.throws(
    () => matmul(a, i),
    /Cannot run matmul: dtype i32 is not supported \(a is f32\[2, 3\], b is i32\[3, 4\]\); use f32 or f16/,
  );
  const s = tensor(new Float32Array(1), []);
  assert.throws(() => matmul(s, a), /Cannot run matmul: 0-d tensors have no matrix axes/);
  assert.throws(
    () => matmul(a, tensor(new Float32Array(3), [3]), { variant: "fast" as MatmulVariant }),
    /unknown variant "fast"/,
  );
  [a, b, c, d, i, s].forEach((t) => t.dispose());
});

gpuTest(
  "matmul() takes f16 storage inputs where the adapter has shader-f16",
  async (eng: Engine) => {
    // m = 3 keeps the register block small (f16 kernels are extra compiles); n = 18 has an edge.
    const ad = values(3 * 21, 31);
    const bd = values(21 * 18, 32);
    if (!eng.hasFeature("shader-f16")) {
      assert.throws(() => tensor(Float32Array.from(ad), [3, 21], { dtype: "f16" }), /shader-f16/);
      return;
    }
    const a16 = tensor(Float32Array.from(ad), [3, 21], { dtype: "f16" });
    const b16 = tensor(Float32Array.from(bd), [21, 18], { dtype: "f16" });
    const b32 = tensor(Float32Array.from(bd), [21, 18]);
    // The reference takes the f16-rounded inputs; f16 outputs add a rounding of 2^-11 relative.
    const [ah, bh] = await readTensors([a16, b16]);
    const want = matmulRef(ah, [3, 21], bh, [21, 18]);
    const want32 = matmulRef(ah, [3, 21], bd, [21, 18]);
    for (const variant of matmulVariants()) {
      const both = matmul(a16, b16, { variant });
      const mixed = matmul(a16, b32, { variant });
      assert.equal(both.dtype, "f16");
      assert.equal(mixed.dtype, "f32");
      const [g1, g2] = await readTensors([both, mixed]);
      assertClose(g1, want.data, 2e-3, 1e-3, `${variant} f16 @ f16`);
      assertClose(g2, want32.data, ...tol(21), `${variant} f16 @ f32`);
      both.dispose();
      mixed.dispose();
    }
    [a16, b16, b32].forEach((t) => t.dispose());
  },
);

gpuTest("matmul() records transA and transB for autograd", () => {
  const a = tensor(new Float32Array(6), [3, 2]);
  a.requiresGrad = true;
  const b = tensor(new Float32Array(12), [4, 3]);
  const out = matmul(a, b, { transA: true, transB: true });
  assert.equal(out.node?.op, "matmul");
  assert.deepEqual(out.node?.attrs, { transA: true, transB: true });
  assert.deepEqual(out.node?.inputs, [a, b]);
  [a, b, out].forEach((t) => t.dispose());
});

gpuTest("tuneMatmul() times every candidate and later calls use the winner", async () => {
  const a = randn([256, 128], { seed: 1 });
  const b = randn([128, 256], { seed: 2 });
  const result = await tuneMatmul(a, b);
  assert.ok(result.entries.length >= 2, "at least the register and tiled candidates");
  for (const e of result.entries) {
    assert.equal(e.error, undefined, `${e.config} ran`);
    assert.ok(e.ms > 0 && Number.isFinite(e.ms), `${e.config} was timed`);
  }
  assert.equal(
    matmulConfigFor(a, b),
    result.entries.reduce((x, y) => (y.ms < x.ms ? y : x)).config,
  );
  assert.match(matmulConfigFor(a, b, { variant: "tiled" }), /^tiled/);
  // A second call for the same class returns the cached result.
  assert.equal(await tuneMatmul(a, b), result);
  [a, b].forEach((t) => t.dispose());
});

gpuTest("matmulVariants() lists the register, tiled and texture kernels", () => {
  assert.deepEqual(matmulVariants(), ["register", "tiled", "texture"]);
});

gpuTest(
  "matmulConfigFor() reports the texture kernel's fallback where textures do not apply",
  () => {
    const a = tensor(new Float32Array(64 * 64), [64, 64]);
    const saved = matmulSettings.maxWindowBytes;
    try {
      assert.match(matmulConfigFor(a, a, { variant: "texture" }), /^texture/);
      matmulSettings.maxWindowBytes = 4096; // A no longer fits one window: the repack cannot bind it
      assert.match(matmulConfigFor(a, a, { variant: "texture" }), /^register/);
    } finally {
      matmulSettings.maxWindowBytes = saved;
      a.dispose();
    }
  },
);

gpuTest(
  "matmul() sums an inner dimension past llvmpipe's 65535 loop iterations exactly",
  async () => {
    // llvmpipe silently stops an invocation's loops after 65535 iterations; products with longer
    // k run as k pieces that accumulate into C (k = 140000 gave 65535 before). Small integers, so
    // every sum is exact in f32.
    for (const k of [70000, 140001]) {
      const a = new Float32Array(2 * k).map((_, i) => (i % 3) - 1);
      const b = new Float32Array(k * 3).map((_, i) => (i % 5) - 2);
      const want = matmulRef(a, [2, k], b, [k, 3]).data;
      const ta = tensor(a, [2, k]);
      const tb = tensor(b, [k, 3]);
      for (const variant of matmulVariants()) {
        const c = matmul(ta, tb, { variant });
        assert.deepEqual([...await c.read()], [...want], `${variant}, k = ${k}`);
        c.dispose();
      }
      ta.dispose();
      tb.dispose();
    }
  },
);
