import fc from "fast-check";
import { gpuTest, NUM_RUNS } from "../_gpu.ts";
import {
  beatsZeroModelProperty,
  dimensionalityBoundsProperty,
  importancePermutationProperty,
  noSuperpositionWhenWideProperty,
} from "../../src/toy/properties.ts";

// Each run trains a small model and every new (n, m, variant) compiles a kernel (up to seconds on
// lavapipe): a few runs each, sizes up to n = 5, m = 3.
const RUNS = Number(Deno.env.get("TOY_PROPERTY_RUNS") ?? Math.min(NUM_RUNS, 3));
const small = { maxFeatures: 5, maxHidden: 3 };

gpuTest(
  "dimensionalityBoundsProperty(): 0 ≤ D_i ≤ 1 and Σ D_i ≤ m on trained random models",
  async () => {
    await fc.assert(dimensionalityBoundsProperty({ ...small, steps: 500 }), { numRuns: RUNS });
  },
);

gpuTest(
  "beatsZeroModelProperty(): trained loss is below the zero model's on random configs",
  async () => {
    await fc.assert(beatsZeroModelProperty({ ...small, steps: 1500 }), { numRuns: RUNS });
  },
);

gpuTest(
  "noSuperpositionWhenWideProperty(): m ≥ n and dense data give a near-diagonal WᵀW",
  async () => {
    await fc.assert(noSuperpositionWhenWideProperty({ ...small, steps: 3000 }), { numRuns: RUNS });
  },
);

gpuTest(
  "importancePermutationProperty(): permuting importances permutes the solution",
  async () => {
    await fc.assert(importancePermutationProperty({ ...small, steps: 3000 }), { numRuns: RUNS });
  },
);
