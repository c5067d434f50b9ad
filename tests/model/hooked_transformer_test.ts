/**
 * HookedTransformer against the f64 reference transformer (src/reference/transformer.ts): every
 * hook point, the logits and the loss, in several architectures; token forms; errors; memory.
 * Tolerances: see ATOL/RTOL in _fixtures.ts.
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { memory, tidy } from "../../src/memory.ts";
import { valueAndGrad } from "../../src/autograd/backward.ts";
import { readTensors } from "../../src/tensor.ts";
import { tensor } from "../../src/ops/creation.ts";
import {
  type ConfigInput,
  HookedTransformer,
  makeConfig,
  paramShapes,
} from "../../src/model/mod.ts";
import { refLoss, refTransformer } from "../../src/reference/transformer.ts";
import { DTYPE_BYTES } from "../../src/dtype.ts";
import { linearSettings } from "../../src/kernels/linear.ts";
import { assertNear, compareCache, randomModel, randomTokens } from "./_fixtures.ts";

const BASE = { nLayers: 2, dModel: 32, nHeads: 4, dMlp: 64, nCtx: 8, dVocab: 50 } as const;

const CONFIGS: [string, ConfigInput][] = [
  ["GPT-2-like (LN, gelu_new, standard)", { ...BASE }],
  ["attention-only", { ...BASE, attnOnly: true }],
  ["no layer norm", { ...BASE, dModel: 16, nHeads: 2, normalization: null }],
  ["shortformer", { ...BASE, positionalEmbedding: "shortformer" }],
  ["LNPre", { ...BASE, normalization: "LNPre" }],
  ["relu", { ...BASE, act: "relu", dModel: 16 }],
  [
    "gelu (erf), useAttnResult, d_head·n_heads ≠ d_model, no positional embedding",
    {
      ...BASE,
      dModel: 24,
      nHeads: 3,
      dHead: 5,
      act: "gelu",
      useAttnResult: true,
      positionalEmbedding: "none",
    },
  ],
];

for (const [label, input] of CONFIGS) {
  gpuTest(
    `HookedTransformer.runWithCache() matches the f64 reference at every hook point: ${label}`,
    async () => {
      const { model, params } = randomModel(input, 7);
      const tokens = randomTokens(3, 2, 7, model.cfg.dVocab);
      const before = memory().liveTensors;
      const { logits, cache } = model.runWithCache(tokens);
      const ref = refTransformer(model.cfg, params, tokens);
      assert.deepEqual(cache.keys(), model.hookNames());
      assert.deepEqual(
        [...ref.acts.keys()],
        model.hookNames(),
        "the reference fires the same hooks",
      );
      await compareCache(model.hookNames(), (n) => cache.get(n), ref.acts, label);
      assert.deepEqual(logits.shape, [2, 7, model.cfg.dVocab]);
      assertNear(await logits.read(), ref.logits.data, `${label}: logits`);
      const loss = model.loss(tokens);
      assertNear(await loss.read(), [refLoss(ref.logits, tokens)], `${label}: loss`);
      loss.dispose();
      logits.dispose();
      cache.dispose();
      assert.equal(memory().liveTensors, before, "a run left tensors behind");
      model.dispose();
    },
  );
}

// The same comparison with every linear layer on the packed-weight kernel (src/kernels/linear.ts),
// which the small test models above are below the size threshold of: fused Q/K/V (one product,
// or two when shortformer gives Q/K another input than V), bias epilogues, the unembedding.
for (
  const [label, input] of CONFIGS.filter(([l]) => /GPT-2|shortformer|useAttnResult|^relu/.test(l))
) {
  gpuTest(
    `HookedTransformer.runWithCache() on the packed-weight linear kernel matches the reference: ${label}`,
    async () => {
      const saved = { ...linearSettings };
      Object.assign(linearSettings, { enabled: true, minFlops: 0, minRows: 1 });
      try {
        const { model, params } = randomModel(input, 11);
        const tokens = randomTokens(5, 2, 7, model.cfg.dVocab);
        const before = memory().liveTensors;
        const { logits, cache } = model.runWithCache(tokens);
        const ref = refTransformer(model.cfg, params, tokens);
        await compareCache(model.hookNames(), (n) => cache.get(n), ref.acts, label);
        assertNear(await logits.read(), ref.logits.data, `${label}: logits`);
        logits.dispose();
        cache.dispose();
        assert.equal(memory().liveTensors, before, "a run left tensors behind");
        model.dispose();
      } finally {
        Object.assign(linearSettings, saved);
      }
    },
  );
}

gpuTest("HookedTransformer.hookNames() follows TransformerLens for each architecture", () => {
  const names = (input: ConfigInput) => {
    const m = HookedTransformer.init({ ...input, nLayers: 1 });
    const n = m.hookNames();
    m.dispose();
    return n;
  };
  const attn = ["q", "k", "v", "attn_scores", "pattern", "z"].map((s) => `blocks.0.attn.hook_${s}`);
  assert.deepEqual(names(BASE), [
    "hook_embed",
    "hook_pos_embed",
    "blocks.0.hook_resid_pre",
    "blocks.0.ln1.hook_scale",
    "blocks.0.ln1.hook_normalized",
    ...attn,
    "blocks.0.hook_attn_out",
    "blocks.0.hook_resid_mid",
    "blocks.0.ln2.hook_scale",
    "blocks.0.ln2.hook_normalized",
    "blocks.0.mlp.hook_pre",
    "blocks.0.mlp.hook_post",
    "blocks.0.hook_mlp_out",
    "blocks.0.hook_resid_post",
    "ln_final.hook_scale",
    "ln_final.hook_normalized",
  ]);
  // Attention-only: no resid_mid, ln2 or MLP hooks (TL's block skips them).
  assert.deepEqual(names({ ...BASE, attnOnly: true }), [
    "hook_embed",
    "hook_pos_embed",
    "blocks.0.hook_resid_pre",
    "blocks.0.ln1.hook_scale",
    "blocks.0.ln1.hook_normalized",
    ...attn,
    "blocks.0.hook_attn_out",
    "blocks.0.hook_resid_post",
    "ln_final.hook_scale",
    "ln_final.hook_normalized",
  ]);
  // LNPre keeps hook_scale and hook_normalized; no normalization has neither.
  assert.ok(names({ ...BASE, normalization: "LNPre" }).includes("blocks.0.ln2.hook_scale"));
  const none = names({ ...BASE, normalization: null });
  assert.ok(!none.some((n) => /ln|scale|normalized/.test(n)), none.join());
  assert.ok(!names({ ...BASE, positionalEmbedding: "none" }).includes("hook_pos_embed"));
  assert.ok(names({ ...BASE, useAttnResult: true }).includes("blocks.0.attn.hook_result"));
});

gpuTest(
  "HookedTransformer.init() follows TL's init_weights and paramShapes' names and shapes",
  async () => {
    const cfg = makeConfig({ ...BASE, dModel: 16, nHeads: 2 });
    const model = HookedTransformer.init(cfg, { seed: 3 });
    const sd = model.stateDict();
    assert.deepEqual([...sd.keys()], [...paramShapes(cfg).keys()]);
    for (const [name, shape] of paramShapes(cfg)) {
      assert.deepEqual(
        sd.get(name)!.shape,
        shape,
        name,
      );
    }
    const [wq, bq, lnw, wu] = await Promise.all(
      ["blocks.0.attn.W_Q", "blocks.0.attn.b_Q", "blocks.1.ln2.w", "unembed.W_U"].map((n) =>
        sd.get(n)!.read()
      ),
    );
    assert.ok(bq.every((v) => v === 0), "biases start at 0");
    assert.ok(lnw.every((v) => v === 1), "layer-norm weights start at 1");
    const std = Math.sqrt(Array.from(wu).reduce((a, v) => a + v * v, 0) / wu.length);
    assert.ok(Math.abs(std - cfg.initializerRange) < 0.25 * cfg.initializerRange, `W_U std ${std}`);
    // Same seed, same weights; another seed, other weights.
    const again = HookedTransformer.init(cfg, { seed: 3 });
    const other = HookedTransformer.init(cfg, { seed: 4 });
    assert.deepEqual(await again.stateDict().get("blocks.0.attn.W_Q")!.read(), wq);
    assert.notDeepEqual(await other.stateDict().get("blocks.0.attn.W_Q")!.read(), wq);
    assert.equal(model.parameters().length, sd.size);
    for (const m of [model, again, other]) m.dispose();
  },
);

gpuTest(
  "HookedTransformer.forward() takes i32/u32 tensors, 1-D ids and nested arrays alike",
  async () => {
    const { model } = randomModel({ ...BASE, dModel: 16, nHeads: 2 }, 2);
    const tokens = randomTokens(5, 2, 5, 50);
    const want = await model.forward(tokens).read();
    const i32 = tensor(new Int32Array(tokens.flat()), [2, 5], { dtype: "i32" });
    const u32 = tensor(new Uint32Array(tokens.flat()), [2, 5], { dtype: "u32" });
    const fromI32 = model.forward(i32);
    const fromU32 = model.forward(u32);
    assert.deepEqual(await fromI32.read(), want);
    assert.deepEqual(await fromU32.read(), want);
    assert.ok(!i32.isDisposed && !u32.isDisposed, "the caller's token tensors are left alone");
    // One sequence: [pos] is batch 1.
    const one = model.forward(tokens[1]);
    assert.deepEqual(one.shape, [1, 5, 50]);
    assertNear(await one.read(), want.slice(5 * 50), "1-D tokens", 1e-6, 1e-6);
    const oneT = model.forward(tensor(new Int32Array(tokens[1]), [5], { dtype: "i32" }));
    assert.deepEqual(await oneT.read(), await one.read());
    for (const t of [i32, u32, fromI32, fromU32, one, oneT]) t.dispose();
    model.dispose();
  },
);

gpuTest("HookedTransformer.loss() is TL's next-token loss, mean and per token", async () => {
  const { model, params } = randomModel({ ...BASE, dModel: 16, nHeads: 2 }, 4);
  const tokens = randomTokens(9, 3, 6, 50);
  const ref = refTransformer(model.cfg, params, tokens);
  const per = model.loss(tokens, { perToken: true });
  assert.deepEqual(per.shape, [3, 5]);
  const got = await per.read();
  // Per-token: −log softmax(logits[b, p])[tokens[b][p+1]].
  const [, P, V] = ref.logits.shape;
  const want: number[] = [];
  for (let b = 0; b < 3; b++) {
    for (let p = 0; p < P - 1; p++) {
      const row = ref.logits.data.subarray((b * P + p) * V, (b * P + p + 1) * V);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
      want.push(lse - row[tokens[b][p + 1]]);
    }
  }
  assertNear(got, want, "per-token loss");
  const fromTensor = model.loss(tensor(new Int32Array(tokens.flat()), [3, 6], { dtype: "i32" }));
  assertNear(await fromTensor.read(), [refLoss(ref.logits, tokens)], "loss of i32 tokens");
  per.dispose();
  fromTensor.dispose();
  model.dispose();
});

gpuTest("HookedTransformer rejects bad tokens with errors that show the values", async () => {
  const model = HookedTransformer.init({ ...BASE, dModel: 16, nHeads: 2 });
  const before = memory().liveTensors;
  assert.throws(
    () => model.forward([[1, 2, 50]]),
    /token id 50 at \[0, 2\] is outside the vocabulary \[0, 50\)/,
  );
  assert.throws(() => model.forward([[1, -1]]), /token id -1 at \[0, 1\]/);
  assert.throws(() => model.forward([[1, 2.5]]), /token id 2.5/);
  assert.throws(
    () => model.forward([[1, 2], [3]]),
    /rows differ in length \(row 0 has 2, row 1 has 1\)/,
  );
  assert.throws(() => model.forward([Array(9).fill(1)]), /9 positions, more than nCtx 8/);
  assert.throws(() => model.forward([[]]), /tokens are empty/);
  assert.throws(() => model.loss([[3]]), /loss needs at least 2/);
  const long = tensor(new Int32Array(9), [1, 9], { dtype: "i32" });
  assert.throws(() => model.forward(long), /9 positions, more than nCtx 8/);
  const floats = tensor([[1, 2]]);
  assert.throws(() => model.forward(floats), /must be i32 or u32 token ids/);
  // GPU ids are checked on request (one readback); the run itself would clamp them.
  const bad = tensor(new Int32Array([4, 77, 2]), [1, 3], { dtype: "i32" });
  await assert.rejects(
    model.checkTokens(bad),
    /token ids .* hold 77 at position \[0, 1\], outside \[0, 50\)/,
  );
  await model.checkTokens(tensor(new Int32Array([4, 7, 2]), [1, 3], { dtype: "i32" }));
  for (const t of [long, floats, bad]) t.dispose();
  assert.equal(memory().liveTensors, before + 1, "only the checked tensor made here is left");
  model.dispose();
});

gpuTest("HookedTransformer.fromStateDict() checks names, shapes and dtypes", () => {
  const cfg = makeConfig({ ...BASE, nLayers: 1, dModel: 16, nHeads: 2 });
  const make = () => {
    const m = new Map<string, ReturnType<typeof tensor>>();
    for (const [n, s] of paramShapes(cfg)) {
      m.set(
        n,
        tensor(new Float32Array(s.reduce((a, b) => a * b, 1)), s),
      );
    }
    return m;
  };
  const sd = make();
  sd.delete("blocks.0.attn.W_K");
  assert.throws(
    () => HookedTransformer.fromStateDict(cfg, sd),
    /1 parameter\(s\) missing: blocks.0.attn.W_K/,
  );
  const sd2 = make();
  sd2.set("blocks.0.attn.W_Kk", sd2.get("blocks.0.attn.W_K")!);
  assert.throws(
    () => HookedTransformer.fromStateDict(cfg, sd2),
    /not parameters of this config: blocks.0.attn.W_Kk; close names: blocks.0.attn.W_K/,
  );
  // TL's attention buffers are ignored; strict: false ignores anything else.
  sd2.set("blocks.0.attn.IGNORE", tensor([0]));
  HookedTransformer.fromStateDict(cfg, sd2, { strict: false }).dispose();
  const sd3 = make();
  sd3.set("unembed.b_U", tensor(new Float32Array(49), [49]));
  assert.throws(
    () => HookedTransformer.fromStateDict(cfg, sd3),
    /"unembed.b_U" has shape \[49\], but this config needs \[50\]/,
  );
  const sd4 = make();
  sd4.set("unembed.b_U", tensor(new Int32Array(50), [50], { dtype: "i32" }));
  assert.throws(() => HookedTransformer.fromStateDict(cfg, sd4), /parameters must be f32/);
  for (const m of [sd, sd3, sd4]) for (const t of m.values()) t.dispose();
});

gpuTest(
  "runWithCache() holds exactly the requested activations' bytes, freed by dispose()",
  async () => {
    const { model } = randomModel({ ...BASE }, 5);
    const tokens = randomTokens(1, 2, 7, 50);
    const names = [
      "blocks.0.hook_resid_post",
      "blocks.1.attn.hook_pattern",
      "blocks.0.attn.hook_q",
      "blocks.1.mlp.hook_post",
      "ln_final.hook_scale",
      "blocks.1.attn.hook_z",
    ];
    model.forward(tokens).dispose(); // pipelines compiled, pool warm
    const before = memory();
    const { logits, cache } = model.runWithCache(tokens, { names });
    const after = memory();
    assert.deepEqual(cache.keys().sort(), [...names].sort());
    const want = names.reduce((a, n) => a + cache.get(n).size * DTYPE_BYTES.f32, 0);
    assert.equal(cache.bytes, want, "cache.bytes is the sum of the requested tensors");
    assert.equal(
      after.liveBytes - before.liveBytes,
      want + logits.size * 4,
      "live bytes: cache + logits only",
    );
    assert.equal(after.liveTensors - before.liveTensors, names.length + 1);
    // Filters: RegExp and predicate.
    const byRe = model.runWithCache(tokens, { names: /hook_pattern$/ });
    assert.deepEqual(byRe.cache.keys(), [
      "blocks.0.attn.hook_pattern",
      "blocks.1.attn.hook_pattern",
    ]);
    const byFn = model.runWithCache(tokens, { names: (n) => n.startsWith("ln_final") });
    assert.deepEqual(byFn.cache.keys(), ["ln_final.hook_scale", "ln_final.hook_normalized"]);
    for (const r of [byRe, byFn]) {
      r.logits.dispose();
      r.cache.dispose();
    }
    cache.dispose();
    logits.dispose();
    assert.ok(cache.isDisposed);
    assert.equal(memory().liveBytes, before.liveBytes);
    assert.equal(memory().liveTensors, before.liveTensors);
    await model.engine.sync();
    model.dispose();
  },
);

gpuTest(
  "HookedTransformer: 50 runs of every kind leave live tensors and bytes unchanged",
  async () => {
    const { model } = randomModel({ ...BASE, dModel: 16, nHeads: 2 }, 6);
    const tokens = randomTokens(2, 2, 6, 50);
    const run = (i: number) => {
      switch (i % 5) {
        case 0:
          model.forward(tokens).dispose();
          break;
        case 1: {
          const { logits, cache } = model.runWithCache(tokens);
          logits.dispose();
          cache.dispose();
          break;
        }
        case 2:
          model.runWithHooks(tokens, {
            fwdHooks: [["blocks.1.attn.hook_z", (z) => tidy(() => z)], [
              /resid_post/,
              () => undefined,
            ]],
          }).dispose();
          break;
        case 3:
          model.loss(tokens).dispose();
          break;
        case 4:
          tidy(() => {
            model.forward(tokens); // freed by the tidy
          });
          break;
      }
    };
    for (let i = 0; i < 5; i++) {
      run(i);
    }
    const before = memory();
    for (let i = 0; i < 50; i++) run(i);
    const after = memory();
    assert.equal(after.liveTensors, before.liveTensors);
    assert.equal(after.liveBytes, before.liveBytes);
    await model.engine.sync();
    model.dispose();
  },
);

gpuTest(
  "HookedTransformer while autograd records gives the same logits (nothing freed early)",
  async () => {
    const { model } = randomModel({ ...BASE, dModel: 16, nHeads: 2 }, 8);
    const tokens = randomTokens(4, 2, 5, 50);
    const want = await model.forward(tokens).read();
    for (const p of model.parameters()) p.requiresGrad = true;
    const got = await tidy(() => {
      const logits = model.forward(tokens);
      assert.ok(logits.requiresGrad, "the logits are on the graph");
      return logits;
    }).read();
    assertNear(got, want, "recorded forward", 1e-6, 1e-6);
    for (const p of model.parameters()) p.requiresGrad = false;
    model.dispose();
  },
);

gpuTest(
  "HookedTransformer.loss() is differentiable: gradients match f64 finite differences",
  async () => {
    const { model, params } = randomModel({ ...BASE, dModel: 16, nHeads: 2, dMlp: 24 }, 10);
    const tokens = randomTokens(11, 2, 5, 50);
    const names = [...model.stateDict().keys()];
    const f = valueAndGrad(() => model.loss(tokens));
    const { value, grads } = f(...model.parameters());
    const g = await readTensors(grads);
    value.dispose();
    grads.forEach((t) => t.dispose());
    // Central differences of the f64 reference loss, h = 1e-4: truncation O(h²) ≈ 1e-8.
    const probe: [string, number][] = [
      ["embed.W_E", tokens[0][1] * 16 + 3],
      ["pos_embed.W_pos", 2 * 16 + 5],
      ["blocks.0.ln1.w", 4],
      ["blocks.0.attn.W_Q", 17],
      ["blocks.0.attn.b_K", 3],
      ["blocks.1.attn.W_V", 40],
      ["blocks.1.attn.W_O", 9],
      ["blocks.1.mlp.W_in", 100],
      ["blocks.1.mlp.b_out", 7],
      ["ln_final.b", 2],
      ["unembed.W_U", 123],
    ];
    const h = 1e-4;
    for (const [name, i] of probe) {
      const p = params.get(name)!;
      const f64 = new Map<string, ArrayLike<number>>(params);
      const shifted = (d: number) => {
        const c = Float64Array.from(p);
        c[i] += d;
        f64.set(name, c);
        return refLoss(refTransformer(model.cfg, f64, tokens).logits, tokens);
      };
      const want = (shifted(h) - shifted(-h)) / (2 * h);
      const got = g[names.indexOf(name)][i];
      // f32 gradients of an O(1) loss: a few 1e-6 absolute; 1e-4 + 1e-3 relative leaves headroom.
      assert.ok(
        Math.abs(got - want) <= 1e-4 + 1e-3 * Math.abs(want),
        `d loss / d ${name}[${i}]: ${got} vs ${want}`,
      );
    }
    model.dispose();
  },
);
