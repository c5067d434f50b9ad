import assert from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import { dispose, keep, memory, scope, tidy } from "../src/memory.ts";
import { randn, tensor } from "../src/ops/creation.ts";
import { add, exp, mul, relu, sub } from "../src/ops/elementwise.ts";
import { reshape, transpose } from "../src/ops/movement.ts";

gpuTest("tidy() frees temporaries and keeps what it returns", async () => {
  const x = randn([64, 64], { seed: 1 });
  const before = memory();
  const y = tidy(() => relu(add(mul(exp(x), 2), 1)));
  const after = memory();
  assert.equal(after.liveTensors, before.liveTensors + 1);
  assert.equal(after.liveBytes, before.liveBytes + 64 * 64 * 4);
  assert.ok(!y.isDisposed);
  const obj = tidy(() => ({ a: exp(x), list: [relu(x), sub(x, 1)], gone: void exp(x) }));
  assert.equal(memory().liveTensors, before.liveTensors + 4);
  dispose([y, obj]);
  assert.equal(memory().liveTensors, before.liveTensors);
  x.dispose();
  await Promise.resolve();
});

gpuTest(
  "tidy() leak test: 100 iterations of an op chain leave live tensors and bytes unchanged",
  async () => {
    const x = randn([128, 96], { seed: 2 });
    const w = randn([96], { seed: 3 });
    let acc = tidy(() => mul(x, 0));
    // One warm-up iteration fills the pool; after it nothing may grow.
    const step = () => {
      const next = tidy(() => {
        const h = relu(sub(mul(reshape(transpose(reshape(x, [96, 128])), [128, 96]), 1), 0.1));
        return add(acc, mul(exp(mul(h, w)), 1e-3));
      });
      acc.dispose();
      acc = next;
    };
    step();
    const before = memory();
    for (let i = 0; i < 100; i++) step();
    await acc.read();
    const after = memory();
    assert.equal(after.liveTensors, before.liveTensors, "live tensors grew");
    assert.equal(after.liveBytes, before.liveBytes, "live bytes grew");
    assert.equal(after.buffers, before.buffers, "GPU buffers grew (the pool should recycle)");
    dispose([x, w, acc]);
  },
);

gpuTest("scope() frees temporaries of an async function", async () => {
  const before = memory().liveTensors;
  const v = await scope(async () => {
    const a = randn([10], { seed: 4 });
    const b = exp(a);
    const data = await b.read();
    return { b, n: data.length };
  });
  assert.equal(v.n, 10);
  assert.equal(memory().liveTensors, before + 1);
  v.b.dispose();
  assert.equal(memory().liveTensors, before);
});

gpuTest("keep() lets a tensor outlive its scope", () => {
  const before = memory().liveTensors;
  let kept = null as ReturnType<typeof exp> | null;
  tidy(() => {
    kept = keep(exp(tensor([1, 2])));
    exp(tensor([3]));
  });
  assert.equal(memory().liveTensors, before + 1);
  kept!.dispose();
});

gpuTest("a disposed tensor throws an error naming it", () => {
  const t = tensor([1, 2, 3]);
  t.name = "blocks.0.hook_resid_pre";
  t.dispose();
  t.dispose(); // twice is fine
  assert.throws(
    () => exp(t),
    /Cannot use tensor #\d+ "blocks\.0\.hook_resid_pre" f32\[3\]: it was disposed/,
  );
});

gpuTest("views share storage: bytes are freed when the last view goes", () => {
  const before = memory().liveBytes;
  const t = tensor([[1, 2], [3, 4]]);
  const v = transpose(t);
  assert.equal(memory().liveBytes, before + 16);
  t.dispose();
  assert.equal(memory().liveBytes, before + 16);
  v.dispose();
  assert.equal(memory().liveBytes, before);
});
