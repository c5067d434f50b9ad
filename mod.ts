/**
 * glassbox: a WebGPU compute engine for mechanistic interpretability.
 *
 * Tensors live in GPU buffers; ops are WGSL kernels checked against f64 CPU references.
 *
 * @example
 * ```ts
 * import { init, tensor, matmul, softmax, tidy } from "./mod.ts";
 * await init();
 * const x = tensor([[1, 2], [3, 4]]);
 * const p = tidy(() => softmax(matmul(x, x), -1));
 * console.log(await p.print());
 * ```
 *
 * @module
 */

export { DeviceLostError, engine, init, KernelError } from "./src/gpu/engine.ts";
export type { Engine, MemoryInfo } from "./src/gpu/engine.ts";
export { NoAdapterError, requestGpu } from "./src/gpu/device.ts";
export type { Gpu, GpuInfo, RequestGpuOptions } from "./src/gpu/device.ts";
export { readTensors, Tensor } from "./src/tensor.ts";
export type { NestedArray, Shape } from "./src/tensor.ts";
export type { DType } from "./src/dtype.ts";
export { dispose, keep, memory, scope, tidy } from "./src/memory.ts";
export {
  arange,
  empty,
  full,
  manualSeed,
  ones,
  rand,
  randn,
  tensor,
  zeros,
} from "./src/ops/creation.ts";
export type { CreateOptions, RandomOptions } from "./src/ops/creation.ts";
export {
  clone,
  contiguous,
  expand,
  permute,
  reshape,
  slice,
  squeeze,
  transpose,
  unsqueeze,
} from "./src/ops/movement.ts";
export {
  abs,
  add,
  binary,
  cast,
  div,
  eq,
  exp,
  ge,
  gelu,
  geluErf,
  gt,
  le,
  log,
  lt,
  maximum,
  minimum,
  mul,
  ne,
  neg,
  pow,
  relu,
  rsqrt,
  sigmoid,
  sqrt,
  square,
  sub,
  tanh,
  unary,
  where,
} from "./src/ops/elementwise.ts";
export * from "./src/autograd/mod.ts";
export {
  argmax,
  argmin,
  max,
  mean,
  min,
  normAxes,
  std,
  sum,
  var,
  variance,
} from "./src/ops/reduce.ts";
export type { Axes, ReduceOptions, VarOptions } from "./src/ops/reduce.ts";
export { logSoftmax, softmax } from "./src/ops/softmax.ts";
export type { SoftmaxOptions } from "./src/ops/softmax.ts";
export { layerNorm, lnPre } from "./src/ops/layernorm.ts";
export type { LayerNormOptions, LayerNormResult } from "./src/ops/layernorm.ts";
export { CharTokenizer, GPT2Tokenizer, WordTokenizer } from "./src/io/tokenizers.ts";
export type { Tokenizer, ToTokensOptions } from "./src/io/tokenizers.ts";
export * from "./src/model/mod.ts";
export {
  checkIndexDtype,
  checkIndices,
  concat,
  embedding,
  gather,
  oneHot,
  scatterAdd,
} from "./src/ops/indexing.ts";
export type { GatherOptions, OneHotOptions, ScatterOptions } from "./src/ops/indexing.ts";
export { crossEntropy, logProbsAt } from "./src/ops/loss.ts";
export type { CrossEntropyOptions } from "./src/ops/loss.ts";
export { topk } from "./src/ops/topk.ts";
export type { TopkOptions } from "./src/ops/topk.ts";
export { matmul, matmulConfigFor, matmulVariants, tuneMatmul } from "./src/ops/matmul.ts";
export type { MatmulOptions } from "./src/ops/matmul.ts";
export { linear, linearAct, linearConcat, linearMany } from "./src/ops/linear.ts";
export type { LinearActResult } from "./src/ops/linear.ts";
export { linearWeightBytes, releaseLinearWeights } from "./src/kernels/linear.ts";
export { releaseToyTexture } from "./src/kernels/toy.ts";
export {
  blobReader,
  CheckpointError,
  checkpointKind,
  filesSource,
  loadCheckpoint,
  MemorySink,
  saveCheckpoint,
} from "./src/io/checkpoint.ts";
export type {
  ByteReader,
  ByteWriter,
  CheckpointSink,
  CheckpointSource,
  LoadOptions,
} from "./src/io/checkpoint.ts";
export { gpt2Config, loadGpt2 } from "./src/io/gpt2.ts";
export {
  centerUnembed,
  centerWritingWeights,
  foldLayerNorm,
  foldValueBiases,
  processWeights,
} from "./src/model/processing.ts";
export type { ProcessOptions } from "./src/model/processing.ts";
export {
  openSafetensors,
  parseSafetensorsHeader,
  readSafetensors,
  SafetensorsError,
  writeSafetensors,
} from "./src/io/safetensors.ts";
export { NpyError, readNpy, writeNpy } from "./src/io/npy.ts";
export * from "./src/analysis/mod.ts";
export {
  attentionData,
  attentionDataFromCache,
  attentionViewFragment,
  attentionViewHtml,
  mountAttentionView,
} from "./src/viz/attention.ts";
export type { AttentionViewData, AttentionViewOptions } from "./src/viz/attention.ts";
export { coloredTokens } from "./src/viz/tokens.ts";
export type { ColoredTokensOptions } from "./src/viz/tokens.ts";
export * from "./src/toy/mod.ts";
export { train, Trainer } from "./src/train/trainer.ts";
export { inductionResultsJson, trainInduction } from "./src/train/induction.ts";
export { RepeatData, repeatDataConfig, repeatedSequences } from "./src/train/data.ts";
export { headScores, modelHeadScores } from "./src/analysis/induction.ts";
