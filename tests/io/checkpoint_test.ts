/**
 * Checkpoint folders (src/io/checkpoint.ts, src/io/fs.ts): glassbox save/load round trips give
 * identical logits (on disk and through the browser-side File/MemorySink path), the saved files
 * are plain safetensors with TransformerLens names, config.json tells the two kinds apart, and
 * every bad checkpoint gets an error naming the file, the key and the shapes.
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { randomModel, randomTokens } from "../model/_fixtures.ts";
import {
  type ByteWriter,
  CheckpointError,
  checkpointKind,
  filesSource,
  loadCheckpoint as loadFrom,
  MemorySink,
  type StreamTensor,
  writeSafetensorsStream,
} from "../../src/io/checkpoint.ts";
import { dirSource, fileReader, loadCheckpoint, saveCheckpoint } from "../../src/io/fs.ts";
import {
  readSafetensors,
  type SafetensorsTensorInput,
  writeSafetensors,
} from "../../src/io/safetensors.ts";
import { type ConfigInput, HookedTransformer, paramShapes } from "../../src/model/mod.ts";
import { processWeights } from "../../src/model/processing.ts";
import { readTensors } from "../../src/tensor.ts";

const BASE = { nLayers: 2, dModel: 16, nHeads: 4, dMlp: 32, nCtx: 8, dVocab: 37 } as const;

const CONFIGS: [string, ConfigInput][] = [
  ["GPT-2-like", { ...BASE }],
  ["attention-only shortformer, LNPre", {
    ...BASE,
    attnOnly: true,
    positionalEmbedding: "shortformer",
    normalization: "LNPre",
  }],
  ["no layer norm, relu, useAttnResult, d_head 3", {
    ...BASE,
    normalization: null,
    act: "relu",
    useAttnResult: true,
    dHead: 3,
  }],
];

async function tempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "glassbox_ckpt_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function logitsOf(model: HookedTransformer, tokens: number[][]): Promise<Float32Array> {
  const l = model.forward(tokens);
  const [d] = await readTensors([l]);
  l.dispose();
  return d as Float32Array;
}

async function rejectsWith(p: Promise<unknown>, ...fragments: string[]): Promise<Error> {
  let err: Error | null = null;
  try {
    await p;
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err, `expected an error mentioning ${fragments.join(", ")}`);
  for (const f of fragments) {
    assert.ok(err.message.includes(f), `"${err.message}" should mention ${f}`);
  }
  return err;
}

/** A writer collecting bytes in memory. */
function collector(): ByteWriter & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = [];
  return {
    write: (b) => {
      parts.push(b.slice());
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
    bytes: () => {
      const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
  };
}

// ------------------------------------------------------------------------------ safetensors

Deno.test("writeSafetensorsStream() writes the same bytes as writeSafetensors()", async () => {
  const inputs: Record<string, SafetensorsTensorInput> = {
    "blocks.0.attn.W_Q": {
      dtype: "F32",
      shape: [2, 3, 4],
      data: Float32Array.from({ length: 24 }, (_, i) => i / 7),
    },
    "embed.W_E": {
      dtype: "F32",
      shape: [5, 3],
      data: Float32Array.from({ length: 15 }, (_, i) => -i),
    },
    "ids": { dtype: "I32", shape: [3], data: new Int32Array([1, -2, 3]) },
    "half": { dtype: "F16", shape: [3], data: new Uint16Array([0x3c00, 0, 0xc000]) },
    "scalar": { dtype: "F64", shape: [], data: new Float64Array([Math.PI]) },
    "B": { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
    "é-unicode": { dtype: "U8", shape: [1], data: new Uint8Array([9]) },
  };
  for (const meta of [undefined, { format: "pt", producer: "glassbox" }]) {
    const want = writeSafetensors(inputs, meta);
    const w = collector();
    const tensors: StreamTensor[] = Object.entries(inputs).map(([name, t]) => ({
      name,
      dtype: t.dtype,
      shape: t.shape,
      data: () => Promise.resolve(t.data),
    }));
    await writeSafetensorsStream(w, tensors, meta);
    assert.deepEqual(w.bytes(), want);
  }
  await rejectsWith(
    writeSafetensorsStream(collector(), [
      { name: "x", dtype: "F32", shape: [3], data: () => new Float32Array(2) },
    ]),
    `"x"`,
    "8 bytes",
    "needs 12",
  );
});

// ------------------------------------------------------------------------------ round trips

for (const [label, input] of CONFIGS) {
  gpuTest(`saveCheckpoint() then loadCheckpoint() gives identical logits: ${label}`, async () => {
    const { model } = randomModel(input, 13);
    const tokens = randomTokens(8, 2, 6, model.cfg.dVocab);
    await tempDir(async (dir) => {
      const path = `${dir}/nested/model`;
      await saveCheckpoint(model, path);
      const again = await loadCheckpoint(path);
      try {
        assert.deepEqual(again.cfg, model.cfg);
        assert.deepEqual(await logitsOf(again, tokens), await logitsOf(model, tokens));
        // The file is plain safetensors: TL names, F32, every parameter bit for bit.
        const config = JSON.parse(await Deno.readTextFile(`${path}/config.json`));
        assert.equal(config.format, "glassbox");
        assert.equal(config.format_version, 1);
        assert.deepEqual(config.config, model.cfg);
        const st = readSafetensors(await Deno.readFile(`${path}/model.safetensors`));
        assert.equal(st.metadata.format, "pt");
        const shapes = paramShapes(model.cfg);
        assert.deepEqual(st.names().sort(), [...shapes.keys()].sort());
        const params = model.stateDict();
        for (const [name, shape] of shapes) {
          assert.equal(st.entry(name).dtype, "F32");
          assert.deepEqual(st.entry(name).shape, shape);
          const [want] = await readTensors([params.get(name)!]);
          assert.deepEqual(st.toFloat32(name), want, name);
        }
      } finally {
        again.dispose();
      }
    });
    model.dispose();
  });
}

gpuTest(
  "saveCheckpoint() to a MemorySink then loadCheckpoint() of its Files (the browser path) round-trips",
  async () => {
    const { model } = randomModel(BASE, 4);
    const tokens = randomTokens(1, 1, 8, BASE.dVocab);
    const sink = new MemorySink();
    const { saveCheckpoint: saveTo } = await import("../../src/io/checkpoint.ts");
    await saveTo(model, sink);
    const files = sink.files();
    assert.deepEqual(files.map((f) => f.name).sort(), ["config.json", "model.safetensors"]);
    const again = await loadFrom(files);
    const viaSource = await loadFrom(filesSource(files, "upload"));
    try {
      const want = await logitsOf(model, tokens);
      assert.deepEqual(await logitsOf(again, tokens), want);
      assert.deepEqual(await logitsOf(viaSource, tokens), want);
    } finally {
      again.dispose();
      viaSource.dispose();
      model.dispose();
    }
  },
);

gpuTest(
  "loadCheckpoint() with { process: true } equals processWeights() of the loaded model",
  async () => {
    const { model } = randomModel(BASE, 6);
    await tempDir(async (dir) => {
      await saveCheckpoint(model, dir);
      const processed = await loadCheckpoint(dir, { process: true });
      const after = await processWeights(model);
      try {
        assert.equal(processed.cfg.normalization, "LNPre");
        assert.deepEqual(processed.cfg, after.cfg);
        const a = processed.stateDict();
        const b = after.stateDict();
        assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
        for (const [name, t] of b) {
          const [x, y] = await readTensors([a.get(name)!, t]);
          assert.deepEqual(x, y, name);
        }
        // Saving a processed model keeps "LNPre" and loads back identically.
        await saveCheckpoint(processed, `${dir}/processed`);
        const re = await loadCheckpoint(`${dir}/processed`);
        const tokens = randomTokens(2, 2, 5, BASE.dVocab);
        assert.deepEqual(await logitsOf(re, tokens), await logitsOf(processed, tokens));
        re.dispose();
      } finally {
        processed.dispose();
        after.dispose();
        model.dispose();
      }
    });
  },
);

// ------------------------------------------------------------------------------ kinds

Deno.test("checkpointKind() tells glassbox and Hugging Face GPT-2 configs apart, and names anything else", () => {
  assert.equal(checkpointKind({ format: "glassbox", config: {} }), "glassbox");
  assert.equal(checkpointKind({ model_type: "gpt2", n_layer: 12 }), "hf-gpt2");
  assert.equal(checkpointKind({ architectures: ["GPT2LMHeadModel"] }), "hf-gpt2");
  assert.throws(
    () => checkpointKind({ model_type: "llama" }, "m/config.json"),
    (e: Error) =>
      e instanceof CheckpointError && /m\/config\.json/.test(e.message) &&
      /"llama"/.test(e.message),
  );
  assert.throws(() => checkpointKind([1, 2]), /not a JSON object/);
});

gpuTest(
  "loadCheckpoint() reads a Hugging Face GPT-2 folder, told apart by config.json",
  async () => {
    // A one-block GPT-2 in the HF layout, every weight from a simple pattern.
    const D = 8, V = 11, N = 6, M = 32;
    const t = (shape: number[], scale: number): SafetensorsTensorInput => {
      const n = shape.reduce((a, b) => a * b, 1);
      return {
        dtype: "F32",
        shape,
        data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * scale)),
      };
    };
    const file = writeSafetensors({
      "transformer.wte.weight": t([V, D], 0.7),
      "transformer.wpe.weight": t([N, D], 1.3),
      "transformer.h.0.ln_1.weight": t([D], 0.1),
      "transformer.h.0.ln_1.bias": t([D], 0.2),
      "transformer.h.0.attn.c_attn.weight": t([D, 3 * D], 0.3),
      "transformer.h.0.attn.c_attn.bias": t([3 * D], 0.4),
      "transformer.h.0.attn.c_proj.weight": t([D, D], 0.5),
      "transformer.h.0.attn.c_proj.bias": t([D], 0.6),
      "transformer.h.0.ln_2.weight": t([D], 0.8),
      "transformer.h.0.ln_2.bias": t([D], 0.9),
      "transformer.h.0.mlp.c_fc.weight": t([D, M], 1.1),
      "transformer.h.0.mlp.c_fc.bias": t([M], 1.2),
      "transformer.h.0.mlp.c_proj.weight": t([M, D], 1.4),
      "transformer.h.0.mlp.c_proj.bias": t([D], 1.5),
      "transformer.ln_f.weight": t([D], 1.6),
      "transformer.ln_f.bias": t([D], 1.7),
    }, { format: "pt" });
    const config = {
      model_type: "gpt2",
      n_layer: 1,
      n_embd: D,
      n_head: 2,
      n_positions: N,
      vocab_size: V,
    };
    await tempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
      await Deno.writeFile(`${dir}/model.safetensors`, file);
      const model = await loadCheckpoint(dir);
      try {
        assert.equal(model.cfg.normalization, "LN");
        assert.equal(model.cfg.dHead, 4);
        assert.equal(model.cfg.dVocab, V);
        const sd = model.stateDict();
        // W_U is wteᵀ (no lm_head in the file); b_U is zero.
        const [wu, bu] = await readTensors([sd.get("unembed.W_U")!, sd.get("unembed.b_U")!]);
        const wte = t([V, D], 0.7).data as Float32Array;
        for (let v = 0; v < V; v++) {
          for (let m = 0; m < D; m++) assert.equal(wu[m * V + v], wte[v * D + m]);
        }
        assert.ok(bu.every((x) => x === 0));
        // Saved as glassbox, it loads back the same.
        await saveCheckpoint(model, `${dir}/gb`);
        const again = await loadCheckpoint(`${dir}/gb`);
        const tokens = [[1, 5, 10, 0]];
        assert.deepEqual(await logitsOf(again, tokens), await logitsOf(model, tokens));
        again.dispose();
      } finally {
        model.dispose();
      }
    });
  },
);

// ------------------------------------------------------------------------------ errors

gpuTest(
  "loadCheckpoint() names the key, the expected and the actual shape when a glassbox checkpoint disagrees with its config",
  async () => {
    const { model } = randomModel(BASE, 2);
    await tempDir(async (dir) => {
      await saveCheckpoint(model, dir);
      const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
      const write = (c: unknown) => Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(c));
      // dMlp 33 in config.json, 32 in the file.
      await write({ ...config, config: { ...config.config, dMlp: 33 } });
      const e = await rejectsWith(
        loadCheckpoint(dir),
        `"blocks.0.mlp.W_in"`,
        "[16, 32]",
        "[16, 33]",
        "model.safetensors",
      );
      assert.ok(e instanceof CheckpointError);
      assert.equal((e as CheckpointError).key, "blocks.0.mlp.W_in");
      // A third layer in config.json: the missing parameters are named.
      await write({ ...config, config: { ...config.config, nLayers: 3 } });
      await rejectsWith(loadCheckpoint(dir), "missing", "blocks.2.ln1.w");
      // Attention-only in config.json: the MLP tensors are extra.
      await write({ ...config, config: { ...config.config, attnOnly: true } });
      await rejectsWith(loadCheckpoint(dir), "not parameters", "blocks.0.ln2.w");
      // A bad config value is reported with the file.
      await write({ ...config, config: { ...config.config, nLayers: -1 } });
      await rejectsWith(
        loadCheckpoint(dir),
        "config.json",
        "nLayers must be an integer ≥ 0, got -1",
      );
      await write({ ...config, format_version: 2 });
      await rejectsWith(loadCheckpoint(dir), "format_version 2");
      await Deno.writeTextFile(`${dir}/config.json`, "{ not json");
      await rejectsWith(loadCheckpoint(dir), "config.json", "not valid JSON");
    });
    model.dispose();
  },
);

gpuTest("loadCheckpoint() names missing folders and files", async () => {
  await tempDir(async (dir) => {
    await rejectsWith(loadCheckpoint(`${dir}/nope`), `${dir}/nope`, "no such folder");
    await Deno.writeTextFile(`${dir}/file.txt`, "x");
    await rejectsWith(loadCheckpoint(`${dir}/file.txt`), "is a file");
    await rejectsWith(loadCheckpoint(dir), dir, "no config.json");
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({
        model_type: "gpt2",
        n_layer: 0,
        n_embd: 4,
        n_head: 1,
        n_positions: 4,
        vocab_size: 3,
      }),
    );
    await rejectsWith(loadCheckpoint(dir), "no model.safetensors");
    await Deno.writeFile(`${dir}/model.safetensors`, new Uint8Array([1, 2, 3]));
    await rejectsWith(loadCheckpoint(dir), "safetensors");
    await rejectsWith(loadFrom([]), "no config.json");
  });
});

Deno.test("fileReader() reads exact ranges of a file, and dirSource() reads missing files as null", async () => {
  await tempDir(async (dir) => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    await Deno.writeFile(`${dir}/f.bin`, bytes);
    const r = await fileReader(`${dir}/f.bin`);
    try {
      assert.equal(r.size, 1000);
      const [a, b] = await Promise.all([r.read(10, 5), r.read(990, 10)]);
      assert.deepEqual(a, bytes.slice(10, 15));
      assert.deepEqual(b, bytes.slice(990));
    } finally {
      r.close();
    }
    const src = dirSource(dir);
    assert.equal(await src.readText("config.json"), null);
    assert.equal(await src.open("model.safetensors"), null);
  });
});
