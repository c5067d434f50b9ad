/**
 * Generation with the KV cache: greedy decoding against the argmax of a full forward pass at
 * every step, the cached forward's logits against the full forward's, the known continuation of
 * the hand-made induction model, seeded sampling, and hooks during generation.
 *
 * Tolerances: the cached forward computes the new position's logits with the same ops on fewer
 * rows (matmuls of other shapes may sum in another order): LOGIT_ATOL 1e-4 with RTOL 1e-4 on
 * logits O(10) (the fixtures' f32 error is ≈ 1e-5). Greedy tokens must equal the full forward's
 * argmax unless the two best logits there are within TIE 1e-4 (then either is right).
 * Sampling frequencies: 20000 draws, each frequency within 0.015 of its probability (> 4
 * standard deviations of a binomial with p ≤ 0.5).
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { assertNear, randomModel } from "../model/_fixtures.ts";
import { memory } from "../../src/memory.ts";
import type { ConfigInput, HookedTransformer } from "../../src/model/mod.ts";
import { zeroAblateHead } from "../../src/model/mod.ts";
import {
  forwardWithKvCache,
  generate,
  KeyValueCache,
  sampleFromLogits,
  seededRandom,
} from "../../src/analysis/mod.ts";
import { inductionModel, repeatedRun } from "./_circuits.ts";

const LOGIT_ATOL = 1e-4;
const LOGIT_RTOL = 1e-4;
const TIE = 1e-4;

const CONFIGS: [string, ConfigInput][] = [
  ["LN + gelu MLP", { nLayers: 2, dModel: 16, nHeads: 4, nCtx: 24, dVocab: 13, dMlp: 20 }],
  ["attention-only shortformer, hook_result", {
    nLayers: 2,
    dModel: 16,
    nHeads: 2,
    nCtx: 24,
    dVocab: 13,
    attnOnly: true,
    positionalEmbedding: "shortformer",
    useAttnResult: true,
  }],
  ["LNPre, relu, no positional embedding", {
    nLayers: 1,
    dModel: 12,
    nHeads: 3,
    nCtx: 24,
    dVocab: 11,
    normalization: "LNPre",
    act: "relu",
    positionalEmbedding: "none",
  }],
];

/** Logits of the full sequences (no cache), [batch][pos][vocab]. */
async function fullLogits(model: HookedTransformer, seqs: number[][]): Promise<Float32Array> {
  const logits = model.forward(seqs);
  const v = await logits.read() as Float32Array;
  logits.dispose();
  return v;
}

gpuTest(
  "generate() greedy with the KV cache takes the argmax of the no-cache forward at every step",
  async () => {
    for (const [label, cfg] of CONFIGS) {
      const { model } = randomModel(cfg, 5);
      const before = memory().liveTensors;
      try {
        const prompt = [[1, 2, 3], [4, 5, 6]];
        const steps = 12;
        const out = await generate(model, prompt, { maxNewTokens: steps, doSample: false });
        assert.equal(memory().liveTensors - before, 0, `${label}: generate leaked tensors`);
        assert.deepEqual(out.map((s) => s.length), [3 + steps, 3 + steps]);
        assert.deepEqual(out.map((s) => s.slice(0, 3)), prompt, "the prompt comes first");
        const V = cfg.dVocab;
        const P = out[0].length;
        const logits = await fullLogits(model, out);
        out.forEach((seq, b) => {
          for (let p = 2; p < P - 1; p++) {
            const row = logits.subarray((b * P + p) * V, (b * P + p + 1) * V);
            const best = row.indexOf(Math.max(...row));
            if (seq[p + 1] !== best) {
              const gap = row[best] - row[seq[p + 1]];
              assert.ok(
                gap <= TIE,
                `${label}: sequence ${b}, step ${p - 2}: generated ${
                  seq[p + 1]
                }, the full forward's argmax is ${best} (gap ${gap})`,
              );
            }
          }
        });
        // Without the cache: the same tokens.
        const plain = await generate(model, prompt, {
          maxNewTokens: steps,
          doSample: false,
          useKvCache: false,
        });
        assert.deepEqual(plain, out, `${label}: with and without the KV cache`);
      } finally {
        model.dispose();
      }
    }
  },
);

gpuTest("forwardWithKvCache() gives the full forward's logits position by position", async () => {
  for (const [label, cfg] of CONFIGS) {
    const { model } = randomModel(cfg, 6);
    const before = memory().liveTensors;
    const kv = new KeyValueCache(model);
    try {
      const seqs = [[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]];
      const want = await fullLogits(model, seqs);
      const V = cfg.dVocab;
      const P = 8;
      // A prompt of 3, then one position at a time, then two at once.
      const chunks = [[0, 3], [3, 4], [4, 5], [5, 6], [6, 8]];
      for (const [a, b] of chunks) {
        const logits = forwardWithKvCache(model, seqs.map((s) => s.slice(a, b)), kv);
        assert.deepEqual(logits.shape, [2, b - a, V]);
        const got = await logits.read();
        logits.dispose();
        const ref: number[] = [];
        for (let r = 0; r < 2; r++) {
          for (let p = a; p < b; p++) {
            ref.push(...want.subarray((r * P + p) * V, (r * P + p + 1) * V));
          }
        }
        assertNear(got, ref, `${label}: positions ${a}..${b - 1}`, LOGIT_ATOL, LOGIT_RTOL);
        assert.equal(kv.length, b);
      }
      assert.ok(kv.bytes > 0);
      kv.dispose();
      assert.equal(memory().liveTensors - before, 0, `${label}: the KV cache leaked tensors`);
      const other = randomModel(cfg, 1).model;
      assert.throws(
        () => forwardWithKvCache(model, [[1]], new KeyValueCache(other)),
        /another model/,
      );
      other.dispose();
    } finally {
      kv.dispose();
      model.dispose();
    }
  }
});

gpuTest(
  "generate() continues a repeated run with the hand-made induction model; hooks apply at every step",
  async () => {
    const model = inductionModel(12, 32);
    try {
      const seq = repeatedRun(9, 12, 21); // [0, r1..r9, r1..r9]
      const prompt = seq.slice(0, 13); // BOS, the run, and its first three tokens again
      const [out] = await generate(model, [prompt], { maxNewTokens: 6, doSample: false });
      assert.deepEqual(out.slice(13), seq.slice(13, 19), `continuation of ${prompt}`);
      // Ablate the induction head: nothing predicts the continuation, the current token wins.
      const shapes: string[] = [];
      const record = [
        "blocks.1.attn.hook_pattern",
        (p: { shape: readonly number[] }) => void shapes.push(p.shape.join("x")),
      ] as const;
      const [ablated] = await generate(model, [prompt], {
        maxNewTokens: 3,
        doSample: false,
        fwdHooks: [zeroAblateHead(1, 0), record],
      });
      assert.deepEqual(ablated.slice(13), [prompt[12], prompt[12], prompt[12]]);
      // With the KV cache the hooks see the new positions only: [batch, head, new, keys].
      assert.deepEqual(shapes, ["1x2x13x13", "1x2x1x14", "1x2x1x15"]);
      const [plain] = await generate(model, [prompt], {
        maxNewTokens: 3,
        doSample: false,
        useKvCache: false,
        fwdHooks: [zeroAblateHead(1, 0)],
      });
      assert.deepEqual(plain, ablated, "the hooks act the same without the KV cache");
    } finally {
      model.dispose();
    }
  },
);

gpuTest(
  "generate() sampling is seeded, keeps to the top k, and is greedy at temperature 0",
  async () => {
    const { model } = randomModel(CONFIGS[0][1], 7);
    const before = memory().liveTensors;
    try {
      const prompt = [[1, 2, 3]];
      const opts = { maxNewTokens: 8, temperature: 1.5, topK: 3, seed: 11 };
      const a = await generate(model, prompt, opts);
      const b = await generate(model, prompt, opts);
      assert.deepEqual(a, b, "the same seed gives the same tokens");
      assert.deepEqual(
        await generate(model, prompt, { ...opts, useKvCache: false }),
        a,
        "with or without the cache",
      );
      const others = await Promise.all(
        [12, 13, 14].map((seed) => generate(model, prompt, { ...opts, seed })),
      );
      assert.ok(others.some((o) => o[0].join() !== a[0].join()), "other seeds give other tokens");
      // Every sampled token is among the 3 best at its step.
      const logits = await fullLogits(model, a);
      const P = a[0].length;
      for (let p = 2; p < P - 1; p++) {
        const row = Array.from(logits.subarray(p * 13, (p + 1) * 13));
        const top = row.map((v, i) => [v, i]).sort((x, y) => y[0] - x[0]).slice(0, 3).map((x) =>
          x[1]
        );
        assert.ok(
          top.includes(a[0][p + 1]),
          `step ${p - 2}: ${a[0][p + 1]} is not in the top 3 ${top}`,
        );
      }
      // Top-1 and temperature 0 are greedy; a top-k above 64 samples on the CPU.
      const greedy = await generate(model, prompt, { maxNewTokens: 8, doSample: false });
      assert.deepEqual(
        await generate(model, prompt, { maxNewTokens: 8, topK: 1, seed: 3 }),
        greedy,
      );
      assert.deepEqual(await generate(model, prompt, { maxNewTokens: 8, temperature: 0 }), greedy);
      const full = await generate(model, [[1, 2, 3], [3, 2, 1]], { maxNewTokens: 4, seed: 5 });
      assert.equal(full[1].length, 7);
      assert.equal(memory().liveTensors - before, 0, "sampling leaked tensors");
    } finally {
      model.dispose();
    }
  },
);

Deno.test("sampleFromLogits() draws from softmax(logits / temperature)", () => {
  const logits = [1, 2, 0.5, -1];
  for (const temperature of [1, 0.5, 2]) {
    const random = seededRandom(42);
    const counts = [0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleFromLogits(logits, temperature, random())]++;
    const e = logits.map((l) => Math.exp(l / temperature));
    const z = e.reduce((x, y) => x + y, 0);
    counts.forEach((c, i) => {
      const p = e[i] / z;
      assert.ok(Math.abs(c / n - p) < 0.015, `T ${temperature}: token ${i} drawn ${c / n}, p ${p}`);
    });
  }
  // Candidates: logits[j] belongs to candidates[j].
  assert.equal(sampleFromLogits([0, 50], 1, 0.5, [7, 3]), 3);
});

gpuTest("generate() checks its options and the context length, naming the values", async () => {
  const { model } = randomModel(CONFIGS[0][1], 8);
  try {
    await assert.rejects(
      () => generate(model, [[1, 2, 3]], { maxNewTokens: 30 }),
      /3 prompt \+ 30 new tokens is more than nCtx 24/,
    );
    await assert.rejects(
      () => generate(model, [[1, 2, 3]], { topK: 0 }),
      /topK must be an integer in \[1, 13\], got 0/,
    );
    await assert.rejects(
      () => generate(model, [[1, 2, 3]], { temperature: -1 }),
      /temperature must be finite and ≥ 0, got -1/,
    );
    await assert.rejects(() => generate(model, [[1, 2], [1]]), /token rows differ in length/);
    await assert.rejects(
      () => generate(model, [[1, 20]]),
      /token id 20 at \[0, 1\] is outside the vocabulary \[0, 13\)/,
    );
    const kv = new KeyValueCache(model);
    forwardWithKvCache(model, [[1, 2]], kv).dispose();
    assert.throws(
      () => forwardWithKvCache(model, [[1], [2]], kv),
      /KV cache has batch 1, the tokens 2/,
    );
    kv.dispose();
  } finally {
    model.dispose();
  }
});
