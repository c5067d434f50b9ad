/**
 * Toy Models of Superposition (Elhage et al. 2022) on the GPU: the model (`ToyModel`), its
 * training (fused kernel; the generic autodiff path for checking), the paper's metrics and
 * experiments, and reusable fast-check properties.
 *
 * @example
 * ```ts
 * import { init } from "../gpu/engine.ts";
 * import { ToyModel } from "./mod.ts";
 * await init();
 * const model = new ToyModel({ nInstances: 8, nFeatures: 5, nHidden: 2, importance: 0.9 });
 * await model.train({ steps: 5000 });
 * console.log((await model.snapshot()).instances[0].metrics);
 * model.dispose();
 * ```
 *
 * @module
 */

export {
  type ToyInstanceSnapshot,
  ToyModel,
  type ToyModelOptions,
  type ToySnapshot,
  type ToyVariant,
} from "./model.ts";
export {
  classifyTwoFeature,
  type GenericResult,
  neighbourAngles,
  type PhaseCell,
  phaseDiagram,
  type PhaseDiagramOptions,
  sparsitySweep,
  type SparsitySweepOptions,
  type SweepPoint,
  toyBatchRef,
  toyLossRef,
  type ToyRefConfig,
  toyTrainRef,
  trainFused,
  trainGeneric,
  type TrainOptions,
  type TrainResult,
  type TwoFeaturePhase,
} from "./train.ts";
export {
  dimensionsPerFeature,
  featureAngle,
  featureDimensionality,
  featureNorms,
  gram,
  gramTensor,
  superposition,
  type ToyMetrics,
  toyMetrics,
  type Weights,
} from "./metrics.ts";
export {
  arbToyConfig,
  type ArbToyOptions,
  beatsZeroModelProperty,
  checkDimensionalityBounds,
  dimensionalityBoundsProperty,
  importancePermutationProperty,
  noSuperpositionWhenWideProperty,
  type ToyPropertyConfig,
  type ToyPropertyOptions,
} from "./properties.ts";
