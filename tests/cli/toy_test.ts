/**
 * `glassbox toy` (src/cli/toy.ts): every bad argument is a usage error naming it (exit code 2),
 * and a small real run writes results.json with the documented fields and a report.html.
 */

import assert from "node:assert/strict";
import { UsageError } from "../../src/cli/args.ts";
import {
  defaultProbabilities,
  parseToyArgs,
  run,
  toJson,
  type ToyResults,
} from "../../src/cli/toy.ts";
import { gram } from "../../src/toy/metrics.ts";
import { gpuTest } from "../_gpu.ts";

Deno.test("parseToyArgs() fills in the defaults", () => {
  const c = parseToyArgs([]);
  assert.equal(c.features, 5);
  assert.equal(c.hidden, 2);
  assert.equal(c.instances, 8);
  assert.deepEqual(c.importance, [1, 0.9, 0.81, 0.9 ** 3, 0.9 ** 4]);
  assert.deepEqual(c.featureProbability, defaultProbabilities(8));
  assert.equal(c.featureProbability[0], 1);
  assert.ok(Math.abs(c.featureProbability[7] - 1 / 50) < 1e-12);
  assert.equal(c.steps, 5000);
  assert.equal(c.batch, 1024);
  assert.equal(c.lr, 1e-3);
  assert.equal(c.seed, 0);
  assert.equal(c.variant, "relu");
  assert.equal(c.out, "out/toy");
});

Deno.test("parseToyArgs() reads every flag: a decay or a list of importances, one or K probabilities", () => {
  const c = parseToyArgs([
    "--features=3",
    "--hidden",
    "1",
    "--instances",
    "2",
    "--importance",
    "1,0.5,0.25",
    "--feature-probability",
    "0.5,0.1",
    "--steps",
    "10",
    "--batch",
    "32",
    "--lr",
    "0.01",
    "--seed",
    "4",
    "--variant",
    "abs",
    "--out",
    "/tmp/x",
  ]);
  assert.deepEqual(
    [c.features, c.hidden, c.instances, c.steps, c.batch, c.lr, c.seed, c.variant, c.out],
    [3, 1, 2, 10, 32, 0.01, 4, "abs", "/tmp/x"],
  );
  assert.deepEqual(c.importance, [1, 0.5, 0.25]);
  assert.deepEqual(c.featureProbability, [0.5, 0.1]);
  assert.deepEqual(parseToyArgs(["--importance", "0.5", "--features", "3"]).importance, [
    1,
    0.5,
    0.25,
  ]);
  assert.deepEqual(
    parseToyArgs(["--instances", "3", "--feature-probability", "0.2"]).featureProbability,
    [
      0.2,
      0.2,
      0.2,
    ],
  );
  assert.equal(parseToyArgs(["--help"]).help, true);
});

/** [args, the text the message must hold (the argument's name)]. */
const BAD: [string[], RegExp][] = [
  [["--bogus", "1"], /unknown flag --bogus/],
  [["stray"], /unexpected argument "stray"/],
  [["--features", "abc"], /--features must be an integer, got "abc"/],
  [["--features", "2.5"], /--features must be an integer/],
  [["--features", "0"], /--features must be in \[1,/],
  [["--hidden", "0"], /--hidden must be in \[1,/],
  [["--hidden", "-2"], /--hidden/],
  [["--instances", "0"], /--instances/],
  [["--steps", "0"], /--steps/],
  [["--steps", "1e3x"], /--steps/],
  [["--batch", "0"], /--batch/],
  [["--lr", "0"], /--lr must be a positive number, got 0/],
  [["--lr", "fast"], /--lr must be a number, got "fast"/],
  [["--seed", "-1"], /--seed/],
  [["--seed", "x"], /--seed/],
  [["--variant", "tanh"], /--variant must be one of relu, linear, abs, got "tanh"/],
  [["--out"], /--out needs a value/],
  [["--out", ""], /--out/],
  [
    ["--importance", "1,2,3"],
    /--importance needs one number .* or one per feature \(5, from --features\), got 3/,
  ],
  [["--importance", "-0.5"], /--importance R must be a positive number/],
  [["--importance", "1,1,x,1,1"], /--importance must be comma-separated numbers, got "x"/],
  [["--importance", "1,1,-1,1,1"], /--importance values must be ≥ 0, got -1 for feature 2/],
  [["--importance", "0,0,0,0,0"], /--importance values are all 0/],
  [
    ["--feature-probability", "0.1,0.2"],
    /--feature-probability needs one value per instance \(8, from --instances\)/,
  ],
  [
    ["--instances", "3", "--feature-probability", "0.1,0.2,0.3,0.4"],
    /--feature-probability .* \(3, from --instances\) .* got 4/,
  ],
  [["--feature-probability", "0"], /--feature-probability .* must be in \(0, 1\], got 0/],
  [["--feature-probability", "1.5"], /--feature-probability .* must be in \(0, 1\], got 1.5/],
  [["--feature-probability", "-0.1"], /--feature-probability/],
  [["--feature-probability", "0.1,,0.2"], /--feature-probability must be comma-separated numbers/],
  [["--steps"], /--steps needs a value/],
];

Deno.test("parseToyArgs() throws a UsageError naming each bad argument", () => {
  for (const [args, want] of BAD) {
    assert.throws(
      () => parseToyArgs(args),
      (e: unknown) => {
        assert.ok(e instanceof UsageError, `${args.join(" ")}: threw ${e}, not a UsageError`);
        assert.match((e as Error).message, want, `args: ${args.join(" ")}`);
        return true;
      },
    );
  }
});

Deno.test("run() rejects bad arguments before touching the GPU", async () => {
  for (const [args, want] of BAD.slice(0, 6)) {
    await assert.rejects(() => run(args, { log: () => {} }), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match((e as Error).message, want);
      return true;
    });
  }
});

Deno.test("toJson() keeps number arrays and matrix rows on one line and writes non-finite as null", () => {
  const text = toJson({ a: 1, W: [[1, 0.5], [NaN, Infinity]], s: "x", o: { e: [] } });
  assert.equal(
    text,
    '{\n "a": 1,\n "W": [\n  [1, 0.5],\n  [null, null]\n ],\n "s": "x",\n "o": {\n  "e": []\n }\n}',
  );
  assert.deepEqual(JSON.parse(text), { a: 1, W: [[1, 0.5], [null, null]], s: "x", o: { e: [] } });
});

gpuTest("run() trains a small configuration and writes results.json and report.html", async () => {
  const dir = await Deno.makeTempDir({ prefix: "glassbox_toy_" });
  try {
    const lines: string[] = [];
    const code = await run([
      "--features",
      "4",
      "--hidden",
      "2",
      "--instances",
      "3",
      "--importance",
      "1,0.8,0.6,0.4",
      "--feature-probability",
      "1,0.3,0.05",
      "--steps",
      "300",
      "--batch",
      "128",
      "--lr",
      "0.01",
      "--out",
      dir,
    ], { log: (l) => lines.push(l) });
    assert.equal(code, 0);
    assert.ok(
      lines.some((l) => /steps\/s/.test(l) && /loss/.test(l)),
      `no progress line:\n${lines.join("\n")}`,
    );
    const res = JSON.parse(await Deno.readTextFile(`${dir}/results.json`)) as ToyResults;
    assert.equal(res.config.features, 4);
    assert.equal(res.instances.length, 3);
    res.instances.forEach((inst, k) => {
      assert.equal(inst.featureProbability, [1, 0.3, 0.05][k]);
      assert.deepEqual(inst.importance, [1, 0.8, 0.6, 0.4]);
      assert.equal(inst.W.length, 2, "W has m rows");
      for (const row of inst.W) assert.equal(row.length, 4, "each row of W has n numbers");
      assert.equal(inst.b.length, 4);
      assert.ok(Number.isFinite(inst.loss) && inst.loss >= 0, `loss ${inst.loss}`);
      for (const k2 of ["featureNorms", "superposition", "dimensionality"] as const) {
        assert.equal(inst[k2].length, 4, k2);
        for (const v of inst[k2]) assert.ok(Number.isFinite(v), `${k2} holds ${v}`);
      }
      assert.ok(inst.dimensionsPerFeature > 0, `dimensionsPerFeature ${inst.dimensionsPerFeature}`);
      // The metrics agree with W.
      const G = gram(inst.W);
      assert.equal(inst.WtW.length, 4);
      G.forEach((row, i) =>
        row.forEach((v, j) => assert.ok(Math.abs(v - inst.WtW[i][j]) < 1e-9, `WtW[${i}][${j}]`))
      );
      inst.featureNorms.forEach((v, i) => assert.ok(Math.abs(v * v - G[i][i]) < 1e-6));
    });
    const html = await Deno.readTextFile(`${dir}/report.html`);
    assert.match(html, /^<!doctype html>/);
    assert.ok(html.includes('aria-label="W columns"'));
    assert.ok(html.includes('class="guide"'), "three probabilities: a dimensionality figure");
    assert.doesNotMatch(html, /https?:\/\//);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("glassbox toy exits 2 with a message naming the argument (subprocess)", async () => {
  const main = new URL("../../src/cli/main.ts", import.meta.url).pathname;
  for (
    const [args, name] of [[["--hidden", "0"], "--hidden"], [
      ["--frobnicate"],
      "--frobnicate",
    ]] as const
  ) {
    const p = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "toy", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(p.stderr);
    assert.equal(p.code, 2, `exit code for ${args.join(" ")} (stderr: ${err})`);
    assert.ok(err.includes(name), `stderr does not name ${name}: ${err}`);
  }
});
