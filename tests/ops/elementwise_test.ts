import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { readTensors, type Tensor } from "../../src/tensor.ts";
import { arange, full, rand, randn, tensor } from "../../src/ops/creation.ts";
import {
  binary,
  type BinaryOp,
  cast,
  UNARY,
  unary,
  type UnaryOp,
  where,
} from "../../src/ops/elementwise.ts";
import { permute, slice } from "../../src/ops/movement.ts";
import { tidy } from "../../src/memory.ts";
import {
  BINARY_REF,
  mapRef,
  refSize,
  type RefTensor,
  UNARY_REF,
} from "../../src/reference/elementwise.ts";
import { randRef } from "../../src/reference/random.ts";

/** Awkward axis sizes: 1, primes, non-multiples of the 256-thread workgroup. */
export const DIM = fc.constantFrom(1, 2, 3, 5, 7, 13, 17, 31, 64, 127);
export const SHAPE = fc.array(DIM, { minLength: 0, maxLength: 4 }).filter((s) =>
  refSize(s) <= 20000
);

function values(n: number, seed: number, lo: number, hi: number): Float64Array {
  // Small deterministic PRNG for inputs; f32-representable values.
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = Math.fround(lo + (hi - lo) * (s / 2 ** 32));
  }
  return out;
}

function toGpu(r: RefTensor): Tensor {
  return tensor(Float32Array.from(r.data), r.shape);
}

/** A shape broadcastable to `s`: some axes set to 1, some leading axes dropped. */
const broadcastPartner = (s: number[]) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }), fc.nat(s.length))
    .map(([ones, drop]) => s.map((d, i) => (ones[i] ? 1 : d)).slice(drop));

const DOMAIN: Partial<Record<UnaryOp, [number, number]>> = {
  log: [1e-3, 50],
  sqrt: [0, 50],
  rsqrt: [1e-2, 50],
  exp: [-30, 30],
};

// Tolerance: f32 kernels vs f64 reference. exp/log/sqrt on llvmpipe are within a few ulp
// (rtol 1e-5); tanh via exp loses relative precision near 0 (atol 2e-6); erf is the A&S
// approximation (|err| < 1.5e-7, so atol 1e-6 on geluErf).
const UNARY_TOL: Record<string, [number, number]> = {
  default: [2e-6, 2e-5],
  geluErf: [2e-6, 2e-5],
};

gpuTest("unary() matches the f64 reference for every op on random shapes", async () => {
  await fc.assert(
    fc.asyncProperty(SHAPE, fc.integer({ min: 1, max: 2 ** 31 }), async (shape, seed) => {
      const ops = Object.keys(UNARY) as UnaryOp[];
      const inputs = ops.map((op, k) => {
        const [lo, hi] = DOMAIN[op] ?? [-8, 8];
        return { data: values(refSize(shape), seed + k, lo, hi), shape };
      });
      const outs = tidy(() => ops.map((op, k) => unary(op, toGpu(inputs[k]))));
      const got = await readTensors(outs);
      ops.forEach((op, k) => {
        const want = mapRef([inputs[k]], UNARY_REF[op]);
        const [atol, rtol] = UNARY_TOL[op] ?? UNARY_TOL.default;
        assertClose(got[k], want.data, atol, rtol, `${op} on [${shape}]`);
        assert.deepEqual(outs[k].shape, shape);
      });
      outs.forEach((t) => t.dispose());
    }),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("binary() matches the f64 reference with broadcasting", async () => {
  const ops = [
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "maximum",
    "minimum",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
  ] as BinaryOp[];
  await fc.assert(
    fc.asyncProperty(
      SHAPE.chain((s) => fc.tuple(fc.constant(s), broadcastPartner(s), fc.boolean())),
      fc.integer({ min: 1, max: 2 ** 31 }),
      async ([sa, sb, swap], seed) => {
        const [shA, shB] = swap ? [sb, sa] : [sa, sb];
        const a = { data: values(refSize(shA), seed, 0.5, 4), shape: shA };
        const b = { data: values(refSize(shB), seed + 1, -3, 3), shape: shB };
        // Make some values equal so comparisons see ties.
        for (let i = 0; i < Math.min(a.data.length, b.data.length); i += 3) b.data[i] = a.data[i];
        const outs = tidy(() => ops.map((op) => binary(op, toGpu(a), toGpu(b))));
        const got = await readTensors(outs);
        ops.forEach((op, k) => {
          const want = mapRef([a, b], BINARY_REF[op]);
          // pow: f32 pow = exp2(b·log2 a) on llvmpipe, a few ulp of the result (rtol 1e-4).
          assertClose(
            got[k],
            want.data,
            1e-5,
            op === "pow" ? 1e-4 : 1e-5,
            `${op} [${shA}] [${shB}]`,
          );
          assert.deepEqual([...outs[k].shape], want.shape);
        });
        outs.forEach((t) => t.dispose());
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("binary() with a number on either side matches the reference", async () => {
  const x = tensor([[-2, -0.5, 0, 1.5], [3, 4, -5, 6]]);
  const xs = [-2, -0.5, 0, 1.5, 3, 4, -5, 6];
  for (const op of ["add", "sub", "mul", "div", "maximum", "minimum", "gt", "le"] as BinaryOp[]) {
    const [l, r] = tidy(() => [binary(op, 2.5, x), binary(op, x, 2.5)]);
    const [gl, gr] = await readTensors([l, r]);
    assertClose(gl, xs.map((v) => BINARY_REF[op](2.5, v)), 1e-6, 1e-6, `${op}(2.5, x)`);
    assertClose(gr, xs.map((v) => BINARY_REF[op](v, 2.5)), 1e-6, 1e-6, `${op}(x, 2.5)`);
    l.dispose();
    r.dispose();
  }
  // Negative bases with integer exponents, as NumPy.
  const p = binary("pow", tensor([-2, -3, 0, 2]), 3);
  assertClose(await p.read(), [-8, -27, 0, 8], 1e-6, 1e-6, "pow(x, 3)");
  x.dispose();
  p.dispose();
});

gpuTest("binary() works on strided views (transpose, slice) and int dtypes", async () => {
  const a = tensor(Float32Array.from({ length: 60 }, (_, i) => i), [3, 4, 5]);
  const t = permute(a, [2, 0, 1]); // [5, 3, 4], non-contiguous
  const s = slice(a, [null, [1, 3], [2, 5]]); // [3, 2, 3]
  const sum = binary("add", t, t);
  const got = await sum.read();
  const want = Array.from({ length: 60 }, (_, i) => {
    const k = i % 4, j = Math.floor(i / 4) % 3, c = Math.floor(i / 12);
    return 2 * (j * 20 + k * 5 + c);
  });
  assertClose(got, want, 0, 0, "transposed add");
  const sv = await binary("mul", s, 1).read();
  const wantS: number[] = [];
  for (let i = 0; i < 3; i++) {
    for (let j = 1; j < 3; j++) for (let k = 2; k < 5; k++) wantS.push(i * 20 + j * 5 + k);
  }
  assertClose(sv, wantS, 0, 0, "sliced");
  const ints = tensor(new Int32Array([7, -7, 9]), [3]);
  const q = binary("div", ints, tensor(new Int32Array([2, 2, -4]), [3]));
  assert.deepEqual([...await q.read()], [3, -3, -2]);
  for (const x of [a, t, s, sum, ints, q]) x.dispose();
});

gpuTest("where() and cast() match the reference with broadcasting", async () => {
  const c = tensor(new Uint32Array([1, 0, 1]), [3]);
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  const b = full([2, 1], -1);
  const w = where(c, a, b);
  assert.deepEqual(await w.toArray(), [[1, -1, 3], [4, -1, 6]]);
  const i = cast(tensor([1.7, -1.7, 2.5]), "i32");
  assert.deepEqual([...await i.read()], [1, -1, 2]);
  for (const x of [c, a, b, w, i]) x.dispose();
});

gpuTest("rand() is Philox-4x32-10: equal to the CPU reference bit for bit", async () => {
  for (const [n, seed] of [[1, 0], [7, 42], [1003, 2 ** 40 + 5]] as const) {
    const r = rand([n], { seed });
    assertClose(await r.read(), randRef(n, seed), 0, 0, `rand seed ${seed}`);
    r.dispose();
  }
});

gpuTest("randn() has mean 0 and variance 1, and seeds reproduce", async () => {
  const a = randn([200_000], { seed: 7 });
  const b = randn([200_000], { seed: 7 });
  const c = randn([200_000], { seed: 8 });
  const [da, db, dc] = await readTensors([a, b, c]);
  assert.deepEqual(da, db);
  assert.notDeepEqual(da, dc);
  let m = 0, v = 0;
  for (const x of da) m += x;
  m /= da.length;
  for (const x of da) v += (x - m) ** 2;
  v /= da.length;
  // Standard errors at n = 2e5: mean 0.0022, variance 0.0032; allow 5 sigma.
  assert.ok(Math.abs(m) < 0.011, `mean ${m}`);
  assert.ok(Math.abs(v - 1) < 0.016, `variance ${v}`);
  for (const x of [a, b, c]) x.dispose();
});

gpuTest("arange() and full() match NumPy", async () => {
  const a = arange(1, 2, 0.25);
  const b = arange(5, undefined, 1, { dtype: "i32" });
  const f = full([2, 2], 3.5);
  assert.deepEqual([...await a.read()], [1, 1.25, 1.5, 1.75]);
  assert.deepEqual([...await b.read()], [0, 1, 2, 3, 4]);
  assert.deepEqual(await f.toArray(), [[3.5, 3.5], [3.5, 3.5]]);
  for (const x of [a, b, f]) x.dispose();
});

gpuTest("binary() errors name the op and both shapes; dtypes must match", () => {
  tidy(() => {
    const a = tensor([[1, 2, 3]]);
    const b = tensor([[1, 2], [3, 4]]);
    assert.throws(
      () => binary("add", a, b),
      /Cannot run add: shapes \[1, 3\] and \[2, 2\] do not broadcast/,
    );
    const i = tensor(new Int32Array([1, 2, 3]), [3]);
    assert.throws(() => binary("mul", a, i), /Cannot run mul: dtypes differ/);
    assert.throws(() => unary("exp", i), /Cannot run exp: .* has dtype i32/);
  });
});
