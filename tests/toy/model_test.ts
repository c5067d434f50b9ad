import assert from "node:assert/strict";
import fc from "fast-check";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { memory } from "../../src/memory.ts";
import { ToyModel, type ToyVariant } from "../../src/toy/model.ts";
import { toyBatchRef, toyTrainRef, trainGeneric } from "../../src/toy/train.ts";
import {
  adamSchedule,
  planToy,
  releaseToyTexture,
  TOY_CHUNK_ROWS,
  TOY_MAX_STEPS_PER_DISPATCH,
  toyShader,
  toyTrainSteps,
} from "../../src/kernels/toy.ts";

// Every distinct (n, m, variant, path) compiles a kernel (up to seconds on lavapipe), so the
// properties below use few runs and small sizes.
const RUNS = Number(Deno.env.get("TOY_RUNS") ?? Math.min(NUM_RUNS, 6));

const arbVariant = fc.constantFrom<ToyVariant>("relu", "linear", "abs");

gpuTest("ToyModel() rejects bad options with messages that show the values", () => {
  assert.throws(
    () => new ToyModel({ nInstances: 0, nFeatures: 5, nHidden: 2 }),
    /nInstances must be an integer in \[1, Infinity\], got 0/,
  );
  assert.throws(
    () => new ToyModel({ nInstances: 1, nFeatures: 5, nHidden: 2, variant: "tanh" as ToyVariant }),
    /unknown variant "tanh"/,
  );
  assert.throws(
    () => new ToyModel({ nInstances: 2, nFeatures: 5, nHidden: 2, featureProbability: [1, 1.5] }),
    /featureProbability must be in \[0, 1\], got 1.5/,
  );
  assert.throws(
    () => new ToyModel({ nInstances: 2, nFeatures: 5, nHidden: 2, featureProbability: [1, 1, 1] }),
    /featureProbability as a flat array must have 2 values \(one per instance\), got 3/,
  );
  assert.throws(
    () => new ToyModel({ nInstances: 2, nFeatures: 5, nHidden: 2, importance: [1, 2] }),
    /importance as a flat array must have 5 values \(one per feature\), got 2/,
  );
  assert.throws(
    () => new ToyModel({ nInstances: 1, nFeatures: 2, nHidden: 1, importance: [[1, NaN]] }),
    /importance holds NaN/,
  );
  assert.throws(
    () => new ToyModel({ nInstances: 1, nFeatures: 2, nHidden: 1, seed: -1 }),
    /seed must be an integer in \[0, 4503599627370495\], got -1/,
  );
});

gpuTest("ToyModel.train() rejects bad options and a disposed model", async () => {
  const model = new ToyModel({ nInstances: 1, nFeatures: 3, nHidden: 1 });
  await assert.rejects(
    () => model.train({ steps: -1 }),
    /steps must be a non-negative integer, got -1/,
  );
  await assert.rejects(() => model.train({ steps: 1, batch: 0 }), /batch must be an integer in/);
  await assert.rejects(
    () => model.train({ steps: 1, lr: NaN }),
    /lr must be a finite number ≥ 0, got NaN/,
  );
  await assert.rejects(
    () => model.train({ steps: 1, logEvery: 0 }),
    /logEvery must be a positive integer, got 0/,
  );
  await assert.rejects(
    () => model.train({ steps: 2, lr: (s) => (s === 1 ? -1 : 1e-3) }),
    /the lr schedule gave -1 at step 1/,
  );
  model.dispose();
  assert.throws(() => model.train({ steps: 1 }), /the model was disposed/);
});

gpuTest("planToy() and toyTrainSteps() reject what they cannot run", (eng) => {
  const dims = { nInstances: 2, nFeatures: 3, nHidden: 2, variant: "relu" as const, batch: 16 };
  assert.throws(
    () => planToy(eng, { ...dims, nHidden: 0 }),
    /nHidden must be a positive integer, got 0/,
  );
  assert.throws(
    () => planToy(eng, dims, { stepsPerDispatch: TOY_MAX_STEPS_PER_DISPATCH + 1 }),
    /stepsPerDispatch must be in 1\.\.128, got 129/,
  );
  assert.throws(
    () => planToy(eng, { ...dims, nInstances: 4000, nFeatures: 500, batch: 4096 }, { reg: false }),
    /need \d+ bytes of scratch, more than one binding/,
  );
  assert.throws(
    () => planToy(eng, dims, { reg: false, rowsPerInvocation: 0 }),
    /rowsPerInvocation must be in 1\.\.32, got 0/,
  );
  assert.throws(
    () => planToy(eng, dims, { reg: false, chunkRows: TOY_CHUNK_ROWS + 1 }),
    new RegExp(`chunkRows must be in 1\\.\\.${TOY_CHUNK_ROWS}, got ${TOY_CHUNK_ROWS + 1}`),
  );
  const model = new ToyModel({ ...dims });
  const plan = model.plan(16);
  const bufs = {
    cfg: model.cfg,
    params: model.params,
    moments: model.moments,
    scratch: model.scratch(16),
    losses: model.lossBuffer(1),
  };
  const args = { step0: 0, seed: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, logSlot: 5 };
  assert.throws(
    () =>
      toyTrainSteps(eng, plan, bufs, {
        ...args,
        sched: adamSchedule(0, 1, () => 1e-3, 0.9, 0.999),
      }),
    /log slot 5 is past losses/,
  );
  assert.throws(
    () =>
      toyTrainSteps(eng, plan, { ...bufs, params: model.moments }, {
        ...args,
        logSlot: -1,
        sched: [[1, 1]],
      }),
    /params must be a contiguous f32 tensor of 18 elements at offset 0, got #\d+ f32\[2, 2, 9\]/,
  );
  model.dispose();
});

gpuTest("toyShader() fills every placeholder for both paths and every variant", (eng) => {
  for (const variant of ["relu", "linear", "abs"] as const) {
    for (const reg of [true, false]) {
      const plan = planToy(eng, { nInstances: 2, nFeatures: 7, nHidden: 3, variant, batch: 33 }, {
        reg,
      });
      const code = toyShader(plan);
      assert.ok(!code.includes("{{"), `unfilled placeholder in ${variant} reg=${reg}`);
      assert.ok(code.includes(reg ? "fn reg_step" : "fn rows_body"));
    }
  }
});

gpuTest("ToyModel.generateBatch() equals the f64 reference (toyBatchRef) bit for bit", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        nInstances: fc.integer({ min: 1, max: 4 }),
        nFeatures: fc.integer({ min: 1, max: 13 }),
        variant: arbVariant,
        batch: fc.integer({ min: 1, max: 37 }),
        step: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        seed: fc.integer({ min: 0, max: 2 ** 52 - 1 }),
        p: fc.array(fc.constantFrom(0, 0.01, 0.3, 0.77, 1), { minLength: 4, maxLength: 4 }),
      }),
      async (c) => {
        const model = new ToyModel({
          nInstances: c.nInstances,
          nFeatures: c.nFeatures,
          nHidden: 1,
          variant: c.variant,
          featureProbability: c.p.slice(0, c.nInstances),
          seed: c.seed,
        });
        try {
          const x = model.generateBatch(c.batch, c.step);
          assert.deepEqual(x.shape, [c.batch, c.nInstances, c.nFeatures]);
          const got = await x.read();
          x.dispose();
          const want = toyBatchRef(model, c.batch, c.step);
          // Exact: same Philox counters, same f32 roundings (tolerance 0).
          assertClose(got, want, 0, 0, "batch");
          const lo = c.variant === "abs" ? -1 : 0;
          for (const v of got) assert.ok(v >= lo && v <= 1, `value ${v} outside [${lo}, 1]`);
        } finally {
          model.dispose();
        }
      },
    ),
    { numRuns: RUNS * 2 },
  );
});

gpuTest(
  "ToyModel.generateBatch() draws each feature with its probability and uniform values",
  async () => {
    const model = new ToyModel({
      nInstances: 3,
      nFeatures: 5,
      nHidden: 1,
      featureProbability: [1, 0.3, 0.05],
    });
    const x = model.generateBatch(4000, 7);
    const data = await x.read();
    x.dispose();
    for (let r = 0; r < 3; r++) {
      const p = [1, 0.3, 0.05][r];
      let present = 0, s = 0;
      for (let row = 0; row < 4000; row++) {
        for (let i = 0; i < 5; i++) {
          const v = data[(row * 3 + r) * 5 + i];
          if (v !== 0) {
            present++;
            s += v;
          }
        }
      }
      const frac = present / 20000;
      // Binomial: 4 standard deviations of 20000 draws.
      assert.ok(
        Math.abs(frac - p) <= 4 * Math.sqrt((p * (1 - p)) / 20000) + 1e-9,
        `p ${p}: ${frac}`,
      );
      // Mean of uniform [0, 1) values: 1/2 ± 4σ (σ = √(1/12 / count)).
      assert.ok(
        Math.abs(s / present - 0.5) <= 4 * Math.sqrt(1 / 12 / present),
        `mean ${s / present}`,
      );
    }
    model.dispose();
  },
);

/**
 * Train `model` three steps of `batch` rows and compare its parameters and losses with the f64
 * reference from the same start; disposes the model.
 */
async function threeStepsMatchRef(model: ToyModel, batch: number, what: string): Promise<void> {
  try {
    const p0 = await model.params.read();
    const res = await model.train({ steps: 3, batch, lr: 1e-2, logEvery: 1 });
    const p1 = await model.params.read();
    const ref = toyTrainRef(model, p0, { steps: 3, batch, lr: 1e-2 });
    // f32 sums over ≤ 71 rows and ≤ 23 features vs f64; Adam divides by √v, so a gradient that
    // is tiny in both can differ in relative terms: 1e-4 absolute after three steps of lr 1e-2.
    assertClose(p1, ref.params, 1e-4, 1e-4, `params (${what})`);
    assertClose(res.losses.flat(), ref.losses.flat(), 1e-6, 1e-4, "losses");
  } finally {
    model.dispose();
  }
}

gpuTest(
  "ToyModel.train() matches the f64 reference for both kernel paths and every variant",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          nInstances: fc.integer({ min: 1, max: 3 }),
          nFeatures: fc.integer({ min: 1, max: 7 }),
          nHidden: fc.integer({ min: 1, max: 3 }),
          variant: arbVariant,
          reg: fc.boolean(),
          // CPU plans use 8 invocations and blocks of rows/features; GPU plans 64 or 256 and
          // one row/feature each (and 256 with many parameters reduces through scratch).
          wg: fc.constantFrom(8, 64, 256),
          blocks: fc.constantFrom(1, 3),
          batch: fc.constantFrom(1, 7, 33, 64, 71),
          seed: fc.integer({ min: 0, max: 2 ** 31 }),
        }),
        async (c) => {
          const model = new ToyModel({
            nInstances: c.nInstances,
            nFeatures: c.nFeatures,
            nHidden: c.nHidden,
            variant: c.variant,
            featureProbability: [1, 0.5, 0.2].slice(0, c.nInstances),
            importance: 0.9,
            seed: c.seed,
            plan: {
              reg: c.reg,
              wg: c.wg,
              ...(c.reg ? {} : { rowsPerInvocation: c.blocks, featuresPerInvocation: c.blocks }),
            },
          });
          await threeStepsMatchRef(model, c.batch, JSON.stringify(c));
        },
      ),
      { numRuns: RUNS },
    );
  },
);

gpuTest(
  "ToyModel.train() streaming path matches the f64 reference with and without its texture and in row chunks",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          nInstances: fc.integer({ min: 1, max: 3 }),
          // Several Philox blocks of five features, with and without a partial last one; hidden
          // sizes below, at and past a multiple of 4 (the vec4s of a feature row).
          nFeatures: fc.integer({ min: 1, max: 23 }),
          nHidden: fc.integer({ min: 1, max: 9 }),
          variant: arbVariant,
          texture: fc.boolean(),
          wg: fc.constantFrom(8, 64),
          rows: fc.constantFrom(1, 3, 8),
          // 7 rows per chunk splits every batch but 1 and 7 (then the adam_chunks dispatch).
          chunkRows: fc.constantFrom(7, TOY_CHUNK_ROWS),
          batch: fc.constantFrom(1, 7, 33, 71),
          seed: fc.integer({ min: 0, max: 2 ** 31 }),
        }),
        async (c) => {
          const model = new ToyModel({
            nInstances: c.nInstances,
            nFeatures: c.nFeatures,
            nHidden: c.nHidden,
            variant: c.variant,
            featureProbability: [1, 0.5, 0.2].slice(0, c.nInstances),
            importance: 0.9,
            seed: c.seed,
            plan: {
              reg: false,
              wg: c.wg,
              rowsPerInvocation: c.rows,
              texture: c.texture,
              chunkRows: c.chunkRows,
            },
          });
          await threeStepsMatchRef(model, c.batch, JSON.stringify(c));
        },
      ),
      { numRuns: RUNS },
    );
  },
);

gpuTest(
  "ToyModel.train() streaming path: releaseToyTexture() between calls changes nothing",
  async (eng) => {
    const opts = { nInstances: 2, nFeatures: 12, nHidden: 5, seed: 8, plan: { reg: false } };
    const a = new ToyModel(opts);
    const b = new ToyModel(opts);
    try {
      await a.train({ steps: 4, batch: 40 });
      releaseToyTexture(eng);
      await a.train({ steps: 3, batch: 40 });
      await b.train({ steps: 7, batch: 40 });
      assertClose(await a.params.read(), await b.params.read(), 0, 0, "params");
      const freed = releaseToyTexture(eng);
      // CPU adapters mirror through a texture; others read storage and keep none.
      assert.equal(freed > 0, a.plan(40).texWidth > 0);
      assert.equal(releaseToyTexture(eng), 0);
    } finally {
      a.dispose();
      b.dispose();
    }
  },
);

gpuTest(
  "trainGeneric() (ops, autodiff, Adam) agrees with the fused kernel after 20 steps",
  async () => {
    for (const variant of ["relu", "linear", "abs"] as const) {
      const model = new ToyModel({
        nInstances: 3,
        nFeatures: 6,
        nHidden: 2,
        variant,
        featureProbability: [1, 0.3, 0.05],
        importance: 0.9,
        seed: 11,
      });
      const g = await trainGeneric(model, { steps: 20, batch: 128 });
      const [gw, gb, gw2] = await Promise.all([g.W.read(), g.b.read(), g.W2?.read()]);
      g.W.dispose();
      g.b.dispose();
      g.W2?.dispose();
      assert.equal(model.steps, 0, "trainGeneric must not change the model");
      await model.train({ steps: 20, batch: 128, logEvery: 20 });
      const ws = await model.readWeights();
      // Same data (generateBatch), same init, same Adam: only f32 rounding differs (seen: 2.4e-7).
      assertClose(ws.flatMap((w) => w.W.flat()), gw, 2e-5, 1e-4, `${variant} W`);
      assertClose(ws.flatMap((w) => w.b), gb, 2e-5, 1e-4, `${variant} b`);
      if (variant === "abs") assertClose(ws.flatMap((w) => w.W2!.flat()), gw2!, 2e-5, 1e-4, "W2");
      assertClose(model.lastLoss!, g.losses[19], 1e-6, 1e-4, `${variant} loss at step 20`);
      model.dispose();
    }
  },
);

gpuTest(
  "ToyModel.train() splits steps to stay under llvmpipe's loop limit: batch 65536 agrees with trainGeneric()",
  async (eng) => {
    // Before the plan bounded the iterations per dispatch, the unrolled path ran 19 steps of
    // 8192 rows per lane in one dispatch on lavapipe, and llvmpipe silently stopped its loops
    // (W off by 1e-2 after 20 steps).
    const batch = 65536;
    const plan = planToy(eng, { nInstances: 2, nFeatures: 2, nHidden: 1, variant: "relu", batch });
    if (eng.gpu.info.isCpu) {
      assert.ok(plan.stepsPerDispatch * Math.ceil(batch / plan.wg) <= eng.loopBudget);
    }
    const model = new ToyModel({
      nInstances: 2,
      nFeatures: 2,
      nHidden: 1,
      featureProbability: [1, 0.3],
      importance: 0.9,
      seed: 3,
    });
    const g = await trainGeneric(model, { steps: 20, batch });
    const gw = await g.W.read();
    g.W.dispose();
    g.b.dispose();
    g.W2?.dispose();
    await model.train({ steps: 20, batch, logEvery: 20 });
    const ws = await model.readWeights();
    // Only f32 rounding differs (seen: 2.7e-7).
    assertClose(ws.flatMap((w) => w.W.flat()), gw, 2e-5, 1e-4, "W at batch 65536");
    model.dispose();
  },
);

gpuTest(
  "trainGeneric() agrees with the streaming kernel after 20 steps (23 features, 6 hidden)",
  async () => {
    for (const variant of ["relu", "abs"] as const) {
      const model = new ToyModel({
        nInstances: 2,
        nFeatures: 23,
        nHidden: 6,
        variant,
        featureProbability: [0.4, 0.05],
        importance: 0.9,
        seed: 12,
        plan: { reg: false },
      });
      const g = await trainGeneric(model, { steps: 20, batch: 96 });
      const [gw, gb, gw2] = await Promise.all([g.W.read(), g.b.read(), g.W2?.read()]);
      g.W.dispose();
      g.b.dispose();
      g.W2?.dispose();
      await model.train({ steps: 20, batch: 96, logEvery: 20 });
      const ws = await model.readWeights();
      // Same data and Adam; only f32 rounding differs (sums over 23 features and 96 rows).
      assertClose(ws.flatMap((w) => w.W.flat()), gw, 2e-5, 1e-4, `${variant} W`);
      assertClose(ws.flatMap((w) => w.b), gb, 2e-5, 1e-4, `${variant} b`);
      if (variant === "abs") assertClose(ws.flatMap((w) => w.W2!.flat()), gw2!, 2e-5, 1e-4, "W2");
      assertClose(model.lastLoss!, g.losses[19], 1e-6, 1e-4, `${variant} loss at step 20`);
      model.dispose();
    }
  },
);

gpuTest(
  "ToyModel.train() in pieces equals one call (step counter and Adam's t carry over)",
  async () => {
    for (const reg of [true, false]) {
      const a = new ToyModel({
        nInstances: 2,
        nFeatures: 4,
        nHidden: 2,
        featureProbability: [1, 0.2],
        seed: 3,
        plan: { reg },
      });
      const b = new ToyModel({
        nInstances: 2,
        nFeatures: 4,
        nHidden: 2,
        featureProbability: [1, 0.2],
        seed: 3,
        plan: { reg },
      });
      await a.train({ steps: 7, batch: 50 });
      await a.train({ steps: 5, batch: 50 });
      await b.train({ steps: 12, batch: 50, logEvery: 5 });
      assert.equal(a.steps, 12);
      assertClose(await a.params.read(), await b.params.read(), 0, 0, "params");
      assertClose(await a.moments.read(), await b.moments.read(), 0, 0, "moments");
      a.dispose();
      b.dispose();
    }
  },
);

gpuTest(
  "ToyModel.train() logs every logEvery steps and at the end, reading back in groups",
  async () => {
    const model = new ToyModel({ nInstances: 2, nFeatures: 3, nHidden: 1, seed: 1 });
    const seen: number[] = [];
    const res = await model.train({
      steps: 150,
      batch: 32,
      logEvery: 2,
      onLog: (step, losses) => {
        seen.push(step);
        assert.equal(losses.length, 2);
        for (const l of losses) assert.ok(Number.isFinite(l) && l >= 0);
      },
    });
    assert.deepEqual(seen, Array.from({ length: 75 }, (_, i) => 2 * (i + 1)));
    assert.deepEqual(res.steps, seen);
    assert.equal(res.losses.length, 75);
    assert.deepEqual(model.lastLoss, res.losses[74]);
    const res2 = await model.train({ steps: 10, batch: 32, logEvery: 4 });
    assert.deepEqual(res2.steps, [154, 158, 160]);
    const res3 = await model.train({ steps: 0 });
    assert.deepEqual(res3.steps, []);
    model.dispose();
  },
);

gpuTest(
  "ToyModel: repeated training leaves live tensors unchanged; dispose() frees all",
  async () => {
    const before = memory().liveTensors;
    const model = new ToyModel({ nInstances: 2, nFeatures: 8, nHidden: 3, seed: 2 });
    await model.train({ steps: 5, batch: 64 });
    const after1 = memory().liveTensors;
    for (let k = 0; k < 3; k++) await model.train({ steps: 5, batch: 64, logEvery: 2 });
    const x = model.generateBatch(64);
    x.dispose();
    await model.snapshot();
    assert.equal(memory().liveTensors, after1, "training again must not leak tensors");
    model.dispose();
    model.dispose();
    assert.equal(memory().liveTensors, before, "dispose() must free every tensor");
  },
);

gpuTest(
  "ToyModel.snapshot() holds W, b, probabilities, importances, loss and metrics",
  async () => {
    const model = new ToyModel({
      nInstances: 2,
      nFeatures: 5,
      nHidden: 2,
      variant: "abs",
      featureProbability: [[1, 1, 1, 1, 1], [0.1, 0.2, 0.1, 0.1, 0.1]],
      importance: [1, 0.9, 0.8, 0.7, 0.6],
      seed: 4,
    });
    const s0 = await model.snapshot();
    assert.equal(s0.instances[0].loss, null);
    await model.train({ steps: 4, batch: 16 });
    const snap = await model.snapshot();
    assert.equal(snap.steps, 4);
    assert.equal(snap.variant, "abs");
    const [a, b] = snap.instances;
    assert.equal(a.featureProbability, 1);
    assert.equal(a.featureProbabilities, undefined);
    assert.deepEqual(b.featureProbabilities, [0.1, 0.2, 0.1, 0.1, 0.1]);
    assert.deepEqual(a.importance, [1, 0.9, 0.8, 0.7, 0.6]);
    assert.equal(a.W.length, 2);
    assert.equal(a.W[0].length, 5);
    assert.equal(a.W2!.length, 5);
    assert.equal(a.W2![0].length, 2);
    assert.equal(a.b.length, 5);
    assert.ok(typeof a.loss === "number");
    assert.equal(a.metrics.featureNorms.length, 5);
    // The JSON round trip is what results.json holds.
    assert.deepEqual(JSON.parse(JSON.stringify(snap)).instances[1].W, b.W);
    // weights() views the same numbers.
    const { W, b: bias, W2 } = model.weights();
    assertClose(await W.read(), snap.instances.flatMap((i) => i.W.flat()), 0, 0, "W view");
    assertClose(await bias.read(), snap.instances.flatMap((i) => i.b), 0, 0, "b view");
    assertClose(await W2!.read(), snap.instances.flatMap((i) => i.W2!.flat()), 0, 0, "W2 view");
    W.dispose();
    bias.dispose();
    W2!.dispose();
    model.dispose();
  },
);

gpuTest("ToyModel(): W starts Xavier-normal (std √(2/(n+m))) and b at zero", async () => {
  const model = new ToyModel({ nInstances: 50, nFeatures: 30, nHidden: 10, seed: 9 });
  const ws = await model.readWeights();
  const vals = ws.flatMap((w) => w.W.flat());
  const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
  const sd = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
  // 15000 draws: the sample std is within 3% of √(2/40) = 0.2236.
  assert.ok(Math.abs(sd - Math.sqrt(2 / 40)) < 0.03 * Math.sqrt(2 / 40), `std ${sd}`);
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(ws.every((w) => w.b.every((v) => v === 0)));
  model.dispose();
});
