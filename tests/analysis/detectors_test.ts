/**
 * Head detectors: the detection patterns by hand, the scores against an f64 reference on the
 * cached patterns (random models, random tokens, with and without exclusions), and the known
 * answer on a hand-made model with a previous-token head (L0H0) and an induction head (L1H0).
 *
 * Tolerance: a score is Σ(A ⊙ D) / Σ A over ≤ 81 f32 weights in [0, 1] per head and batch
 * element, averaged over ≤ 3: the GPU sums round by ≤ 81 · 2⁻²⁴ ≈ 5e-6 relative; ATOL 1e-5 and
 * RTOL 1e-4 cover that with room.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { gpuTest, NUM_RUNS } from "../_gpu.ts";
import { assertNear, randomModel, randomTokens } from "../model/_fixtures.ts";
import { memory } from "../../src/memory.ts";
import { readTensors } from "../../src/tensor.ts";
import {
  detectHeads,
  detectionPattern,
  detectionScores,
  type DetectOptions,
  duplicateTokenScores,
  type HeadKind,
  inductionScores,
  previousTokenScores,
} from "../../src/analysis/mod.ts";
import type { ActivationCache } from "../../src/model/mod.ts";
import { inductionModel, repeatedRun } from "./_circuits.ts";

const ATOL = 1e-5;
const RTOL = 1e-4;
const KINDS: HeadKind[] = ["previous_token", "duplicate_token", "induction"];

/** f64 reference: mean over the batch of Σ(A ⊙ D)/Σ A for every head, [layers · heads]. */
async function refScores(
  cache: ActivationCache,
  tokens: number[][],
  kind: HeadKind,
  opts: DetectOptions,
): Promise<number[]> {
  const out: number[] = [];
  const layers: number[] = [];
  while (cache.has("pattern", layers.length)) layers.push(layers.length);
  const pats = await readTensors(layers.map((l) => cache.get("pattern", l)));
  for (const [l, A] of pats.entries()) {
    const [B, H, P] = cache.get("pattern", l).shape;
    for (let h = 0; h < H; h++) {
      let acc = 0;
      for (let b = 0; b < B; b++) {
        const D = detectionPattern(tokens[b], kind);
        let hit = 0;
        let all = 0;
        for (let q = 0; q < P; q++) {
          for (let k = 0; k < P; k++) {
            if (opts.excludeBos && k === 0) continue;
            if (opts.excludeCurrentToken && k === q) continue;
            const a = A[((b * H + h) * P + q) * P + k];
            hit += a * D[q * P + k];
            all += a;
          }
        }
        acc += hit / all;
      }
      out.push(acc / B);
    }
  }
  return out;
}

Deno.test("detectionPattern() marks previous, duplicate and induction keys as TransformerLens does", () => {
  const t = [5, 7, 5, 7, 9];
  const ones = (kind: HeadKind) => {
    const d = detectionPattern(t, kind);
    const at: string[] = [];
    d.forEach((v, i) => v && at.push(`${Math.floor(i / 5)},${i % 5}`));
    return at;
  };
  assert.deepEqual(ones("previous_token"), ["1,0", "2,1", "3,2", "4,3"]);
  assert.deepEqual(ones("duplicate_token"), ["2,0", "3,1"]);
  // The token after an earlier copy of the current one: (2 → key 1), (3 → key 2).
  assert.deepEqual(ones("induction"), ["2,1", "3,2"]);
  assert.throws(() => detectionPattern(t, "copy" as HeadKind), /kind "copy"/);
});

gpuTest(
  "previousTokenScores(), inductionScores(): the hand-made model's L0H0 and L1H0 score as built",
  async () => {
    const model = inductionModel(12, 32);
    const seqs = [repeatedRun(8, 12, 3), repeatedRun(8, 12, 4)];
    const { logits, cache } = model.runWithCache(seqs, { names: /hook_pattern$/ });
    const before = memory().liveTensors;
    try {
      const tPrev = previousTokenScores(cache, seqs);
      const tInd = inductionScores(cache, seqs);
      const tDup = duplicateTokenScores(cache, seqs);
      const tNoSelf = previousTokenScores(cache, seqs, { excludeCurrentToken: true, layers: [0] });
      const [prev, ind, dup, noSelf] = await readTensors([tPrev, tInd, tDup, tNoSelf]);
      for (const t of [tPrev, tInd, tDup, tNoSelf]) t.dispose();
      assert.equal(memory().liveTensors - before, 0, "the detectors leaked tensors");
      assert.deepEqual(tPrev.shape, [2, 2]);
      // 17 positions: every query but position 0 (no previous token) attends to its previous one.
      assertNear([prev[0]], [16 / 17], "L0H0 previous-token score", 1e-4, 0);
      // The 8 queries of the second copy attend to the token after their earlier copy.
      assertNear([ind[2]], [8 / 17], "L1H0 induction score", 1e-4, 0);
      const argmax = (v: ArrayLike<number>) => Array.from(v).indexOf(Math.max(...Array.from(v)));
      assert.equal(argmax(prev), 0, `previous-token head should be L0H0, scores ${prev}`);
      assert.equal(argmax(ind), 2, `induction head should be L1H0, scores ${ind}`);
      assert.ok(Math.max(...dup) < 0.1, `no duplicate-token head was built, scores ${dup}`);
      // Without attention to the current token (position 0 then has none to count).
      assert.deepEqual(tNoSelf.shape, [1, 2]);
      assert.ok(noSelf[0] > 0.99, `L0H0 without self-attention: ${noSelf[0]}`);
    } finally {
      logits.dispose();
      cache.dispose();
      model.dispose();
    }
  },
);

gpuTest(
  "detectHeads() matches an f64 reference on random models and tokens, with the exclusions",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 1000 }),
          batch: fc.integer({ min: 1, max: 3 }),
          pos: fc.integer({ min: 2, max: 9 }),
          vocab: fc.integer({ min: 2, max: 7 }), // small: duplicates are common
          kind: fc.constantFrom(...KINDS),
          excludeBos: fc.boolean(),
          excludeCurrentToken: fc.boolean(),
        }),
        async ({ seed, batch, pos, vocab, kind, excludeBos, excludeCurrentToken }) => {
          const { model } = randomModel({
            nLayers: 2,
            dModel: 9,
            nHeads: 3,
            nCtx: 9,
            dVocab: vocab,
          }, seed);
          const tokens = randomTokens(seed, batch, pos, vocab);
          const { logits, cache } = model.runWithCache(tokens, { names: /hook_pattern$/ });
          try {
            const opts = { excludeBos, excludeCurrentToken };
            if (pos === 2 && excludeBos && excludeCurrentToken) return; // no attention left at all
            const s = detectHeads(cache, tokens, kind, opts);
            assert.deepEqual(s.shape, [2, 3]);
            assertNear(
              await s.read(),
              await refScores(cache, tokens, kind, opts),
              `${kind} scores`,
              ATOL,
              RTOL,
            );
            s.dispose();
          } finally {
            logits.dispose();
            cache.dispose();
            model.dispose();
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest("detectionScores() takes any detection patterns; the detectors name what is wrong", () => {
  const { model } = randomModel({ nLayers: 1, dModel: 8, nHeads: 2, nCtx: 8, dVocab: 5 }, 2);
  const toks = [[1, 2, 3], [3, 2, 1]];
  const { logits, cache } = model.runWithCache(toks, { names: /hook_pattern$/ });
  const { logits: l2, cache: none } = model.runWithCache(toks, { names: /hook_z$/ });
  try {
    assert.throws(
      () => detectionScores(cache, [new Float32Array(9)]),
      /1 detection pattern\(s\) for a batch of 2/,
    );
    assert.throws(
      () => detectionScores(cache, [new Float32Array(9), new Float32Array(4)]),
      /detection pattern 1 has 4 values; the cached patterns have 3 positions \(9 values\)/,
    );
    assert.throws(() => inductionScores(none, toks), /holds no blocks.0.attn.hook_pattern/);
    assert.throws(
      () => inductionScores(cache, toks, { layers: [1] }),
      /no "blocks.1.attn.hook_pattern"/,
    );
    assert.throws(() => inductionScores(cache, [[1, 2], [1]]), /token rows differ in length/);
  } finally {
    logits.dispose();
    l2.dispose();
    cache.dispose();
    none.dispose();
    model.dispose();
  }
});
