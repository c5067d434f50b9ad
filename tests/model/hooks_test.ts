/**
 * Hooks: ablation, patching and steering helpers, scoped and permanent hooks, TL's hook
 * semantics (a replaced hook_scale or attn_scores changes what follows), error messages, and the
 * names helpers (actName, closeNames). Reference comparisons use the f64 reference with the same
 * edit applied (tolerances: ATOL/RTOL in _fixtures.ts).
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { memory } from "../../src/memory.ts";
import { full, tensor } from "../../src/ops/creation.ts";
import { mul } from "../../src/ops/elementwise.ts";
import { mean } from "../../src/ops/reduce.ts";
import { readTensors } from "../../src/tensor.ts";
import {
  actName,
  addSteeringVector,
  closeNames,
  type HookContext,
  meanAblateHead,
  patchFromCache,
  zeroAblateHead,
  zeroAblateNeuron,
} from "../../src/model/mod.ts";
import { type RefActivation, refTransformer } from "../../src/reference/transformer.ts";
import { assertNear, compareCache, randomModel, randomTokens } from "./_fixtures.ts";

const CFG = { nLayers: 2, dModel: 32, nHeads: 4, dMlp: 64, nCtx: 8, dVocab: 50 } as const;

/** Index of [b, p, h, d] in a [B, P, H, D] row-major array. */
const at4 = (s: number[], i: number[]) => ((i[0] * s[1] + i[1]) * s[2] + i[2]) * s[3] + i[3];

Deno.test("actName() expands TransformerLens shorthands like get_act_name", () => {
  assert.equal(actName("pattern", 3), "blocks.3.attn.hook_pattern");
  assert.equal(actName("attn", 3), "blocks.3.attn.hook_pattern");
  assert.equal(actName("attn_scores", 0), "blocks.0.attn.hook_attn_scores");
  assert.equal(actName("q", 1), "blocks.1.attn.hook_q");
  assert.equal(actName("z", 1), "blocks.1.attn.hook_z");
  assert.equal(actName("result", 1), "blocks.1.attn.hook_result");
  assert.equal(actName("resid_pre", 0), "blocks.0.hook_resid_pre");
  assert.equal(actName("resid_mid", 2), "blocks.2.hook_resid_mid");
  assert.equal(actName("resid_post", 2), "blocks.2.hook_resid_post");
  assert.equal(actName("attn_out", 2), "blocks.2.hook_attn_out");
  assert.equal(actName("mlp_out", 2), "blocks.2.hook_mlp_out");
  assert.equal(actName("pre", 2), "blocks.2.mlp.hook_pre");
  assert.equal(actName("post", 2), "blocks.2.mlp.hook_post");
  assert.equal(actName("mlp_post", 2), "blocks.2.mlp.hook_post");
  assert.equal(actName("scale", 2, "ln1"), "blocks.2.ln1.hook_scale");
  assert.equal(actName("normalized", 2, "ln2"), "blocks.2.ln2.hook_normalized");
  assert.equal(actName("scale"), "ln_final.hook_scale");
  assert.equal(actName("normalized"), "ln_final.hook_normalized");
  assert.equal(actName("embed"), "hook_embed");
  assert.equal(actName("pos_embed"), "hook_pos_embed");
  assert.equal(actName("k6a"), "blocks.6.attn.hook_k");
  assert.equal(actName("pattern12"), "blocks.12.attn.hook_pattern");
  assert.equal(actName("blocks.0.hook_resid_pre"), "blocks.0.hook_resid_pre");
  assert.throws(() => actName("z", -1), /layer must be an integer ≥ 0, got -1/);
});

Deno.test("closeNames() ranks names by edit distance", () => {
  const names = [
    "blocks.0.attn.hook_pattern",
    "blocks.0.attn.hook_z",
    "blocks.1.attn.hook_pattern",
  ];
  assert.deepEqual(closeNames("blocks.0.attn.hook_patern", names, 2), [
    "blocks.0.attn.hook_pattern",
    "blocks.1.attn.hook_pattern",
  ]);
});

gpuTest(
  "zeroAblateHead() zeroes one head's hook_z, leaves upstream alone, changes downstream as the reference does",
  async () => {
    const { model, params } = randomModel(CFG, 11);
    const tokens = randomTokens(12, 2, 7, 50);
    const [L, H] = [0, 2];
    const clean = model.runWithCache(tokens);
    const abl = model.runWithCache(tokens, { fwdHooks: [zeroAblateHead(L, H)] });
    const names = model.hookNames();
    const zName = actName("z", L);
    const zi = names.indexOf(zName);
    const data = await readTensors([
      ...names.map((n) => clean.cache.get(n)),
      ...names.map((n) => abl.cache.get(n)),
    ]);
    const c = (n: string) => data[names.indexOf(n)];
    const a = (n: string) => data[names.length + names.indexOf(n)];
    for (const n of names.slice(0, zi)) assert.deepEqual(a(n), c(n), `${n} (upstream) changed`);
    const shape = clean.cache.get(zName).shape as number[];
    for (let b = 0; b < shape[0]; b++) {
      for (let p = 0; p < shape[1]; p++) {
        for (let h = 0; h < shape[2]; h++) {
          for (let d = 0; d < shape[3]; d++) {
            const i = at4(shape, [b, p, h, d]);
            if (h === H) {
              assert.ok(
                Object.is(a(zName)[i], 0),
                `hook_z head ${H} at [${b}, ${p}, ${h}, ${d}] is ${a(zName)[i]}`,
              );
            } else assert.equal(a(zName)[i], c(zName)[i], `hook_z of head ${h} changed`);
          }
        }
      }
    }
    for (const n of names.slice(zi + 1)) {
      assert.notDeepEqual(a(n), c(n), `${n} (downstream) did not change`);
    }
    // And the ablated run is the reference with the same ablation.
    const ref = refTransformer(model.cfg, params, tokens, {
      hook: (name, act) => {
        if (name !== zName) return;
        const out = Float64Array.from(act.data);
        for (let i = 0; i < out.length; i++) {
          if (Math.floor(i / shape[3]) % shape[2] === H) out[i] = 0;
        }
        return { data: out, shape: act.shape };
      },
    });
    await compareCache(names, (n) => abl.cache.get(n), ref.acts, "zero-ablated");
    assertNear(await abl.logits.read(), ref.logits.data, "zero-ablated logits");
    for (const r of [clean, abl]) {
      r.logits.dispose();
      r.cache.dispose();
    }
    model.dispose();
  },
);

gpuTest(
  "meanAblateHead() and zeroAblateNeuron() match the reference with the same edits",
  async () => {
    const { model, params } = randomModel(CFG, 13);
    const tokens = randomTokens(14, 2, 6, 50);
    const [L, H, N] = [1, 1, 5];
    // The mean of hook_z over batch and position: [head_index, d_head].
    const { logits: l0, cache } = model.runWithCache(tokens, { names: [actName("z", L)] });
    const zMean = mean(cache.get("z", L), [0, 1]);
    const zm = await zMean.read();
    const { logits, cache: abl } = model.runWithCache(tokens, {
      fwdHooks: [meanAblateHead(L, H, zMean), zeroAblateNeuron(0, N)],
    });
    const Dh = model.cfg.dHead;
    const ref = refTransformer(model.cfg, params, tokens, {
      hook: (name, act): RefActivation | void => {
        const out = Float64Array.from(act.data);
        if (name === actName("z", L)) {
          for (let i = 0; i < out.length; i++) {
            const h = Math.floor(i / Dh) % model.cfg.nHeads;
            if (h === H) out[i] = zm[h * Dh + (i % Dh)];
          }
          return { data: out, shape: act.shape };
        }
        if (name === actName("post", 0)) {
          for (let i = N; i < out.length; i += model.cfg.dMlp) out[i] = 0;
          return { data: out, shape: act.shape };
        }
      },
    });
    await compareCache(model.hookNames(), (n) => abl.get(n), ref.acts, "mean/neuron-ablated");
    assertNear(await logits.read(), ref.logits.data, "ablated logits");
    for (const t of [l0, logits, zMean]) t.dispose();
    cache.dispose();
    abl.dispose();
    model.dispose();
  },
);

gpuTest(
  "patchFromCache() with the run's own cache changes nothing, at every hook point",
  async () => {
    const { model } = randomModel({ ...CFG, useAttnResult: true }, 15);
    const tokens = randomTokens(16, 2, 7, 50);
    const clean = model.runWithCache(tokens);
    const patched = model.runWithCache(tokens, {
      fwdHooks: model.hookNames().map((n) => patchFromCache(clean.cache, n)),
    });
    const names = model.hookNames();
    const got = await readTensors([patched.logits, ...names.map((n) => patched.cache.get(n))]);
    const want = await readTensors([clean.logits, ...names.map((n) => clean.cache.get(n))]);
    got.forEach((g, i) => assert.deepEqual(g, want[i], i === 0 ? "logits" : names[i - 1]));
    assert.equal(
      clean.cache.get("blocks.0.hook_resid_pre").isDisposed,
      false,
      "the source cache is intact",
    );
    for (const r of [clean, patched]) {
      r.logits.dispose();
      r.cache.dispose();
    }
    model.dispose();
  },
);

gpuTest(
  "patchFromCache() at some positions takes those from the other run (as the reference)",
  async () => {
    const { model, params } = randomModel(CFG, 17);
    const clean = randomTokens(18, 2, 7, 50);
    const corrupt = randomTokens(19, 2, 7, 50);
    const name = "blocks.1.hook_resid_pre";
    const src = model.runWithCache(clean, { names: [name] });
    const run = model.runWithCache(corrupt, {
      names: [name],
      fwdHooks: [patchFromCache(src.cache, name, { positions: [3, -1] })],
    });
    const [s, r] = await readTensors([src.cache.get(name), run.cache.get(name)]);
    const cleanRef = refTransformer(model.cfg, params, clean);
    const srcRef = cleanRef.acts.get(name)!;
    const D = model.cfg.dModel;
    const ref = refTransformer(model.cfg, params, corrupt, {
      hook: (n, act) => {
        if (n !== name) return;
        const out = Float64Array.from(act.data);
        for (let i = 0; i < out.length; i++) {
          const p = Math.floor(i / D) % 7;
          if (p === 3 || p === 6) out[i] = srcRef.data[i];
        }
        return { data: out, shape: act.shape };
      },
    });
    for (let i = 0; i < r.length; i++) {
      const p = Math.floor(i / D) % 7;
      if (p === 3 || p === 6) assert.equal(r[i], s[i], `patched position ${p}`);
    }
    assertNear(await run.logits.read(), ref.logits.data, "patched logits");
    for (const x of [src, run]) {
      x.logits.dispose();
      x.cache.dispose();
    }
    model.dispose();
  },
);

gpuTest(
  "addSteeringVector() at blocks.0.hook_resid_post shifts blocks.1.hook_resid_pre by exactly v",
  async () => {
    const { model } = randomModel(CFG, 21);
    const tokens = randomTokens(22, 2, 7, 50);
    const name = "blocks.1.hook_resid_pre";
    const vals = Float32Array.from({ length: CFG.dModel }, (_, i) => Math.sin(i) * 0.7);
    const v = tensor(vals);
    const base = model.runWithCache(tokens, { names: [name] });
    const steered = model.runWithCache(tokens, {
      names: [name],
      fwdHooks: [addSteeringVector("blocks.0.hook_resid_post", v, { scale: 3 })],
    });
    const only = model.runWithCache(tokens, {
      names: [name],
      fwdHooks: [addSteeringVector(actName("resid_post", 0), v, { positions: [2] })],
    });
    const [b, s, o] = await readTensors([
      base.cache.get(name),
      steered.cache.get(name),
      only.cache.get(name),
    ]);
    const D = CFG.dModel;
    for (let i = 0; i < b.length; i++) {
      const j = i % D;
      assert.equal(s[i], Math.fround(b[i] + Math.fround(vals[j] * 3)), `steered at ${i}`);
      const p = Math.floor(i / D) % 7;
      assert.equal(o[i], p === 2 ? Math.fround(b[i] + vals[j]) : b[i], `position-only at ${i}`);
    }
    assert.ok(!v.isDisposed, "the caller's vector is left alone");
    for (const r of [base, steered, only]) {
      r.logits.dispose();
      r.cache.dispose();
    }
    v.dispose();
    model.dispose();
  },
);

gpuTest(
  "a replaced hook_scale or hook_attn_scores changes what follows, as in TransformerLens",
  async () => {
    const { model, params } = randomModel(CFG, 23);
    const tokens = randomTokens(24, 2, 6, 50);
    const fwdHooks = [
      ["blocks.0.ln1.hook_scale", (s: ReturnType<typeof tensor>) => mul(s, 2)],
      // Zero scores everywhere, future keys included: the pattern becomes uniform over all keys.
      ["blocks.1.attn.hook_attn_scores", (s: ReturnType<typeof tensor>) => full(s.shape, 0)],
    ] as const;
    const { logits, cache } = model.runWithCache(tokens, { fwdHooks });
    const ref = refTransformer(model.cfg, params, tokens, {
      hook: (name, act) => {
        if (name === "blocks.0.ln1.hook_scale") {
          return { data: act.data.map((x) => 2 * x), shape: act.shape };
        }
        if (name === "blocks.1.attn.hook_attn_scores") {
          return {
            data: act.data.map(() => 0),
            shape: act.shape,
          };
        }
      },
    });
    await compareCache(model.hookNames(), (n) => cache.get(n), ref.acts, "edited");
    assertNear(await logits.read(), ref.logits.data, "edited logits");
    const pat = await cache.get("pattern", 1).read();
    assert.ok(Math.abs(pat[1] - 1 / 6) < 1e-6, `query 0 attends to key 1 with ${pat[1]}`);
    logits.dispose();
    cache.dispose();
    model.dispose();
  },
);

gpuTest(
  "model.hooks() is scoped; addHook() stays until removed or resetHooks(); hooks run in order",
  async () => {
    const { model } = randomModel(CFG, 25);
    const tokens = randomTokens(26, 1, 5, 50);
    const clean = await model.forward(tokens).read();
    const seen: HookContext[] = [];
    const inside = await model.hooks([zeroAblateHead(1, 0), [
      /hook_pattern$/,
      (_a, ctx) => void seen.push(ctx),
    ]], () => model.forward(tokens)).read();
    assert.notDeepEqual(inside, clean);
    assert.deepEqual(seen, [
      { name: "blocks.0.attn.hook_pattern", layer: 0 },
      { name: "blocks.1.attn.hook_pattern", layer: 1 },
    ]);
    assert.deepEqual(await model.forward(tokens).read(), clean, "the scoped hooks are gone");
    // Removed when the function throws, too; and after an async function settles.
    assert.throws(() =>
      model.hooks([zeroAblateHead(1, 0)], () => {
        throw new Error("boom");
      }), /boom/);
    await model.hooks([zeroAblateHead(1, 0)], async () => {
      assert.notDeepEqual(await model.forward(tokens).read(), clean);
    });
    assert.deepEqual(await model.forward(tokens).read(), clean);
    // An unknown name in the list adds none of them.
    assert.throws(
      () =>
        model.hooks([zeroAblateHead(1, 0), ["hook_nope", () => {}]], () => model.forward(tokens)),
      /no hook point "hook_nope"/,
    );
    assert.deepEqual(await model.forward(tokens).read(), clean);
    // Permanent hooks, then per-run hooks, each in the order given.
    const order: string[] = [];
    const h1 = model.addHook("blocks.0.hook_attn_out", () => void order.push("permanent"));
    model.addHook((n) => n === "blocks.0.hook_attn_out", () => void order.push("predicate"));
    model.runWithHooks(tokens, {
      fwdHooks: [["blocks.0.hook_attn_out", () => void order.push("run")]],
    }).dispose();
    assert.deepEqual(order, ["permanent", "predicate", "run"]);
    h1.remove();
    h1.remove();
    order.length = 0;
    model.forward(tokens).dispose();
    assert.deepEqual(order, ["predicate"]);
    model.resetHooks();
    order.length = 0;
    model.forward(tokens).dispose();
    assert.deepEqual(order, []);
    model.dispose();
  },
);

gpuTest(
  "hook errors name the hook: wrong shape, unknown names (with close names), throwing hooks leak nothing",
  () => {
    const { model } = randomModel(CFG, 27);
    const tokens = randomTokens(28, 2, 5, 50);
    const before = memory().liveTensors;
    assert.throws(
      () =>
        model.runWithHooks(tokens, {
          fwdHooks: [["blocks.0.attn.hook_z", (z) => mul(z, tensor([1, 2, 3]))]],
        }),
      /Cannot run mul: shapes \[2, 5, 4, 8\] and \[3\] do not broadcast/,
    );
    assert.throws(
      () =>
        model.runWithHooks(tokens, {
          fwdHooks: [["blocks.0.attn.hook_z", () => tensor([[1, 2, 3]])]],
        }),
      /Hook at "blocks.0.attn.hook_z" returned f32\[1, 3\], but the activation is f32\[2, 5, 4, 8\] \(\[batch, pos, head_index, d_head\]\)/,
    );
    assert.throws(
      () => model.runWithHooks(tokens, { fwdHooks: [["blocks.0.attn.hook_patern", () => {}]] }),
      /no hook point "blocks.0.attn.hook_patern"; close names: blocks.0.attn.hook_pattern/,
    );
    assert.throws(
      () => model.runWithCache(tokens, { names: ["blocks.9.hook_resid_pre"] }),
      /no hook point "blocks.9.hook_resid_pre"; close names: blocks.0.hook_resid_pre, blocks.1.hook_resid_pre/,
    );
    assert.throws(() => model.addHook("hook_embd", () => {}), /close names: hook_embed/);
    assert.throws(
      () =>
        model.runWithHooks(tokens, {
          fwdHooks: [["blocks.1.mlp.hook_post", () => {
            throw new Error("hook failed");
          }]],
        }),
      /hook failed/,
    );
    assert.throws(
      () => model.runWithHooks(tokens, { fwdHooks: [zeroAblateHead(0, 4)] }),
      /Hook at "blocks.0.attn.hook_z": head 4 is out of range \(.* has 4\)/,
    );
    assert.equal(memory().liveTensors, before, "failed runs left tensors behind");
    const { logits, cache } = model.runWithCache(tokens, { names: /resid/ });
    assert.throws(
      () => cache.get("blocks.0.attn.hook_pattern"),
      /has no "blocks.0.attn.hook_pattern": it is a hook point of the model but was not cached/,
    );
    assert.throws(
      () => cache.get("blocks.0.hook_resid_prev"),
      /has no "blocks.0.hook_resid_prev": the model has no such hook point; close names: blocks.0.hook_resid_pre/,
    );
    assert.equal(cache.get("resid_mid", 1).name, "blocks.1.hook_resid_mid");
    assert.ok(cache.has("resid_post", 0) && !cache.has("pattern", 0));
    logits.dispose();
    cache.dispose();
    assert.throws(() => cache.get("resid_mid", 1), /the cache was disposed/);
    model.dispose();
  },
);
