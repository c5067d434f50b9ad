/**
 * Fused kernels for Toy Models of Superposition (shaders/toy_train.wgsl). `toyTrainSteps` trains
 * every model instance with the data drawn on the GPU, forward, backward, the gradient summed
 * over the batch and Adam all inside the kernels:
 * - small models (`plan.reg`): one dispatch runs up to 128 whole steps, one workgroup per
 *   instance, with everything in registers (code generated here);
 * - larger models (streaming): two dispatches per step, `rows` (forward/backward, lanes over
 *   rows) and `grads` (gradient over the batch and Adam, lanes over features).
 * `toyGenerate` writes the batch a step draws, for the generic autodiff path and for tests.
 *
 * @module
 */

import src from "../../shaders/toy_train.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import type { Tensor } from "../tensor.ts";
import { empty } from "../ops/creation.ts";
import { checkBindable, fill, Params } from "./_util.ts";

/** The three toy models: ReLU output, linear output, and computation of |x| in superposition. */
export type ToyVariant = "relu" | "linear" | "abs";

/** Model variants in shader order. */
export const TOY_VARIANTS: readonly ToyVariant[] = ["relu", "linear", "abs"];

/** Sizes that fix a toy-model training kernel. */
export interface ToyDims {
  nInstances: number;
  nFeatures: number;
  nHidden: number;
  variant: ToyVariant;
  batch: number;
}

/** How the kernels run for some dims (see {@link planToy}). */
export interface ToyPlan extends ToyDims {
  /** Parameters per instance (packed W, W2 for abs, b). */
  paramsPerInstance: number;
  /** Invocations per workgroup. */
  wg: number;
  /**
   * Small models: one dispatch runs many whole steps, one workgroup per instance, every loop
   * unrolled (`reg`). Else the streaming path: two dispatches per step (`rows`, `grads`).
   */
  reg: boolean;
  /** With `reg`: add the invocations' partial sums through scratch, not workgroup memory. */
  redScratch: boolean;
  /** Streaming: rows per invocation in `rows` and features per invocation in `grads`. */
  rowsPerInvocation: number;
  featuresPerInvocation: number;
  /** Streaming: row tiles and feature blocks (workgroups) per instance. */
  tiles: number;
  featureBlocks: number;
  /** Scratch floats per instance. */
  scratchPerInstance: number;
  /** Steps one `train` dispatch runs (reg), 1 on the streaming path. */
  stepsPerDispatch: number;
}

/** Steps whose Adam schedule fits in the uniform (64 vec4 = 128 (stepSize, bc2Sqrt) pairs). */
export const TOY_MAX_STEPS_PER_DISPATCH = 128;
/** Multiply-adds per instance one `train` dispatch may run (keeps a dispatch short on GPUs). */
const WORK_PER_DISPATCH = 2 ** 25;

/** Parameters per instance: W [m, n] (+ W2 [n, m] for abs) + b [n]. */
export function toyParamCount(nFeatures: number, nHidden: number, variant: ToyVariant): number {
  return (variant === "abs" ? 2 : 1) * nFeatures * nHidden + nFeatures;
}

/** Options that override {@link planToy}'s choices (for tuning and tests). */
export interface ToyPlanOptions {
  wg?: number;
  reg?: boolean;
  rowsPerInvocation?: number;
  featuresPerInvocation?: number;
  stepsPerDispatch?: number;
}

function checkDims(op: string, d: ToyDims): void {
  for (const k of ["nInstances", "nFeatures", "nHidden", "batch"] as const) {
    const v = d[k];
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot run ${op}: ${k} must be a positive integer, got ${v}`);
    }
  }
  if (!TOY_VARIANTS.includes(d.variant)) {
    throw new TypeError(
      `Cannot run ${op}: unknown variant "${d.variant}" (use ${TOY_VARIANTS.join(", ")})`,
    );
  }
}

/**
 * Choose the code path, workgroup size and tiling for these dims on this adapter. On a CPU
 * adapter (lavapipe) a workgroup runs on one core as a loop over 8-lane SIMD groups, so
 * workgroups of 8 avoid barrier overhead and each memory read is made to serve several rows or
 * features; on a GPU, larger workgroups and one row or feature per invocation.
 *
 * @example
 * ```ts
 * const plan = planToy(eng, { nInstances: 8, nFeatures: 5, nHidden: 2, variant: "relu", batch: 1024 });
 * ```
 */
export function planToy(eng: Engine, dims: ToyDims, opts: ToyPlanOptions = {}): ToyPlan {
  checkDims("planToy", dims);
  const { nInstances: I, nFeatures: n, nHidden: m, batch } = dims;
  const P = toyParamCount(n, m, dims.variant);
  const isCpu = eng.gpu.info.isCpu;
  const wgsMax = eng.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const maxFloats = Math.floor(eng.maxBinding / 4);
  // The unrolled path writes out 5·n·m multiply-adds per row; lavapipe's compile time grows with
  // that (about 5 s at 1000 lines), so it is kept for small models.
  const reg = opts.reg ?? ((dims.variant === "abs" ? 2 : 1) * n * m <= 64 && n <= 32);
  const wg = opts.wg ?? (isCpu ? 8 : reg ? 256 : 64);
  let redScratch = false;
  let ra = 1, rb = 1, tiles = 0, featureBlocks = 0, scratchPerInstance: number;
  let stepsPerDispatch = 1;
  if (reg) {
    // Large workgroup arrays are zero-initialised element by element on some backends (OpenGL
    // on llvmpipe takes minutes to compile 3000 floats), so bigger reductions go through scratch.
    redScratch = P * wg > 1024 || P * wg * 4 > wgsMax;
    scratchPerInstance = redScratch ? wg * P : 1;
    const work = batch * (5 * n * m + 8 * n);
    stepsPerDispatch = opts.stepsPerDispatch ??
      Math.max(1, Math.min(TOY_MAX_STEPS_PER_DISPATCH, Math.floor(WORK_PER_DISPATCH / work)));
  } else {
    ra = opts.rowsPerInvocation ?? (isCpu ? 8 : 1);
    rb = opts.featuresPerInvocation ?? (isCpu ? Math.min(32, Math.ceil(n / wg)) : 1);
    tiles = Math.ceil(batch / (wg * ra));
    featureBlocks = Math.ceil(n / (wg * rb));
    scratchPerInstance = 2 * batch * (n + m) + tiles + P;
    if (opts.stepsPerDispatch !== undefined && opts.stepsPerDispatch !== 1) {
      throw new RangeError(
        `Cannot plan toy training: the streaming path runs one step per dispatch pair, ` +
          `got stepsPerDispatch ${opts.stepsPerDispatch}`,
      );
    }
  }
  if (I * scratchPerInstance > maxFloats) {
    throw new RangeError(
      `Cannot plan toy training: ${I} instances with batch ${batch}, ${n} features and ${m} ` +
        `hidden need ${I * scratchPerInstance * 4} bytes of scratch, more than one binding ` +
        `(${eng.maxBinding}); train fewer instances at once or use a smaller batch`,
    );
  }
  if (stepsPerDispatch < 1 || stepsPerDispatch > TOY_MAX_STEPS_PER_DISPATCH) {
    throw new RangeError(
      `Cannot plan toy training: stepsPerDispatch must be in 1..${TOY_MAX_STEPS_PER_DISPATCH}, ` +
        `got ${stepsPerDispatch}`,
    );
  }
  return {
    ...dims,
    paramsPerInstance: P,
    wg,
    reg,
    redScratch,
    rowsPerInvocation: ra,
    featuresPerInvocation: rb,
    tiles,
    featureBlocks,
    scratchPerInstance,
    stepsPerDispatch,
  };
}

function keyOf(plan: ToyPlan): string {
  return `toy|${plan.nFeatures}|${plan.nHidden}|${plan.variant}|${plan.wg}|${plan.reg}|` +
    `${plan.redScratch}|${plan.rowsPerInvocation}|${plan.featuresPerInvocation}|` +
    `${plan.scratchPerInstance}`;
}

// ---------------------------------------------------------------- code generation
//
// lavapipe (the CPU adapter) runs explicit scalar WGSL several times faster than loops over
// private arrays (which it keeps in memory, or lowers to chains of selects), so the hot loops
// over N, M, RA and RB are written out here; the loops left in the WGSL are over rows, blocks
// and features, with no private array indexed by them.

/** WGSL f32 sum of terms ("0.0" when empty), wrapped every few terms. */
function sum(terms: string[]): string {
  if (terms.length === 0) return "0.0";
  const lines: string[] = [];
  for (let i = 0; i < terms.length; i += 6) lines.push(terms.slice(i, i + 6).join(" + "));
  return lines.join("\n      + ");
}

/** The output weight from hidden k to feature i among the scalars named `w${j}`. */
function wOutIndex(plan: ToyPlan, k: number, i: number): number {
  const { nFeatures: n, nHidden: m } = plan;
  return plan.variant === "abs" ? n * m + i * m + k : k * n + i;
}

/** Path REG: `reg_step`, one step's rows of one invocation with everything in registers. */
function genReg(plan: ToyPlan): string {
  const { nFeatures: n, nHidden: m, variant } = plan;
  const P = plan.paramsPerInstance;
  const bOff = P - n;
  const nq = Math.ceil(n / 5);
  const L: string[] = [];
  L.push("fn reg_step(pb: u32, cb: u32, sb: u32, lid: u32, step: u32, inst: u32) -> f32 {");
  for (let i = 0; i < n; i++) {
    L.push(`  let imp${i} = cfg[cb + ${i}u];`);
    L.push(`  let pr${i} = cfg[cb + ${n + i}u];`);
    L.push(`  let ipr${i} = cfg[cb + ${2 * n + i}u];`);
  }
  for (let j = 0; j < P; j++) L.push(`  let w${j} = prm[pb + ${j}u];`);
  for (let j = 0; j < P; j++) L.push(`  var a${j} = 0.0;`);
  L.push("  var lsum = 0.0;");
  L.push("  for (var row = lid; row < p.batch; row = row + WG) {");
  for (let q = 0; q < nq; q++) L.push(`    let r${q} = block(row, ${q}u, step, inst);`);
  for (let i = 0; i < n; i++) {
    L.push(`    let x${i} = feature(bits24(r${Math.floor(i / 5)}, ${i % 5}u), pr${i}, ipr${i});`);
  }
  for (let k = 0; k < m; k++) {
    const e = sum(Array.from({ length: n }, (_, i) => `w${k * n + i} * x${i}`));
    L.push(variant === "abs" ? `    let h${k} = max(${e}, 0.0);` : `    let h${k} = ${e};`);
  }
  for (let i = 0; i < n; i++) {
    const o = sum([
      `w${bOff + i}`,
      ...Array.from({ length: m }, (_, k) => `w${wOutIndex(plan, k, i)} * h${k}`),
    ]);
    L.push(`    let lg${i} = out_grad(imp${i}, x${i}, ${o});`);
    L.push(`    let g${i} = lg${i}.y;`);
  }
  L.push(`    lsum = lsum + ${sum(Array.from({ length: n }, (_, i) => `lg${i}.x`))};`);
  for (let k = 0; k < m; k++) {
    const e = sum(Array.from({ length: n }, (_, i) => `w${wOutIndex(plan, k, i)} * g${i}`));
    L.push(
      variant === "abs"
        ? `    let gh${k} = select(${e}, 0.0, h${k} <= 0.0);`
        : `    let gh${k} = ${e};`,
    );
  }
  for (let k = 0; k < m; k++) {
    for (let i = 0; i < n; i++) {
      const j = k * n + i;
      if (variant === "abs") {
        L.push(`    a${j} = a${j} + gh${k} * x${i};`);
        const j2 = n * m + i * m + k;
        L.push(`    a${j2} = a${j2} + h${k} * g${i};`);
      } else {
        L.push(`    a${j} = a${j} + h${k} * g${i} + gh${k} * x${i};`);
      }
    }
  }
  for (let i = 0; i < n; i++) L.push(`    a${bOff + i} = a${bOff + i} + g${i};`);
  L.push("  }");
  for (let j = 0; j < P; j++) {
    L.push(
      plan.redScratch ? `  scr[sb + lid * P + ${j}u] = a${j};` : `  red[${j}u * WG + lid] = a${j};`,
    );
  }
  L.push("  return lsum;");
  L.push("}");
  return L.join("\n");
}

/** Streaming `rows_body`: RA rows per invocation, lanes over rows. */
function genRows(plan: ToyPlan): string {
  const { nHidden: m, variant, wg } = plan;
  const ra = plan.rowsPerInvocation;
  const L: string[] = [];
  L.push(
    "fn rows_body(pb: u32, cb: u32, xo: u32, go: u32, ho: u32, gho: u32, base: u32, step: u32, inst: u32) -> f32 {",
  );
  for (let j = 0; j < ra; j++) {
    L.push(`  let row${j} = base + ${j * wg}u;`);
    L.push(`  let ok${j} = row${j} < p.batch;`);
    L.push(`  let rc${j} = min(row${j}, p.batch - 1u);`);
  }
  for (let j = 0; j < ra; j++) {
    for (let k = 0; k < m; k++) L.push(`  var h${j}_${k} = 0.0;`);
  }
  L.push("  for (var q = 0u; q < NQ; q = q + 1u) {");
  for (let j = 0; j < ra; j++) L.push(`    let r${j} = block(row${j}, q, step, inst);`);
  for (let t = 0; t < 5; t++) {
    L.push(`    if (5u * q + ${t}u < N) {`);
    L.push(`      let i = 5u * q + ${t}u;`);
    L.push("      let pr = cfg[cb + N + i];");
    L.push("      let ipr = cfg[cb + 2u * N + i];");
    for (let k = 0; k < m; k++) L.push(`      let w${k} = prm[pb + ${k}u * N + i];`);
    for (let j = 0; j < ra; j++) {
      L.push(`      let x${j} = feature(bits24(r${j}, ${t}u), pr, ipr);`);
      L.push(`      if (ok${j}) { scr[xo + row${j} * N + i] = x${j}; }`);
      for (let k = 0; k < m; k++) L.push(`      h${j}_${k} = h${j}_${k} + w${k} * x${j};`);
    }
    L.push("    }");
  }
  L.push("  }");
  if (variant === "abs") {
    for (let j = 0; j < ra; j++) {
      for (let k = 0; k < m; k++) L.push(`  h${j}_${k} = max(h${j}_${k}, 0.0);`);
    }
  }
  for (let j = 0; j < ra; j++) {
    for (let k = 0; k < m; k++) L.push(`  var gh${j}_${k} = 0.0;`);
  }
  L.push("  var lsum = 0.0;");
  L.push("  for (var i = 0u; i < N; i = i + 1u) {");
  for (let k = 0; k < m; k++) {
    L.push(
      variant === "abs"
        ? `    let w${k} = prm[pb + NW + i * M + ${k}u];`
        : `    let w${k} = prm[pb + ${k}u * N + i];`,
    );
  }
  L.push("    let bi = prm[pb + B_OFF + i];");
  L.push("    let imp = cfg[cb + i];");
  for (let j = 0; j < ra; j++) {
    const o = sum(["bi", ...Array.from({ length: m }, (_, k) => `w${k} * h${j}_${k}`)]);
    L.push(`    let lg${j} = out_grad(imp, scr[xo + rc${j} * N + i], ${o});`);
    L.push(`    let g${j} = select(0.0, lg${j}.y, ok${j});`);
    L.push(`    lsum = lsum + select(0.0, lg${j}.x, ok${j});`);
    L.push(`    if (ok${j}) { scr[go + row${j} * N + i] = g${j}; }`);
    for (let k = 0; k < m; k++) L.push(`    gh${j}_${k} = gh${j}_${k} + w${k} * g${j};`);
  }
  L.push("  }");
  for (let j = 0; j < ra; j++) {
    L.push(`  if (ok${j}) {`);
    for (let k = 0; k < m; k++) {
      L.push(`    scr[ho + row${j} * M + ${k}u] = h${j}_${k};`);
      L.push(
        variant === "abs"
          ? `    scr[gho + row${j} * M + ${k}u] = select(gh${j}_${k}, 0.0, h${j}_${k} <= 0.0);`
          : `    scr[gho + row${j} * M + ${k}u] = gh${j}_${k};`,
      );
    }
    L.push("  }");
  }
  L.push("  return lsum;");
  L.push("}");
  return L.join("\n");
}

/** Streaming `grads_body`: RB features per invocation, lanes over features, then Adam. */
function genGrads(plan: ToyPlan): string {
  const { nFeatures: n, nHidden: m, variant, wg } = plan;
  const rb = plan.featuresPerInvocation;
  const L: string[] = [];
  L.push(
    "fn grads_body(xo: u32, go: u32, ho: u32, gho: u32, gro: u32, first: u32) {",
  );
  for (let t = 0; t < rb; t++) {
    L.push(`  let i${t} = min(first + ${t * wg}u, N - 1u);`);
    L.push(`  var ab${t} = 0.0;`);
    for (let k = 0; k < m; k++) L.push(`  var ah${t}_${k} = 0.0;\n  var ax${t}_${k} = 0.0;`);
  }
  L.push("  for (var b = 0u; b < p.batch; b = b + 1u) {");
  for (let k = 0; k < m; k++) {
    L.push(`    let hk${k} = scr[ho + b * M + ${k}u];`);
    L.push(`    let gk${k} = scr[gho + b * M + ${k}u];`);
  }
  for (let t = 0; t < rb; t++) {
    L.push(`    let gv${t} = scr[go + b * N + i${t}];`);
    L.push(`    let xv${t} = scr[xo + b * N + i${t}];`);
    L.push(`    ab${t} = ab${t} + gv${t};`);
    for (let k = 0; k < m; k++) {
      L.push(`    ah${t}_${k} = ah${t}_${k} + hk${k} * gv${t};`);
      L.push(`    ax${t}_${k} = ax${t}_${k} + gk${k} * xv${t};`);
    }
  }
  L.push("  }");
  // The summed gradient goes to the instance's gradient scratch; `grads` applies Adam in a loop
  // (one Adam site instead of one per parameter keeps the shader quick to compile).
  for (let t = 0; t < rb; t++) {
    L.push(`  if (first + ${t * wg}u < N) {`);
    for (let k = 0; k < m; k++) {
      if (variant === "abs") {
        L.push(`    scr[gro + ${k}u * N + i${t}] = ax${t}_${k};`);
        L.push(`    scr[gro + NW + i${t} * M + ${k}u] = ah${t}_${k};`);
      } else {
        L.push(`    scr[gro + ${k}u * N + i${t}] = ah${t}_${k} + ax${t}_${k};`);
      }
    }
    L.push(`    scr[gro + B_OFF + i${t}] = ab${t};`);
    L.push("  }");
  }
  void n;
  L.push("}");
  return L.join("\n");
}

/** The generated functions of a plan (the `{{GEN}}` of shaders/toy_train.wgsl). */
export function toyGenerated(plan: ToyPlan): string {
  const stubReg =
    "fn reg_step(pb: u32, cb: u32, sb: u32, lid: u32, step: u32, inst: u32) -> f32 {\n" +
    "  return 0.0;\n}";
  const stubRows =
    "fn rows_body(pb: u32, cb: u32, xo: u32, go: u32, ho: u32, gho: u32, base: u32, step: u32, inst: u32) -> f32 {\n" +
    "  return 0.0;\n}";
  const stubGrads = "fn grads_body(xo: u32, go: u32, ho: u32, gho: u32, gro: u32, first: u32) {\n}";
  return plan.reg
    ? [genReg(plan), stubRows, stubGrads].join("\n\n")
    : [stubReg, genRows(plan), genGrads(plan)].join("\n\n");
}

/** Every `{{NAME}}` value of shaders/toy_train.wgsl for a plan. */
export function toyTemplateValues(plan: ToyPlan): Record<string, string | number> {
  const P = plan.paramsPerInstance;
  return {
    N: plan.nFeatures,
    M: plan.nHidden,
    WG: plan.wg,
    VARIANT: TOY_VARIANTS.indexOf(plan.variant),
    REG: String(plan.reg),
    REDSCR: String(plan.redScratch),
    P,
    RED: plan.reg && !plan.redScratch ? P * plan.wg : plan.wg,
    SCR: plan.reg ? plan.scratchPerInstance : 1,
    RA: plan.rowsPerInvocation,
    RB: plan.featuresPerInvocation,
    GEN: toyGenerated(plan),
  };
}

/** The filled WGSL of a plan (for tests and tools that compile it themselves). */
export function toyShader(plan: ToyPlan): string {
  return fill(src, toyTemplateValues(plan));
}

function seedWords(seed: number): [number, number] {
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 53) {
    throw new RangeError(
      `Cannot run toy kernel: seed must be an integer in [0, 2^53), got ${seed}`,
    );
  }
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

const f32bits = (() => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  return (v: number) => {
    f[0] = v;
    return u[0];
  };
})();

/** Everything one dispatch's uniform holds. */
interface Uniform {
  batch: number;
  steps: number;
  step0: number;
  nInst: number;
  seed: number;
  logSlot: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Per step: [stepSize, bc2Sqrt]. */
  sched: number[];
  tiles: number;
  fblocks: number;
}

function pack(u: Uniform): Uint8Array {
  const [lo, hi] = seedWords(u.seed);
  return new Params()
    .u32(u.batch).u32(u.steps).u32(u.step0).u32(u.nInst)
    .u32(lo).u32(hi).u32(u.logSlot).f32(1 / u.batch)
    .f32(u.beta1).f32(u.beta2).f32(1 - u.beta1).f32(1 - u.beta2)
    .f32(u.eps).u32(u.tiles).u32(u.fblocks).u32(0)
    .vec4u(u.sched.map(f32bits), TOY_MAX_STEPS_PER_DISPATCH / 2)
    .bytes();
}

/**
 * Per-instance configuration the kernels read, f32 [nInstances, 3, nFeatures]: importance,
 * feature probability, and 1 / probability (0 where the probability is 0).
 *
 * @example
 * ```ts
 * const cfg = toyConfigData([[1, 0.9]], [[1, 0.5]]); // one instance, two features
 * ```
 */
export function toyConfigData(importance: number[][], probability: number[][]): Float32Array {
  const nInst = importance.length;
  const n = importance[0]?.length ?? 0;
  const out = new Float32Array(nInst * 3 * n);
  for (let r = 0; r < nInst; r++) {
    for (let i = 0; i < n; i++) {
      const pr = Math.fround(probability[r][i]);
      out[(r * 3) * n + i] = importance[r][i];
      out[(r * 3 + 1) * n + i] = pr;
      out[(r * 3 + 2) * n + i] = pr > 0 ? 1 / pr : 0;
    }
  }
  return out;
}

/** Buffers of a toy-model training run (all f32, contiguous, offset 0). */
export interface ToyBuffers {
  /** [nInstances, 3, nFeatures], from {@link toyConfigData}. */
  cfg: Tensor;
  /** [nInstances, paramsPerInstance]: updated in place. */
  params: Tensor;
  /** [nInstances, 2, paramsPerInstance]: Adam's exp_avg and exp_avg_sq, updated in place. */
  moments: Tensor;
  /** [nInstances, scratchPerInstance]. */
  scratch: Tensor;
  /** [slots, nInstances]: logged losses. */
  losses: Tensor;
}

/** One dispatch's worth of steps. */
export interface ToyStepArgs {
  /** Global index of the first step (0-based): the data counter; Adam's t is step + 1. */
  step0: number;
  /** Per step of this dispatch, `[lr / (1 − β1^t), sqrt(1 − β2^t)]` (see {@link adamSchedule}). */
  sched: [number, number][];
  seed: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Slot of `losses` for the last step's loss, or -1 to log nothing. */
  logSlot: number;
}

/**
 * PyTorch Adam's per-step scalars for steps `t0 + 1 .. t0 + count` (t is 1-based), in f64:
 * `[lr_t / (1 − β1^t), sqrt(1 − β2^t)]`.
 *
 * @example
 * ```ts
 * adamSchedule(0, 2, () => 1e-3, 0.9, 0.999); // [[0.01, 0.0316...], [0.00526..., 0.0447...]]
 * ```
 */
export function adamSchedule(
  t0: number,
  count: number,
  lr: (step: number) => number,
  beta1: number,
  beta2: number,
): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < count; s++) {
    const t = t0 + s + 1;
    out.push([lr(t0 + s) / (1 - beta1 ** t), Math.sqrt(1 - beta2 ** t)]);
  }
  return out;
}

function checkBuffers(op: string, plan: ToyPlan, b: ToyBuffers): void {
  const { nInstances: I, nFeatures: n, paramsPerInstance: P } = plan;
  const want: [keyof ToyBuffers, number][] = [
    ["cfg", I * 3 * n],
    ["params", I * P],
    ["moments", I * 2 * P],
    ["scratch", I * plan.scratchPerInstance],
  ];
  for (const [k, size] of want) {
    const t = b[k];
    if (t.dtype !== "f32" || !t.isContiguous || t.offset !== 0 || t.size !== size) {
      throw new RangeError(
        `Cannot run ${op}: ${k} must be a contiguous f32 tensor of ${size} elements at offset 0, ` +
          `got ${t.describe()}`,
      );
    }
  }
}

/**
 * Encode `args.sched.length` training steps of every instance: one `train` dispatch on the
 * unrolled path (up to `plan.stepsPerDispatch` steps), or a `rows` and a `grads` dispatch per
 * step on the streaming path.
 *
 * @example
 * ```ts
 * toyTrainSteps(eng, plan, bufs, { step0: 0, sched: adamSchedule(0, 100, () => 1e-3, 0.9, 0.999),
 *   seed: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, logSlot: -1 });
 * ```
 */
export function toyTrainSteps(eng: Engine, plan: ToyPlan, b: ToyBuffers, args: ToyStepArgs): void {
  const steps = args.sched.length;
  if (steps < 1 || steps > plan.stepsPerDispatch) {
    throw new RangeError(
      `Cannot run toyTrainSteps: ${steps} steps in one call (1..${plan.stepsPerDispatch})`,
    );
  }
  if (!Number.isInteger(args.step0) || args.step0 < 0 || args.step0 + steps > 2 ** 32) {
    throw new RangeError(
      `Cannot run toyTrainSteps: steps ${args.step0}..${args.step0 + steps} are outside [0, 2^32)`,
    );
  }
  checkBuffers("toyTrainSteps", plan, b);
  if (args.logSlot >= 0 && (args.logSlot + 1) * plan.nInstances > b.losses.size) {
    throw new RangeError(
      `Cannot run toyTrainSteps: log slot ${args.logSlot} is past losses ${b.losses.describe()}`,
    );
  }
  checkBindable("toyTrainSteps", eng, b.scratch, b.moments, b.params);
  const params = pack({
    batch: plan.batch,
    steps,
    step0: args.step0,
    nInst: plan.nInstances,
    seed: args.seed,
    logSlot: args.logSlot < 0 ? 0xffffffff : args.logSlot,
    beta1: args.beta1,
    beta2: args.beta2,
    eps: args.eps,
    sched: args.sched.flat(),
    tiles: plan.tiles,
    fblocks: plan.featureBlocks,
  });
  const common = {
    key: keyOf(plan),
    code: () => toyShader(plan),
    params,
    inputs: [b.cfg.buffer],
    outputs: [b.params.buffer, b.moments.buffer, b.scratch.buffer, b.losses.buffer],
  };
  if (plan.reg) {
    eng.run({
      ...common,
      label: "toyTrain",
      entryPoint: "train",
      workgroups: eng.grid(plan.nInstances, 1),
    });
    return;
  }
  eng.run({
    ...common,
    label: "toyRows",
    entryPoint: "rows",
    workgroups: eng.grid(plan.nInstances * plan.tiles, 1),
  });
  eng.run({
    ...common,
    label: "toyGrads",
    entryPoint: "grads",
    workgroups: eng.grid(plan.nInstances * plan.featureBlocks, 1),
  });
}

/**
 * The batch that training step `step` draws for every instance, as a new f32 tensor
 * [batch, nInstances, nFeatures] (ARENA's layout). Same bits as the fused kernel uses.
 *
 * @example
 * ```ts
 * const x = toyGenerate(eng, plan, cfg, 7, 0); // f32[batch, nInstances, nFeatures]
 * ```
 */
export function toyGenerate(
  eng: Engine,
  plan: ToyPlan,
  cfg: Tensor,
  seed: number,
  step: number,
): Tensor {
  const { nInstances: I, nFeatures: n, batch } = plan;
  if (cfg.dtype !== "f32" || !cfg.isContiguous || cfg.offset !== 0 || cfg.size !== I * 3 * n) {
    throw new RangeError(
      `Cannot run toyGenerate: cfg must be a contiguous f32 tensor of ${I * 3 * n} elements, ` +
        `got ${cfg.describe()}`,
    );
  }
  if (!Number.isInteger(step) || step < 0 || step >= 2 ** 32) {
    throw new RangeError(
      `Cannot run toyGenerate: step must be an integer in [0, 2^32), got ${step}`,
    );
  }
  const out = empty([batch, I, n], "f32", eng);
  checkBindable("toyGenerate", eng, out);
  const threads = batch * I * Math.ceil(n / 4);
  eng.run({
    label: "toyGenerate",
    key: keyOf(plan),
    code: () => toyShader(plan),
    entryPoint: "generate",
    params: pack({
      batch,
      steps: 0,
      step0: step,
      nInst: I,
      seed,
      logSlot: 0xffffffff,
      beta1: 0,
      beta2: 0,
      eps: 0,
      sched: [],
      tiles: plan.tiles,
      fblocks: plan.featureBlocks,
    }),
    inputs: [cfg.buffer],
    outputs: [out.buffer],
    workgroups: eng.grid(threads, 64),
  });
  return out;
}
