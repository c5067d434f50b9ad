/**
 * The residual-stream tools against the model's own activations and logits, and against f64
 * references computed here from the cached values.
 *
 * Tolerances (|got − want| ≤ atol + rtol·|want|):
 * - stacks of cached activations are copies: exact (atol 0).
 * - sums of a decomposition (≤ 10 f32 components of size ≤ ~10 at d_model ≤ 32): each add rounds
 *   by ≤ 2⁻²⁴ relative, so ≤ 10 · 10 · 6e-8 ≈ 6e-6 absolute; SUM_ATOL 3e-5, SUM_RTOL 1e-5.
 * - logits and logit attributions (a d_model ≤ 32 dot product after a layer norm, compared with an
 *   f64 reference on the same cached inputs): the fixtures' ATOL 2e-5 / RTOL 1e-4, raised to
 *   LOGIT_ATOL 1e-4 where a sum over ≤ 12 components of logits O(5) is compared with the model's
 *   logit (the sum adds ≈ 12 · 5 · 6e-8 on top of each logit's own ≈ 1e-5).
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { assertNear, randomModel, randomTokens } from "../model/_fixtures.ts";
import { memory } from "../../src/memory.ts";
import { sum } from "../../src/ops/reduce.ts";
import { readTensors, type Tensor } from "../../src/tensor.ts";
import type { ConfigInput } from "../../src/model/mod.ts";
import {
  accumulatedResid,
  applyLnToStack,
  decomposeResid,
  logitAttrs,
  logitLens,
  stackHeadResults,
  tokensToResidualDirections,
} from "../../src/analysis/mod.ts";

const SUM_ATOL = 3e-5;
const SUM_RTOL = 1e-5;
const LOGIT_ATOL = 1e-4;
const LOGIT_RTOL = 1e-4;

const BASE: ConfigInput = { nLayers: 2, dModel: 16, nHeads: 4, nCtx: 8, dVocab: 11, dMlp: 20 };

async function read(t: Tensor): Promise<Float32Array> {
  return await t.read() as Float32Array;
}

/** Rows [n, d] of `x` at positions `pos` of [batch, P, d]. */
function rowsAt(x: Float32Array, B: number, P: number, d: number, pos: number): Float32Array {
  const out = new Float32Array(B * d);
  for (let b = 0; b < B; b++) out.set(x.subarray((b * P + pos) * d, (b * P + pos + 1) * d), b * d);
  return out;
}

/** f64 reference: ln_final with a given scale (cached) or own stats, then W_U, b_U. */
function refLens(
  x: Float32Array,
  scale: Float32Array | null,
  params: Map<string, Float32Array>,
  d: number,
  V: number,
  eps: number,
  ln: boolean,
): Float64Array {
  const rows = x.length / d;
  const out = new Float64Array(rows * V);
  const w = params.get("ln_final.w");
  const bb = params.get("ln_final.b");
  const WU = params.get("unembed.W_U")!;
  const bU = params.get("unembed.b_U")!;
  for (let r = 0; r < rows; r++) {
    const v = Array.from(x.subarray(r * d, (r + 1) * d));
    const mu = v.reduce((a, b) => a + b, 0) / d;
    const c = v.map((t) => t - mu);
    const s = scale ? scale[r] : Math.sqrt(c.reduce((a, t) => a + t * t, 0) / d + eps);
    const n = c.map((t, i) => (ln ? (t / s) * w![i] + bb![i] : t / s));
    for (let j = 0; j < V; j++) {
      let acc = bU[j];
      for (let i = 0; i < d; i++) acc += n[i] * WU[i * V + j];
      out[r * V + j] = acc;
    }
  }
  return out;
}

function noLeak(before: number, what: string) {
  const after = memory().liveTensors;
  assert.equal(after - before, 0, `${what} leaked ${after - before} tensors`);
}

gpuTest(
  "accumulatedResid() stacks resid_pre of each layer and the final resid_post, with TL's labels",
  async () => {
    const { model } = randomModel(BASE, 3);
    const toks = randomTokens(1, 2, 5, 11);
    const { logits, cache } = model.runWithCache(toks);
    const before = memory().liveTensors;
    try {
      const a = accumulatedResid(cache, model);
      assert.deepEqual(a.labels, ["0_pre", "1_pre", "final_post"]);
      assert.deepEqual(a.stack.shape, [3, 2, 5, 16]);
      const names = [
        "blocks.0.hook_resid_pre",
        "blocks.1.hook_resid_pre",
        "blocks.1.hook_resid_post",
      ];
      const want = await readTensors(names.map((n) => cache.get(n)));
      const got = await read(a.stack);
      want.forEach((w, i) =>
        assertNear(got.subarray(i * w.length, (i + 1) * w.length), w, names[i], 0, 0)
      );

      const mid = accumulatedResid(cache, model, { inclMid: true });
      assert.deepEqual(mid.labels, ["0_pre", "0_mid", "1_pre", "1_mid", "final_post"]);
      const l1 = accumulatedResid(cache, model, { layer: 1, mlpInput: true });
      assert.deepEqual(l1.labels, ["0_pre", "1_pre", "1_mid"]);

      // One position drops the axis (TL's integer Slice); a range keeps it.
      const last = accumulatedResid(cache, model, { posSlice: -1 });
      assert.deepEqual(last.stack.shape, [3, 2, 16]);
      const lastVals = await read(last.stack);
      assertNear(
        lastVals.subarray(0, 32),
        rowsAt(want[0] as Float32Array, 2, 5, 16, 4),
        "posSlice -1",
        0,
        0,
      );
      const range = accumulatedResid(cache, model, { posSlice: [1, 3] });
      assert.deepEqual(range.stack.shape, [3, 2, 2, 16]);
      for (const t of [a.stack, mid.stack, l1.stack, last.stack, range.stack]) t.dispose();
      noLeak(before, "accumulatedResid");
    } finally {
      logits.dispose();
      cache.dispose();
      model.dispose();
    }
  },
);

gpuTest(
  "logitLens() matches an f64 reference per layer and ends with the model's logits",
  async () => {
    const { model, params } = randomModel(BASE, 4);
    const toks = randomTokens(2, 2, 6, 11);
    const { logits, cache } = model.runWithCache(toks);
    const before = memory().liveTensors;
    try {
      const { d, V } = { d: 16, V: 11 };
      const lens = logitLens(cache, model);
      assert.deepEqual(lens.labels, ["0_pre", "1_pre", "final_post"]);
      assert.deepEqual(lens.stack.shape, [3, 2, 6, 11]);
      const got = await read(lens.stack);
      const n = 2 * 6 * V;
      const want = await read(logits);
      assertNear(
        got.subarray(2 * n),
        want,
        "logit lens final_post vs logits",
        LOGIT_ATOL,
        LOGIT_RTOL,
      );
      const [r0, r1, scale] = await readTensors([
        cache.get("resid_pre", 0),
        cache.get("resid_pre", 1),
        cache.get("ln_final.hook_scale"),
      ]) as Float32Array[];
      // The cached final scale on the earlier streams (TL's classic logit lens)...
      assertNear(got.subarray(0, n), refLens(r0, scale, params, d, V, 1e-5, true), "0_pre");
      assertNear(got.subarray(n, 2 * n), refLens(r1, scale, params, d, V, 1e-5, true), "1_pre");
      // ...or each stream normalised with its own statistics.
      const re = logitLens(cache, model, { recomputeLn: true });
      const gotRe = await read(re.stack);
      assertNear(
        gotRe.subarray(0, n),
        refLens(r0, null, params, d, V, 1e-5, true),
        "0_pre recomputed",
      );
      assertNear(
        gotRe.subarray(2 * n),
        want,
        "recomputed final_post vs logits",
        LOGIT_ATOL,
        LOGIT_RTOL,
      );
      // posSlice: the last position only.
      const lastLens = logitLens(cache, model, { posSlice: -1 });
      assert.deepEqual(lastLens.stack.shape, [3, 2, 11]);
      lens.stack.dispose();
      re.stack.dispose();
      lastLens.stack.dispose();
      noLeak(before, "logitLens");
    } finally {
      logits.dispose();
      cache.dispose();
      model.dispose();
    }
  },
);

gpuTest("decomposeResid() components sum to the residual stream they decompose", async () => {
  const cases: [ConfigInput, string][] = [
    [BASE, "LN, MLP"],
    [{ ...BASE, attnOnly: true }, "attention-only"],
    [{ ...BASE, positionalEmbedding: "shortformer" }, "shortformer"],
  ];
  for (const [cfg, label] of cases) {
    const { model } = randomModel(cfg, 5);
    const toks = randomTokens(3, 2, 5, 11);
    const { logits, cache } = model.runWithCache(toks);
    const before = memory().liveTensors;
    try {
      const full = decomposeResid(cache, model);
      const want = cfg.attnOnly
        ? ["embed", "pos_embed", "0_attn_out", "1_attn_out"]
        : cfg.positionalEmbedding === "shortformer"
        ? ["embed", "0_attn_out", "0_mlp_out", "1_attn_out", "1_mlp_out"]
        : ["embed", "pos_embed", "0_attn_out", "0_mlp_out", "1_attn_out", "1_mlp_out"];
      assert.deepEqual(full.labels, want, label);
      const checks: [Tensor, string][] = [[full.stack, "blocks.1.hook_resid_post"]];
      const l1 = decomposeResid(cache, model, { layer: 1 });
      checks.push([l1.stack, "blocks.1.hook_resid_pre"]);
      if (!cfg.attnOnly) {
        const mlpIn = decomposeResid(cache, model, { layer: 1, mlpInput: true });
        assert.deepEqual(mlpIn.labels.at(-1), "1_attn_out");
        checks.push([mlpIn.stack, "blocks.1.hook_resid_mid"]);
        const mlps = decomposeResid(cache, model, { mode: "mlp", inclEmbeds: false });
        assert.deepEqual(mlps.labels, ["0_mlp_out", "1_mlp_out"]);
        mlps.stack.dispose();
      }
      for (const [stack, name] of checks) {
        const s = sum(stack, 0);
        assertNear(
          await read(s),
          await read(cache.get(name)),
          `${label}: Σ decomposition vs ${name}`,
          SUM_ATOL,
          SUM_RTOL,
        );
        s.dispose();
        stack.dispose();
      }
      noLeak(before, `decomposeResid (${label})`);
    } finally {
      logits.dispose();
      cache.dispose();
      model.dispose();
    }
  }
});

gpuTest(
  "stackHeadResults() gives each head's z·W_O: heads + b_O sum to attn_out, the remainder completes the stream",
  async () => {
    const { model, params } = randomModel({ ...BASE, useAttnResult: true }, 6);
    const toks = randomTokens(4, 2, 5, 11);
    const { logits, cache } = model.runWithCache(toks);
    // The same run without hook_result cached: the heads come from hook_z and W_O.
    const { logits: l2, cache: zOnly } = model.runWithCache(toks, {
      names: (n) => !n.endsWith("hook_result"),
    });
    const before = memory().liveTensors;
    try {
      const a = stackHeadResults(cache, model);
      const b = stackHeadResults(zOnly, model);
      assert.deepEqual(a.labels, ["L0H0", "L0H1", "L0H2", "L0H3", "L1H0", "L1H1", "L1H2", "L1H3"]);
      assert.deepEqual(b.stack.shape, [8, 2, 5, 16]);
      const [ga, gb] = [await read(a.stack), await read(b.stack)];
      assertNear(gb, ga, "heads from z·W_O vs hook_result", SUM_ATOL, SUM_RTOL);
      // Layer 1's four heads + b_O = hook_attn_out of layer 1.
      const attnOut = await read(cache.get("attn_out", 1));
      const bO = params.get("blocks.1.attn.b_O")!;
      const n = 2 * 5 * 16;
      const summed = new Float64Array(n);
      for (let h = 4; h < 8; h++) for (let i = 0; i < n; i++) summed[i] += gb[h * n + i];
      for (let i = 0; i < n; i++) summed[i] += bO[i % 16];
      assertNear(summed, attnOut, "Σ heads of layer 1 + b_O vs attn_out", SUM_ATOL, SUM_RTOL);

      const withRem = stackHeadResults(zOnly, model, { inclRemainder: true, posSlice: -1 });
      assert.equal(withRem.labels.at(-1), "remainder");
      assert.deepEqual(withRem.stack.shape, [9, 2, 16]);
      const total = sum(withRem.stack, 0);
      const finalResid = await read(zOnly.get("resid_post", 1));
      assertNear(
        await read(total),
        rowsAt(finalResid, 2, 5, 16, 4),
        "heads + remainder vs resid_post",
        SUM_ATOL,
        SUM_RTOL,
      );
      const l1 = stackHeadResults(zOnly, model, { layer: 1, inclRemainder: true });
      assert.deepEqual(l1.labels, ["L0H0", "L0H1", "L0H2", "L0H3", "remainder"]);
      for (const t of [a.stack, b.stack, withRem.stack, total, l1.stack]) t.dispose();
      assert.throws(() => stackHeadResults(zOnly, model, { layer: 0 }), /layer 0 has no heads/);
      noLeak(before, "stackHeadResults");
    } finally {
      for (const t of [logits, l2]) t.dispose();
      cache.dispose();
      zOnly.dispose();
      model.dispose();
    }
  },
);

gpuTest(
  "applyLnToStack() with the cached scale: the scaled components sum to the normalised stream",
  async () => {
    for (const normalization of ["LNPre", "LN"] as const) {
      const { model, params } = randomModel({ ...BASE, normalization }, 7);
      const toks = randomTokens(5, 2, 5, 11);
      const { logits, cache } = model.runWithCache(toks);
      const before = memory().liveTensors;
      try {
        // Into the unembed: ln_final.
        const { stack } = decomposeResid(cache, model);
        const scaled = applyLnToStack(cache, model, stack);
        const s = sum(scaled, 0);
        let want = await read(cache.get("ln_final.hook_normalized"));
        if (normalization === "LN") {
          // hook_normalized includes w and b; the stack gets neither (TL's apply_ln_to_stack).
          const w = params.get("ln_final.w")!;
          const b = params.get("ln_final.b")!;
          want = want.map((v, i) => (v - b[i % 16]) / w[i % 16]);
        }
        assertNear(
          await read(s),
          want,
          `${normalization}: Σ applyLnToStack vs ln_final`,
          SUM_ATOL,
          1e-4,
        );
        // Into layer 1's MLP: ln2's scale, and decomposeResid's applyLn is the same thing.
        const mid = decomposeResid(cache, model, { layer: 1, mlpInput: true, applyLn: true });
        const s2 = sum(mid.stack, 0);
        let want2 = await read(cache.get("blocks.1.ln2.hook_normalized"));
        if (normalization === "LN") {
          const w = params.get("blocks.1.ln2.w")!;
          const b = params.get("blocks.1.ln2.b")!;
          want2 = want2.map((v, i) => (v - b[i % 16]) / w[i % 16]);
        }
        assertNear(
          await read(s2),
          want2,
          `${normalization}: Σ decomposition into ln2`,
          SUM_ATOL,
          1e-4,
        );
        // A sliced stack needs the same posSlice.
        const last = decomposeResid(cache, model, { posSlice: -1 });
        assert.throws(
          () => applyLnToStack(cache, model, last.stack),
          /does not match the cached "ln_final.hook_scale"/,
        );
        const ok = applyLnToStack(cache, model, last.stack, { posSlice: -1 });
        for (const t of [stack, scaled, s, mid.stack, s2, last.stack, ok]) t.dispose();
        noLeak(before, "applyLnToStack");
      } finally {
        logits.dispose();
        cache.dispose();
        model.dispose();
      }
    }
  },
);

/** Logit differences at the last position, [batch], from the model's logits. */
async function logitDiffs(logits: Tensor, right: number[], wrong: number[]): Promise<number[]> {
  const [, P, V] = logits.shape;
  const v = await read(logits);
  return right.map((t, b) => v[(b * P + P - 1) * V + t] - v[(b * P + P - 1) * V + wrong[b]]);
}

gpuTest(
  "logitAttrs() of a full decomposition plus b_U equals the model's logit difference (folded LN)",
  async () => {
    const { model, params } = randomModel({ ...BASE, normalization: "LNPre" }, 8);
    const toks = randomTokens(6, 3, 6, 11);
    const right = [1, 4, 7];
    const wrong = [2, 9, 0];
    const { logits, cache } = model.runWithCache(toks);
    const before = memory().liveTensors;
    try {
      const bU = params.get("unembed.b_U")!;
      const want = await logitDiffs(logits, right, wrong);
      const stacks: [string, Tensor][] = [];
      const { stack: decomp } = decomposeResid(cache, model, { posSlice: -1 });
      stacks.push(["decomposeResid", decomp]);
      const { stack: heads } = stackHeadResults(cache, model, {
        posSlice: -1,
        inclRemainder: true,
      });
      stacks.push(["stackHeadResults + remainder", heads]);
      for (const [what, stack] of stacks) {
        const attrs = logitAttrs(cache, model, stack, right, {
          incorrectTokens: wrong,
          posSlice: -1,
        });
        assert.deepEqual(attrs.shape, [stack.shape[0], 3], what);
        const a = await read(attrs);
        const got = right.map((t, b) => {
          let s = bU[t] - bU[wrong[b]];
          for (let c = 0; c < stack.shape[0]; c++) s += a[c * 3 + b];
          return s;
        });
        assertNear(got, want, `${what}: Σ DLA + b_U vs logit difference`, LOGIT_ATOL, LOGIT_RTOL);
        attrs.dispose();
      }
      // Every position, tokens [batch, pos]: Σ DLA + b_U = the logit of that token.
      const { stack: all } = decomposeResid(cache, model);
      const ids = toks.map((row) => row.map((t) => (t + 3) % 11));
      const attrs = logitAttrs(cache, model, all, ids);
      assert.deepEqual(attrs.shape, [all.shape[0], 3, 6]);
      const a = await read(attrs);
      const lv = await read(logits);
      const got: number[] = [];
      const wantAll: number[] = [];
      ids.forEach((row, b) =>
        row.forEach((t, p) => {
          let s = bU[t];
          for (let c = 0; c < all.shape[0]; c++) s += a[(c * 3 + b) * 6 + p];
          got.push(s);
          wantAll.push(lv[(b * 6 + p) * 11 + t]);
        })
      );
      assertNear(got, wantAll, "Σ DLA + b_U vs logits at every position", LOGIT_ATOL, LOGIT_RTOL);
      // One token for all: [component, batch].
      const one = logitAttrs(cache, model, decomp, 5, { posSlice: -1 });
      assert.deepEqual(one.shape, [decomp.shape[0], 3]);
      for (const t of [decomp, heads, all, attrs, one]) t.dispose();
      noLeak(before, "logitAttrs");
    } finally {
      logits.dispose();
      cache.dispose();
      model.dispose();
    }
  },
);

gpuTest("tokensToResidualDirections() are W_U's columns, shaped like the tokens", async () => {
  const { model, params } = randomModel(BASE, 9);
  try {
    const WU = params.get("unembed.W_U")!;
    const dirs = tokensToResidualDirections(model, [[3, 0], [10, 3]]);
    assert.deepEqual(dirs.shape, [2, 2, 16]);
    const v = await read(dirs);
    [3, 0, 10, 3].forEach((t, i) => {
      const col = Array.from({ length: 16 }, (_, r) => WU[r * 11 + t]);
      assertNear(v.subarray(i * 16, (i + 1) * 16), col, `direction of ${t}`, 0, 0);
    });
    const one = tokensToResidualDirections(model, 7);
    assert.deepEqual(one.shape, [16]);
    dirs.dispose();
    one.dispose();
  } finally {
    model.dispose();
  }
});

gpuTest(
  "residual tools reject bad layers, positions, tokens and missing activations, naming them",
  () => {
    const { model } = randomModel(BASE, 10);
    const { logits, cache } = model.runWithCache([[1, 2, 3]], { names: /resid_pre|hook_embed/ });
    const before = memory().liveTensors;
    try {
      assert.throws(
        () => accumulatedResid(cache, model, { layer: 3 }),
        /layer 3 is outside \[0, 2\]/,
      );
      assert.throws(
        () => accumulatedResid(cache, model),
        /no "blocks.1.hook_resid_post".*not cached/,
      );
      assert.throws(
        () => accumulatedResid(cache, model, { layer: 1, posSlice: 3 }),
        /position 3 is outside the 3 positions/,
      );
      assert.throws(
        () => accumulatedResid(cache, model, { layer: 1, posSlice: [2, 5] }),
        /posSlice \[2, 5\] is outside/,
      );
      assert.throws(() => decomposeResid(cache, model, { mode: "heads" as "all" }), /mode "heads"/);
      assert.throws(
        () => tokensToResidualDirections(model, [1, 11]),
        /token id 11 .* outside the vocabulary \[0, 11\)/,
      );
      const { stack } = accumulatedResid(cache, model, { layer: 1 });
      assert.throws(
        () => logitAttrs(cache, model, stack, [1], { incorrectTokens: [1, 2] }),
        /tokens and incorrectTokens differ in shape \(\[1\] and \[2\]\)/,
      );
      stack.dispose();
      noLeak(before, "the failed calls");
    } finally {
      logits.dispose();
      cache.dispose();
      model.dispose();
    }
  },
);
