/**
 * The analysis toolkit: the residual stream taken apart (logit lens, decomposition, per-head
 * outputs, direct logit attribution), head detectors, activation and attribution patching, and
 * generation with a KV cache, all on GPU tensors from a {@link HookedTransformer} and its
 * `ActivationCache`. The views that show the results are in `src/viz/`.
 *
 * @example
 * ```ts
 * import { decomposeResid, logitAttrs, inductionScores, generate } from "./src/analysis/mod.ts";
 * const { logits, cache } = model.runWithCache(tokens);
 * const { stack, labels } = decomposeResid(cache, model, { posSlice: -1 });
 * const dla = logitAttrs(cache, model, stack, [answer], { incorrectTokens: [other], posSlice: -1 });
 * const ind = inductionScores(cache, tokens); // [n_layers, n_heads]
 * const [seq] = await generate(model, [prompt], { maxNewTokens: 10, doSample: false });
 * ```
 *
 * @module
 */

export {
  accumulatedResid,
  type AccumulatedResidOptions,
  type ApplyLnOptions,
  applyLnToStack,
  decomposeResid,
  type DecomposeResidOptions,
  headResults,
  logitAttrs,
  type LogitAttrsOptions,
  logitLens,
  type LogitLensOptions,
  type PosSlice,
  type ResidStack,
  stackHeadResults,
  type StackHeadResultsOptions,
  type TokenIndex,
  tokensToResidualDirections,
} from "./resid.ts";
export {
  detectHeads,
  detectionPattern,
  detectionScores,
  type DetectOptions,
  duplicateTokenScores,
  type HeadKind,
  inductionScores,
  previousTokenScores,
  type TokenRows,
} from "./detectors.ts";
export {
  actPatchHeads,
  type ActPatchHeadsOptions,
  actPatchResid,
  type ActPatchResidOptions,
  attributionPatch,
  attributionPatchHeads,
  attributionPatchResid,
  type AttributionResult,
  type HeadHook,
  logitDiffMetric,
  type Metric,
  type ResidHook,
} from "./patching.ts";
export {
  forwardWithKvCache,
  generate,
  type GenerateOptions,
  KeyValueCache,
  sampleFromLogits,
  seededRandom,
  type Tokens2D,
} from "./generate.ts";
