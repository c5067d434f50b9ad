import assert from "node:assert/strict";
import fc from "fast-check";
import { assertClose, gpuTest } from "../_gpu.ts";
import { tensor } from "../../src/ops/creation.ts";
import {
  dimensionsPerFeature,
  featureAngle,
  featureDimensionality,
  featureNorms,
  gram,
  gramTensor,
  superposition,
  toyMetrics,
} from "../../src/toy/metrics.ts";
import { checkDimensionalityBounds } from "../../src/toy/properties.ts";
import { classifyTwoFeature, neighbourAngles } from "../../src/toy/train.ts";

/** A regular k-gon of unit vectors in 2-D, as W (2 rows of k). */
function polygon(k: number, r = 1): number[][] {
  const a = Array.from({ length: k }, (_, i) => (2 * Math.PI * i) / k);
  return [a.map((t) => r * Math.cos(t)), a.map((t) => r * Math.sin(t))];
}

const arbW = fc.integer({ min: 1, max: 6 }).chain((m) =>
  fc.array(fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 1, maxLength: 9 }), {
    minLength: m,
    maxLength: m,
  }).map((rows) => {
    const n = Math.min(...rows.map((r) => r.length));
    return rows.map((r) => r.slice(0, n));
  })
);

Deno.test("toyMetrics() on known geometries: dedicated, antipodal, pentagon, unrepresented", () => {
  // Identity: each feature its own dimension.
  const id = toyMetrics([[1, 0], [0, 1]]);
  assert.deepEqual(id.featureNorms, [1, 1]);
  assert.deepEqual(id.dimensionality, [1, 1]);
  assert.deepEqual(id.superposition, [0, 0]);
  assert.equal(id.dimensionsPerFeature, 1);
  assert.equal(id.represented, 2);
  // Antipodal pair and an unrepresented feature.
  const anti = toyMetrics([[1, -1, 0]]);
  assert.deepEqual(anti.dimensionality, [0.5, 0.5, 0]);
  assert.deepEqual(anti.superposition, [1, 1, 0]);
  assert.equal(anti.represented, 2);
  // Pentagon: D_i = 2/5, neighbours 72° apart, any scale.
  const pent = polygon(5, 1.13);
  assertClose(featureDimensionality(pent), [0.4, 0.4, 0.4, 0.4, 0.4], 1e-12, 0, "D");
  assertClose(neighbourAngles(pent), [72, 72, 72, 72, 72], 1e-9, 0, "angles");
  assertClose([featureAngle(pent, 0, 2)], [144], 1e-9, 0, "angle 0-2");
  assert.ok(Number.isNaN(featureAngle([[1, 0]], 0, 1)));
  assert.equal(dimensionsPerFeature([[0, 0]]), Infinity);
  assertClose(gram([[1, 0, 1], [0, 1, 1]]).flat(), [1, 0, 1, 0, 1, 1, 1, 1, 2], 0, 0, "gram");
  assert.deepEqual(featureNorms([[3, 0], [4, 0]]), [5, 0]);
});

Deno.test("classifyTwoFeature() names the three regions of the n = 2, m = 1 phase diagram", () => {
  assert.equal(classifyTwoFeature([[1, 0.01]]), "not represented");
  assert.equal(classifyTwoFeature([[0.02, 0.98]]), "dedicated dimension");
  assert.equal(classifyTwoFeature([[0.9, -1.05]]), "antipodal superposition");
});

Deno.test("toy metrics reject ragged W with the row lengths", () => {
  assert.throws(() => gram([[1, 2], [3]]), /W rows must all have 2 numbers, got \[2,1\]/);
});

Deno.test("toy metrics: 0 ≤ D_i ≤ 1, Σ D_i ≤ m, superposition ≥ 0 for random W", () => {
  fc.assert(
    fc.property(arbW, (W) => {
      // Exact identities up to f64 rounding: tolerance 1e-9.
      checkDimensionalityBounds(W, 1e-9);
      const m = toyMetrics(W);
      const G = gram(W);
      for (let i = 0; i < G.length; i++) {
        assert.ok(m.superposition[i] >= 0);
        // D_i · Σ_j (Ŵ_i·W_j)² = ‖W_i‖², i.e. D_i (‖W_i‖² + sup_i) = ‖W_i‖² for a nonzero column.
        if (G[i][i] > 1e-12) {
          assertClose(
            [m.dimensionality[i] * (G[i][i] + m.superposition[i])],
            [G[i][i]],
            1e-9,
            1e-9,
            "D",
          );
        }
      }
      assertClose(superposition(W), m.superposition, 1e-12, 1e-12, "superposition()");
      const f = W.flat().reduce((a, v) => a + v * v, 0);
      if (f > 0) assertClose([dimensionsPerFeature(W)], [W.length / f], 0, 1e-12, "dims/feature");
    }),
    { numRuns: 200 },
  );
});

gpuTest("gramTensor() equals gram() for every instance", async () => {
  const I = 3, m = 4, n = 7;
  const data = Float32Array.from({ length: I * m * n }, (_, i) => Math.sin(i * 1.7));
  const W = tensor(data, [I, m, n]);
  const G = gramTensor(W);
  assert.deepEqual(G.shape, [I, n, n]);
  const got = await G.read();
  const want: number[] = [];
  for (let r = 0; r < I; r++) {
    const rows = Array.from(
      { length: m },
      (_, k) => Array.from(data.subarray((r * m + k) * n, (r * m + k + 1) * n)),
    );
    want.push(...gram(rows).flat());
  }
  // f32 matmul of 4 products vs f64: 1e-5.
  assertClose(got, want, 1e-5, 1e-5, "WᵀW");
  assert.throws(() => gramTensor(tensor([1, 2])), /W must be \[instances, m, n\]/);
  W.dispose();
  G.dispose();
});
