/**
 * Linear layers, y = x · W + b, for inference on CPU adapters: W is packed once into rgba32float
 * textures (shaders/linear_pack.wgsl) and kept while its buffer is unchanged, so a forward pass
 * packs only its activations; the texture matmul kernel (shaders/matmul_texture.wgsl) adds the
 * bias as it stores. On lavapipe this is the fastest matmul we have (a texel fetch is one vector
 * gather, a storage load a per-lane loop), and packing the weights on every call cost more than
 * a quarter of a GPT-2 forward.
 *
 * The weight may be several tensors side by side (`W_Q`, `W_K`, `W_V` as one [d_model, 3·h·d_head]
 * matrix: one matmul instead of three per-head batched ones), may be f16, and may be wider than a
 * texture (column chunks) or bigger than a storage binding (packed in row slabs): GPT-2's
 * 50257-column unembedding is both.
 *
 * A cached texture is valid while every source buffer's write generation
 * ({@link Engine.generation}) is unchanged: an optimizer step, a copy or an upload into the
 * weight invalidates it, and the next call repacks.
 *
 * @module
 */

import packSrc from "../../shaders/linear_pack.wgsl" with { type: "text" };
import type { Engine } from "../gpu/engine.ts";
import { type DType, DTYPE_BYTES } from "../dtype.ts";
import { enables, fill, Params } from "./_util.ts";
import {
  acquireTexture,
  configName,
  resourceOf,
  type TexEntry,
  textureCode,
  type TextureConfig,
  windowFor,
} from "./matmul.ts";

/**
 * A block of a weight's columns: element (k, v) of the block is at
 * `offset + k·su + ⌊v / group⌋·sg + (v mod group)·sv` in `buffer`.
 */
export interface WeightBlock {
  buffer: GPUBuffer;
  dtype: DType;
  offset: number;
  rows: number;
  cols: number;
  su: number;
  sv: number;
  group: number;
  sg: number;
}

/** Settings tests and benchmarks may change. */
export const linearSettings = {
  /** Use the packed-weight kernel where it applies (CPU adapters). */
  enabled: true,
  /** Most bytes of packed weight textures kept per engine (least recently used go first). */
  cacheBytes: 2 ** 31,
  /** Smaller products (2·m·n·k) use the plain matmul: packing the input would not pay off. */
  minFlops: 1 << 22,
  /** Fewer rows than this use the plain matmul (the kernel computes 16 rows at a time). */
  minRows: 16,
  /** Apply activations as the product is stored (`linearAct`); off: a separate pass. */
  epilogues: true,
  /** Largest binding window, in bytes (tests shrink it); 0 means the adapter's limit. */
  maxWindowBytes: 0,
  /** Widest texture, in texels (tests shrink it); 0 means the adapter's limit. */
  maxTextureWidth: 0,
  /**
   * The texture kernel's block: rows and columns per invocation, invocations per workgroup.
   * Measured on lavapipe (GFLOP/s per CPU second, GPT-2-small shapes at 128 rows): 16 x 24 gave
   * 42-46, 16 x 16 39-41, 16 x 32 and 24 x 24 no better than 16 x 24 but 12-15 s to compile
   * cold (16 x 24: about 5 s, once; Mesa caches compiled shaders on disk).
   */
  config: { variant: "texture", tm: 16, tn: 24, wg: 8 } as TextureConfig,
};

interface Chunk {
  texture: GPUTexture;
  view: GPUTextureView;
  n0: number;
  cols: number;
}

interface WeightTexture {
  buffers: GPUBuffer[];
  gens: number[];
  chunks: Chunk[];
  bytes: number;
  used: number;
}

const caches = new WeakMap<Engine, Map<string, WeightTexture>>();
const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
let clock = 0;

function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, id = nextBufferId++);
  return id;
}

/**
 * Whether {@link linearInto} will run a product of `m` rows, `k` inputs and `n` outputs on this
 * engine (else the caller uses the plain matmul).
 */
export function linearApplies(eng: Engine, m: number, k: number, n: number): boolean {
  if (!linearSettings.enabled || !eng.gpu.info.isCpu) return false;
  if (m < linearSettings.minRows || 2 * m * n * k < linearSettings.minFlops) return false;
  const maxDim = eng.device.limits.maxTextureDimension2D ?? 8192;
  return k <= maxDim && k <= (eng.limits.maxComputeWorkgroupsPerDimension ?? 65535);
}

/** {@link windowFor} over a plain buffer of `dtype` elements, within the window limit. */
function windowIn(eng: Engine, buffer: GPUBuffer, lo: number, hi: number, dtype: DType) {
  return windowFor(eng, { buffer, dtype }, lo, hi, maxWindow(eng));
}

function maxWindow(eng: Engine): number {
  return linearSettings.maxWindowBytes || eng.maxBinding;
}

function maxWidth(eng: Engine): number {
  return linearSettings.maxTextureWidth || (eng.device.limits.maxTextureDimension2D ?? 8192);
}

/**
 * Encode packs of block rows [0, rows) and block columns [va, vb) into `view` at texel (x0, 0),
 * in row slabs small enough to bind. Returns false if even one row cannot be bound.
 */
function packRegion(
  eng: Engine,
  view: GPUTextureView,
  b: WeightBlock,
  va: number,
  vb: number,
  x0: number,
): boolean {
  const bytes = DTYPE_BYTES[b.dtype];
  const width = Math.ceil((vb - va) / 4);
  // Bounds on the columns' part of an element index (strides are non-negative).
  const vLo = Math.floor(va / b.group) * b.sg;
  const vHi = Math.floor((vb - 1) / b.group) * b.sg + (Math.min(b.group, vb) - 1) * b.sv;
  let per = b.rows;
  for (let y0 = 0; y0 < b.rows;) {
    const rows = Math.min(per, b.rows - y0);
    const base = b.offset + y0 * b.su;
    const w = windowIn(eng, b.buffer, base + vLo, base + (rows - 1) * b.su + vHi + 1, b.dtype);
    if (!w) {
      if (rows === 1) return false;
      per = Math.ceil(rows / 2);
      continue;
    }
    const params = new Params()
      .u32(rows).u32(vb).u32(b.su).u32(b.sv)
      // The offset of element (y0, 0) inside the window, which may lie before the window when
      // va > 0: u32 arithmetic wraps, so adding the columns' part lands inside it.
      .u32(base - (w.binding as { offset: number }).offset / bytes).u32(b.group).u32(b.sg).u32(va)
      .u32(x0).u32(y0).u32(width).u32(0)
      .bytes();
    eng.run({
      label: "linear pack",
      key: `linear pack|${b.dtype}`,
      code: () => fill(packSrc, { ENABLE: enables(b.dtype), X_ELEM: b.dtype }),
      params,
      inputs: [w.binding],
      outputs: [],
      resources: [view],
      workgroups: [Math.ceil(rows / 64), width, 1],
    });
    y0 += rows;
  }
  return true;
}

function dropEntry(eng: Engine, map: Map<string, WeightTexture>, key: string): number {
  const e = map.get(key);
  if (!e) return 0;
  // Encoded work may still read the textures: submit it before destroying them.
  eng.flush();
  for (const c of e.chunks) c.texture.destroy();
  map.delete(key);
  return e.bytes;
}

/** The packed texture of weight blocks (cached per engine), or null where it cannot be made. */
function weightTexture(eng: Engine, blocks: WeightBlock[]): WeightTexture | null {
  let map = caches.get(eng);
  if (!map) caches.set(eng, map = new Map());
  const key = `${linearSettings.config.wg * linearSettings.config.tn}|` +
    blocks.map((b) =>
      `${
        bufferId(b.buffer)
      }:${b.dtype}:${b.offset}:${b.rows}x${b.cols}:${b.su},${b.sv},${b.group},${b.sg}`
    ).join("+");
  const gens = blocks.map((b) => eng.generation(b.buffer));
  const hit = map.get(key);
  if (hit && hit.gens.every((g, i) => g === gens[i])) {
    hit.used = ++clock;
    return hit;
  }
  if (hit) dropEntry(eng, map, key);

  const k = blocks[0].rows;
  if (blocks.some((b) => b.rows !== k || b.cols < 1)) return null;
  // Blocks start on whole texels: every block but the last has a multiple of 4 columns.
  if (blocks.slice(0, -1).some((b) => b.cols % 4 !== 0)) return null;
  const n = blocks.reduce((a, b) => a + b.cols, 0);
  const maxDim = maxWidth(eng);
  const BLOCK_N = linearSettings.config.wg * linearSettings.config.tn;
  const chunkCols = Math.floor(maxDim / (BLOCK_N / 4)) * BLOCK_N;
  const entry: WeightTexture = {
    buffers: blocks.map((b) => b.buffer),
    gens,
    chunks: [],
    bytes: 0,
    used: ++clock,
  };
  const fail = () => {
    for (const c of entry.chunks) c.texture.destroy();
    return null;
  };
  for (let n0 = 0; n0 < n; n0 += chunkCols) {
    const cols = Math.min(chunkCols, n - n0);
    const width = Math.ceil(cols / BLOCK_N) * (BLOCK_N / 4);
    // New textures are zero-filled, so the padding past the last column reads as zero.
    const texture = eng.device.createTexture({
      size: [width, k, 1],
      format: "rgba32float",
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING,
      label: "glassbox linear weight",
    });
    const view = texture.createView({ dimension: "2d" });
    entry.chunks.push({ texture, view, n0, cols });
    entry.bytes += width * k * 16;
    let start = 0;
    for (const b of blocks) {
      const lo = Math.max(start, n0);
      const hi = Math.min(start + b.cols, n0 + cols);
      if (lo < hi && !packRegion(eng, view, b, lo - start, hi - start, (lo - n0) / 4)) {
        return fail();
      }
      start += b.cols;
    }
  }
  map.set(key, entry);
  // Keep the cache within its budget, least recently used first (never the new entry).
  let total = [...map.values()].reduce((a, e) => a + e.bytes, 0);
  const order = [...map.entries()].sort((x, y) => x[1].used - y[1].used);
  for (const [kk, e] of order) {
    if (total <= linearSettings.cacheBytes) break;
    if (e === entry) continue;
    total -= dropEntry(eng, map, kk);
  }
  return entry;
}

/** The input of a linear layer: rows m of k values at `offset + row·sm + col·sk`. */
export interface LinearInput {
  buffer: GPUBuffer;
  dtype: DType;
  offset: number;
  m: number;
  k: number;
  sm: number;
  sk: number;
}

/** One linear layer of {@link linearInto}: its weight as column blocks, bias and output. */
export interface LinearLayer {
  blocks: WeightBlock[];
  /** A contiguous f32 [n] at element `offset`, or null. */
  bias: { buffer: GPUBuffer; offset: number } | null;
  /** A contiguous f32 [m, n] at element `offset`. */
  out: { buffer: GPUBuffer; offset: number };
  /** An activation applied as `out` is stored: out = act(x · W + b). */
  act?: "gelu_new" | "relu";
  /** With `act`: where to keep x · W + b before it (contiguous f32 [m, n]), or null. */
  pre?: { buffer: GPUBuffer; offset: number } | null;
}

/**
 * Encode out = x · W + bias for one or more layers of the same input (its packing shared), on
 * the packed-weight texture kernel. Returns false (having encoded nothing) when the kernel does
 * not apply; the caller then uses the plain matmul.
 */
export function linearInto(eng: Engine, x: LinearInput, layers: LinearLayer[]): boolean {
  const CFG = linearSettings.config;
  const BLOCK_N = CFG.wg * CFG.tn;
  const ns = layers.map((l) => l.blocks.reduce((a, b) => a + b.cols, 0));
  const nMax = Math.max(...ns);
  if (!layers.length || !linearApplies(eng, x.m, x.k, ns.reduce((a, b) => a + b, 0))) return false;
  if (layers.some((l) => l.blocks.some((b) => b.rows !== x.k))) return false;
  // A kept pre-activation is read at the output's offsets inside its own window.
  const align = (eng.limits.minStorageBufferOffsetAlignment ?? 256) / 4;
  if (layers.some((l) => l.act && l.pre && (l.pre.offset - l.out.offset) % align !== 0)) {
    return false;
  }
  if (x.dtype !== "f32" && x.dtype !== "f16") return false;
  if (x.dtype === "f16" || layers.some((l) => l.blocks.some((b) => b.dtype === "f16"))) {
    if (!eng.hasFeature("shader-f16")) return false;
  }
  // Rows per pass: the input's texture width (4 texels per 16 rows), the outputs' and the
  // input's binding windows (less one alignment unit, as a window starts on one).
  const win = maxWindow(eng) - (eng.limits.minStorageBufferOffsetAlignment ?? 256);
  let per = Math.min(x.m, maxWidth(eng) * 4, Math.floor(win / (nMax * 4)));
  if (x.sm > 0) per = Math.min(per, Math.floor(win / (x.sm * DTYPE_BYTES[x.dtype])));
  if (per < x.m) per = Math.floor(per / CFG.tm) * CFG.tm;
  if (per < 1) return false;
  const bws = layers.map((l, i) =>
    l.bias ? windowIn(eng, l.bias.buffer, l.bias.offset, l.bias.offset + ns[i], "f32") : null
  );
  if (layers.some((l, i) => l.bias && !bws[i])) return false;
  const wts = layers.map((l) => weightTexture(eng, l.blocks));
  if (wts.some((w) => !w)) return false;

  for (let r0 = 0; r0 < x.m; r0 += per) {
    const rows = Math.min(per, x.m - r0);
    const base = x.offset + r0 * x.sm;
    const xw = windowIn(
      eng,
      x.buffer,
      base,
      base + (rows - 1) * x.sm + (x.k - 1) * x.sk + 1,
      x.dtype,
    );
    if (!xw) throw new Error("internal: linear row windows do not fit a binding");
    const aWidth = Math.ceil(rows / CFG.tm) * (CFG.tm / 4);
    const aTex: TexEntry = acquireTexture(eng, aWidth, x.k, 1, new Set());
    // The input along texture x (4 rows per texel), k along texture y.
    const aParams = new Params()
      .u32(x.k).u32(rows).u32(x.sk).u32(x.sm)
      .u32(xw.rel).u32(0x80000000).u32(0).u32(0)
      .u32(0).u32(0).u32(aWidth).u32(0)
      .bytes();
    eng.run({
      label: "linear pack",
      key: `linear pack|${x.dtype}`,
      code: () => fill(packSrc, { ENABLE: enables(x.dtype), X_ELEM: x.dtype }),
      params: aParams,
      inputs: [xw.binding],
      outputs: [],
      resources: [aTex.view],
      workgroups: [Math.ceil(x.k / 64), aWidth, 1],
    });
    layers.forEach((layer, li) => {
      const n = ns[li];
      const bw = bws[li];
      const out = layer.out;
      const cw = windowIn(
        eng,
        out.buffer,
        out.offset + r0 * n,
        out.offset + (r0 + rows) * n,
        "f32",
      );
      const pre = layer.act ? layer.pre ?? null : null;
      const pw = pre
        ? windowIn(eng, pre.buffer, pre.offset + r0 * n, pre.offset + (r0 + rows) * n, "f32")
        : null;
      if (!cw || (pre && !pw)) throw new Error("internal: linear row windows do not fit a binding");
      // The output and the kept pre-activation share offsets inside their windows.
      if (pw && pw.rel !== cw.rel) throw new Error("internal: linear pre/out windows differ");
      const epilogue = layer.act ? { act: layer.act, pre: !!pw } : null;
      for (const c of wts[li]!.chunks) {
        const offC = cw.rel + c.n0;
        const cVec = n % 4 === 0 && offC % 4 === 0;
        const params = new Params()
          .u32(rows).u32(c.cols).u32(x.k).u32(0)
          .u32(n).u32(0).u32(offC).u32(bw ? bw.rel + c.n0 : 0)
          .vec4u([1, 1, 1, 1], 1)
          .vec4u([0, 0, 0, 0], 1)
          .bytes();
        const resources: GPUBindingResource[] = [aTex.view, c.view, resourceOf(cw.binding)];
        if (bw) resources.push(resourceOf(bw.binding));
        if (pw) resources.push(resourceOf(pw.binding));
        eng.run({
          label: "linear",
          key: `linear|${configName(CFG)}|${cVec ? "v" : "s"}|${bw ? "bias" : ""}|${
            epilogue ? `${epilogue.act}${epilogue.pre ? "+pre" : ""}` : ""
          }`,
          code: () => textureCode(CFG, "f32", cVec, false, !!bw, epilogue),
          params,
          inputs: [],
          outputs: [],
          resources,
          writes: pre ? [out.buffer, pre.buffer] : [out.buffer],
          workgroups: [Math.ceil(c.cols / BLOCK_N), Math.ceil(rows / CFG.tm), 1],
        });
      }
    });
  }
  return true;
}

/**
 * Destroy the packed weight textures kept for this engine (all of them, or those made from any
 * of `buffers`); returns the bytes freed. Later calls pack again.
 *
 * @example
 * ```ts
 * model.dispose();
 * releaseLinearWeights(engine());
 * ```
 */
export function releaseLinearWeights(eng: Engine, buffers?: Iterable<GPUBuffer>): number {
  const map = caches.get(eng);
  if (!map) return 0;
  const only = buffers ? new Set(buffers) : null;
  let bytes = 0;
  for (const [key, e] of [...map.entries()]) {
    if (only && !e.buffers.some((b) => only.has(b))) continue;
    bytes += dropEntry(eng, map, key);
  }
  return bytes;
}

/**
 * Bytes of packed weight textures kept for this engine (not counted by `memory()`, which counts
 * tensors).
 *
 * @example
 * ```ts
 * console.log(linearWeightBytes(engine()));
 * ```
 */
export function linearWeightBytes(eng: Engine): number {
  let bytes = 0;
  for (const e of caches.get(eng)?.values() ?? []) bytes += e.bytes;
  return bytes;
}
