import assert from "node:assert/strict";
import { assertClose, gpuTest } from "../_gpu.ts";
import { HookedTransformer } from "../../src/model/mod.ts";
import { type ConfigInput, makeConfig } from "../../src/model/config.ts";
import { valueAndGrad } from "../../src/autograd/backward.ts";
import { empty, tensor } from "../../src/ops/creation.ts";
import { memory } from "../../src/memory.ts";
import { readTensors } from "../../src/tensor.ts";
import { FusedAttnOnly, fusedUnsupported } from "../../src/kernels/train_fused.ts";
import { RepeatData, repeatedSequences } from "../../src/train/data.ts";
import { train, Trainer } from "../../src/train/trainer.ts";
import { loadCheckpoint, saveCheckpoint } from "../../src/io/fs.ts";

const ATTN: ConfigInput = {
  nLayers: 2,
  dModel: 24,
  nHeads: 3,
  nCtx: 20,
  dVocab: 12,
  attnOnly: true,
};

/** Fused gradients (and loss) against the autodiff's for one config and batch. */
async function compareGradients(cfg: ConfigInput, B: number, P: number, seed: number) {
  const model = HookedTransformer.init(cfg, { seed });
  const { tokens, meta } = repeatedSequences(
    { batch: B, ctx: P, vocab: model.cfg.dVocab, minLen: 4, maxLen: 6, seed },
    0,
  );
  const fused = new FusedAttnOnly(model.engine, model.cfg, B, P);
  fused.loadParams(model);
  fused.forwardBackward(tokens);
  const log = empty([2]);
  fused.reduce(log, 0, 1, null);
  const { value, grads } = valueAndGrad(() => model.loss(tokens))(...model.parameters());
  const names = [...model.stateDict().keys()];
  const mine = names.map((n) => fused.gradOf(n));
  // The fused forward's attention patterns equal the model's hook_pattern, every row.
  const L = model.cfg.nLayers;
  const patNames = Array.from({ length: L }, (_, l) => `blocks.${l}.attn.hook_pattern`);
  const { logits, cache } = model.runWithCache(tokens, { names: patNames });
  const pats = await readTensors([
    ...patNames.map((n) => cache.get(n)),
    ...patNames.map((_, l) => fused.patternOf(l)),
  ]);
  // Softmax of the same scores summed in another order: 1e-6 absolute on probabilities.
  for (let l = 0; l < L; l++) assertClose(pats[L + l], pats[l], 1e-6, 1e-5, `pattern ${l}`);
  logits.dispose();
  cache.dispose();
  const all = await readTensors([value, log, ...grads, ...mine]);
  // f32 sums of O(P·d) terms in a different order: 1e-5 relative on an O(1) loss.
  assertClose([all[1][0]], [all[0][0]], 1e-6, 1e-5, `${JSON.stringify(cfg)} loss`);
  let sq = 0;
  names.forEach((n, i) => {
    const want = all[2 + i];
    const scale = Math.max(...Array.from(want, Math.abs), 1e-3);
    // Gradients summed in another order in f32: 2e-5 of the largest entry, plus 1e-7.
    assertClose(all[2 + names.length + i], want, 1e-7 + 2e-5 * scale, 1e-4, `grad ${n}`);
    for (const v of want) sq += v * v;
  });
  assertClose([all[1][1]], [Math.sqrt(sq)], 1e-6, 1e-4, "gradient norm");
  for (const t of [value, log, ...grads, ...mine, tokens, meta]) t.dispose();
  fused.dispose();
  model.dispose();
}

gpuTest(
  "FusedAttnOnly gradients equal the autodiff's of model.loss (LN, LNPre, none)",
  async () => {
    for (const normalization of ["LN", "LNPre", null] as const) {
      // d_head 8 (partial 16-wide chunk), 19 positions (not a multiple of 4).
      await compareGradients({ ...ATTN, normalization }, 3, 19, 1);
    }
  },
);

gpuTest("FusedAttnOnly gradients equal the autodiff's with d_head > 16 and one layer", async () => {
  // d_head 20: two chunks of head dimensions, the second partial.
  await compareGradients({ ...ATTN, nLayers: 1, dModel: 40, nHeads: 2, dVocab: 20 }, 2, 17, 2);
  await compareGradients({ ...ATTN, nLayers: 3, dModel: 64, nHeads: 2, nCtx: 24 }, 2, 24, 3);
});

Deno.test("fusedUnsupported() names what the fused step cannot train", () => {
  const cfg = (c: Partial<ConfigInput>) => makeConfig({ ...ATTN, ...c });
  assert.equal(fusedUnsupported(cfg({})), null);
  assert.match(fusedUnsupported(cfg({ attnOnly: false }))!, /MLPs/);
  assert.match(fusedUnsupported(cfg({ positionalEmbedding: "shortformer" }))!, /shortformer/);
  assert.match(fusedUnsupported(cfg({ dVocab: 13 }))!, /dVocab 13 is not a multiple of 4/);
  assert.match(fusedUnsupported(cfg({ dModel: 128, nHeads: 1 }))!, /dHead 128 is more than 64/);
});

gpuTest("Trainer: the fused and autodiff backends take the same AdamW steps", async () => {
  const a = HookedTransformer.init(ATTN, { seed: 4 });
  const b = HookedTransformer.init(ATTN, { seed: 4 });
  const data = new RepeatData({ batch: 4, ctx: 20, vocab: 12, minLen: 4, maxLen: 8, seed: 5 });
  const opts = { lr: 3e-3, warmupSteps: 2, clipNorm: 0.5, logEvery: 4 };
  const ta = new Trainer(a, { ...opts, backend: "fused" });
  const tb = new Trainer(b, { ...opts, backend: "autodiff" });
  assert.equal(ta.backend, "fused");
  assert.equal(tb.backend, "autodiff");
  for (let s = 0; s < 4; s++) {
    ta.step(data.next(s).tokens);
    tb.step(data.tokens);
  }
  const [la, lb] = [await ta.flushLog(), await tb.flushLog()];
  assert.deepEqual(la.map((e) => e.step), [0, 1, 2, 3]);
  assert.deepEqual(la.map((e) => e.lr), [0, 1.5e-3, 3e-3, 3e-3]);
  // Same losses and norms up to f32 rounding carried through 4 Adam steps.
  assertClose(la.map((e) => e.loss), lb.map((e) => e.loss), 1e-5, 1e-4, "losses");
  assertClose(la.map((e) => e.gradNorm), lb.map((e) => e.gradNorm), 1e-5, 1e-3, "grad norms");
  ta.syncModel();
  const pa = await readTensors(a.parameters());
  const pb = await readTensors(b.parameters());
  // Adam divides by sqrt(v): where a gradient is ~0 its f32 noise moves a weight by up to lr.
  pa.forEach((v, i) => assertClose(v, pb[i], 3e-4, 1e-3, [...a.stateDict().keys()][i]));
  ta.dispose();
  tb.dispose();
  for (const p of b.parameters()) assert.equal(p.requiresGrad, false, "requiresGrad restored");
  data.dispose();
  a.dispose();
  b.dispose();
});

gpuTest(
  "Trainer: batches past llvmpipe's loop limit go to the autodiff (auto) or are refused (fused)",
  async (eng) => {
    // 1600 x 32 = 51200 rows: the fused kernels loop over every row in one invocation, which
    // llvmpipe cuts off after 65535 iterations (with the other loops) without an error.
    const cfg = { ...ATTN, nCtx: 32 };
    const tokens = tensor(new Int32Array(1600 * 32).map((_, i) => (i * 7) % 12), [1600, 32], {
      dtype: "i32",
    });
    const m1 = HookedTransformer.init(cfg, { seed: 1 });
    const auto = new Trainer(m1, { logEvery: 1 });
    assert.equal(auto.backend, "fused");
    auto.step(tokens);
    const [log] = await auto.flushLog();
    assert.ok(Number.isFinite(log.loss));
    if (eng.gpu.info.isCpu) {
      assert.equal(auto.backend, "autodiff", "auto switches to the autodiff");
      const m2 = HookedTransformer.init(cfg, { seed: 1 });
      const fused = new Trainer(m2, { backend: "fused", logEvery: 1 });
      assert.throws(() => fused.step(tokens), /fused backend: 1600 x 32 = 51200 rows is more than/);
      fused.dispose();
      m2.dispose();
    }
    auto.dispose();
    m1.dispose();
    tokens.dispose();
  },
);

gpuTest("train() lowers the loss of a small model (fused backend) and leaks nothing", async () => {
  const model = HookedTransformer.init(
    { nLayers: 1, dModel: 32, nHeads: 2, nCtx: 24, dVocab: 16, attnOnly: true },
    { seed: 6 },
  );
  const data = new RepeatData({ batch: 16, ctx: 24, vocab: 16, seed: 7 });
  const before = memory().liveTensors;
  const logs: number[] = [];
  const r = await train(model, {
    steps: 120,
    batch: (s) => data.next(s).tokens,
    lr: 1e-2,
    logEvery: 40,
    onLog: (entries) => void logs.push(entries.length),
  });
  assert.equal(r.backend, "fused");
  assert.equal(r.log.length, 120);
  assert.deepEqual(logs, [40, 40, 40]);
  const first = r.log.slice(0, 10).reduce((s, e) => s + e.loss, 0) / 10;
  const last = r.log.slice(-10).reduce((s, e) => s + e.loss, 0) / 10;
  assert.ok(first > 2.5, `initial loss ${first} (ln 15 ≈ 2.7)`);
  assert.ok(last < first - 0.3, `loss ${first} → ${last}`);
  assert.equal(memory().liveTensors, before, "train() frees its buffers");
  data.dispose();
  model.dispose();
});

gpuTest("train() lowers the loss of a model with MLPs (autodiff backend)", async () => {
  const model = HookedTransformer.init(
    { nLayers: 1, dModel: 16, nHeads: 2, dMlp: 32, nCtx: 8, dVocab: 10 },
    { seed: 8 },
  );
  // A fixed batch it can memorise.
  const tokens = tensor(new Int32Array(4 * 8).map((_, i) => (i * 7 + (i >> 3)) % 10), [4, 8], {
    dtype: "i32",
  });
  const r = await train(model, {
    steps: 60,
    batch: () => tokens,
    lr: 1e-2,
    logEvery: 30,
    schedule: "cosine",
    warmupSteps: 5,
    totalSteps: 60,
  });
  assert.equal(r.backend, "autodiff");
  assert.ok(r.log[59].loss < r.log[0].loss - 0.5, `loss ${r.log[0].loss} → ${r.log[59].loss}`);
  assert.ok(Math.abs(r.log[59].lr) < 1e-5, "cosine ends at minLr 0");
  tokens.dispose();
  model.dispose();
});

gpuTest("Trainer rejects bad options and full loss buffers, naming the value", async () => {
  const mlp = HookedTransformer.init({ nLayers: 1, dModel: 8, nCtx: 8, dVocab: 8 });
  assert.throws(() => new Trainer(mlp, { backend: "fused" }), /fused backend: the model has MLPs/);
  assert.throws(() => new Trainer(mlp, { lr: -1 }), /lr must be a positive number, got -1/);
  assert.throws(() => new Trainer(mlp, { logEvery: 0 }), /logEvery must be a positive integer/);
  assert.throws(
    () => new Trainer(mlp, { schedule: "cosine" }),
    /"cosine" schedule needs totalSteps/,
  );
  assert.throws(
    () => new Trainer(mlp, { backend: "gpu" as "auto" }),
    /backend "gpu" is not "auto", "fused" or "autodiff"/,
  );
  const t = new Trainer(mlp, { logEvery: 1 });
  const tokens = tensor(new Int32Array([1, 2, 3, 4]), [1, 4], { dtype: "i32" });
  t.step(tokens);
  assert.throws(() => t.step(tokens), /1 losses are waiting; read them with flushLog\(\) first/);
  assert.equal((await t.flushLog()).length, 1);
  t.dispose();
  assert.throws(() => t.step(tokens), /the trainer was disposed/);
  tokens.dispose();
  mlp.dispose();
});

gpuTest(
  "a trained model survives saveCheckpoint / loadCheckpoint with the same logits",
  async () => {
    const model = HookedTransformer.init(
      { nLayers: 2, dModel: 16, nHeads: 2, nCtx: 20, dVocab: 12, attnOnly: true },
      { seed: 9 },
    );
    const data = new RepeatData({ batch: 4, ctx: 20, vocab: 12, minLen: 4, seed: 1 });
    await train(model, { steps: 10, batch: (s) => data.next(s).tokens, lr: 1e-2, logEvery: 5 });
    const dir = await Deno.makeTempDir({ prefix: "glassbox-train-" });
    try {
      await saveCheckpoint(model, dir);
      const again = await loadCheckpoint(dir);
      assert.deepEqual(again.cfg, model.cfg);
      const [x, y] = await readTensors([model.forward(data.tokens), again.forward(data.tokens)]);
      assert.deepEqual(Array.from(y), Array.from(x));
      again.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    data.dispose();
    model.dispose();
  },
);
