import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { parseInductionArgs, run } from "../../src/cli/induction.ts";
import { UsageError } from "../../src/cli/args.ts";
import { loadCheckpoint } from "../../src/io/fs.ts";
import { inductionReportHtml, smooth } from "../../src/viz/induction_report.ts";

Deno.test("parseInductionArgs() fills the issue's defaults", () => {
  const a = parseInductionArgs(["--out", "x"]);
  assert.deepEqual(
    { ...a },
    {
      out: "x",
      layers: 2,
      steps: 3000,
      seed: 0,
      dModel: 64,
      heads: 4,
      ctx: 48,
      batch: 32,
      lr: 1e-3,
      logEvery: 50,
      warmup: 0,
      schedule: "constant",
      backend: "auto",
      help: false,
    },
  );
  const b = parseInductionArgs(["--layers", "1", "--steps=10", "--lr", "3e-3", "--out", "y"]);
  assert.equal(b.layers, 1);
  assert.equal(b.steps, 10);
  assert.equal(b.lr, 3e-3);
  assert.equal(parseInductionArgs(["--help"]).help, true);
});

Deno.test("parseInductionArgs() rejects bad arguments with a UsageError naming them", () => {
  const bad: [string[], RegExp][] = [
    [[], /--out DIR is required/],
    [["--out", "x", "--bogus", "1"], /unknown flag --bogus for induction/],
    [["--out", "x", "--layers", "0"], /--layers must be between 1 and 64, got 0/],
    [["--out", "x", "--steps", "ten"], /--steps must be an integer, got "ten"/],
    [["--out", "x", "--d-model", "30"], /--d-model 30 is not a multiple of --heads 4/],
    [["--out", "x", "--ctx", "16"], /--ctx must be between 17 and 1024, got 16/],
    [["--out", "x", "--lr", "0"], /--lr must be > 0, got 0/],
    [["--out", "x", "--schedule", "step"], /--schedule must be constant or cosine, got "step"/],
    [["--out", "x", "--backend", "gpu"], /--backend must be auto, fused or autodiff, got "gpu"/],
    [
      ["--out", "x", "--backend", "fused", "--d-model", "256", "--heads", "2"],
      /dHead 128 is more than 64/,
    ],
    [["--out"], /--out needs a value/],
    [["out"], /unexpected argument "out"/],
  ];
  for (const [args, re] of bad) {
    assert.throws(() => parseInductionArgs(args), (e: Error) => {
      assert.ok(e instanceof UsageError, `${args.join(" ")}: ${e}`);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("glassbox induction exits with 2 and names the bad flag", async () => {
  const main = new URL("../../src/cli/main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "induction", "--out", "x", "--layers", "-1"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /glassbox induction: --layers must be between 1/,
  );
});

gpuTest("glassbox induction writes a loadable model, results.json and report.html", async () => {
  const dir = await Deno.makeTempDir({ prefix: "glassbox-induction-" });
  const lines: string[] = [];
  try {
    const code = await run(
      [
        ...["--layers", "2", "--steps", "20", "--seed", "3", "--d-model", "16", "--heads", "2"],
        ...["--ctx", "20", "--batch", "4", "--log-every", "10", "--out", `${dir}/run`],
      ],
      { log: (l) => lines.push(l) },
    );
    assert.equal(code, 0);
    assert.match(lines[0], /induction: 2 layer\(s\), d_model 16, 2 heads, ctx 20/);
    assert.ok(lines.some((l) => /^step 20\/20 {2}loss \d/.test(l)), lines.join("\n"));
    assert.match(lines.at(-1)!, /wrote .*run\/model\/, .*results\.json and .*report\.html/);
    const r = JSON.parse(await Deno.readTextFile(`${dir}/run/results.json`));
    assert.equal(r.losses.length, 20);
    assert.deepEqual(r.steps, [...Array(20).keys()]);
    assert.deepEqual(r.eval_steps, [0, 10, 20]);
    assert.equal(r.induction_scores.length, 3);
    assert.equal(r.induction_scores[0].length, 2, "layers");
    assert.equal(r.induction_scores[0][0].length, 2, "heads");
    assert.equal(r.prev_token_scores.length, 3);
    assert.deepEqual(r.final.induction, r.induction_scores[2]);
    assert.equal(r.final.best_induction.layer, 1);
    assert.ok(r.losses.every((l: number) => l > 0 && l < 10));
    assert.equal(r.options.seed, 3);
    const html = await Deno.readTextFile(`${dir}/run/report.html`);
    assert.match(html, /^<!doctype html>/);
    assert.equal((html.match(/<svg /g) ?? []).length, 3, "loss, induction and prev-token charts");
    assert.ok(!/<script|https?:\/\/(?!www\.w3\.org)/.test(html), "self-contained, no script");
    assert.match(html, /L1H0/);
    const model = await loadCheckpoint(`${dir}/run/model`);
    assert.equal(model.cfg.nLayers, 2);
    assert.equal(model.cfg.attnOnly, true);
    model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inductionReportHtml() marks the phase change and escapes text", () => {
  const scores = (v: number) => [[[0.1, 0.2]], [[v, 0.3]]];
  const html = inductionReportHtml({
    options: { layers: 1, steps: 100, seed: 0, dModel: 8, heads: 2, ctx: 20, batch: 2, lr: 1e-3 },
    backend: "<fused>",
    steps: [0, 1, 2],
    losses: [4, 3.5, 3],
    eval_steps: [0, 100],
    induction_scores: scores(0.9),
    prev_token_scores: scores(0.1),
    final: {
      induction: [[0.9, 0.3]],
      prev_token: [[0.1, 0.3]],
      best_induction: { layer: 0, head: 0, score: 0.9 },
      best_prev_token: { layer: 0, head: 1, score: 0.3 },
      loss: 3,
    },
    phase_change: { step: 100, from: 0.2, to: 0.9 },
  });
  assert.match(html, /phase change ≈ step 100/);
  assert.match(html, /&#60;fused&#62;/);
  assert.ok(!html.includes("<fused>"));
  assert.ok(!html.includes(`id="see-also"`), "no links given, no See also");
  assert.deepEqual(smooth([1, 2, 3, 4, 5], 3), [1.5, 2, 3, 4, 4.5]);
});

Deno.test("inductionReportHtml() lists the links it is given under See also", () => {
  const d = {
    options: { layers: 2, steps: 10, seed: 0, dModel: 8, heads: 1, ctx: 20, batch: 2, lr: 1e-3 },
    steps: [0],
    losses: [4],
    eval_steps: [0, 10],
    induction_scores: [[[0.1], [0.2]], [[0.1], [0.5]]],
    prev_token_scores: [[[0.1], [0.1]], [[0.3], [0.1]]],
    final: {
      induction: [[0.1], [0.5]],
      prev_token: [[0.3], [0.1]],
      best_induction: { layer: 1, head: 0, score: 0.5 },
      best_prev_token: { layer: 0, head: 0, score: 0.3 },
      loss: 4,
    },
    phase_change: null,
  };
  const html = inductionReportHtml(d, {
    links: [
      { href: "attention.html", label: "Attention view", description: "<stripes>" },
      { href: "../toy/report.html", label: "Toy models" },
    ],
  });
  assert.match(html, /<h2>See also<\/h2>/);
  assert.ok(
    html.includes(`<li><a href="attention.html">Attention view</a>: &#60;stripes&#62;</li>`),
  );
  assert.ok(html.includes(`<li><a href="../toy/report.html">Toy models</a></li>`));
  assert.ok(!/<script|https?:\/\/(?!www\.w3\.org)/.test(html), "still self-contained");
});
