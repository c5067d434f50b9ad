/** makeConfig defaults and errors, paramShapes and paramInit (TransformerLens names). */

import assert from "node:assert/strict";
import { makeConfig, paramInit, paramShapes } from "../../src/model/mod.ts";

Deno.test("makeConfig() fills TransformerLens's defaults", () => {
  const cfg = makeConfig({ nLayers: 2, dModel: 32, nHeads: 4, nCtx: 16, dVocab: 50 });
  assert.deepEqual(cfg, {
    nLayers: 2,
    dModel: 32,
    nHeads: 4,
    dHead: 8,
    dMlp: 128,
    nCtx: 16,
    dVocab: 50,
    act: "gelu_new",
    normalization: "LN",
    positionalEmbedding: "standard",
    attnOnly: false,
    eps: 1e-5,
    useAttnResult: false,
    initializerRange: 0.8 / Math.sqrt(32),
  });
  assert.equal(makeConfig({ nLayers: 1, dModel: 32, dHead: 16, nCtx: 4, dVocab: 5 }).nHeads, 2);
  assert.equal(
    makeConfig({ nLayers: 1, dModel: 8, nCtx: 4, dVocab: 5, normalization: null }).normalization,
    null,
  );
});

Deno.test("makeConfig() rejects bad values, showing them", () => {
  const base = { nLayers: 2, dModel: 32, nHeads: 4, nCtx: 16, dVocab: 50 };
  assert.throws(
    () => makeConfig({ ...base, nLayers: 1.5 }),
    /nLayers must be an integer ≥ 0, got 1.5/,
  );
  assert.throws(() => makeConfig({ ...base, dVocab: 0 }), /dVocab must be an integer ≥ 1, got 0/);
  assert.throws(
    () => makeConfig({ ...base, nHeads: 5 }),
    /dModel 32 is not a multiple of nHeads 5; give dHead/,
  );
  assert.throws(() => makeConfig({ ...base, act: "swish" as never }), /act "swish" is not/);
  assert.throws(
    () => makeConfig({ ...base, normalization: "RMS" as never }),
    /normalization "RMS" is not/,
  );
  assert.throws(
    () => makeConfig({ ...base, positionalEmbedding: "rotary" as never }),
    /positionalEmbedding "rotary"/,
  );
  assert.throws(() => makeConfig({ ...base, eps: -1 }), /eps must be finite and ≥ 0, got -1/);
});

Deno.test("paramShapes() lists TL's state-dict names and shapes for each architecture", () => {
  const cfg = makeConfig({ nLayers: 1, dModel: 8, nHeads: 2, dMlp: 12, nCtx: 5, dVocab: 7 });
  assert.deepEqual([...paramShapes(cfg)], [
    ["embed.W_E", [7, 8]],
    ["pos_embed.W_pos", [5, 8]],
    ["blocks.0.ln1.w", [8]],
    ["blocks.0.ln1.b", [8]],
    ["blocks.0.attn.W_Q", [2, 8, 4]],
    ["blocks.0.attn.W_K", [2, 8, 4]],
    ["blocks.0.attn.W_V", [2, 8, 4]],
    ["blocks.0.attn.W_O", [2, 4, 8]],
    ["blocks.0.attn.b_Q", [2, 4]],
    ["blocks.0.attn.b_K", [2, 4]],
    ["blocks.0.attn.b_V", [2, 4]],
    ["blocks.0.attn.b_O", [8]],
    ["blocks.0.ln2.w", [8]],
    ["blocks.0.ln2.b", [8]],
    ["blocks.0.mlp.W_in", [8, 12]],
    ["blocks.0.mlp.b_in", [12]],
    ["blocks.0.mlp.W_out", [12, 8]],
    ["blocks.0.mlp.b_out", [8]],
    ["ln_final.w", [8]],
    ["ln_final.b", [8]],
    ["unembed.W_U", [8, 7]],
    ["unembed.b_U", [7]],
  ]);
  const names = (o: object) => [...paramShapes(makeConfig({ ...cfg, ...o })).keys()];
  assert.ok(!names({ attnOnly: true }).some((n) => /ln2|mlp/.test(n)));
  assert.ok(!names({ normalization: "LNPre" }).some((n) => /ln/.test(n)));
  assert.ok(!names({ normalization: null }).some((n) => /ln/.test(n)));
  assert.ok(!names({ positionalEmbedding: "none" }).includes("pos_embed.W_pos"));
  assert.ok(names({ positionalEmbedding: "shortformer" }).includes("pos_embed.W_pos"));
  assert.equal(paramInit("blocks.0.attn.W_Q"), "normal");
  assert.equal(paramInit("blocks.0.ln1.w"), "ones");
  assert.equal(paramInit("unembed.b_U"), "zeros");
});
