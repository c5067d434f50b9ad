/**
 * `glassbox cache` (src/cli/cache.ts): run in-process with `run([...])` and once as a subprocess
 * (`deno run -A src/cli/main.ts cache ...`); the output .safetensors is read back and compared
 * with the model's own logits and cache; every kind of bad input exits 2 with a message naming
 * the thing.
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { randomModel, randomTokens } from "../model/_fixtures.ts";
import { run } from "../../src/cli/cache.ts";
import { saveCheckpoint } from "../../src/io/fs.ts";
import { writeNpy } from "../../src/io/npy.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { HookedTransformer } from "../../src/model/mod.ts";
import { processWeights } from "../../src/model/processing.ts";
import { readTensors } from "../../src/tensor.ts";

const CFG = { nLayers: 2, dModel: 16, nHeads: 4, dMlp: 32, nCtx: 8, dVocab: 37 } as const;

interface Ran {
  code: number;
  out: string[];
  err: string[];
}

async function cache(args: string[]): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(args, { log: (s) => out.push(s), error: (s) => err.push(s) });
  return { code, out, err };
}

/** A temp folder holding a saved random model (`model/`), removed afterwards. */
async function withModel<T>(
  fn: (dir: string, model: HookedTransformer) => Promise<T>,
  cfg: typeof CFG | Record<string, unknown> = CFG,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "glassbox_cache_" });
  const { model } = randomModel(cfg as typeof CFG, 3);
  try {
    await saveCheckpoint(model, `${dir}/model`);
    return await fn(dir, model);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

async function read(path: string) {
  return readSafetensors(await Deno.readFile(path));
}

async function logitsOf(model: HookedTransformer, tokens: number[][]): Promise<Float32Array> {
  const l = model.forward(tokens);
  const [d] = await readTensors([l]);
  l.dispose();
  return d as Float32Array;
}

function expectFail(r: Ran, ...fragments: string[]): void {
  assert.equal(r.code, 2, `exit code (stderr: ${r.err.join("\n")})`);
  const msg = r.err.join("\n");
  for (const f of fragments) assert.ok(msg.includes(f), `"${msg}" should mention ${f}`);
}

gpuTest(
  "run() writes logits and the activations --names matches, as the model computes them",
  async () => {
    await withModel(async (dir, model) => {
      const out = `${dir}/acts.safetensors`;
      const tokens = [[1, 2, 3, 36, 0]];
      const r = await cache([
        "--model",
        `${dir}/model`,
        "--tokens",
        "1,2,3,36,0",
        "--names",
        "hook_pattern$|blocks\\.1\\.hook_resid_post",
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.err.join("\n"));
      assert.ok(r.out.join("\n").includes(out));
      const st = await read(out);
      const want = model.hookNames().filter((n) =>
        /hook_pattern$|blocks\.1\.hook_resid_post/.test(n)
      );
      assert.deepEqual(st.names().sort(), ["logits", ...want].sort());
      assert.equal(st.metadata.format, "pt");
      assert.deepEqual(st.entry("logits").shape, [1, 5, 37]);
      assert.equal(st.entry("logits").dtype, "F32");
      assert.deepEqual(st.toFloat32("logits"), await logitsOf(model, tokens));
      const { logits, cache: c } = model.runWithCache(tokens, { names: want });
      for (const name of want) {
        const t = c.get(name);
        assert.deepEqual(st.entry(name).shape, t.shape, name);
        const [v] = await readTensors([t]);
        assert.deepEqual(st.toFloat32(name), v, name);
      }
      logits.dispose();
      c.dispose();
    });
  },
);

gpuTest(
  "run() takes a batch from --tokens-npy (int32 or int64, [batch, pos] or [pos]) and rows from --tokens",
  async () => {
    await withModel(async (dir, model) => {
      const rows = randomTokens(2, 2, 6, CFG.dVocab);
      const want = await logitsOf(model, rows);
      const i32 = writeNpy({ dtype: "<i4", shape: [2, 6], data: Int32Array.from(rows.flat()) });
      await Deno.writeFile(`${dir}/t32.npy`, i32);
      let r = await cache([
        "--model",
        `${dir}/model`,
        "--tokens-npy",
        `${dir}/t32.npy`,
        "--out",
        `${dir}/a.safetensors`,
      ]);
      assert.equal(r.code, 0, r.err.join("\n"));
      assert.deepEqual((await read(`${dir}/a.safetensors`)).toFloat32("logits"), want);
      // An int64 file, as NumPy writes by default (hand-built: little-endian <i8).
      const header = `{'descr': '<i8', 'fortran_order': False, 'shape': (2, 6), }`;
      const pad = 64 - ((10 + header.length + 1) % 64);
      const head = new TextEncoder().encode(header + " ".repeat(pad) + "\n");
      const i64 = new Uint8Array(10 + head.length + 8 * 12);
      i64.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, head.length & 0xff, head.length >> 8]);
      i64.set(head, 10);
      const dv = new DataView(i64.buffer, 10 + head.length);
      rows.flat().forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
      await Deno.writeFile(`${dir}/t64.npy`, i64);
      r = await cache([
        "--model",
        `${dir}/model`,
        "--tokens-npy",
        `${dir}/t64.npy`,
        "--out",
        `${dir}/b.safetensors`,
      ]);
      assert.equal(r.code, 0, r.err.join("\n"));
      assert.deepEqual((await read(`${dir}/b.safetensors`)).toFloat32("logits"), want);
      r = await cache([
        "--model",
        `${dir}/model`,
        `--tokens=${rows.map((row) => row.join(",")).join(";")}`,
        "--out",
        `${dir}/c.safetensors`,
      ]);
      assert.equal(r.code, 0, r.err.join("\n"));
      assert.deepEqual((await read(`${dir}/c.safetensors`)).toFloat32("logits"), want);
      // A 1-D file is one sequence.
      await Deno.writeFile(
        `${dir}/t1.npy`,
        writeNpy({ dtype: "<i4", shape: [6], data: Int32Array.from(rows[0]) }),
      );
      r = await cache([
        "--model",
        `${dir}/model`,
        "--tokens-npy",
        `${dir}/t1.npy`,
        "--out",
        `${dir}/d.safetensors`,
      ]);
      assert.equal(r.code, 0, r.err.join("\n"));
      const d = await read(`${dir}/d.safetensors`);
      assert.deepEqual(d.entry("logits").shape, [1, 6, CFG.dVocab]);
      assert.deepEqual(d.toFloat32("logits"), await logitsOf(model, [rows[0]]));
    });
  },
);

gpuTest(
  "run() tokenizes --text with GPT-2's tokenizer, with --prepend-bos, and applies --process",
  async () => {
    const cfg = { nLayers: 1, dModel: 8, nHeads: 2, dMlp: 16, nCtx: 8, dVocab: 50257 };
    await withModel(async (dir, model) => {
      let r = await cache([
        "--model",
        `${dir}/model`,
        "--text",
        "Hello world",
        "--out",
        `${dir}/a.safetensors`,
      ]);
      assert.equal(r.code, 0, r.err.join("\n"));
      const a = await read(`${dir}/a.safetensors`);
      assert.deepEqual(a.entry("logits").shape, [1, 2, 50257]);
      assert.deepEqual(a.toFloat32("logits"), await logitsOf(model, [[15496, 995]]));
      r = await cache([
        "--model",
        `${dir}/model`,
        "--text",
        "Hello world",
        "--prepend-bos",
        "--process",
        "--names",
        "hook_embed",
        "--out",
        `${dir}/b.safetensors`,
      ]);
      assert.equal(r.code, 0, r.err.join("\n"));
      const b = await read(`${dir}/b.safetensors`);
      assert.deepEqual(b.entry("logits").shape, [1, 3, 50257]);
      const processed = await processWeights(model);
      try {
        assert.deepEqual(b.toFloat32("logits"), await logitsOf(processed, [[50256, 15496, 995]]));
        assert.deepEqual(b.names().sort(), ["hook_embed", "logits"]);
      } finally {
        processed.dispose();
      }
    }, cfg);
  },
);

gpuTest(
  "run() exits 2 naming the problem: bad flags, missing files, bad tokens, unknown hook names, a checkpoint that disagrees with its config",
  async () => {
    await withModel(async (dir) => {
      const m = `${dir}/model`;
      const o = `${dir}/x.safetensors`;
      expectFail(
        await cache(["--model", m, "--tokens", "1", "--out", o, "--bogus"]),
        "unknown flag --bogus",
        "--names",
      );
      expectFail(await cache(["--model", m, "--tokens", "1"]), "--out");
      expectFail(await cache(["--tokens", "1", "--out", o]), "--model");
      expectFail(await cache(["--model", m, "--out", o]), "--text, --tokens or --tokens-npy");
      expectFail(
        await cache(["--model", m, "--text", "a", "--tokens", "1", "--out", o]),
        "--text and --tokens",
      );
      expectFail(await cache(["--model", m, "--tokens", "1,x", "--out", o]), "--tokens", `"x"`);
      expectFail(
        await cache(["--model", m, "--tokens", "1,2;3", "--out", o]),
        "same length",
        "row 1 has 1",
      );
      expectFail(
        await cache(["--model", m, "--tokens", "1", "--names", "(", "--out", o]),
        "--names",
        "not a valid regular expression",
      );
      expectFail(
        await cache(["--model", m, "--tokens", "1", "--out", `${dir}/no/such/x.safetensors`]),
        `${dir}/no/such`,
        "does not exist",
      );
      // Tokens against the model.
      expectFail(
        await cache(["--model", m, "--tokens", "1,37", "--out", o]),
        "token id 37 at [0, 1]",
        "[0, 37)",
      );
      expectFail(
        await cache(["--model", m, "--tokens", "1,2,3,4,5,6,7,8,9", "--out", o]),
        "9 positions",
        "nCtx 8",
      );
      expectFail(
        await cache(["--model", m, "--text", "Hello", "--out", o]),
        "token id 15496",
        "[0, 37)",
      );
      expectFail(
        await cache(["--model", m, "--tokens", "1", "--prepend-bos", "--out", o]),
        "token id 50256",
      );
      // Hook names.
      expectFail(
        await cache(["--model", m, "--tokens", "1", "--names", "hook_atn_out", "--out", o]),
        `--names "hook_atn_out" matches no hook point`,
        "blocks.0.hook_attn_out",
      );
      // Files.
      expectFail(
        await cache(["--model", `${dir}/nope`, "--tokens", "1", "--out", o]),
        `${dir}/nope`,
        "no such folder",
      );
      expectFail(
        await cache(["--model", m, "--tokens-npy", `${dir}/nope.npy`, "--out", o]),
        `${dir}/nope.npy`,
        "no such file",
      );
      await Deno.writeFile(
        `${dir}/f.npy`,
        writeNpy({ dtype: "<f4", shape: [1, 2], data: new Float32Array(2) }),
      );
      expectFail(
        await cache(["--model", m, "--tokens-npy", `${dir}/f.npy`, "--out", o]),
        "<f4",
        "int32",
      );
      await Deno.writeFile(`${dir}/bad.npy`, new Uint8Array([1, 2, 3]));
      expectFail(
        await cache(["--model", m, "--tokens-npy", `${dir}/bad.npy`, "--out", o]),
        `${dir}/bad.npy`,
      );
      // The checkpoint disagrees with its config.json.
      const config = JSON.parse(await Deno.readTextFile(`${m}/config.json`));
      await Deno.writeTextFile(
        `${m}/config.json`,
        JSON.stringify({ ...config, config: { ...config.config, dVocab: 40 } }),
      );
      expectFail(
        await cache(["--model", m, "--tokens", "1", "--out", o]),
        `"embed.W_E"`,
        "[37, 16]",
        "[40, 16]",
      );
      await Deno.remove(`${m}/config.json`);
      expectFail(await cache(["--model", m, "--tokens", "1", "--out", o]), "no config.json");
      // Nothing was written.
      assert.ok(!(await Deno.stat(o).then(() => true, () => false)), "no output file after errors");
    });
  },
);

gpuTest("glassbox cache runs as a subprocess (deno run -A src/cli/main.ts cache ...)", async () => {
  await withModel(async (dir, model) => {
    const main = new URL("../../src/cli/main.ts", import.meta.url).pathname;
    const exec = async (...args: string[]) => {
      const p = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, "cache", ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: p.code, stdout: dec.decode(p.stdout), stderr: dec.decode(p.stderr) };
    };
    const out = `${dir}/sub.safetensors`;
    const ok = await exec(
      "--model",
      `${dir}/model`,
      "--tokens",
      "4,5,6",
      "--names",
      "blocks.0.attn.hook_z",
      "--out",
      out,
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(ok.stdout.includes("wrote 2 tensor(s)"), ok.stdout);
    const st = await read(out);
    assert.deepEqual(st.names().sort(), ["blocks.0.attn.hook_z", "logits"]);
    assert.deepEqual(st.entry("blocks.0.attn.hook_z").shape, [1, 3, 4, 4]);
    assert.deepEqual(st.toFloat32("logits"), await logitsOf(model, [[4, 5, 6]]));
    const bad = await exec("--model", `${dir}/model`, "--tokens", "99", "--out", out);
    assert.equal(bad.code, 2);
    assert.ok(bad.stderr.includes("token id 99"), bad.stderr);
  });
});
