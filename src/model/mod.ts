/**
 * The microscope: `HookedTransformer`, a transformer whose every activation is a GPU tensor that
 * hooks can read, replace, ablate and patch by its TransformerLens name.
 *
 * @example
 * ```ts
 * import { HookedTransformer, zeroAblateHead } from "./src/model/mod.ts";
 * const model = HookedTransformer.init({ nLayers: 2, dModel: 32, nHeads: 4, nCtx: 16, dVocab: 50 });
 * const { logits, cache } = model.runWithCache([[1, 2, 3]]);
 * const ablated = model.runWithHooks([[1, 2, 3]], { fwdHooks: [zeroAblateHead(0, 1)] });
 * ```
 *
 * @module
 */

export {
  type ActFn,
  type ConfigInput,
  getParam,
  type HookedTransformerConfig,
  makeConfig,
  type Normalization,
  paramInit,
  paramShapes,
  type PositionalEmbedding,
} from "./config.ts";
export {
  ActivationCache,
  actName,
  addSteeringVector,
  closeNames,
  ForwardPass,
  type FwdHook,
  type HookContext,
  type HookFilter,
  type HookFn,
  HookPoint,
  meanAblateHead,
  type NamesFilter,
  patchFromCache,
  type PositionOptions,
  type Positions,
  type SteeringOptions,
  zeroAblateHead,
  zeroAblateNeuron,
} from "./hooks.ts";
export {
  type FromStateDictOptions,
  HookedTransformer,
  type HookHandle,
  type InitOptions,
  type LossOptions,
  type RunOptions,
  type RunWithCacheOptions,
  type Tokens,
} from "./hooked_transformer.ts";
export { Embed } from "./components/embed.ts";
export { PosEmbed } from "./components/pos_embed.ts";
export { LayerNorm } from "./components/layer_norm.ts";
export { Attention } from "./components/attention.ts";
export { linear, MLP } from "./components/mlp.ts";
export { TransformerBlock } from "./components/block.ts";
export { Unembed } from "./components/unembed.ts";
