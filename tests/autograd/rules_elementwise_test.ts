/**
 * Gradient rules of the elementwise and movement ops vs finite differences of their f64 CPU
 * references (tests/autograd/_gradcheck.ts: atol 1e-3, rtol 1e-2, h 1e-3), on random small shapes
 * with broadcasting and views.
 */

import fc from "fast-check";
import assert from "node:assert/strict";
import { gpuTest, NUM_RUNS } from "../_gpu.ts";
import { awayFrom, gradCheck, type Ref, ref } from "./_gradcheck.ts";
import {
  binary,
  type BinaryOp,
  cast,
  unary,
  type UnaryOp,
  where,
} from "../../src/ops/elementwise.ts";
import { gt } from "../../src/ops/elementwise.ts";
import {
  clone,
  contiguous,
  expand,
  permute,
  reshape,
  slice,
  squeeze,
  transpose,
  unsqueeze,
} from "../../src/ops/movement.ts";
import {
  BINARY_REF,
  mapRef,
  permuteRef,
  sliceRef,
  UNARY_REF,
} from "../../src/reference/elementwise.ts";
import { tensor } from "../../src/ops/creation.ts";
import { backward } from "../../src/autograd/backward.ts";
import { scope, tidy } from "../../src/memory.ts";

const DIM = fc.constantFrom(1, 2, 3, 5);
const SHAPE = fc.array(DIM, { minLength: 0, maxLength: 3 });
const SEED = fc.integer({ min: 1, max: 2 ** 31 - 1 });

/** A shape broadcastable to `s`: some axes set to 1, some leading axes dropped. */
const partner = (s: number[]) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }), fc.nat(s.length))
    .map(([ones, drop]) => s.map((d, i) => (ones[i] ? 1 : d)).slice(drop));

const DOMAIN: Partial<Record<UnaryOp, [number, number]>> = {
  log: [0.2, 3],
  sqrt: [0.2, 3],
  rsqrt: [0.2, 3],
};
const KINKS: Partial<Record<UnaryOp, number[]>> = { relu: [0], abs: [0] };
const UNARY_OPS: UnaryOp[] = [
  "neg",
  "exp",
  "log",
  "sqrt",
  "rsqrt",
  "abs",
  "relu",
  "gelu",
  "geluErf",
  "tanh",
  "sigmoid",
  "square",
];

const unaryRef = (op: string) => (xs: Ref[]) => mapRef([xs[0]], UNARY_REF[op]).data;

gpuTest("unary ops' gradients match finite differences of the f64 reference", async () => {
  await fc.assert(
    fc.asyncProperty(SHAPE, SEED, async (shape, seed) => {
      for (const op of UNARY_OPS) {
        const [lo, hi] = DOMAIN[op] ?? [-3, 3];
        const x = ref(shape, seed, lo, hi);
        x.data = awayFrom(x.data, KINKS[op] ?? []);
        await gradCheck({
          what: `${op} on [${shape}]`,
          inputs: [x],
          gpu: ([t]) => unary(op, t),
          ref: unaryRef(op),
          seed,
        });
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("unary ops' gradients flow through transposed and sliced views", async () => {
  await fc.assert(
    fc.asyncProperty(DIM, DIM, SEED, async (a, b, seed) => {
      for (const op of ["exp", "tanh", "square", "gelu"] as UnaryOp[]) {
        const x = ref([a + 1, b], seed);
        await gradCheck({
          what: `${op} of a transposed slice`,
          inputs: [x],
          gpu: ([t]) => unary(op, transpose(slice(t, [[1, a + 1]]))),
          ref: ([r]) =>
            mapRef([permuteRef(sliceRef(r, [1, 0], [a + 1, b]), [1, 0])], UNARY_REF[op]).data,
          seed,
        });
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("sign has no gradient: backward leaves .grad null", () => {
  tidy(() => {
    const x = tensor([1, -2, 3], undefined, { requiresGrad: true });
    const y = unary("sign", x);
    backward(y, { grad: tensor([1, 1, 1]) });
    assert.equal(x.grad, null);
  });
});

/** Inputs for a binary op: (a, b) in the op's domain, away from its kinks. */
function binaryInputs(op: BinaryOp, sa: number[], sb: number[], seed: number): [Ref, Ref] {
  const a = ref(sa, seed, -2, 2);
  const b = ref(sb, seed + 1, -2, 2);
  if (op === "div") {
    b.data = b.data.map((v) => Math.fround(Math.sign(v || 1) * (0.5 + Math.abs(v))));
  }
  if (op === "pow") a.data = a.data.map((v) => Math.fround(0.5 + Math.abs(v) / 2));
  if (op === "maximum" || op === "minimum") {
    // a on a grid of 0.1, b on the grid shifted by 0.05 (±0.01 noise): |a − b| ≥ 0.03 > h.
    a.data = a.data.map((v) => Math.fround(Math.round(v * 10) / 10 + (v % 0.01)));
    b.data = b.data.map((v) => Math.fround(Math.round(v * 10) / 10 + 0.05));
  }
  return [a, b];
}

gpuTest("binary ops' gradients match finite differences with broadcasting", async () => {
  const ops: BinaryOp[] = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"];
  await fc.assert(
    fc.asyncProperty(
      SHAPE.chain((s) => fc.tuple(fc.constant(s), partner(s), fc.boolean())),
      SEED,
      async ([s, p, swap], seed) => {
        const [sa, sb] = swap ? [p, s] : [s, p];
        for (const op of ops) {
          const [a, b] = binaryInputs(op, sa, sb, seed);
          await gradCheck({
            what: `${op} of [${sa}] and [${sb}]`,
            inputs: [a, b],
            gpu: ([x, y]) => binary(op, x, y),
            ref: ([x, y]) => mapRef([x, y], BINARY_REF[op]).data,
            seed,
          });
        }
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("binary ops with a number on either side have the right gradient", async () => {
  const ops: BinaryOp[] = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"];
  await fc.assert(
    fc.asyncProperty(SHAPE, SEED, fc.boolean(), async (shape, seed, left) => {
      for (const op of ops) {
        let s = Math.fround(0.7 + (seed % 7) / 10);
        const x = ref(shape, seed, -2, 2);
        if (op === "div" && left) {
          x.data = x.data.map((v) => Math.fround(Math.sign(v || 1) * (0.5 + Math.abs(v))));
        }
        if (op === "pow" && !left) x.data = x.data.map((v) => Math.fround(0.5 + Math.abs(v) / 2));
        if (op === "maximum" || op === "minimum") {
          s = 0.05;
          x.data = awayFrom(x.data, [s]);
        }
        const f = BINARY_REF[op];
        await gradCheck({
          what: `${op}(${left ? `${s}, x` : `x, ${s}`}) on [${shape}]`,
          inputs: [x],
          gpu: ([t]) => (left ? binary(op, s, t) : binary(op, t, s)),
          ref: ([r]) => mapRef([r], (v) => (left ? f(s, v) : f(v, s))).data,
          seed,
        });
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("maximum and minimum split the gradient equally on ties (as PyTorch)", async () => {
  await scope(async () => {
    const a = tensor([1, 2, 3], undefined, { requiresGrad: true });
    const b = tensor([1, 5, 0], undefined, { requiresGrad: true });
    backward(binary("maximum", a, b), { grad: tensor([2, 2, 2]) });
    assert.deepEqual(await a.grad!.toArray(), [1, 0, 2]);
    assert.deepEqual(await b.grad!.toArray(), [1, 2, 0]);
  });
});

gpuTest("where() routes the gradient by the condition, with broadcasting", async () => {
  await fc.assert(
    fc.asyncProperty(
      SHAPE.chain((s) => fc.tuple(fc.constant(s), partner(s), partner(s))),
      SEED,
      async ([s, sa, sb], seed) => {
        const c = ref(s, seed + 5);
        await gradCheck({
          what: `where([${s}], [${sa}], [${sb}])`,
          inputs: [c, ref(sa, seed), ref(sb, seed + 1)],
          wrt: [1, 2],
          gpu: ([cond, a, b]) => where(gt(cond, 0), a, b),
          ref: ([cond, a, b]) => mapRef([cond, a, b], (k, x, y) => (k > 0 ? x : y)).data,
          seed,
        });
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("cast() passes the gradient back in the input's dtype; ints get none", async (eng) => {
  await scope(async () => {
    const x = tensor([1.5, -2.5], undefined, { requiresGrad: true });
    const i = cast(x, "i32");
    assert.equal(i.requiresGrad, true);
    const y = cast(i, "f32");
    backward(y, { grad: tensor([1, 1]) });
    assert.equal(x.grad, null, "no gradient through an integer cast");
    if (eng.hasFeature("shader-f16")) {
      const h = cast(x, "f16");
      backward(cast(h, "f32"), { grad: tensor([3, 4]) });
      assert.equal(x.grad!.dtype, "f32");
      assert.deepEqual(await x.grad!.toArray(), [3, 4]);
    }
  });
});

gpuTest(
  "movement ops' gradients map back: reshape, permute, slice, expand, squeeze, copies",
  async () => {
    await fc.assert(
      fc.asyncProperty(DIM, DIM, DIM, SEED, async (a, b, c, seed) => {
        const x = ref([a, b, c], seed);
        const sq = (xs: Ref[]) => mapRef([xs[0]], (v) => v * v).data;
        // Every case squares after the movement so the gradient depends on position.
        const cases: [
          string,
          (t: ReturnType<typeof tensor>) => ReturnType<typeof tensor>,
          (r: Ref) => Ref,
        ][] = [
          ["reshape", (t) => reshape(t, [a * b, c]), (r) => ({ ...r, shape: [a * b, c] })],
          ["permute", (t) => permute(t, [2, 0, 1]), (r) => permuteRef(r, [2, 0, 1])],
          [
            "slice",
            (t) => slice(t, [null, [b > 1 ? 1 : 0, b], [0, c > 2 ? c - 1 : c]]),
            (r) => sliceRef(r, [0, b > 1 ? 1 : 0, 0], [a, b, c > 2 ? c - 1 : c]),
          ],
          [
            "expand",
            (t) => expand(slice(t, [null, [0, 1]]), [2, a, 3, c]),
            (r) =>
              mapRef([sliceRef(r, [0, 0, 0], [a, 1, c]), {
                data: new Float64Array(2 * a * 3 * c),
                shape: [2, a, 3, c],
              }], (v) => v),
          ],
          ["unsqueeze/squeeze", (t) => squeeze(unsqueeze(t, 1), 1), (r) => r],
          [
            "contiguous of a permute",
            (t) => contiguous(permute(t, [1, 0, 2])),
            (r) => permuteRef(r, [1, 0, 2]),
          ],
          ["clone", (t) => clone(t), (r) => r],
        ];
        for (const [name, g, r] of cases) {
          await gradCheck({
            what: `${name} of [${a}, ${b}, ${c}]`,
            inputs: [x],
            gpu: ([t]) => unary("square", g(t)),
            ref: ([t]) => sq([r(t)]),
            seed,
          });
        }
      }),
      { numRuns: NUM_RUNS },
    );
  },
);
