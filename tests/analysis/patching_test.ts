/**
 * Activation patching and attribution patching.
 *
 * The comparison runs on a model trained here for 50 AdamW steps (about 10 s on a software
 * adapter) on an easy task: 2 attention-only layers must output, at the last of 6 positions, the
 * token at position 0. Clean and corrupted prompts differ only in that token, and the metric is
 * the logit difference between the two answers, so the answer is known: patching position 0 of
 * resid_pre 0 restores the clean metric exactly, patching a position where nothing differs
 * changes nothing, and the heads that move the token to the last position matter most.
 * Attribution patching (a first-order estimate) must agree on the largest effects.
 *
 * Tolerances: metric values compare runs that compute the same thing in f32 (logits O(10)):
 * METRIC_ATOL 1e-4. Where the metric is linear in the patched activation (the last layer's
 * hook_z with no layer norm), attribution equals the patching effect up to rounding: atol 1e-4
 * plus rtol 1e-3 of the effect (a d_head·n_heads product and the difference of two runs).
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { assertNear, randomModel, rng } from "../model/_fixtures.ts";
import { memory, tidy } from "../../src/memory.ts";
import { backward } from "../../src/autograd/backward.ts";
import { AdamW } from "../../src/optim/optimizers.ts";
import { tensor } from "../../src/ops/creation.ts";
import { crossEntropy } from "../../src/ops/loss.ts";
import { contiguous, reshape, slice } from "../../src/ops/movement.ts";
import { HookedTransformer } from "../../src/model/mod.ts";
import type { Tensor } from "../../src/tensor.ts";
import {
  actPatchHeads,
  actPatchResid,
  attributionPatch,
  attributionPatchHeads,
  attributionPatchResid,
  logitDiffMetric,
} from "../../src/analysis/mod.ts";

const METRIC_ATOL = 1e-4;
const V = 10;
const S = 6;

/** The copy-the-first-token model, trained here (deterministic seeds). */
function trainCopyModel(): HookedTransformer {
  const model = HookedTransformer.init(
    { nLayers: 2, dModel: 32, nHeads: 4, nCtx: S, dVocab: V, attnOnly: true },
    { seed: 1, requiresGrad: true },
  );
  const opt = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0 });
  const r = rng(7);
  const B = 32;
  for (let step = 0; step < 50; step++) {
    const rows = Array.from(
      { length: B },
      () => Array.from({ length: S }, () => Math.floor(r() * V)),
    );
    const target = new Int32Array(rows.map((row) => row[0]));
    tidy(() => {
      const logits = model.forward(rows);
      const last = reshape(contiguous(slice(logits, [null, [S - 1, S]])), [B, V]);
      backward(crossEntropy(last, tensor(target, [B], { dtype: "i32" })));
    });
    opt.step();
    opt.zeroGrad();
  }
  for (const p of model.parameters()) p.requiresGrad = false;
  return model;
}

let trained: HookedTransformer | null = null;
function copyModel(): HookedTransformer {
  trained ??= trainCopyModel();
  return trained;
}

const CLEAN = [[1, 5, 7, 2, 8, 3], [4, 9, 0, 6, 2, 5]];
const CORRUPT = [[6, 5, 7, 2, 8, 3], [3, 9, 0, 6, 2, 5]];
const metric = logitDiffMetric([1, 4], [6, 3]);

async function value(t: Tensor): Promise<number> {
  const v = (await t.read())[0];
  t.dispose();
  return v;
}

function argmaxAbs(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (Math.abs(v[i]) > Math.abs(v[best])) best = i;
  return best;
}

gpuTest(
  "logitDiffMetric() is the batch mean of the logit difference at the last position",
  async () => {
    const { model } = randomModel({ nLayers: 1, dModel: 8, nHeads: 2, nCtx: 6, dVocab: 7 }, 3);
    try {
      const logits = model.forward([[1, 2, 3], [4, 5, 6]]);
      const v = await logits.read();
      const want = ((v[2 * 7 + 1] - v[2 * 7 + 2]) + (v[5 * 7 + 3] - v[5 * 7 + 0])) / 2;
      assertNear(
        [await value(logitDiffMetric([1, 3], [2, 0])(logits))],
        [want],
        "metric",
        1e-5,
        1e-5,
      );
      const at0 = (v[1] - v[2] + v[3 * 7 + 3] - v[3 * 7]) / 2;
      assertNear(
        [await value(logitDiffMetric([1, 3], [2, 0], { pos: 0 })(logits))],
        [at0],
        "pos 0",
        1e-5,
        1e-5,
      );
      assert.throws(() => logitDiffMetric([1], [2])(logits), /must be \[batch 1, pos, d_vocab\]/);
      assert.throws(() => logitDiffMetric([1, 9], [2, 0])(logits), /token 9 is outside \[0, 7\)/);
      logits.dispose();
    } finally {
      model.dispose();
    }
  },
);

gpuTest(
  "actPatchResid() restores the clean metric where the prompts differ and nowhere else",
  async () => {
    const model = copyModel();
    const { logits, cache } = model.runWithCache(CLEAN);
    const before = memory().liveTensors;
    try {
      const clean = await value(tidy(() => metric(logits)));
      const corrupt = await value(tidy(() => metric(model.forward(CORRUPT))));
      assert.ok(
        clean > 2 && corrupt < -2,
        `the model learned the task (clean ${clean}, corrupt ${corrupt})`,
      );
      const grid = actPatchResid(model, CORRUPT, cache, metric);
      assert.deepEqual(grid.shape, [2, S]);
      const g = await grid.read();
      grid.dispose();
      assertNear(
        [g[0]],
        [clean],
        "resid_pre 0 at position 0 (the only difference)",
        METRIC_ATOL,
        0,
      );
      for (let p = 1; p < S; p++) {
        assertNear(
          [g[p]],
          [corrupt],
          `resid_pre 0 at position ${p} (identical in both runs)`,
          METRIC_ATOL,
          0,
        );
      }
      // resid_post of the last layer at the last position: the clean logits themselves.
      const post = actPatchResid(model, CORRUPT, cache, metric, { hook: "resid_post" });
      const gp = await post.read();
      post.dispose();
      assertNear([gp[S + S - 1]], [clean], "resid_post 1 at the last position", METRIC_ATOL, 0);
      assert.equal(memory().liveTensors - before, 0, "actPatchResid leaked tensors");
    } finally {
      logits.dispose();
      cache.dispose();
    }
  },
);

gpuTest(
  "actPatchHeads() grids are [layers, heads] and by position [layers, pos, heads]; the last layer's heads before the last position change nothing",
  async () => {
    const model = copyModel();
    const { logits, cache } = model.runWithCache(CLEAN, { names: /hook_z$/ });
    const before = memory().liveTensors;
    try {
      const corrupt = await value(tidy(() => metric(model.forward(CORRUPT))));
      const all = actPatchHeads(model, CORRUPT, cache, metric);
      assert.deepEqual(all.shape, [2, 4]);
      const byPos = actPatchHeads(model, CORRUPT, cache, metric, { byPos: true });
      assert.deepEqual(byPos.shape, [2, S, 4]);
      const b = await byPos.read();
      // The metric reads only the last position, and a head's output at position p < S - 1 in the
      // last layer reaches nothing after it: patching it leaves the metric as it was.
      for (let p = 0; p < S - 1; p++) {
        for (let h = 0; h < 4; h++) {
          assertNear(
            [b[(S + p) * 4 + h]],
            [corrupt],
            `layer 1, position ${p}, head ${h}`,
            METRIC_ATOL,
            0,
          );
        }
      }
      all.dispose();
      byPos.dispose();
      assert.equal(memory().liveTensors - before, 0, "actPatchHeads leaked tensors");
    } finally {
      logits.dispose();
      cache.dispose();
    }
  },
);

gpuTest(
  "attribution patching agrees with activation patching on the trained model: the largest effects are the same cells",
  async () => {
    const model = copyModel();
    const { logits, cache } = model.runWithCache(CLEAN);
    const before = memory().liveTensors;
    try {
      const corrupt = await value(tidy(() => metric(model.forward(CORRUPT))));
      const { baseline, attributions } = attributionPatch(model, CORRUPT, cache, metric, []);
      assertNear([await value(baseline)], [corrupt], "attributionPatch's baseline", METRIC_ATOL, 0);
      assert.equal(attributions.size, 0);

      const act = actPatchResid(model, CORRUPT, cache, metric);
      const est = attributionPatchResid(model, CORRUPT, cache, metric);
      assert.deepEqual(est.shape, [2, S]);
      const effect = Array.from(await act.read(), (v) => v - corrupt);
      const e = await est.read();
      assert.equal(argmaxAbs(e), argmaxAbs(effect), `resid: act ${effect}\nattr ${Array.from(e)}`);
      assert.ok(
        e[0] > 0 && effect[0] > 0,
        "resid_pre 0, position 0 helps the clean answer in both",
      );
      for (let p = 1; p < S; p++) {
        assert.equal(e[p], 0, `nothing differs at resid_pre 0, position ${p}`);
      }

      const actH = actPatchHeads(model, CORRUPT, cache, metric);
      const estH = attributionPatchHeads(model, CORRUPT, cache, metric);
      const effH = Array.from(await actH.read(), (v) => v - corrupt);
      const eH = await estH.read();
      assert.equal(argmaxAbs(eH), argmaxAbs(effH), `heads: act ${effH}\nattr ${Array.from(eH)}`);
      assert.ok(Math.sign(eH[argmaxAbs(eH)]) === Math.sign(effH[argmaxAbs(effH)]), "same sign");
      const byPos = attributionPatchHeads(model, CORRUPT, cache, metric, { byPos: true });
      assert.deepEqual(byPos.shape, [2, S, 4]);
      for (const t of [act, est, actH, estH, byPos]) t.dispose();
      assert.equal(memory().liveTensors - before, 0, "attribution patching leaked tensors");
    } finally {
      logits.dispose();
      cache.dispose();
    }
  },
);

gpuTest(
  "attributionPatchHeads() equals activation patching where the metric is linear (last layer's hook_z, no layer norm)",
  async () => {
    const { model } = randomModel(
      {
        nLayers: 2,
        dModel: 12,
        nHeads: 3,
        nCtx: 6,
        dVocab: 9,
        attnOnly: true,
        normalization: null,
      },
      11,
    );
    const clean = [[1, 2, 3, 4, 5], [6, 7, 8, 0, 1]];
    const corrupt = [[2, 2, 3, 4, 6], [6, 5, 8, 0, 2]];
    const m = logitDiffMetric([3, 4], [5, 6]);
    const { logits, cache } = model.runWithCache(clean, { names: /hook_z$/ });
    try {
      const corruptM = await value(tidy(() => m(model.forward(corrupt))));
      const act = actPatchHeads(model, corrupt, cache, m);
      const est = attributionPatchHeads(model, corrupt, cache, m);
      const effect = Array.from(await act.read(), (v) => v - corruptM);
      const e = await est.read();
      // Layer 1 (the last): z → W_O → residual → unembed is linear, so the estimate is exact.
      assertNear(
        e.subarray(3),
        effect.slice(3),
        "layer 1 heads: attribution vs patching",
        1e-4,
        1e-3,
      );
      act.dispose();
      est.dispose();
    } finally {
      logits.dispose();
      cache.dispose();
      model.dispose();
    }
  },
);

gpuTest("patching names what is wrong: hooks, shapes, metrics, missing activations", () => {
  const { model } = randomModel({
    nLayers: 1,
    dModel: 8,
    nHeads: 2,
    nCtx: 6,
    dVocab: 7,
    attnOnly: true,
  }, 4);
  const { logits, cache } = model.runWithCache([[1, 2, 3]], { names: /hook_z$/ });
  try {
    const m = logitDiffMetric([1], [2]);
    assert.throws(
      () => actPatchResid(model, [[3, 2, 1]], cache, m, { hook: "mlp_out" }),
      /attention-only model has no mlp_out/,
    );
    assert.throws(
      () => actPatchResid(model, [[3, 2, 1]], cache, m),
      /no "blocks.0.hook_resid_pre".*not cached/,
    );
    assert.throws(
      () => actPatchHeads(model, [[3, 2, 1]], cache, m, { hook: "pattern" as "z" }),
      /hook "pattern" is not one of/,
    );
    assert.throws(
      () => actPatchHeads(model, [[3, 2, 1, 0]], cache, m),
      /does not match this run's/,
    );
    assert.throws(
      () => actPatchHeads(model, [[3, 2, 1]], cache, (l) => l),
      /metric must return a one-element tensor, got #\d+ f32\[1, 3, 7\]/,
    );
    assert.throws(
      () => attributionPatchHeads(model, [[3, 2, 1, 0]], cache, m),
      /does not match the corrupted run's/,
    );
  } finally {
    logits.dispose();
    cache.dispose();
    model.dispose();
  }
});

globalThis.addEventListener("unload", () => trained?.dispose());
