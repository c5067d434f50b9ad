/**
 * Results of Elhage et al. 2022, "Toy Models of Superposition", reproduced with seeded runs.
 * Instances of one model train together; each has its own random init and data stream, so the
 * instances of a test are independent runs. Where one run can settle in a local optimum (the
 * paper's and ARENA's plots show the same), the test requires most runs, not all, and says so.
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { ToyModel } from "../../src/toy/model.ts";
import { featureAngle } from "../../src/toy/metrics.ts";
import { neighbourAngles, phaseDiagram, sparsitySweep } from "../../src/toy/train.ts";

const linspace = (a: number, b: number, k: number) =>
  Array.from({ length: k }, (_, i) => a + ((b - a) * i) / (k - 1));

gpuTest(
  "ToyModel reproduces the paper: dense n=5, m=2, I=0.9^i keeps the top two features orthogonal",
  async () => {
    const model = new ToyModel({
      nInstances: 8,
      nFeatures: 5,
      nHidden: 2,
      featureProbability: 1,
      importance: 0.9,
      seed: 1,
    });
    await model.train({ steps: 10_000, batch: 1024, lr: 1e-3 });
    const snap = await model.snapshot();
    model.dispose();
    const ok = snap.instances.filter((inst) => {
      const nrm = inst.metrics.featureNorms;
      // Top two represented (‖W_i‖ > 0.9, the paper's ≈ 1), at 90° ± 5°, the rest below 0.3.
      return nrm[0] > 0.9 && nrm[1] > 0.9 && Math.abs(featureAngle(inst.W, 0, 1) - 90) < 5 &&
        nrm.slice(2).every((x) => x < 0.3);
    });
    // Seen: 8 of 8 at this seed; allow one run in a local optimum.
    assert.ok(
      ok.length >= 7,
      `only ${ok.length}/8 runs keep features 0 and 1 orthogonal and drop 2-4: ${
        JSON.stringify(snap.instances.map((i) => i.metrics.featureNorms.map((x) => +x.toFixed(2))))
      }`,
    );
  },
);

gpuTest(
  "ToyModel reproduces the paper: sparse n=5, m=2, equal importance forms a regular pentagon",
  async () => {
    const model = new ToyModel({
      nInstances: 8,
      nFeatures: 5,
      nHidden: 2,
      featureProbability: 0.05,
      importance: 1,
      seed: 2,
    });
    await model.train({ steps: 5000, batch: 1024, lr: 1e-3 });
    const snap = await model.snapshot();
    model.dispose();
    const pentagons = snap.instances.filter((inst) => {
      const angles = neighbourAngles(inst.W);
      // Norms near 1 (the bias b ≈ −0.25 lets them settle near 1.13), neighbours 72° ± 5°,
      // every D_i = 2/5 ± 0.05.
      return inst.metrics.featureNorms.every((x) => x > 0.8 && x < 1.3) && angles.length === 5 &&
        angles.every((a) => Math.abs(a - 72) < 5) &&
        inst.metrics.dimensionality.every((d) => Math.abs(d - 0.4) < 0.05);
    });
    // A run can get stuck with two antipodal pairs (seen: 7/8 form the pentagon at this seed).
    assert.ok(
      pentagons.length >= 6,
      `only ${pentagons.length}/8 runs form a pentagon: ${
        JSON.stringify(snap.instances.map((i) => neighbourAngles(i.W).map((a) => Math.round(a))))
      }`,
    );
  },
);

gpuTest(
  "ToyModel reproduces the paper: n=5, m=2, sparser data represents more features",
  async () => {
    const probs = linspace(0, 1, 8).map((t) => 50 ** -t);
    const model = new ToyModel({
      nInstances: 8,
      nFeatures: 5,
      nHidden: 2,
      featureProbability: probs,
      importance: 0.9,
      seed: 3,
    });
    await model.train({ steps: 10_000, batch: 1024, lr: 1e-3 });
    const snap = await model.snapshot();
    model.dispose();
    const counts = snap.instances.map((i) => i.metrics.represented);
    const msg = `represented features by 1 − S = [${probs.map((p) => p.toFixed(3))}]: [${counts}]`;
    // Dense: only the top m = 2; sparsest (1 − S = 0.02): all five (the pentagon).
    assert.equal(counts[0], 2, msg);
    assert.equal(counts[7], 5, msg);
    // Non-decreasing as sparsity grows, with a tolerance of one feature between neighbours: one
    // run can drop a feature into a local optimum (seen: [2,4,4,3,4,4,5,5]).
    for (let r = 1; r < 8; r++) assert.ok(counts[r] >= counts[r - 1] - 1, msg);
    const half = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
    assert.ok(half(counts.slice(4)) >= half(counts.slice(0, 4)) + 0.5, msg);
  },
);

gpuTest("phaseDiagram() puts n=2, m=1 models in the paper's regions", async () => {
  const pd = await phaseDiagram({
    importances: [0.1, 1, 10],
    probabilities: [1, 0.01],
    seeds: 3,
    steps: 5000,
    seed: 5,
  });
  const cell = (r: number, p: number) =>
    pd.cells[pd.importances.indexOf(r)][pd.probabilities.indexOf(p)];
  const show = (c: ReturnType<typeof cell>) => JSON.stringify(c.runs.map((r) => [r.phase, r.W[0]]));
  // Dense and feature 2 unimportant: it is dropped.
  assert.equal(cell(0.1, 1).phase, "not represented", show(cell(0.1, 1)));
  // Dense and feature 2 ten times as important: it takes the only dimension.
  assert.equal(cell(10, 1).phase, "dedicated dimension", show(cell(10, 1)));
  // Very sparse, equal importance: both share the dimension with opposite signs.
  assert.equal(cell(1, 0.01).phase, "antipodal superposition", show(cell(1, 0.01)));
  for (const run of cell(1, 0.01).runs.filter((r) => r.phase === "antipodal superposition")) {
    assert.ok(run.W[0][0] * run.W[0][1] < 0, "antipodal: opposite signs");
  }
});

gpuTest(
  "sparsitySweep() (n=16, m=4, equal importance): ~1 dimension per feature dense, fewer sparse",
  async () => {
    const probs = [1, 0.3, 0.1, 0.03];
    const pts = await sparsitySweep({
      nFeatures: 16,
      nHidden: 4,
      probabilities: probs,
      steps: 4000,
      seed: 0,
    });
    const d = pts.map((p) => p.dimensionsPerFeature);
    const msg = `dimensions per feature by 1 − S = [${probs}]: [${d.map((x) => x.toFixed(3))}]`;
    // Dense: m features, each its own dimension (seen 0.995).
    assert.ok(Math.abs(d[0] - 1) < 0.1, msg);
    // Sparse: superposition packs more features per dimension (seen 0.18 at 0.03).
    assert.ok(d[3] < 0.5, msg);
    // Decreasing with sparsity (tolerance 0.05).
    for (let i = 1; i < d.length; i++) assert.ok(d[i] <= d[i - 1] + 0.05, msg);
    assert.equal(pts[0].represented, 4, msg);
    assert.ok(pts[3].represented > 4, msg);
  },
);
