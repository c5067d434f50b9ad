import fc from "fast-check";
import assert from "node:assert/strict";
import { assertClose, gpuTest } from "../_gpu.ts";
import type { Dispatch, Engine } from "../../src/gpu/engine.ts";
import type { Job } from "../../src/kernels/matmul.ts";
import {
  candidates,
  classKey,
  classOf,
  configName,
  type MatmulConfig,
  type MatOperand,
  type MatProblem,
  orient,
  planMatmul,
  registerConfig,
  splitProblem,
  textureConfig,
  textureJobs,
  TILED_128,
  TILED_64,
} from "../../src/kernels/matmul.ts";
import { matmulRef } from "../../src/reference/matmul.ts";

/**
 * A stand-in engine for planning only: the planner reads limits, the binding size and the loop
 * budget, nothing else. `maxDim` small forces the grid and batch splitting paths.
 */
function fakeEngine(maxDim = 65535, isCpu = true): Engine {
  return {
    limits: { maxComputeWorkgroupsPerDimension: maxDim, minStorageBufferOffsetAlignment: 256 },
    maxBinding: 1 << 27,
    gpu: { info: { isCpu } },
    loopBudget: isCpu ? 49152 : Infinity, // as Engine.loopBudget
  } as unknown as Engine;
}

/** A fake buffer (a key for the interpreter's memory) of `elems` f32 values, rounded like the pool. */
function fakeBuffer(elems: number): GPUBuffer {
  return { size: Math.ceil((elems * 4) / 256) * 256 + 256 } as GPUBuffer;
}

/**
 * Run a plan on the CPU exactly as the kernels address memory: decode each dispatch's params,
 * check every access stays inside its binding, and compute C (+)= A·B per batch item.
 */
function interpret(
  plan: Dispatch[],
  aT: boolean,
  bT: boolean,
  mem: Map<GPUBuffer, Float64Array>,
): void {
  for (const d of plan) {
    const bytes = d.params as Uint8Array;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const u = (i: number) => dv.getUint32(4 * i, true);
    const [m, n, k, base, lda, ldb, ldc, acc, offA, offB, offC] = Array.from(
      { length: 11 },
      (_, i) => u(i),
    );
    const shape = [u(12), u(13), u(14), u(15)];
    const sa = [u(16), u(17), u(18), u(19)];
    const sb = [u(20), u(21), u(22), u(23)];
    const sc = [u(24), u(25), u(26), u(27)];
    const [ba, bb] = d.inputs as { buffer: GPUBuffer; offset: number; size: number }[];
    const bc = d.outputs[0] as { buffer: GPUBuffer; offset: number; size: number };
    for (const b of [ba, bb, bc]) {
      assert.equal(b.offset % 256, 0, "binding offsets are aligned");
      assert.ok(b.offset + b.size <= b.buffer.size, "binding inside its buffer");
      assert.equal(b.size % 16, 0, "binding sizes allow vec4 arrays");
    }
    const at = (
      b: { buffer: GPUBuffer; offset: number; size: number },
      i: number,
      what: string,
    ) => {
      assert.ok(
        i >= 0 && (i + 1) * 4 <= b.size,
        `${what} index ${i} outside its ${b.size}-byte binding`,
      );
      return b.offset / 4 + i;
    };
    const A = mem.get(ba.buffer)!;
    const B = mem.get(bb.buffer)!;
    const C = mem.get(bc.buffer)!;
    const zs = d.workgroups[2] ?? 1;
    for (let z = 0; z < zs; z++) {
      let rem = z + base;
      const o = [offA, offB, offC];
      for (let ax = 3; ax >= 0; ax--) {
        const i = rem % shape[ax];
        rem = Math.floor(rem / shape[ax]);
        o[0] += i * sa[ax];
        o[1] += i * sb[ax];
        o[2] += i * sc[ax];
      }
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) {
            const ia = o[0] + (aT ? p * lda + i : i * lda + p);
            const ib = o[1] + (bT ? j * ldb + p : p * ldb + j);
            s += A[at(ba, ia, "A")] * B[at(bb, ib, "B")];
          }
          const ic = at(bc, o[2] + i * ldc + j, "C");
          C[ic] = acc ? C[ic] + s : s;
        }
      }
    }
  }
}

const DIM = fc.constantFrom(1, 2, 3, 5, 8, 13, 17, 40, 64, 70);

interface Case {
  m: number;
  n: number;
  k: number;
  batch: number[];
  bcastA: boolean[];
  bcastB: boolean[];
  aT: boolean;
  bT: boolean;
  offA: number;
  offB: number;
}

/** A problem over fake buffers with random values, and the f64 reference of its result. */
function setup(c0: Case) {
  // An axis broadcast in both operands has size 1 in the result too.
  const c = { ...c0, batch: c0.batch.map((d, i) => (c0.bcastA[i] && c0.bcastB[i] ? 1 : d)) };
  const rank = c.batch.length;
  const aMat = c.m * c.k;
  const bMat = c.k * c.n;
  const aShape = c.batch.map((d, i) => (c.bcastA[i] ? 1 : d));
  const bShape = c.batch.map((d, i) => (c.bcastB[i] ? 1 : d));
  const contig = (shape: number[], mat: number) => {
    const st = new Array<number>(rank).fill(0);
    let acc = mat;
    for (let i = rank - 1; i >= 0; i--) {
      st[i] = shape[i] === 1 ? 0 : acc;
      acc *= shape[i];
    }
    return { st, total: acc };
  };
  const ca = contig(aShape, aMat);
  const cb = contig(bShape, bMat);
  const cc = contig(c.batch, c.m * c.n);
  const ad = Float64Array.from({ length: ca.total }, (_, i) => Math.sin(i * 1.3 + 0.2));
  const bd = Float64Array.from({ length: cb.total }, (_, i) => Math.cos(i * 0.7 + 0.1));
  const bufA = fakeBuffer(ca.total + c.offA);
  const bufB = fakeBuffer(cb.total + c.offB);
  const bufC = fakeBuffer(cc.total);
  const mem = new Map<GPUBuffer, Float64Array>();
  const memA = new Float64Array(bufA.size / 4);
  memA.set(ad, c.offA);
  const memB = new Float64Array(bufB.size / 4);
  memB.set(bd, c.offB);
  mem.set(bufA, memA);
  mem.set(bufB, memB);
  mem.set(bufC, new Float64Array(bufC.size / 4).fill(NaN));
  const op = (
    buffer: GPUBuffer,
    offset: number,
    ld: number,
    t: boolean,
    batch: number[],
  ): MatOperand => ({
    buffer,
    dtype: "f32",
    offset,
    ld,
    t,
    batch,
  });
  const p: MatProblem = {
    m: c.m,
    n: c.n,
    k: c.k,
    batch: c.batch,
    a: op(bufA, c.offA, c.aT ? c.m : c.k, c.aT, ca.st),
    b: op(bufB, c.offB, c.bT ? c.k : c.n, c.bT, cb.st),
    c: op(bufC, 0, c.n, false, cc.st),
  };
  const want = matmulRef(
    ad,
    [...aShape, ...(c.aT ? [c.k, c.m] : [c.m, c.k])],
    bd,
    [...bShape, ...(c.bT ? [c.n, c.k] : [c.k, c.n])],
    { transA: c.aT, transB: c.bT },
  );
  return { p, mem, bufC, total: cc.total, want };
}

const CASE = fc.record({
  m: DIM,
  n: DIM,
  k: DIM,
  batch: fc.array(fc.constantFrom(1, 2, 3), { maxLength: 5 }),
  bcastA: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  bcastB: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  aT: fc.boolean(),
  bT: fc.boolean(),
  offA: fc.constantFrom(0, 3, 64, 1000),
  offB: fc.constantFrom(0, 5, 128),
});

const CONFIGS: MatmulConfig[] = [
  registerConfig({ m: 16, n: 16 }),
  { variant: "register", tm: 16, tn: 16, wg: 8, ku: 4 },
  TILED_64,
];

Deno.test("planMatmul() plans compute the reference result, whatever the window, grid and batch rank", () => {
  fc.assert(
    fc.property(
      CASE,
      fc.constantFrom(0, 1024, 4096, 20000),
      fc.constantFrom(65535, 2),
      fc.constantFrom(...CONFIGS),
      (c, window, maxDim, cfg) => {
        const { p, mem, bufC, total, want } = setup(c);
        const plan = planMatmul(fakeEngine(maxDim), p, cfg, window || undefined);
        interpret(plan, p.a.t, p.b.t, mem);
        const got = mem.get(bufC)!.subarray(0, total);
        assertClose(
          got,
          want.data,
          1e-9,
          1e-9,
          `${configName(cfg)} window ${window} maxDim ${maxDim}`,
        );
        if (window) {
          for (const d of plan) {
            for (const b of [...d.inputs, ...d.outputs] as { size: number }[]) {
              assert.ok(b.size <= window);
            }
          }
        }
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("orient() computes a column result as a row with the operands swapped", () => {
  fc.assert(
    fc.property(CASE, (c0) => {
      const c = { ...c0, n: 1 };
      const { p, mem, bufC, total, want } = setup(c);
      const q = orient(p);
      assert.equal(q.m, c.m === 1 ? c.m : 1);
      interpret(planMatmul(fakeEngine(), q, CONFIGS[0]), q.a.t, q.b.t, mem);
      assertClose(mem.get(bufC)!.subarray(0, total), want.data, 1e-9, 1e-9);
    }),
    { numRuns: 50 },
  );
});

Deno.test("planMatmul() gives no dispatches for empty problems", () => {
  const { p } = setup({
    m: 3,
    n: 4,
    k: 5,
    batch: [],
    bcastA: [],
    bcastB: [],
    aT: false,
    bT: false,
    offA: 0,
    offB: 0,
  });
  assert.equal(planMatmul(fakeEngine(), { ...p, m: 0 }, TILED_64).length, 0);
  assert.equal(
    planMatmul(fakeEngine(), {
      ...p,
      batch: [0],
      a: { ...p.a, batch: [0] },
      b: { ...p.b, batch: [0] },
      c: { ...p.c, batch: [0] },
    }, TILED_64).length,
    0,
  );
});

Deno.test("planMatmul() uses vec4 loads only where offsets, strides and sizes allow", () => {
  const base = { batch: [], bcastA: [], bcastB: [], aT: false, bT: false, offB: 0 };
  const ku4 = (c: Case): MatmulConfig => ({ ...registerConfig(c), ku: c.bT ? 4 : 1 });
  const keyOf = (c: Case) => planMatmul(fakeEngine(), setup(c).p, ku4(c))[0].key;
  // Aligned NN: B and C as vec4, A scalar (k-contiguous A only vectorises with ku 4).
  assert.match(keyOf({ ...base, m: 32, n: 32, k: 32, offA: 0 }), /\|svv1\|/);
  // n not a multiple of 4: no vec4 for B or C.
  assert.match(keyOf({ ...base, m: 32, n: 30, k: 32, offA: 0 }), /\|sss1\|/);
  // B k-contiguous: four k per step; an A offset of 3 elements keeps A scalar.
  assert.match(keyOf({ ...base, m: 32, n: 32, k: 32, bT: true, offA: 0 }), /\|vvv4\|/);
  assert.match(keyOf({ ...base, m: 32, n: 32, k: 32, bT: true, offA: 3 }), /\|svv4\|/);
  // k = 30 with aligned rows (leading dimension 32): vec4 steps plus the scalar tail loop.
  const { p } = setup({ ...base, m: 32, n: 32, k: 32, bT: true, offA: 0 });
  const short = { ...p, k: 30 };
  assert.match(
    planMatmul(fakeEngine(), short, { ...registerConfig(classOf(short)), ku: 4 })[0].key,
    /\|vvv4t\|/,
  );
  // ... and ld 30 is not aligned: scalar loads, one k per step.
  assert.match(keyOf({ ...base, m: 32, n: 32, k: 30, bT: true, offA: 0 }), /\|ssv1\|/);
});

Deno.test("classKey() buckets sizes by log2 and separates layouts, alignment and dtypes", () => {
  const { p } = setup({
    m: 100,
    n: 200,
    k: 300,
    batch: [3],
    bcastA: [false],
    bcastB: [true],
    aT: false,
    bT: true,
    offA: 0,
    offB: 0,
  });
  const key = classKey(classOf(p));
  assert.equal(key, "matmul|m7 n8 k9 b2|NT|AB|f32,f32,f32");
  const near = setup({
    m: 120,
    n: 256,
    k: 500,
    batch: [4],
    bcastA: [false],
    bcastB: [true],
    aT: false,
    bT: true,
    offA: 0,
    offB: 0,
  });
  assert.equal(classKey(classOf(near.p)), key);
  const odd = setup({
    m: 100,
    n: 201,
    k: 300,
    batch: [3],
    bcastA: [false],
    bcastB: [true],
    aT: false,
    bT: true,
    offA: 1,
    offB: 0,
  });
  assert.equal(classKey(classOf(odd.p)), "matmul|m7 n8' k9 b2|NT|aB|f32,f32,f32");
});

Deno.test("candidates() on CPU adapters try texture and register; GPUs try every variant", () => {
  const c = classOf(
    setup({
      m: 512,
      n: 512,
      k: 512,
      batch: [],
      bcastA: [],
      bcastB: [],
      aT: false,
      bT: false,
      offA: 0,
      offB: 0,
    }).p,
  );
  const cpu = candidates(fakeEngine(65535, true), c).map(configName);
  assert.deepEqual(cpu, [configName(textureConfig(c)), configName(registerConfig(c))]);
  const gpu = candidates(fakeEngine(65535, false), c).map(configName);
  for (const cfg of [TILED_64, TILED_128, registerConfig(c), textureConfig(c)]) {
    assert.ok(gpu.includes(configName(cfg)));
  }
});

gpuTest("matmul kernels compile for every layout, vec4 choice and dtype", async (eng) => {
  const dtypes: ("f32" | "f16")[] = eng.hasFeature("shader-f16") ? ["f32", "f16"] : ["f32"];
  const seen = new Set<string>();
  for (const dt of dtypes) {
    for (const aT of [false, true]) {
      for (const bT of [false, true]) {
        for (
          const [m, n, k, offA] of [[32, 32, 32, 0], [30, 30, 30, 1], [1, 3, 9, 0], [3, 17, 8, 0]]
        ) {
          const { p } = setup({
            m,
            n,
            k,
            batch: [2],
            bcastA: [false],
            bcastB: [true],
            aT,
            bT,
            offA,
            offB: 0,
          });
          const q = {
            ...p,
            a: { ...p.a, dtype: dt },
            b: { ...p.b, dtype: dt },
            c: { ...p.c, dtype: dt },
          };
          const reg = registerConfig({ m, n });
          const configs: MatmulConfig[] = [reg, { ...reg, ku: 4 }, TILED_64, TILED_128];
          const jobs = configs.map((cfg) => planMatmul(eng, q, cfg)[0]);
          const tex = (textureJobs(eng, q, textureConfig({ m, n })) ?? []).filter((j) =>
            j.kind !== "copy"
          ) as Job[];
          for (const d of [...jobs, ...tex]) {
            if (seen.has(d.key)) continue;
            seen.add(d.key);
            const errors = (await eng.compile(d.label, d.code())).filter((x) => x.type === "error");
            assert.deepEqual(errors.map((x) => x.message), [], d.key);
          }
        }
      }
    }
  }
  assert.ok(seen.size >= 20, `compiled ${seen.size} kernels`);
});

gpuTest(
  "splitProblem() cuts k only past the engine's loop budget, and keeps whole groups otherwise",
  (eng) => {
    // Buffers are only sized here (16-byte multiples, as the pool makes them), never bound.
    const buf = (n: number) => ({ size: Math.ceil(n / 4) * 16 }) as unknown as GPUBuffer;
    const problem = (k: number): MatProblem => ({
      m: 5,
      n: 7,
      k,
      batch: [3],
      a: { buffer: buf(3 * 5 * k), dtype: "f32", offset: 0, ld: k, t: false, batch: [5 * k] },
      b: { buffer: buf(k * 7), dtype: "f32", offset: 0, ld: 7, t: false, batch: [0] },
      c: { buffer: buf(3 * 35), dtype: "f32", offset: 0, ld: 7, t: false, batch: [35] },
    });
    const cfg = registerConfig({ m: 5, n: 7 });
    // A GPU-like engine (no loop budget): one piece for the whole batch, however long k is.
    const gpuLike = Object.create(eng, { loopBudget: { value: Infinity } }) as Engine;
    const whole = splitProblem(gpuLike, problem(100_000), cfg);
    assert.equal(whole.length, 1);
    assert.deepEqual([whole[0].k, whole[0].accumulate, whole[0].batchShape], [100_000, false, [3]]);
    // A budget of 40000: k = 100000 runs as three accumulating pieces, still batched.
    const small = Object.create(eng, { loopBudget: { value: 40_000 } }) as Engine;
    const parts = splitProblem(small, problem(100_000), cfg);
    assert.deepEqual(parts.map((q) => [q.k, q.accumulate]), [
      [40_000, false],
      [40_000, true],
      [20_000, true],
    ]);
    assert.ok(parts.every((q) => q.batchShape.length === 1 && q.batchShape[0] === 3));
  },
);
