import assert from "node:assert/strict";
import fc from "fast-check";
import { assertClose, gpuTest, NUM_RUNS } from "../_gpu.ts";
import { tensor } from "../../src/ops/creation.ts";
import { permute, slice } from "../../src/ops/movement.ts";
import { readTensors } from "../../src/tensor.ts";
import {
  headScores,
  inductionScoresRef,
  modelHeadScores,
  prevTokenScoresRef,
} from "../../src/analysis/induction.ts";
import { HookedTransformer, makeConfig, paramShapes } from "../../src/model/mod.ts";
import { repeatedSequences, repeatedSequencesRef } from "../../src/train/data.ts";

/** Causal uniform attention [B, H, P, P]. */
function uniform(B: number, H: number, P: number): Float32Array {
  const a = new Float32Array(B * H * P * P);
  for (let bh = 0; bh < B * H; bh++) {
    for (let q = 0; q < P; q++) for (let k = 0; k <= q; k++) a[(bh * P + q) * P + k] = 1 / (q + 1);
  }
  return a;
}

/** Head 0 a perfect induction head, head 1 a perfect previous-token head, head 2 uniform. */
function handMade(runs: Int32Array, B: number, P: number): Float32Array {
  const H = 3;
  const a = uniform(B, H, P);
  for (let b = 0; b < B; b++) {
    const [start, len] = [runs[2 * b], runs[2 * b + 1]];
    for (let q = 0; q < P; q++) {
      const row0 = ((b * H + 0) * P + q) * P;
      const row1 = ((b * H + 1) * P + q) * P;
      if (q >= start + len && q < start + 2 * len) {
        a.fill(0, row0, row0 + P);
        a[row0 + q - len + 1] = 1;
      }
      a.fill(0, row1, row1 + P);
      a[row1 + Math.max(q - 1, 0)] = 1;
    }
  }
  return a;
}

gpuTest("headScores() scores a perfect induction head 1 and uniform attention low", async () => {
  const B = 8;
  const P = 48;
  const { meta } = repeatedSequencesRef({ batch: B, ctx: P, seed: 5 }, 0);
  const pat = handMade(meta, B, P);
  const shape = [B, 3, P, P];
  const ind = inductionScoresRef(pat, shape, meta);
  const prev = prevTokenScoresRef(pat, shape);
  assert.equal(ind[0], 1);
  assert.equal(prev[1], 1);
  assert.ok(ind[2] < 0.1, `uniform attention's induction score ${ind[2]}`);
  assert.ok(prev[2] < 0.2, `uniform attention's previous-token score ${prev[2]}`);
  assert.ok(ind[1] < 0.01 && prev[0] < 0.2, `${ind[1]} ${prev[0]}`);
  const s = headScores(tensor(pat, shape), tensor(meta, [B, 2]));
  const [got] = await readTensors([s]);
  // Sums of ≤ 32·47 f32 values in [0, 1] against f64: 1e-5 relative covers the rounding.
  assertClose(got, [ind[0], prev[0], ind[1], prev[1], ind[2], prev[2]], 1e-6, 1e-5, "scores");
  assert.equal(got[0], 1);
  assert.equal(got[3], 1);
});

gpuTest("headScores() matches the f64 references on random patterns and runs", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 17, max: 41 }),
      fc.integer({ min: 0, max: 1000 }),
      async (B, H, P, seed) => {
        const { meta } = repeatedSequencesRef({ batch: B, ctx: P, seed }, 0);
        let s = seed + 1;
        const pat = Float32Array.from(
          { length: B * H * P * P },
          () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31,
        );
        const shape = [B, H, P, P];
        const got = (await readTensors([headScores(tensor(pat, shape), tensor(meta, [B, 2]))]))[0];
        const ind = inductionScoresRef(pat, shape, meta);
        const prev = prevTokenScoresRef(pat, shape);
        const want = Array.from({ length: 2 * H }, (_, i) => (i % 2 ? prev : ind)[i >> 1]);
        // Means of ≤ 5·40 values in [0, 1) summed in f32: 1e-5 relative.
        assertClose(got, want, 1e-6, 1e-5, "scores");
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

gpuTest("modelHeadScores() equals the references on the model's own cached patterns", async () => {
  const model = HookedTransformer.init(
    { nLayers: 2, dModel: 32, nHeads: 4, nCtx: 40, dVocab: 64, attnOnly: true },
    { seed: 2 },
  );
  const { tokens, meta } = repeatedSequences({ batch: 4, ctx: 40, seed: 9 }, 0);
  const scores = await modelHeadScores(model, tokens, meta);
  const { logits, cache } = model.runWithCache(tokens, { names: /hook_pattern$/ });
  const [p0, p1, m] = await readTensors([cache.get("pattern", 0), cache.get("pattern", 1), meta]);
  for (const [l, p] of [[0, p0], [1, p1]] as const) {
    const shape = [4, 4, 40, 40];
    assertClose(scores.induction[l], inductionScoresRef(p, shape, m), 1e-6, 1e-5, `ind ${l}`);
    assertClose(scores.prevToken[l], prevTokenScoresRef(p, shape), 1e-6, 1e-5, `prev ${l}`);
  }
  logits.dispose();
  cache.dispose();
  tokens.dispose();
  meta.dispose();
  model.dispose();
});

gpuTest("headScores() rejects patterns and runs of the wrong shape, naming them", () => {
  const pat = tensor(new Float32Array(2 * 3 * 4 * 5), [2, 3, 4, 5]);
  const runs = tensor(new Int32Array(4), [2, 2]);
  assert.throws(
    () => headScores(pat, runs),
    /pattern .*f32\[2, 3, 4, 5\] must be \[batch, head, pos, pos\]/,
  );
  const sq = tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  assert.throws(
    () => headScores(sq, tensor(new Int32Array(6), [3, 2])),
    /runs .*i32\[3, 2\] must be \[2, 2\]/,
  );
  assert.throws(() => inductionScoresRef([1, 2], [1, 1, 2, 2], [0, 1]), /2 values do not fill/);
});

/**
 * A 2-layer attention-only model with an induction circuit set by hand (no layer norm):
 * residual = [token one-hot (V) | position one-hot (P) | previous token one-hot (V)]. Layer 0
 * head 0 attends from position i to i − 1 and copies that token into the third block; layer 1
 * head 0 attends from a token to the positions whose previous token equals it (K-composition).
 * Head 1 of each layer attends uniformly and writes nothing.
 */
function handBuiltInduction(V: number, P: number): HookedTransformer {
  const D = 2 * V + P;
  const E = Math.max(V, P);
  const cfg = {
    nLayers: 2,
    dModel: D,
    nHeads: 2,
    dHead: E,
    nCtx: P,
    dVocab: V,
    attnOnly: true,
    normalization: null,
  } as const;
  const sharp = 40 * Math.sqrt(E);
  const values = new Map<string, Float32Array>();
  const shapes = paramShapes(makeConfig(cfg));
  for (const [name, shape] of shapes) {
    values.set(
      name,
      new Float32Array(shape.reduce((a, b) => a * b, 1)),
    );
  }
  const set = (name: string, idx: number[], v: number) => {
    const shape = shapes.get(name)!;
    let off = 0;
    for (let i = 0; i < idx.length; i++) off = off * shape[i] + idx[i];
    values.get(name)![off] = v;
  };
  for (let t = 0; t < V; t++) set("embed.W_E", [t, t], 1);
  for (let p = 0; p < P; p++) set("pos_embed.W_pos", [p, V + p], 1);
  for (let p = 0; p < P; p++) {
    set("blocks.0.attn.W_Q", [0, V + p, p], sharp); // query: my position
    if (p + 1 < E) set("blocks.0.attn.W_K", [0, V + p, p + 1], 1); // key: position + 1
  }
  for (let t = 0; t < V; t++) {
    set("blocks.0.attn.W_V", [0, t, t], 1); // value: the token
    set("blocks.0.attn.W_O", [0, t, V + P + t], 1); // into the previous-token block
    set("blocks.1.attn.W_Q", [0, t, t], sharp); // query: my token
    set("blocks.1.attn.W_K", [0, V + P + t, t], 1); // key: the token before the key
  }
  const sd = new Map([...values].map(([n, v]) => [n, tensor(v, shapes.get(n)!)]));
  return HookedTransformer.fromStateDict(cfg, sd);
}

gpuTest(
  "modelHeadScores() finds a hand-built induction circuit: L0H0 previous-token, L1H0 induction",
  async () => {
    const V = 48;
    const P = 40;
    const model = handBuiltInduction(V, P);
    const { tokens, meta } = repeatedSequences({ batch: 16, ctx: P, vocab: V, seed: 4 }, 0);
    const s = await modelHeadScores(model, tokens, meta);
    assert.ok(s.prevToken[0][0] > 0.99, `L0H0 previous-token ${s.prevToken[0][0]}`);
    // Earlier random tokens equal to the query's token (about one in 47 positions) also match,
    // so the exact circuit scores about 0.8 here rather than 1.
    assert.ok(s.induction[1][0] > 0.7, `L1H0 induction ${s.induction[1][0]}`);
    for (const [l, h] of [[0, 0], [0, 1], [1, 1]]) {
      assert.ok(s.induction[l][h] < 0.1, `L${l}H${h} induction ${s.induction[l][h]}`);
    }
    assert.ok(s.prevToken[1][0] < 0.2 && s.prevToken[0][1] < 0.2, JSON.stringify(s.prevToken));
    tokens.dispose();
    meta.dispose();
    model.dispose();
  },
);

gpuTest("headScores() reads strided patterns and runs at an offset", async () => {
  const B = 2;
  const P = 20;
  const { meta } = repeatedSequencesRef({ batch: B, ctx: P, seed: 8 }, 0);
  const pat = handMade(meta, B, P);
  const shape = [B, 3, P, P];
  // The pattern as a transposed view of [H, B, P, P] storage; runs as rows 1..2 of a [3, 2].
  const hb = new Float32Array(pat.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < 3; h++) {
      hb.set(pat.subarray((b * 3 + h) * P * P, (b * 3 + h + 1) * P * P), (h * B + b) * P * P);
    }
  }
  const view = permute(tensor(hb, [3, B, P, P]), [1, 0, 2, 3]);
  const runs = slice(tensor(new Int32Array([99, 99, ...meta]), [3, 2], { dtype: "i32" }), [[1, 3]]);
  const [got] = await readTensors([headScores(view, runs)]);
  const ind = inductionScoresRef(pat, shape, meta);
  const prev = prevTokenScoresRef(pat, shape);
  assertClose(got, [ind[0], prev[0], ind[1], prev[1], ind[2], prev[2]], 1e-6, 1e-5, "scores");
});
