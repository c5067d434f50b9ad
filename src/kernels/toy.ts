/**
 * Fused kernels for Toy Models of Superposition (shaders/toy_train.wgsl). `toyTrainSteps` trains
 * every model instance with the data drawn on the GPU, forward, backward, the gradient summed
 * over the batch and Adam all inside the kernels:
 * - small models (`plan.reg`): one dispatch runs up to 128 whole steps, one workgroup per
 *   instance, with everything in registers (code generated here);
 * - larger models (streaming): a `pack` dispatch per call, then two dispatches per step,
 *   `rows` (forward pass and dL/dh, lanes over rows) and `grads` (gradient over the batch and
 *   Adam, lanes over blocks of five features). On CPU adapters their hot loops read a texture
 *   that mirrors part of the scratch (kept per engine; {@link releaseToyTexture} frees it).
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
  /** Streaming: vec4s per feature row of the packed parameters in scratch. */
  featureRow: number;
  /** Invocations per workgroup. */
  wg: number;
  /**
   * Small models: one dispatch runs many whole steps, one workgroup per instance, every loop
   * unrolled (`reg`). Else the streaming path: two dispatches per step (`rows`, `grads`).
   */
  reg: boolean;
  /** With `reg`: add the invocations' partial sums through scratch, not workgroup memory. */
  redScratch: boolean;
  /**
   * Streaming: rows per invocation in `rows`, and blocks of five features (one Philox draw) per
   * invocation in `grads`.
   */
  rowsPerInvocation: number;
  featuresPerInvocation: number;
  /** Streaming: row tiles (workgroups of `rows`) and `grads` workgroups per instance. */
  tiles: number;
  featureBlocks: number;
  /**
   * Streaming, in vec4s of scratch: where h and dL/dh of the rows start (the feature rows start
   * at 0), where the gradients start, and where the loss partials start.
   */
  rowsOffset: number;
  gradOffset: number;
  lossOffset: number;
  /**
   * Streaming: chunks of rows `grads` splits the batch into (one workgroup each), and rows per
   * chunk; with more than one, an `adam_chunks` dispatch adds them up and applies Adam.
   */
  chunks: number;
  chunkRows: number;
  /**
   * Streaming: width (texels, a power of two) and height of the rgba32float texture that
   * mirrors the feature rows and the rows' h and dL/dh for the hot loops (lavapipe fetches
   * texels far faster than it reads storage in a loop); 0 when they are read from storage.
   */
  texWidth: number;
  texHeight: number;
  /** Scratch floats per instance (a multiple of 4). */
  scratchPerInstance: number;
  /**
   * Steps one {@link toyTrainSteps} call may run: one `train` dispatch (reg), or a `pack`
   * dispatch and two per step (streaming).
   */
  stepsPerDispatch: number;
}

/** Steps whose Adam schedule fits in the uniform (64 vec4 = 128 (stepSize, bc2Sqrt) pairs). */
export const TOY_MAX_STEPS_PER_DISPATCH = 128;
/**
 * Most rows one streaming `grads` workgroup sums over: llvmpipe ends an invocation's loops once
 * they have run 65535 iterations in all, and a lane loops over its rows (two per iteration) and
 * its share of the loss partials (up to one per row).
 */
export const TOY_CHUNK_ROWS = 32768;
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
  /** Streaming: blocks of five features per `grads` invocation. */
  featuresPerInvocation?: number;
  stepsPerDispatch?: number;
  /** Streaming: read the hot loops' data through a texture (default: on CPU adapters, if it fits). */
  texture?: boolean;
  /** Streaming: most rows per `grads` chunk (default {@link TOY_CHUNK_ROWS} on CPU adapters, 256 on GPUs). */
  chunkRows?: number;
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
 * workgroups of 8 avoid barrier overhead, each memory read is made to serve several rows or
 * features, and the streaming path's hot loops read a texture; on a GPU, larger workgroups, one
 * row per invocation and storage reads.
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
  const small = (dims.variant === "abs" ? 2 : 1) * n * m <= 64 && n <= 32;
  // The engine's loop budget (llvmpipe ends an invocation's loops past it): a `train`
  // dispatch loops over its rows (ceil(batch / wg) per step) and the gradient sums (P + wg per
  // step), so on CPU adapters it runs at most as many steps as fit, and a batch too large for
  // even one step goes to the streaming path (which splits rows into chunks).
  const regWg = opts.wg ?? (isCpu ? 8 : 256);
  const regIters = Math.ceil(batch / regWg) + Math.ceil(P / regWg) * regWg + regWg + 8;
  const regFits = regIters <= eng.loopBudget;
  if (opts.reg === true && !regFits) {
    throw new RangeError(
      `Cannot plan toy training: batch ${batch} is too large for the unrolled path on this ` +
        `adapter (${regIters} loop iterations per step, at most ${eng.loopBudget}); leave reg unset`,
    );
  }
  const reg = opts.reg ?? (small && regFits);
  const wg = opts.wg ?? (isCpu ? 8 : reg ? 256 : 64);
  let redScratch = false;
  let ra = 1, fb = 1, tiles = 0, featureBlocks = 0, scratchPerInstance: number;
  let rowsOffset = 0, gradOffset = 0, lossOffset = 0, texWidth = 0, texHeight = 0;
  let chunks = 1, chunkRows = batch;
  let stepsPerDispatch: number;
  const mv = Math.ceil(m / 4);
  const featureRow = (dims.variant === "abs" ? 2 : 1) * mv + 1;
  if (reg) {
    // Large workgroup arrays are zero-initialised element by element on some backends (OpenGL
    // on llvmpipe takes minutes to compile 3000 floats), so bigger reductions go through scratch.
    redScratch = P * wg > 1024 || P * wg * 4 > wgsMax;
    scratchPerInstance = redScratch ? Math.ceil((wg * P) / 4) * 4 : 4;
    const work = batch * (5 * n * m + 8 * n);
    const maxSteps = Math.min(TOY_MAX_STEPS_PER_DISPATCH, Math.floor(eng.loopBudget / regIters));
    stepsPerDispatch = opts.stepsPerDispatch ??
      Math.max(
        1,
        Math.min(TOY_MAX_STEPS_PER_DISPATCH, maxSteps, Math.floor(WORK_PER_DISPATCH / work)),
      );
  } else {
    ra = opts.rowsPerInvocation ?? (isCpu ? 8 : 1);
    fb = opts.featuresPerInvocation ?? 1;
    for (const [k, v] of [["rowsPerInvocation", ra], ["featuresPerInvocation", fb]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 32) {
        throw new RangeError(`Cannot plan toy training: ${k} must be in 1..32, got ${v}`);
      }
    }
    tiles = Math.ceil(batch / (wg * ra));
    featureBlocks = Math.ceil(Math.ceil(n / 5) / (wg * fb));
    // On a GPU, chunks of rows are also what keeps many workgroups busy.
    const maxRows = opts.chunkRows ?? (isCpu ? TOY_CHUNK_ROWS : 256);
    if (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > TOY_CHUNK_ROWS) {
      throw new RangeError(
        `Cannot plan toy training: chunkRows must be in 1..${TOY_CHUNK_ROWS}, got ${maxRows}`,
      );
    }
    chunks = Math.ceil(batch / maxRows);
    chunkRows = Math.ceil(batch / chunks);
    // Regions of every instance in vec4s: feature rows, h and dL/dh of each row, gradients,
    // loss partials. With a texture the first two start on texel rows.
    const frVec = I * n * featureRow, hgVec = I * batch * 2 * mv;
    const maxDim = eng.limits.maxTextureDimension2D ?? 8192;
    if (opts.texture ?? isCpu) {
      for (let w = 256; w <= maxDim; w *= 2) {
        const h = Math.ceil(frVec / w) + Math.ceil(hgVec / w);
        if (h <= maxDim) {
          texWidth = w;
          texHeight = h;
          break;
        }
      }
      if (opts.texture && texWidth === 0) {
        throw new RangeError(
          `Cannot plan toy training: ${frVec + hgVec} texels do not fit a ${maxDim}x${maxDim} ` +
            `texture; plan without the texture option`,
        );
      }
    }
    const pad = (v: number) => (texWidth ? Math.ceil(v / texWidth) * texWidth : v);
    rowsOffset = pad(frVec);
    gradOffset = rowsOffset + pad(hgVec);
    lossOffset = gradOffset + chunks * I * Math.ceil(P / 4);
    const totalFloats = 4 * lossOffset + I * tiles * wg + I * chunks;
    scratchPerInstance = Math.ceil(totalFloats / I / 4) * 4;
    // Each call packs the parameters once; more steps per call only save those dispatches.
    stepsPerDispatch = opts.stepsPerDispatch ?? 16;
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
    featureRow,
    wg,
    reg,
    redScratch,
    rowsPerInvocation: ra,
    featuresPerInvocation: fb,
    tiles,
    featureBlocks,
    rowsOffset,
    gradOffset,
    lossOffset,
    chunks,
    chunkRows,
    texWidth,
    texHeight,
    scratchPerInstance,
    stepsPerDispatch,
  };
}

function keyOf(plan: ToyPlan): string {
  // The streaming shader takes the batch-dependent scratch layout from the uniform.
  return `toy|${plan.nFeatures}|${plan.nHidden}|${plan.variant}|${plan.wg}|${plan.reg}|` +
    `${plan.redScratch}|${plan.rowsPerInvocation}|${plan.featuresPerInvocation}|` +
    `${plan.reg ? plan.scratchPerInstance : 0}|${plan.texWidth}`;
}

// ---------------------------------------------------------------- code generation
//
// lavapipe (the CPU adapter) runs explicit scalar WGSL several times faster than loops over
// private arrays (which it keeps in memory, or lowers to chains of selects), so the hot loops
// over M, RA, the five features of a Philox block and a lane's features (and N on the REG path)
// are written out here; the loops left in the WGSL are over rows and blocks, with no private
// array indexed by them. Measured on lavapipe (Mesa 22, 2 cores) for the streaming path:
// - a storage read in a loop runs as a per-lane loop with branches, which also splits the
//   straight-line arithmetic around it (the sums then go to and from the stack): reading the hot
//   loops' data through a texture (or a uniform) instead took the large bench case from about
//   100 to 70 ms of CPU per step;
// - each update of a private sum inside a loop is a masked write, so the sums are updated once
//   per Philox block (rows) and once per GRADS_ROWS rows (grads): about 8 ms more;
// - drawing x again (Philox) is cheaper than storing and reloading it.

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
      plan.redScratch
        ? `  scr_set(sb + lid * P + ${j}u, a${j});`
        : `  red[${j}u * WG + lid] = a${j};`,
    );
  }
  L.push("  return lsum;");
  L.push("}");
  return L.join("\n");
}

const COMP = ["x", "y", "z", "w"];

/** Float k of the private vec4s named `${name}${k / 4}` (e.g. "w2.z"). */
function lane4(name: string, k: number): string {
  return `${name}${k >> 2}.${COMP[k & 3]}`;
}

/** vec4 of the private scalars `${f(4v)}` .. `${f(4v + 3)}`, 0 past m. */
function vec4Of(m: number, v: number, f: (k: number) => string): string {
  const c = [0, 1, 2, 3].map((e) => (4 * v + e < m ? f(4 * v + e) : "0.0"));
  return `vec4<f32>(${c.join(", ")})`;
}

/**
 * Streaming `hot_load`: the hot loops' reads of scratch vec4 j (feature rows in `rows`, a row's
 * h and dL/dh in `grads`), from the texture that mirrors scratch or from storage.
 */
function genHotLoad(plan: ToyPlan): string {
  if (!plan.texWidth) return "fn hot_load(j: u32) -> vec4<f32> {\n  return scr[j];\n}";
  const shift = Math.log2(plan.texWidth);
  return [
    `// Scratch vec4s [0, p.gr_off) mirrored (copied after each write), ${plan.texWidth} per texel row.`,
    "@group(0) @binding(6) var mirror: texture_2d<f32>;",
    "",
    "fn hot_load(j: u32) -> vec4<f32> {",
    `  return textureLoad(mirror, vec2<i32>(i32(j & ${
      plan.texWidth - 1
    }u), i32(j >> ${shift}u)), 0);`,
    "}",
  ].join("\n");
}

/**
 * Streaming `rows_body`: RA rows per invocation, lanes over rows. Two sweeps over the feature
 * rows (each read serves RA rows; x is drawn again in the second): h = W x, then the output,
 * the loss and dL/dh. Writes h and dL/dh of each row as vec4s.
 */
function genRows(plan: ToyPlan): string {
  const { nHidden: m, variant, wg } = plan;
  const ra = plan.rowsPerInvocation;
  const mv = Math.ceil(m / 4);
  const L: string[] = [];
  L.push("fn rows_body(fr0: u32, hg0: u32, first: u32, step: u32, inst: u32) -> f32 {");
  for (let j = 0; j < ra; j++) {
    L.push(`  let row${j} = first + ${j * wg}u;`);
    L.push(`  let ok${j} = row${j} < p.batch;`);
  }
  for (let j = 0; j < ra; j++) {
    for (let k = 0; k < m; k++) L.push(`  var h${j}_${k} = 0.0;`);
  }
  // Sweep 1: h = W x (W1 x for abs). Sweep 2: output, loss, dL/dy, dL/dh (through W or W2).
  // Each Philox block's five features are written out, so every private sum is updated once
  // per block (lavapipe masks each update in a loop, and the sums live on the stack).
  const tail = plan.nFeatures % 5 !== 0;
  const sweep = (second: boolean) => {
    L.push("  for (var q = 0u; q < NQ; q = q + 1u) {");
    for (let j = 0; j < ra; j++) L.push(`    let r${j} = block(row${j}, q, step, inst);`);
    if (tail) L.push("    let tn = N - 5u * q;");
    for (let t = 0; t < 5; t++) {
      L.push(`    let f${t} = fr0 + min(5u * q + ${t}u, N - 1u) * FS;`);
      L.push(`    let c${t} = hot_load(f${t} + CST);`);
      for (let v = 0; v < mv; v++) {
        L.push(`    let w${t}_${v} = hot_load(f${t} + ${second ? "OW + " : ""}${v}u);`);
      }
    }
    for (let j = 0; j < ra; j++) {
      for (let t = 0; t < 5; t++) {
        const x = `feature(bits24(r${j}, ${t}u), c${t}.x, c${t}.y)`;
        L.push(`    let x${j}_${t} = ${tail && t > 0 ? `select(0.0, ${x}, ${t}u < tn)` : x};`);
      }
    }
    for (let j = 0; j < ra; j++) {
      if (second) {
        for (let t = 0; t < 5; t++) {
          const o = sum([
            `c${t}.w`,
            ...Array.from({ length: m }, (_, k) => `${lane4(`w${t}_`, k)} * h${j}_${k}`),
          ]);
          const okt = tail && t > 0 ? `ok${j} && ${t}u < tn` : `ok${j}`;
          L.push(`    let lg${j}_${t} = out_grad(c${t}.z, x${j}_${t}, ${o});`);
          L.push(`    let g${j}_${t} = select(0.0, lg${j}_${t}.y, ${okt});`);
          L.push(`    lsum = lsum + select(0.0, lg${j}_${t}.x, ${okt});`);
        }
      }
      const acc = second ? "gh" : "h", src = second ? "g" : "x";
      for (let k = 0; k < m; k++) {
        const terms = [0, 1, 2, 3, 4].map((t) => `${lane4(`w${t}_`, k)} * ${src}${j}_${t}`);
        L.push(`    ${acc}${j}_${k} = ${acc}${j}_${k} + (${terms.join(" + ")});`);
      }
    }
    L.push("  }");
  };
  sweep(false);
  if (variant === "abs") {
    for (let j = 0; j < ra; j++) {
      for (let k = 0; k < m; k++) L.push(`  h${j}_${k} = max(h${j}_${k}, 0.0);`);
    }
  }
  for (let j = 0; j < ra; j++) {
    for (let k = 0; k < m; k++) L.push(`  var gh${j}_${k} = 0.0;`);
  }
  L.push("  var lsum = 0.0;");
  sweep(true);
  for (let j = 0; j < ra; j++) {
    L.push(`  if (ok${j}) {`);
    L.push(`    let ro = hg0 + row${j} * ${2 * mv}u;`);
    for (let v = 0; v < mv; v++) {
      const gh = (k: number) =>
        variant === "abs" ? `select(gh${j}_${k}, 0.0, h${j}_${k} <= 0.0)` : `gh${j}_${k}`;
      L.push(`    scr[ro + ${v}u] = ${vec4Of(m, v, (k) => `h${j}_${k}`)};`);
      L.push(`    scr[ro + ${mv + v}u] = ${vec4Of(m, v, gh)};`);
    }
    L.push("  }");
  }
  L.push("  return lsum;");
  L.push("}");
  return L.join("\n");
}

/** Rows per iteration of `grads_body`'s loop. */
const GRADS_ROWS = 2;

/**
 * Streaming `grads_body`: lanes over blocks of five features, FB blocks per invocation, from
 * block q0. Loops over the batch: reads the row's h and dL/dh (vec4s, the same for every lane),
 * draws x of its features, recomputes their output and dL/dy from h and adds the outer
 * products to private sums; then writes the gradient of its features' parameters to scratch.
 */
function genGrads(plan: ToyPlan): string {
  const { nHidden: m, variant } = plan;
  const nf = 5 * plan.featuresPerInvocation;
  const mv = Math.ceil(m / 4);
  const L: string[] = [];
  L.push(
    "fn grads_body(fr0: u32, hg0: u32, grf: u32, q0: u32, r0: u32, r1: u32, step: u32, inst: u32) {",
  );
  for (let s = 0; s < nf; s++) {
    L.push(`  let i${s} = min(5u * q0 + ${s}u, N - 1u);`);
    L.push(`  let c${s} = scr[fr0 + i${s} * FS + CST];`);
    for (let v = 0; v < mv; v++) L.push(`  let w${s}_${v} = scr[fr0 + i${s} * FS + OW + ${v}u];`);
    L.push(`  var ab${s} = 0.0;`);
    for (let k = 0; k < m; k++) {
      L.push(`  var a${s}_${k} = 0.0;`);
      if (variant === "abs") L.push(`  var a2${s}_${k} = 0.0;`);
    }
  }
  // GRADS_ROWS rows per iteration, so each private sum is updated once per GRADS_ROWS rows
  // (lavapipe masks every update in a loop, and the sums live on the stack); a row past the
  // batch adds zeros.
  const U = GRADS_ROWS;
  L.push(`  for (var row0 = r0; row0 < r1; row0 = row0 + ${U}u) {`);
  for (let u = 0; u < U; u++) {
    L.push(`    let row${u} = min(row0 + ${u}u, r1 - 1u);`);
    if (u > 0) L.push(`    let ok${u} = row0 + ${u}u < r1;`);
    L.push(`    let ro${u} = hg0 + row${u} * ${2 * mv}u;`);
    for (let v = 0; v < mv; v++) {
      L.push(`    let h${u}_${v} = hot_load(ro${u} + ${v}u);`);
      L.push(`    let e${u}_${v} = hot_load(ro${u} + ${mv + v}u);`);
    }
    for (let b = 0; b < nf / 5; b++) {
      L.push(`    let r${u}_${b} = block(row${u}, q0 + ${b}u, step, inst);`);
    }
  }
  for (let s = 0; s < nf; s++) {
    for (let u = 0; u < U; u++) {
      const x = `feature(bits24(r${u}_${Math.floor(s / 5)}, ${s % 5}u), c${s}.x, c${s}.y)`;
      L.push(`    let x${u}_${s} = ${u > 0 ? `select(0.0, ${x}, ok${u})` : x};`);
      const o = sum([
        `c${s}.w`,
        ...Array.from({ length: m }, (_, k) => `${lane4(`w${s}_`, k)} * ${lane4(`h${u}_`, k)}`),
      ]);
      const g = `out_grad(c${s}.z, x${u}_${s}, ${o}).y`;
      L.push(`    let g${u}_${s} = ${u > 0 ? `select(0.0, ${g}, ok${u})` : g};`);
    }
    const us = Array.from({ length: U }, (_, u) => u);
    L.push(`    ab${s} = ab${s} + ${us.map((u) => `g${u}_${s}`).join(" + ")};`);
    for (let k = 0; k < m; k++) {
      const hg = us.map((u) => `${lane4(`h${u}_`, k)} * g${u}_${s}`);
      const ex = us.map((u) => `${lane4(`e${u}_`, k)} * x${u}_${s}`);
      if (variant === "abs") {
        L.push(`    a${s}_${k} = a${s}_${k} + (${ex.join(" + ")});`);
        L.push(`    a2${s}_${k} = a2${s}_${k} + (${hg.join(" + ")});`);
      } else {
        L.push(`    a${s}_${k} = a${s}_${k} + (${[...hg, ...ex].join(" + ")});`);
      }
    }
  }
  L.push("  }");
  for (let s = 0; s < nf; s++) {
    L.push(`  if (5u * q0 + ${s}u < N) {`);
    for (let k = 0; k < m; k++) {
      L.push(`    scr_set(grf + ${k}u * N + i${s}, a${s}_${k});`);
      if (variant === "abs") L.push(`    scr_set(grf + NW + i${s} * M + ${k}u, a2${s}_${k});`);
    }
    L.push(`    scr_set(grf + B_OFF + i${s}, ab${s});`);
    L.push("  }");
  }
  L.push("}");
  return L.join("\n");
}

/** The generated functions of a plan (the `{{GEN}}` of shaders/toy_train.wgsl). */
export function toyGenerated(plan: ToyPlan): string {
  const stubReg =
    "fn reg_step(pb: u32, cb: u32, sb: u32, lid: u32, step: u32, inst: u32) -> f32 {\n" +
    "  return 0.0;\n}";
  const stubRows = "fn rows_body(fr0: u32, hg0: u32, first: u32, step: u32, inst: u32) -> f32 {\n" +
    "  return 0.0;\n}";
  const stubGrads =
    "fn grads_body(fr0: u32, hg0: u32, grf: u32, q0: u32, r0: u32, r1: u32, step: u32, inst: u32) {\n}";
  return plan.reg
    ? [genReg(plan), stubRows, stubGrads].join("\n\n")
    : [stubReg, genHotLoad(plan), genRows(plan), genGrads(plan)].join("\n\n");
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
    FB: plan.featuresPerInvocation,
    MV: Math.ceil(plan.nHidden / 4),
    FS: plan.featureRow,
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
  /** Streaming: scratch regions (vec4s) and row chunks. */
  hgOff: number;
  grOff: number;
  lpOff: number;
  chunks: number;
  chunkRows: number;
}

function pack(u: Uniform): Uint8Array {
  const [lo, hi] = seedWords(u.seed);
  return new Params()
    .u32(u.batch).u32(u.steps).u32(u.step0).u32(u.nInst)
    .u32(lo).u32(hi).u32(u.logSlot).f32(1 / u.batch)
    .f32(u.beta1).f32(u.beta2).f32(1 - u.beta1).f32(1 - u.beta2)
    .f32(u.eps).u32(u.tiles).u32(u.fblocks).u32(u.hgOff)
    .u32(u.grOff).u32(u.lpOff).u32(u.chunks).u32(u.chunkRows)
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
 * Encode `args.sched.length` (up to `plan.stepsPerDispatch`) training steps of every instance:
 * one `train` dispatch on the unrolled path, or on the streaming path a `pack` dispatch, then a
 * `rows` and a `grads` dispatch per step.
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
  const uniform = (step0: number, sched: [number, number][], logSlot: number) =>
    pack({
      batch: plan.batch,
      steps: sched.length,
      step0,
      nInst: plan.nInstances,
      seed: args.seed,
      logSlot: logSlot < 0 ? 0xffffffff : logSlot,
      beta1: args.beta1,
      beta2: args.beta2,
      eps: args.eps,
      sched: sched.flat(),
      tiles: plan.tiles,
      fblocks: plan.featureBlocks,
      hgOff: plan.rowsOffset,
      grOff: plan.gradOffset,
      lpOff: plan.lossOffset,
      chunks: plan.chunks,
      chunkRows: plan.chunkRows,
    });
  const common = {
    key: keyOf(plan),
    code: () => toyShader(plan),
    inputs: [b.cfg.buffer],
    outputs: [b.params.buffer, b.moments.buffer, b.scratch.buffer, b.losses.buffer],
  };
  if (plan.reg) {
    eng.run({
      ...common,
      label: "toyTrain",
      entryPoint: "train",
      params: uniform(args.step0, args.sched, args.logSlot),
      workgroups: eng.grid(plan.nInstances, 1),
    });
    return;
  }
  // The texture mirror of the feature rows and the rows' h and dL/dh, refreshed after each
  // dispatch that writes them.
  const tex = plan.texWidth ? toyTexture(eng, plan.texWidth, plan.texHeight) : null;
  const mirror = (fromVec: number, toVec: number) => {
    if (!tex || toVec <= fromVec) return;
    const w = plan.texWidth;
    eng.copyToTexture(
      { buffer: b.scratch.buffer, offset: fromVec * 16, bytesPerRow: w * 16 },
      { texture: tex.texture, origin: [0, fromVec / w, 0] },
      [w, Math.ceil((toVec - fromVec) / w), 1],
    );
  };
  const resources = tex ? [tex.view] : undefined;
  const frEnd = plan.nInstances * plan.nFeatures * plan.featureRow;
  const hgEnd = plan.rowsOffset + plan.nInstances * plan.batch * 2 * Math.ceil(plan.nHidden / 4);
  eng.run({
    ...common,
    label: "toyPack",
    entryPoint: "pack",
    params: uniform(args.step0, [], -1),
    workgroups: eng.grid(plan.nInstances * plan.nFeatures, 64),
  });
  mirror(0, frEnd);
  for (let s = 0; s < steps; s++) {
    const params = uniform(args.step0 + s, [args.sched[s]], s === steps - 1 ? args.logSlot : -1);
    eng.run({
      ...common,
      label: "toyRows",
      entryPoint: "rows",
      params,
      resources,
      workgroups: eng.grid(plan.nInstances * plan.tiles, 1),
    });
    mirror(plan.rowsOffset, hgEnd);
    eng.run({
      ...common,
      label: "toyGrads",
      entryPoint: "grads",
      params,
      resources,
      workgroups: eng.grid(plan.nInstances * plan.featureBlocks * plan.chunks, 1),
    });
    if (plan.chunks > 1) {
      eng.run({
        ...common,
        label: "toyAdamChunks",
        entryPoint: "adam_chunks",
        params,
        workgroups: eng.grid(plan.nInstances * plan.nFeatures, 64),
      });
    }
    // The next call packs again, so only steps inside this call need the updated rows.
    if (s < steps - 1) mirror(0, frEnd);
  }
}

interface ToyTexture {
  texture: GPUTexture;
  view: GPUTextureView;
  width: number;
  height: number;
}

/** One mirror texture per engine, grown on demand (see {@link releaseToyTexture}). */
const textures = new WeakMap<Engine, ToyTexture>();

function toyTexture(eng: Engine, width: number, height: number): ToyTexture {
  const old = textures.get(eng);
  if (old && old.width === width && old.height >= height) return old;
  if (old) {
    // Work encoded earlier may still use it: submit that first (destroy() then waits for it).
    eng.flush();
    old.texture.destroy();
  }
  const texture = eng.device.createTexture({
    size: [width, height, 1],
    format: "rgba32float",
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
    label: "glassbox toy mirror",
  });
  const t = { texture, view: texture.createView(), width, height };
  textures.set(eng, t);
  return t;
}

/**
 * Free the texture that toy-model training keeps between calls on this engine (the streaming
 * path on CPU adapters); returns the bytes freed. The next training call makes a new one.
 *
 * @example
 * ```ts
 * console.log(`freed ${releaseToyTexture(engine()) / 2 ** 20} MiB`);
 * ```
 */
export function releaseToyTexture(eng: Engine): number {
  const t = textures.get(eng);
  if (!t) return 0;
  eng.flush();
  t.texture.destroy();
  textures.delete(eng);
  return t.width * t.height * 16;
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
      hgOff: plan.rowsOffset,
      grOff: plan.gradOffset,
      lpOff: plan.lossOffset,
      chunks: plan.chunks,
      chunkRows: plan.chunkRows,
    }),
    inputs: [cfg.buffer],
    outputs: [out.buffer],
    workgroups: eng.grid(threads, 64),
  });
  return out;
}
