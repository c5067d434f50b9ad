/**
 * The demo's induction part (examples/demo.ts) at a tiny size: it writes the induction report,
 * results.json, the model and the attention view under `root/induction/`, and the toy report
 * and the induction report link the attention view with relative links that resolve.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { gpuTest } from "../_gpu.ts";
import {
  demoLinks,
  inductionDemo,
  inductionEvalSequence,
  inductionSummaryLine,
  writeToyReport,
} from "../../examples/demo.ts";

const exists = async (p: string) => {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
};

/** The relative hrefs of a page (in-page anchors left out). */
const relativeHrefs = (html: string) =>
  [...html.matchAll(/\bhref="([^"#][^"]*)"/g)].map((m) => m[1]);

Deno.test("inductionEvalSequence() is [BOS] + a random run + the same run", () => {
  const { ids, strs } = inductionEvalSequence(48, 64);
  assert.equal(ids.length, 33);
  assert.equal(ids[0], 0);
  assert.equal(strs[0], "BOS");
  assert.deepEqual(ids.slice(1, 17), ids.slice(17));
  assert.ok(ids.slice(1).every((t) => t > 0 && t < 64));
  assert.deepEqual(strs.slice(1), ids.slice(1).map(String));
  // A short context gets a shorter run that still fits.
  assert.equal(inductionEvalSequence(20, 64).ids.length, 19);
});

Deno.test("demoLinks() links the attention view from both reports", () => {
  assert.deepEqual(demoLinks("toy", { induction: true }).map((l) => l.href), [
    "../induction/report.html",
    "../induction/attention.html",
  ]);
  assert.deepEqual(demoLinks("toy", { induction: false }), []);
  assert.deepEqual(demoLinks("induction", { toy: true }).map((l) => l.href), [
    "attention.html",
    "../toy/report.html",
  ]);
  assert.deepEqual(demoLinks("induction").map((l) => l.href), ["attention.html"]);
});

gpuTest(
  "inductionDemo() writes the reports and an attention view that the links reach",
  async () => {
    const root = await Deno.makeTempDir({ prefix: "glassbox-demo-" });
    const lines: string[] = [];
    try {
      const r = await inductionDemo({
        root,
        withToy: true,
        settings: { steps: 20, dModel: 16, heads: 2, ctx: 20, batch: 4, logEvery: 10 },
        log: (l) => lines.push(l),
      });
      const dir = join(root, "induction");
      assert.equal(r.dir, dir);
      assert.equal(r.attention, join(dir, "attention.html"));
      for (
        const p of [
          r.files.report,
          r.files.results,
          r.attention,
          join(r.files.model, "config.json"),
        ]
      ) {
        assert.ok(await exists(p), `${p} was not written`);
      }
      // Progress lines: the first and the last evaluation at least.
      assert.ok(lines.some((l) => /^induction: step {1,2}0\/20 /.test(l)), lines.join("\n"));
      assert.ok(lines.some((l) => /^induction: step 20\/20 {2}loss \d/.test(l)), lines.join("\n"));

      // results.json holds the scores the summary states.
      const json = JSON.parse(await Deno.readTextFile(r.files.results));
      assert.equal(json.generator, "glassbox examples/demo.ts");
      assert.equal(json.options.steps, 20);
      assert.deepEqual(json.final.best_induction, r.bestInduction);
      assert.deepEqual(json.final.best_prev_token, r.bestPrevToken);
      assert.equal(r.bestInduction.layer, 1);
      assert.equal(r.bestPrevToken.layer, 0);
      const summary = inductionSummaryLine(r);
      assert.ok(summary.includes(r.bestInduction.score.toFixed(3)), summary);
      assert.ok(summary.includes(r.bestPrevToken.score.toFixed(3)), summary);
      assert.match(
        summary,
        /best layer-1 induction head L1H\d .* best layer-0 previous-token head/,
      );

      // The attention view shows the evaluation sequence.
      const attn = await Deno.readTextFile(r.attention);
      assert.match(attn, /^<!doctype html>/);
      assert.match(
        attn,
        /<title>[^<]*Induction head L1H\d \(score [\d.]+\), previous-token head L0H/,
      );
      assert.ok(attn.includes(JSON.stringify(r.evalTokens.map((t, i) => (i ? String(t) : "BOS")))));

      // The toy report, written as the demo writes it, links the attention view, and every
      // relative link of both reports reaches a file.
      const toy = await writeToyReport(root, { title: "toy", sections: [] }, { induction: true });
      const toyHtml = await Deno.readTextFile(toy);
      assert.ok(toyHtml.includes(`href="../induction/attention.html"`));
      const indHtml = await Deno.readTextFile(r.files.report);
      assert.ok(indHtml.includes(`href="attention.html"`));
      for (const [page, html] of [[toy, toyHtml], [r.files.report, indHtml]]) {
        const hrefs = relativeHrefs(html);
        assert.ok(hrefs.length >= 2, `${page}: ${hrefs}`);
        for (const h of hrefs) {
          assert.ok(await exists(join(dirname(page), h)), `${page}: ${h} does not resolve`);
        }
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);
