/**
 * The f64 reference transformer itself (src/reference/transformer.ts; its test lives beside the
 * model tests): erf, and a one-layer attention-only model worked by hand.
 */

import assert from "node:assert/strict";
import { makeConfig } from "../../src/model/mod.ts";
import { erf, refAct, refLoss, refTransformer } from "../../src/reference/transformer.ts";

Deno.test("erf() is accurate to double precision on both branches", () => {
  // Values from the series to 17 digits.
  const known: [number, number][] = [
    [0, 0],
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [2, 0.9953222650189527],
    [2.4, 0.9993114861033549],
    [2.6, 0.9997639655834707],
    [3, 0.9999779095030014],
    [4, 0.9999999845827421],
  ];
  for (const [x, want] of known) {
    assert.ok(Math.abs(erf(x) - want) < 1e-15, `erf(${x}) = ${erf(x)}, want ${want}`);
    assert.ok(Math.abs(erf(-x) + want) < 1e-15, `erf(${-x})`);
  }
  assert.ok(Math.abs(refAct("gelu", 1) - 0.8413447460685429) < 1e-15);
  assert.ok(Math.abs(refAct("gelu_new", 1) - 0.8411919906082768) < 1e-15);
  assert.equal(refAct("relu", -2), 0);
});

Deno.test("refTransformer() on a one-layer model worked by hand", () => {
  // One head, d_model 2, d_head 1, no layer norm, no positional embedding, attention only.
  const cfg = makeConfig({
    nLayers: 1,
    dModel: 2,
    nHeads: 1,
    dHead: 1,
    nCtx: 4,
    dVocab: 3,
    attnOnly: true,
    normalization: null,
    positionalEmbedding: "none",
  });
  const params = new Map<string, number[]>([
    ["embed.W_E", [1, 0, 0, 1, 1, 1]], // token t → row t
    ["blocks.0.attn.W_Q", [1, 1]], // q = x0 + x1
    ["blocks.0.attn.W_K", [0, 1]], // k = x1
    ["blocks.0.attn.W_V", [1, 2]], // v = x0 + 2 x1
    ["blocks.0.attn.W_O", [1, 0]], // out = (z, 0)
    ["blocks.0.attn.b_Q", [0]],
    ["blocks.0.attn.b_K", [0]],
    ["blocks.0.attn.b_V", [0]],
    ["blocks.0.attn.b_O", [0, 0]],
    ["unembed.W_U", [1, 0, 0, 0, 1, 0]], // logits = (x0, x1, 0)
    ["unembed.b_U", [0, 0, 0]],
  ]);
  const { logits, acts } = refTransformer(cfg, params, [[0, 1]]);
  // Embeddings (1, 0), (0, 1): q = (1, 1), k = (0, 1), v = (1, 2).
  const e = Math.E;
  const near = (got: Float64Array, want: number[], what: string) =>
    want.forEach((w, i) =>
      assert.ok(w === got[i] || Math.abs(got[i] - w) < 1e-14, `${what}[${i}]: ${got[i]} vs ${w}`)
    );
  near(acts.get("blocks.0.attn.hook_attn_scores")!.data, [0, -Infinity, 0, 1], "scores");
  near(acts.get("blocks.0.attn.hook_pattern")!.data, [1, 0, 1 / (1 + e), e / (1 + e)], "pattern");
  const z1 = (1 + 2 * e) / (1 + e);
  near(acts.get("blocks.0.attn.hook_z")!.data, [1, z1], "z");
  near(acts.get("blocks.0.hook_resid_post")!.data, [2, 0, z1, 1], "resid_post");
  near(logits.data, [2, 0, 0, z1, 1, 0], "logits");
  // Next-token loss at position 0: target token 1, logits (2, 0, 0).
  assert.ok(Math.abs(refLoss(logits, [[0, 1]]) - Math.log(e * e + 2)) < 1e-12);
});
