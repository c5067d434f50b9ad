/**
 * `glassbox attention` (src/cli/attention.ts) in-process: it writes one HTML file with every
 * head's pattern, and bad input exits 2 with a message naming the flag and the value.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuTest } from "../_gpu.ts";
import { run, tokensFor } from "../../src/cli/attention.ts";
import { saveCheckpoint } from "../../src/io/fs.ts";
import type { HookedTransformer } from "../../src/model/mod.ts";
import { inductionModel } from "../analysis/_circuits.ts";

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(args, { log: (s) => out.push(s), error: (s) => err.push(s) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

gpuTest(
  "glassbox attention --model --tokens --out writes a self-contained view of every head",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "glassbox_attn_cli_" });
    try {
      const model = inductionModel(12, 32);
      await saveCheckpoint(model, join(dir, "model"));
      model.dispose();
      const out = join(dir, "attn.html");
      const r = await cli(["--model", join(dir, "model"), "--tokens", "0,3,7,1,3,7", "--out", out]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /wrote .*attn\.html .*: 2 layers × 2 heads on 6 tokens/);
      const html = await Deno.readTextFile(out);
      assert.match(html, /^<!doctype html>/);
      assert.doesNotMatch(html, /\s(src|href)=/);
      assert.match(html, /"tokens":\["0","3","7","1","3","7"\]/);
      // Ids in --text work for a model without a tokenizer, and --title is used.
      const r2 = await cli([
        "--model",
        join(dir, "model"),
        "--text",
        "0 3 7",
        "--title",
        "mine",
        "--out",
        out,
      ]);
      assert.equal(r2.code, 0, r2.err);
      assert.match(await Deno.readTextFile(out), /<title>mine<\/title>/);

      const bad = async (args: string[], re: RegExp) => {
        const b = await cli(args);
        assert.equal(b.code, 2, `${args.join(" ")}: exit ${b.code}\n${b.err}`);
        assert.match(b.err, re);
      };
      const m = join(dir, "model");
      await bad(["--tokens", "1"], /--model DIR is required/);
      await bad(["--model", m], /give the input: --text or --tokens/);
      await bad(
        ["--model", m, "--text", "hello there"],
        /vocabulary \(12 tokens\) has no tokenizer here/,
      );
      await bad(
        ["--model", m, "--tokens", "1,12"],
        /token id 12 at position 1 is outside the model's vocabulary \[0, 12\)/,
      );
      await bad(
        ["--model", m, "--tokens", "1,x"],
        /--tokens must be non-negative integer token ids/,
      );
      await bad(
        ["--model", m, "--tokens", Array(33).fill(1).join(",")],
        /33 positions, more than the model's nCtx 32/,
      );
      await bad(["--model", join(dir, "nope"), "--tokens", "1"], /nope/);
      await bad(["--model", m, "--text", "1", "--tokens", "1"], /only one input/);
      await bad(["--colour", "red"], /unknown flag --colour[\s\S]*usage:/);
      const help = await cli(["--help"]);
      assert.equal(help.code, 0);
      assert.match(help.out, /--serve/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("tokensFor() tokenizes text with GPT-2's tokenizer for GPT-2-vocabulary models", () => {
  const gpt2 = { cfg: { dVocab: 50257, nCtx: 1024 } } as unknown as HookedTransformer;
  const { ids, strs } = tokensFor(gpt2, { text: "Hello world", prependBos: true });
  assert.deepEqual(ids, [50256, 15496, 995]);
  assert.deepEqual(strs, ["<|endoftext|>", "Hello", " world"]);
  assert.deepEqual(tokensFor(gpt2, { tokens: "15496,995" }).strs, ["Hello", " world"]);
});
