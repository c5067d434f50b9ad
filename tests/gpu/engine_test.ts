import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { DeviceLostError, Engine } from "../../src/gpu/engine.ts";
import { requestGpu } from "../../src/gpu/device.ts";
import { sizeClass } from "../../src/gpu/pool.ts";
import { empty, randn, tensor } from "../../src/ops/creation.ts";
import { add, exp, mul } from "../../src/ops/elementwise.ts";
import { memory, tidy } from "../../src/memory.ts";
import { readTensors } from "../../src/tensor.ts";

gpuTest("requestGpu() reports the adapter, features and limits", (eng) => {
  const info = eng.gpu.info;
  assert.ok(info.description.length > 0);
  assert.ok(info.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20);
  for (const f of info.features) {
    assert.ok(["shader-f16", "subgroups", "timestamp-query"].includes(f), f);
  }
});

gpuTest("Engine batches work: ops encode without submitting until a readback", async (eng) => {
  const x = randn([1000], { seed: 1 });
  await x.read();
  const before = memory();
  const y = tidy(() => {
    let h = x;
    for (let i = 0; i < 50; i++) h = add(mul(h, 0.5), 1);
    return h;
  });
  const mid = memory();
  assert.equal(mid.submits, before.submits, "ops submitted work before any readback");
  assert.equal(mid.dispatches - before.dispatches, 100);
  const v = await y.read();
  assert.equal(memory().submits, before.submits + 1);
  assert.ok(Math.abs(v[0] - 2) < 1e-3);
  x.dispose();
  y.dispose();
  assert.ok(eng.memory().pipelines > 0);
});

gpuTest("Engine compiles each kernel specialisation once", () => {
  const x = tensor([1, 2, 3]);
  tidy(() => exp(x));
  const p = memory().pipelines;
  tidy(() => {
    for (let i = 0; i < 10; i++) exp(x);
  });
  assert.equal(memory().pipelines, p);
  x.dispose();
});

gpuTest("uploads after pending work do not overwrite buffers that work still reads", async () => {
  // A recycled buffer is written while an earlier op that reads it is still unsubmitted.
  const a = tensor([1, 2, 3, 4]);
  const b = exp(a);
  a.dispose(); // a's buffer goes back to the pool, b's kernel (pending) still reads it
  const c = tensor([100, 200, 300, 400]); // likely reuses a's buffer
  const [vb, vc] = await readTensors([b, c]);
  assert.ok(Math.abs(vb[0] - Math.E) < 1e-5, `exp read a clobbered input: ${vb[0]}`);
  assert.deepEqual([...vc], [100, 200, 300, 400]);
  b.dispose();
  c.dispose();
});

gpuTest("tensor() from nested arrays infers the shape; ragged arrays are rejected", async () => {
  const t = tensor([[[1], [2]], [[3], [4]]]);
  assert.deepEqual([...t.shape], [2, 2, 1]);
  assert.deepEqual(await t.toArray(), [[[1], [2]], [[3], [4]]]);
  assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
  assert.throws(() => tensor(new Float32Array(5), [2, 3]), /5 values do not fill shape \[2, 3\]/);
  t.dispose();
});

gpuTest("print() shows small tensors and elides large ones", async () => {
  const t = tensor([[1, 2.5], [3, 4]]);
  t.name = "x";
  assert.equal(await t.print(), 'Tensor("x" f32[2, 2])\n[[1.0, 2.5],\n [3.0, 4.0]]');
  const big = tensor(Float32Array.from({ length: 100 }, (_, i) => i), [100]);
  const s = await big.print();
  assert.ok(s.includes("..."), s);
  assert.ok(s.includes("99.0"), s);
  t.dispose();
  big.dispose();
});

gpuTest(
  "f16 storage round-trips where shader-f16 exists, and is refused where not",
  async (eng) => {
    if (eng.hasFeature("shader-f16")) {
      const h = tensor([1, 0.333251953125, -65504, 2 ** -24], [4], { dtype: "f16" });
      assert.deepEqual([...await h.read()], [1, 0.333251953125, -65504, 2 ** -24]);
      const s = add(h, h);
      assert.equal(s.dtype, "f16");
      assert.deepEqual([...await s.read()], [2, 0.66650390625, -Infinity, 2 ** -23]);
      h.dispose();
      s.dispose();
    } else {
      assert.throws(
        () => tensor([1], [1], { dtype: "f16" }),
        /needs the adapter feature shader-f16/,
      );
    }
  },
);

gpuTest("a tensor past maxStorageBufferBindingSize gets an error naming the limit", (eng) => {
  const n = Math.floor(eng.maxBinding / 4) + 1024;
  const big = empty([n], "f32");
  try {
    assert.throws(() => exp(big), /Cannot run exp: .*maxStorageBufferBindingSize/);
  } finally {
    big.dispose();
  }
});

gpuTest("sizeClass() rounds up within 12.5% above 4 KiB", () => {
  for (const b of [1, 255, 256, 4097, 10_000, 1 << 20, (1 << 20) + 1, 154_389_504]) {
    const c = sizeClass(b);
    assert.ok(c >= b && (b <= 4096 || c <= b * 1.125 + 1), `${b} -> ${c}`);
  }
});

gpuTest("a lost device rejects pending reads with DeviceLostError instead of hanging", async () => {
  const gpu = await requestGpu();
  const eng = new Engine(gpu);
  const t = tensor([1, 2, 3], [3], { engine: eng });
  const y = exp(t);
  gpu.device.destroy();
  await assert.rejects(
    Promise.race([
      y.read(),
      new Promise((_, rej) => setTimeout(() => rej(new Error("hung")), 5000)),
    ]),
    (e: Error) => e instanceof DeviceLostError || /lost|destroyed/i.test(e.message),
  );
  assert.throws(() => exp(t), DeviceLostError);
});
