/**
 * The attention view's strings and data (the behaviour in a browser is tested by
 * tests/browser/attention_page_test.ts): the data read from a cache equals the cached patterns,
 * the self-contained document inlines everything (no external resources), escapes what could
 * end its script, and its script compiles; the JSON rounds to 4 decimals (≤ 5e-5 off).
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { memory } from "../../src/memory.ts";
import {
  attentionData,
  attentionDataFromCache,
  attentionDataJson,
  type AttentionViewData,
  attentionViewFragment,
  attentionViewHtml,
  attentionViewScript,
  mountAttentionView,
} from "../../src/viz/attention.ts";
import { inductionModel, repeatedRun } from "../analysis/_circuits.ts";

function tiny(): AttentionViewData {
  const P = 3;
  const head = [1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5];
  return {
    tokens: ["<bos>", " a</script><script>alert(1)</script>", "\n"],
    patterns: [[
      new Float32Array(head),
      new Float32Array(head.map((_, i) => (i % (P + 1) === 0 ? 1 : 0))),
    ]],
    title: 'Heads & "tokens" <b>',
  };
}

/** The contents of every <script> element of an HTML string. */
function scripts(html: string): string[] {
  return [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
}

Deno.test("attentionViewHtml() is one self-contained document whose script compiles", () => {
  const html = attentionViewHtml(tiny());
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html, /\s(src|href)=/, "the document must not load anything");
  assert.match(html, /<title>Heads &#38; &#34;tokens&#34; &#60;b&#62;<\/title>/);
  const js = scripts(html);
  assert.equal(js.length, 1, "exactly one script; a token must not close it early");
  assert.ok(js[0].includes("function mountAttentionView(root, data, opts = {})"));
  // Parses as JavaScript (types stripped), and holds the data as JSON.
  new Function(js[0]);
  const json =
    /mountAttentionView\(document\.getElementById\("gb-attention"\), (\{[\s\S]*\})\);\n\}\)\(\);/
      .exec(js[0]);
  assert.ok(json, "the data call was not found");
  const data = JSON.parse(json[1]);
  assert.deepEqual(data.tokens, tiny().tokens);
  assert.deepEqual(data.patterns[0][0], [1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5]);
  assert.equal(data.title, tiny().title);
});

Deno.test("attentionViewHtml() passes the head to open on to the view", () => {
  const js = scripts(attentionViewHtml(tiny(), { initial: [0, 1] }))[0];
  new Function(js);
  assert.match(js, /\}, \{ initial: \[0,1\] \}\);\n\}\)\(\);/);
  assert.doesNotMatch(scripts(attentionViewHtml(tiny()))[0], /initial: \[/);
});

Deno.test("attentionViewScript() is the component's own source, free of TypeScript", () => {
  const js = attentionViewScript();
  assert.ok(js.startsWith("function mountAttentionView"));
  assert.equal(js, mountAttentionView.toString());
  const mount = new Function(`${js}\nreturn mountAttentionView;`)();
  assert.equal(typeof mount, "function");
  assert.equal(mount.length, 2); // (root, data, opts = {})
});

Deno.test("attentionViewFragment() embeds under a given id; attentionDataJson() rounds and escapes", () => {
  const frag = attentionViewFragment(tiny(), { id: "attn-2" });
  assert.match(frag, /^<div id="attn-2"><\/div>/);
  assert.throws(
    () => attentionViewFragment(tiny(), { id: 'x" onload="alert(1)' }),
    /not a plain HTML id/,
  );
  const json = attentionDataJson({
    tokens: ["a", "b"],
    patterns: [[[1, 0, 0.123456789, 0.876543211]]],
  });
  assert.deepEqual(JSON.parse(json).patterns, [[[1, 0, 0.1235, 0.8765]]]);
  const escaped = attentionDataJson({
    tokens: ["</script>", "\u2028"],
    patterns: [[[1, 0, 0, 1]]],
  });
  assert.doesNotMatch(escaped, /<|\u2028/);
  assert.deepEqual(JSON.parse(escaped).tokens, ["</script>", "\u2028"]);
});

gpuTest("attentionDataFromCache() reads every layer's pattern of one batch element", async () => {
  const model = inductionModel(12, 32);
  const seqs = [repeatedRun(5, 12, 1), repeatedRun(5, 12, 2)];
  const { logits, cache } = model.runWithCache(seqs, { names: /hook_pattern$/ });
  const before = memory().liveTensors;
  try {
    const strs = seqs[1].map(String);
    const data = await attentionDataFromCache(cache, strs, { batch: 1, title: "t" });
    assert.equal(memory().liveTensors, before, "reading the patterns leaked tensors");
    assert.equal(data.patterns.length, 2);
    assert.equal(data.patterns[1].length, 2);
    const P = 11;
    const all = await cache.get("pattern", 1).read();
    const want = all.slice((1 * 2 + 0) * P * P, (1 * 2 + 1) * P * P);
    assert.deepEqual(Array.from(data.patterns[1][0]), Array.from(want));
    assert.equal(data.title, "t");
    // The one-call form runs the model itself, on one sequence.
    const again = await attentionData(model, seqs[1], strs);
    assert.deepEqual(Array.from(again.patterns[1][0]), Array.from(want));
    assert.equal(memory().liveTensors, before, "attentionData leaked tensors");
    await assert.rejects(
      () => attentionDataFromCache(cache, strs.slice(1)),
      /10 token strings for patterns/,
    );
    await assert.rejects(
      () => attentionDataFromCache(cache, strs, { batch: 2 }),
      /batch 2 is outside \[0, 2\)/,
    );
  } finally {
    logits.dispose();
    cache.dispose();
    model.dispose();
  }
});
