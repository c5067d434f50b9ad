import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { memory } from "../../src/memory.ts";
import { inductionResultsJson, trainInduction } from "../../src/train/induction.ts";

/** GLASSBOX_SLOW=1 runs the full experiment (minutes). */
const SLOW = (() => {
  try {
    return Deno.env.get("GLASSBOX_SLOW") === "1";
  } catch {
    return false;
  }
})();

gpuTest(
  "trainInduction() records losses and per-head scores on its schedule (short run)",
  async () => {
    const before = memory().liveTensors;
    const progress: number[] = [];
    const r = await trainInduction({
      layers: 2,
      steps: 60,
      dModel: 16,
      heads: 2,
      ctx: 24,
      batch: 8,
      logEvery: 25,
      evalBatch: 8,
      seed: 1,
      onProgress: (p) => void progress.push(p.step),
    });
    assert.equal(r.backend, "fused");
    assert.deepEqual(progress, [0, 25, 50, 60]);
    assert.deepEqual(r.evalSteps, [0, 25, 50, 60]);
    assert.equal(r.log.length, 60);
    assert.equal(r.induction.length, 4);
    assert.equal(r.induction[0].length, 2);
    assert.equal(r.induction[0][0].length, 2);
    for (const s of r.induction.flat(2).concat(r.prevToken.flat(2))) {
      assert.ok(s >= 0 && s <= 1, `score ${s}`);
    }
    assert.equal(r.bestInduction.layer, 1, "the induction head is looked for in layer 1");
    assert.equal(r.bestPrevToken.layer, 0);
    assert.equal(r.phaseChange, null, "60 steps are far too few for induction heads");
    const first = r.log.slice(0, 10).reduce((a, e) => a + e.loss, 0) / 10;
    const last = r.log.slice(-10).reduce((a, e) => a + e.loss, 0) / 10;
    assert.ok(last < first, `loss ${first} → ${last}`);
    const json = inductionResultsJson(r) as { losses: number[]; final: { loss: number } };
    assert.equal(json.losses.length, 60);
    assert.equal(json.final.loss, r.log[59].loss);
    r.model.dispose();
    assert.equal(memory().liveTensors, before, "only the model was left, and it is disposed");
  },
);

gpuTest("trainInduction() trains through the autodiff backend too", async () => {
  const r = await trainInduction({
    layers: 1,
    steps: 6,
    dModel: 8,
    heads: 2,
    ctx: 20,
    batch: 2,
    logEvery: 3,
    evalBatch: 2,
    backend: "autodiff",
  });
  assert.equal(r.backend, "autodiff");
  assert.deepEqual(r.evalSteps, [0, 3, 6]);
  assert.equal(
    r.bestInduction.layer,
    0,
    "a 1-layer model's induction head is looked for in layer 0",
  );
  for (const p of r.model.parameters()) assert.equal(p.requiresGrad, false);
  r.model.dispose();
});

gpuTest("trainInduction() rejects bad options, naming them", async () => {
  await assert.rejects(() => trainInduction({ layers: 0 }), /layers must be an integer ≥ 1, got 0/);
  await assert.rejects(
    () => trainInduction({ steps: 1.5 }),
    /steps must be an integer ≥ 0, got 1.5/,
  );
  await assert.rejects(
    () => trainInduction({ schedule: "step" as "cosine" }),
    /schedule "step" is not "constant" or "cosine"/,
  );
  await assert.rejects(() => trainInduction({ ctx: 16 }), /ctx 16 is too short/);
});

// The experiment of the issue, at full size: a few minutes on two CPU cores, so it runs only with
// GLASSBOX_SLOW=1. Its results (and the PyTorch reference) are in the report of the task.
Deno.test({
  name: "trainInduction(): 2 layers grow a layer-1 induction head and a layer-0 previous-token " +
    "head; 1 layer grows none (full experiment, GLASSBOX_SLOW=1)",
  ignore: !SLOW,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const two = await trainInduction({ layers: 2, steps: 3000, seed: 0 });
    assert.ok(
      two.bestInduction.layer === 1 && two.bestInduction.score > 0.4,
      JSON.stringify(two.bestInduction),
    );
    assert.ok(two.bestPrevToken.score > 0.3, JSON.stringify(two.bestPrevToken));
    assert.ok(two.phaseChange !== null, "the best induction score jumps");
    two.model.dispose();
    const one = await trainInduction({ layers: 1, steps: 3000, seed: 0 });
    assert.ok(one.bestInduction.score < 0.2, JSON.stringify(one.bestInduction));
    assert.equal(one.phaseChange, null);
    one.model.dispose();
  },
});
