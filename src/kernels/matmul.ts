/**
 * Batched matmul kernels (shaders/matmul_register.wgsl, matmul_tiled.wgsl, matmul_texture.wgsl,
 * matmul_pack.wgsl), the splitting of work that does not fit one storage binding, and the
 * per-adapter autotune.
 *
 * Three variants:
 * - `register`: no workgroup memory; each invocation keeps a fully unrolled TM x TN block of C in
 *   registers and loads vec4s where the layout allows. Handles every case, windows over operands
 *   larger than a storage binding included; the best on CPU adapters for small products.
 * - `texture`: A and B go into rgba32float textures (a memcpy when an operand already has the
 *   texture's layout, else a repack dispatch that handles any layout, offset, batch broadcast or
 *   f16), then a register-blocked kernel reads them with `textureLoad`. On lavapipe a texel fetch
 *   is a cheap vector gather while a storage load is a per-lane loop: at 1024³ this ran about
 *   2.3x the register kernel per CPU second. Its copies and dispatches are encoded in the
 *   engine's batch like every other kernel (`eng.copyToTexture`, texture `resources`); the
 *   textures are kept for reuse (up to 256 MiB per engine, see {@link releaseMatmulTextures}).
 * - `tiled`: 16 x 16 invocations stage tiles of A and B in workgroup memory; each invocation keeps
 *   4 x 4 (or 8 x 8) results. The classic shape for discrete GPUs.
 *
 * The buffer kernels read A and B through (offset, leading dimension, transposed?) descriptors,
 * so a transposed view costs nothing, and through batch strides, so broadcast batch axes are
 * never materialised.
 *
 * @module
 */

import registerSrc from "../../shaders/matmul_register.wgsl" with { type: "text" };
import tiledSrc from "../../shaders/matmul_tiled.wgsl" with { type: "text" };
import textureSrc from "../../shaders/matmul_texture.wgsl" with { type: "text" };
import packSrc from "../../shaders/matmul_pack.wgsl" with { type: "text" };
import { type Binding, type Dispatch, type Engine } from "../gpu/engine.ts";
import { type DType, DTYPE_BYTES } from "../dtype.ts";
import { collapse } from "./elementwise.ts";
import { enables, fill, Params } from "./_util.ts";

/** Kernel variant names, for {@link MatmulConfig} and the `variant` option of `matmul`. */
export type MatmulVariant = "register" | "tiled" | "texture";

/** Every variant, in the order tests and the autotune try them. */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ["register", "tiled", "texture"];

/** Register-blocked kernel: `tm` x `tn` per invocation, `wg` invocations along n, `ku` k per step. */
export interface RegisterConfig {
  variant: "register";
  tm: number;
  tn: number;
  wg: number;
  /** 4 lets operands contiguous along k load vec4s (four k values at once); 1 otherwise. */
  ku: 1 | 4;
}

/** Tiled kernel: 16 x 16 invocations, `rm` x `rn` each, so tiles of 16rm x 16rn; `bk` k per stage. */
export interface TiledConfig {
  variant: "tiled";
  rm: number;
  rn: number;
  bk: number;
}

/** Texture kernel: `tm` x `tn` per invocation (multiples of 4), `wg` invocations along n. */
export interface TextureConfig {
  variant: "texture";
  tm: number;
  tn: number;
  wg: number;
}

/** A concrete kernel choice. */
export type MatmulConfig = RegisterConfig | TiledConfig | TextureConfig;

/** Short text for a config, e.g. "register 16x16 wg8 ku1". */
export function configName(c: MatmulConfig): string {
  switch (c.variant) {
    case "register":
      return `register ${c.tm}x${c.tn} wg${c.wg} ku${c.ku}`;
    case "tiled":
      return `tiled ${16 * c.rm}x${16 * c.rn} bk${c.bk}`;
    case "texture":
      return `texture ${c.tm}x${c.tn} wg${c.wg}`;
  }
}

/**
 * One operand as the kernels see it. Element (i, j) of batch item with index vector `z` lives
 * at `offset + Σ z·batch + i·rowStride + j·colStride`, where for
 * - A (m x k): `t` false means k is contiguous (row stride `ld`), true means m is (stride `ld` per k);
 * - B (k x n): `t` false means n is contiguous (stride `ld` per k), true means k is (stride `ld` per n);
 * - C (m x n): always `t` false, row stride `ld`.
 */
export interface MatOperand {
  buffer: GPUBuffer;
  dtype: DType;
  /** Element offset of item 0's element (0, 0). */
  offset: number;
  ld: number;
  t: boolean;
  /** Element strides of the batch axes (0 on broadcast axes), one per axis of the problem's batch. */
  batch: number[];
}

/** A batched matmul C[z] = A[z] · B[z] (+ C[z] when accumulating). */
export interface MatProblem {
  m: number;
  n: number;
  k: number;
  /** Batch shape (any rank; broadcasting is in the operands' zero strides). */
  batch: number[];
  a: MatOperand;
  b: MatOperand;
  c: MatOperand;
}

/** Settings tests and benchmarks may change. */
export const matmulSettings = {
  /** Time the candidate kernels for each new shape class (in the background) and keep the fastest. */
  autotune: true,
  /** Largest window bound at once, in bytes; 0 means the adapter's maxStorageBufferBindingSize. */
  maxWindowBytes: 0,
  /** Problems under this many flops (2·m·n·k·batch) are not tuned: the adapter type decides. */
  tuneMinFlops: 1 << 24,
  /**
   * Most flops of the stand-in problem the autotune times: the class's first shape, shrunk (m
   * first, which leaves B's footprint alone) until it fits. Much smaller stand-ins mislead: on
   * lavapipe the register kernel matches the texture kernel at 256 x 512 x 256 (cache-resident)
   * but is 1.75x slower at 1024³.
   */
  tuneFlops: 2 ** 30,
};

// ------------------------------------------------------------------ shape helpers

function log2c(x: number): number {
  return Math.ceil(Math.log2(Math.max(1, x)));
}

function prod(xs: readonly number[]): number {
  let p = 1;
  for (const x of xs) p *= x;
  return p;
}

function aligned4(op: MatOperand): boolean {
  return op.offset % 4 === 0 && op.ld % 4 === 0 && op.batch.every((s) => s % 4 === 0);
}

/** What the choice of kernel depends on: sizes (as log2 buckets), layouts, alignment, dtypes. */
export interface MatClass {
  m: number;
  n: number;
  k: number;
  batch: number;
  aT: boolean;
  bT: boolean;
  aAligned: boolean;
  bAligned: boolean;
  dtypes: [DType, DType, DType];
}

/** The class of a problem (for the autotune cache and the heuristic). */
export function classOf(p: MatProblem): MatClass {
  return {
    m: p.m,
    n: p.n,
    k: p.k,
    batch: prod(p.batch),
    aT: p.a.t,
    bT: p.b.t,
    aAligned: aligned4(p.a),
    bAligned: aligned4(p.b),
    dtypes: [p.a.dtype, p.b.dtype, p.c.dtype],
  };
}

/** Autotune cache key of a class: log2 buckets of m, n, k and batch, layouts, alignment, dtypes. */
export function classKey(c: MatClass): string {
  const r4 = (x: number) => (x % 4 === 0 ? "" : "'");
  return `matmul|m${log2c(c.m)}${r4(c.m)} n${log2c(c.n)}${r4(c.n)} k${log2c(c.k)}${r4(c.k)} ` +
    `b${log2c(c.batch)}|${c.aT ? "T" : "N"}${c.bT ? "T" : "N"}|` +
    `${c.aAligned ? "A" : "a"}${c.bAligned ? "B" : "b"}|${c.dtypes.join(",")}`;
}

// ------------------------------------------------------------------ configs

/** The register config the shape suggests (block shrinks for skinny problems). */
export function registerConfig(c: Pick<MatClass, "m" | "n">): RegisterConfig {
  // Three row tiers and two column tiers keep the number of distinct kernels (each an unrolled
  // block that takes up to seconds to compile on a CPU adapter) small.
  const tm = c.m === 1 ? 1 : c.m <= 4 ? 4 : 16;
  const tn = c.n <= 4 ? 4 : 16;
  // ku 4 (vec4 loads over k) was 1.2-1.35x faster at 1024³ when B is k-contiguous, but its
  // 1024-FMA body takes seconds to compile on lavapipe, and large products go to the texture
  // kernel there anyway; so the default is ku 1 (ku 4 stays available as an explicit config).
  return { variant: "register", tm, tn, wg: 8, ku: 1 };
}

/** The tiled config: 64 x 64 tiles, 4 x 4 per invocation. */
export const TILED_64: TiledConfig = { variant: "tiled", rm: 4, rn: 4, bk: 16 };
/** The tiled config for large problems on discrete GPUs: 128 x 128 tiles, 8 x 8 per invocation. */
export const TILED_128: TiledConfig = { variant: "tiled", rm: 8, rn: 8, bk: 8 };

/** The texture config the shape suggests. */
export function textureConfig(c: Pick<MatClass, "m" | "n">): TextureConfig {
  return { variant: "texture", tm: c.m <= 4 ? 4 : 16, tn: c.n <= 4 ? 4 : 16, wg: 8 };
}

/**
 * The config a variant uses for a class when not tuned. CPU adapters: the texture kernel for
 * products big enough to be tuned, else register. GPUs: the tiled kernel.
 */
export function defaultConfig(eng: Engine, c: MatClass, variant?: MatmulVariant): MatmulConfig {
  const isCpu = eng.gpu.info.isCpu;
  // Small problems stay on the register kernel: the texture path adds two repack dispatches and a
  // submit of its own, which only pays off on larger products.
  const big = 2 * c.m * c.n * c.k * c.batch >= matmulSettings.tuneMinFlops && c.m >= 32 &&
    c.n >= 32 &&
    c.k >= 32;
  const v = variant ?? (isCpu ? (big ? "texture" : "register") : "tiled");
  if (v === "register") return registerConfig(c);
  if (v === "texture") return textureConfig(c);
  if (!isCpu && c.m >= 512 && c.n >= 512) return TILED_128;
  return TILED_64;
}

/** The configs the autotune times for a class. */
export function candidates(eng: Engine, c: MatClass): MatmulConfig[] {
  // Measured on lavapipe (per CPU second): texture 1.75x register at 1024³ (equal at 256³), tiled
  // 4-40x slower than register (so CPU adapters do not spend tuning time on it); blocks bigger
  // than 16 x 16 take over 10 s to compile. GPUs try the tiles first, then the others.
  if (eng.gpu.info.isCpu) return [textureConfig(c), registerConfig(c)];
  const out: MatmulConfig[] = [TILED_64];
  if (c.m >= 256 && c.n >= 256) out.push(TILED_128);
  out.push(registerConfig(c), textureConfig(c));
  return out;
}

// ------------------------------------------------------------------ code generation

interface Flags {
  aVec: boolean;
  bVec: boolean;
  cVec: boolean;
  ku: 1 | 4;
  /** k is not a multiple of ku: a scalar loop finishes the last k values. */
  tail: boolean;
}

function elemType(d: DType, vec: boolean): string {
  return vec ? `vec4<${d}>` : d;
}

/** WGSL of the register kernel for a config, layouts and flags. */
function registerCode(
  cfg: RegisterConfig,
  aT: boolean,
  bT: boolean,
  dt: DType[],
  f: Flags,
): string {
  const { tm, tn, wg } = cfg;
  const ku = f.ku;
  const [da, db, dc] = dt;
  const cvtS = (d: DType, e: string) => (d === "f16" ? `f32(${e})` : e);
  const cvtV = (d: DType, e: string) => (d === "f16" ? `vec4<f32>(${e})` : e);
  const setup: string[] = [];
  const comp = ["x", "y", "z", "w"];
  // A along k (aT false) or m (aT true); B along n (bT false) or k (bT true).
  const aVecK = f.aVec && !aT; // vec4 over four k values (needs ku 4)
  const aVecM = f.aVec && aT; // vec4 over four rows
  const bVecN = f.bVec && !bT; // vec4 over four columns
  const bVecK = f.bVec && bT; // vec4 over four k values (needs ku 4)
  if (!aT) {
    for (let i = 0; i < tm; i++) {
      setup.push(`  let ar${i} = o.x + min(row0 + ${i}u, mlast) * p.lda;`);
    }
  } else if (aVecM) {
    setup.push(`  let lda4 = p.lda >> 2u;`);
    for (let q = 0; q < tm / 4; q++) {
      setup.push(`  let aq${q} = (o.x >> 2u) + min((row0 >> 2u) + ${q}u, (p.m >> 2u) - 1u);`);
    }
  } else {
    for (let i = 0; i < tm; i++) setup.push(`  let ac${i} = o.x + min(row0 + ${i}u, mlast);`);
  }
  if (bT) {
    for (let j = 0; j < tn; j++) {
      setup.push(`  let br${j} = o.y + min(col0 + ${j}u, nlast) * p.ldb;`);
    }
  } else if (bVecN) {
    setup.push(`  let ldb4 = p.ldb >> 2u;`);
    for (let q = 0; q < tn / 4; q++) {
      setup.push(`  let bq${q} = (o.y >> 2u) + min((col0 >> 2u) + ${q}u, (p.n >> 2u) - 1u);`);
    }
  } else {
    for (let j = 0; j < tn; j++) setup.push(`  let bc${j} = o.y + min(col0 + ${j}u, nlast);`);
  }

  // Loads of one k index `kv` (an expression), for operands not read as vec4-over-k.
  // `tail` marks the scalar tail loop, where vec4-over-k operands are read one component at a time.
  // One operand X (A: "a", rows m; B: "b", columns n) with `count` values per k, contiguous along
  // k (`kContig`: A not transposed, B transposed) or read as vec4s along m/n (`vecMN`).
  const loadsAt = (
    x: "a" | "b",
    kContig: boolean,
    vecK: boolean,
    vecMN: boolean,
    count: number,
    dt: DType,
    kv: string,
    tail: boolean,
    tag: string,
  ): { code: string[]; val: (i: number) => string } => {
    const X = x.toUpperCase();
    const code: string[] = [];
    const scalars = () => (i: number) => `${x}${tag}${i}`;
    if (kContig) {
      if (vecK) {
        if (!tail) throw new Error(`internal: vec4-over-k ${X} needs the main loop`);
        for (let i = 0; i < count; i++) {
          const e = `${x}r${i} + ${kv}`;
          code.push(`    let ${x}${tag}${i} = ${cvtS(dt, `${X}[(${e}) >> 2u][(${e}) & 3u]`)};`);
        }
      } else {
        for (let i = 0; i < count; i++) {
          code.push(`    let ${x}${tag}${i} = ${cvtS(dt, `${X}[${x}r${i} + ${kv}]`)};`);
        }
      }
      return { code, val: scalars() };
    }
    if (vecMN) {
      for (let q = 0; q < count / 4; q++) {
        code.push(
          `    let ${x}${tag}${q} = ${cvtV(dt, `${X}[${x}q${q} + (${kv}) * ld${x}4]`)};`,
        );
      }
      return { code, val: (i) => `${x}${tag}${i >> 2}.${comp[i & 3]}` };
    }
    code.push(`    let k${x}${tag} = (${kv}) * p.ld${x};`);
    for (let i = 0; i < count; i++) {
      code.push(`    let ${x}${tag}${i} = ${cvtS(dt, `${X}[${x}c${i} + k${x}${tag}]`)};`);
    }
    return { code, val: scalars() };
  };
  const aLoadsAt = (kv: string, tail: boolean, tag: string) =>
    loadsAt("a", !aT, aVecK, aVecM, tm, da, kv, tail, tag);
  const bLoadsAt = (kv: string, tail: boolean, tag: string) =>
    loadsAt("b", bT, bVecK, bVecN, tn, db, kv, tail, tag);
  const fmas = (av: (i: number) => string, bv: (j: number) => string): string[] => {
    const out: string[] = [];
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < tn; j++) {
        out.push(`    c${i}_${j} = fma(${av(i)}, ${bv(j)}, c${i}_${j});`);
      }
    }
    return out;
  };

  const body: string[] = [];
  let tail = "";
  if (ku === 1) {
    const a = aLoadsAt("kk", false, "");
    const b = bLoadsAt("kk", false, "");
    body.push(...a.code, ...b.code, ...fmas(a.val, b.val));
  } else {
    // Four k values per step: vec4-over-k operands load once, the other per k value.
    if (aVecK) {
      for (let i = 0; i < tm; i++) {
        body.push(`    let av${i} = ${cvtV(da, `A[(ar${i} + kk) >> 2u]`)};`);
      }
    }
    if (bVecK) {
      for (let j = 0; j < tn; j++) {
        body.push(`    let bv${j} = ${cvtV(db, `B[(br${j} + kk) >> 2u]`)};`);
      }
    }
    for (let s = 0; s < 4; s++) {
      const kv = s === 0 ? "kk" : `kk + ${s}u`;
      const a = aVecK
        ? { code: [], val: (i: number) => `av${i}.${comp[s]}` }
        : aLoadsAt(kv, false, `s${s}_`);
      const b = bVecK
        ? { code: [], val: (j: number) => `bv${j}.${comp[s]}` }
        : bLoadsAt(kv, false, `s${s}_`);
      body.push(...a.code, ...b.code, ...fmas(a.val, b.val));
    }
    const a = aLoadsAt("kt", true, "t");
    const b = bLoadsAt("kt", true, "t");
    if (f.tail) {
      tail = [
        `  for (var kt = p.k & ~3u; kt < p.k; kt++) {`,
        ...a.code,
        ...b.code,
        ...fmas(a.val, b.val),
        `  }`,
      ].join("\n");
    }
  }

  const decl: string[] = [];
  for (let i = 0; i < tm; i++) {
    decl.push(`  ${Array.from({ length: tn }, (_, j) => `var c${i}_${j} = 0.0;`).join(" ")}`);
  }
  const store: string[] = [`  let accumulate = p.accumulate != 0u;`];
  for (let i = 0; i < tm; i++) {
    store.push(`  if (row0 + ${i}u < p.m) {`);
    store.push(`    let rc = o.z + (row0 + ${i}u) * p.ldc + col0;`);
    if (f.cVec) {
      for (let q = 0; q < tn / 4; q++) {
        const v = `vec4<f32>(${[0, 1, 2, 3].map((e) => `c${i}_${4 * q + e}`).join(", ")})`;
        store.push(`    if (col0 + ${4 * q}u < p.n) {`);
        store.push(`      let ci = (rc >> 2u) + ${q}u;`);
        store.push(`      var v = ${v};`);
        store.push(`      if (accumulate) { v += ${cvtV(dc, "C[ci]")}; }`);
        store.push(`      C[ci] = ${dc === "f16" ? "vec4<f16>(v)" : "v"};`);
        store.push(`    }`);
      }
    } else {
      for (let j = 0; j < tn; j++) {
        store.push(`    if (col0 + ${j}u < p.n) {`);
        store.push(`      var v = c${i}_${j};`);
        store.push(`      if (accumulate) { v += ${cvtS(dc, `C[rc + ${j}u]`)}; }`);
        store.push(`      C[rc + ${j}u] = ${dc === "f16" ? "f16(v)" : "v"};`);
        store.push(`    }`);
      }
    }
    store.push(`  }`);
  }
  return fill(registerSrc, {
    ENABLE: enables(da, db, dc),
    A_ELEM: elemType(da, f.aVec),
    B_ELEM: elemType(db, f.bVec),
    C_ELEM: elemType(dc, f.cVec),
    WG: wg,
    TM: tm,
    TN: tn,
    SETUP: setup.join("\n"),
    DECL: decl.join("\n"),
    K_MAIN: ku === 4 && f.tail ? "(p.k & ~3u)" : "p.k",
    KU: ku,
    BODY: body.join("\n"),
    TAIL: tail,
    STORE: store.join("\n"),
  });
}

/** WGSL of the tiled kernel for a config and layouts. */
function tiledCode(cfg: TiledConfig, aT: boolean, bT: boolean, dt: DType[]): string {
  const { rm, rn, bk } = cfg;
  const bm = 16 * rm;
  const bn = 16 * rn;
  const [da, db, dc] = dt;
  const cvt = (d: DType, e: string) => (d === "f16" ? `f32(${e})` : e);
  const load: string[] = [];
  for (let q = 0; q < (bm * bk) / 256; q++) {
    load.push(`    {`);
    load.push(`      let e = tid + ${q * 256}u;`);
    load.push(
      aT
        ? `      let mx = e % ${bm}u; let kx = e / ${bm}u;`
        : `      let kx = e % ${bk}u; let mx = e / ${bk}u;`,
    );
    load.push(`      let r = row0 + mx; let kq = k0 + kx;`);
    load.push(`      var v = 0.0;`);
    const idx = aT ? `o.x + kq * p.lda + r` : `o.x + r * p.lda + kq`;
    load.push(`      if (r < p.m && kq < p.k) { v = ${cvt(da, `A[${idx}]`)}; }`);
    load.push(`      As[kx * ${bm}u + mx] = v;`);
    load.push(`    }`);
  }
  for (let q = 0; q < (bn * bk) / 256; q++) {
    load.push(`    {`);
    load.push(`      let e = tid + ${q * 256}u;`);
    load.push(
      bT
        ? `      let kx = e % ${bk}u; let nx = e / ${bk}u;`
        : `      let nx = e % ${bn}u; let kx = e / ${bn}u;`,
    );
    load.push(`      let c = col0 + nx; let kq = k0 + kx;`);
    load.push(`      var v = 0.0;`);
    const idx = bT ? `o.y + c * p.ldb + kq` : `o.y + kq * p.ldb + c`;
    load.push(`      if (c < p.n && kq < p.k) { v = ${cvt(db, `B[${idx}]`)}; }`);
    load.push(`      Bs[kx * ${bn}u + nx] = v;`);
    load.push(`    }`);
  }
  const decl: string[] = [];
  for (let i = 0; i < rm; i++) {
    decl.push(`  ${Array.from({ length: rn }, (_, j) => `var c${i}_${j} = 0.0;`).join(" ")}`);
  }
  const inner: string[] = [];
  for (let i = 0; i < rm; i++) inner.push(`      let a${i} = As[kk * ${bm}u + ty + ${16 * i}u];`);
  for (let j = 0; j < rn; j++) inner.push(`      let b${j} = Bs[kk * ${bn}u + tx + ${16 * j}u];`);
  for (let i = 0; i < rm; i++) {
    for (let j = 0; j < rn; j++) inner.push(`      c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`);
  }
  const store: string[] = [`  let accumulate = p.accumulate != 0u;`];
  for (let i = 0; i < rm; i++) {
    store.push(`  if (row0 + ty + ${16 * i}u < p.m) {`);
    store.push(`    let rc = o.z + (row0 + ty + ${16 * i}u) * p.ldc + col0 + tx;`);
    for (let j = 0; j < rn; j++) {
      store.push(`    if (col0 + tx + ${16 * j}u < p.n) {`);
      store.push(`      var v = c${i}_${j};`);
      store.push(`      if (accumulate) { v += ${cvt(dc, `C[rc + ${16 * j}u]`)}; }`);
      store.push(`      C[rc + ${16 * j}u] = ${dc === "f16" ? "f16(v)" : "v"};`);
      store.push(`    }`);
    }
    store.push(`  }`);
  }
  return fill(tiledSrc, {
    ENABLE: enables(da, db, dc),
    A_ELEM: da,
    B_ELEM: db,
    C_ELEM: dc,
    BM: bm,
    BN: bn,
    BK: bk,
    LOAD: load.join("\n"),
    DECL: decl.join("\n"),
    INNER: inner.join("\n"),
    STORE: store.join("\n"),
  });
}

/** Rows and columns of C one workgroup covers. */
function tileOf(cfg: MatmulConfig): [number, number] {
  return cfg.variant === "tiled" ? [16 * cfg.rm, 16 * cfg.rn] : [cfg.tm, cfg.wg * cfg.tn];
}

/**
 * An activation applied as the texture kernel stores C (a linear layer's `act(x W + b)`), with
 * the values before it also written to a binding `Pre` (after the bias binding) when `pre`.
 */
export interface TextureEpilogue {
  act: "gelu_new" | "relu";
  pre: boolean;
}

/** WGSL of an epilogue's bindings and helper (f32 C only). */
function epilogueCode(e: TextureEpilogue, bias: boolean, cVec: boolean): string {
  const T = cVec ? "vec4<f32>" : "f32";
  const body = e.act === "relu" ? "  return max(v, T(0.0));" : [
    "  // GPT-2's gelu_new; tanh through exp of a non-positive argument (no overflow).",
    "  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);",
    "  let e = exp(-2.0 * abs(u));",
    "  return 0.5 * v * (T(1.0) + sign(u) * (T(1.0) - e) / (T(1.0) + e));",
  ].join("\n");
  return [
    e.pre ? `@group(0) @binding(${bias ? 5 : 4}) var<storage, read_write> Pre: array<${T}>;` : "",
    `fn act(v: ${T}) -> ${T} {`,
    body.replaceAll("T(", `${T}(`),
    "}",
  ].join("\n");
}

/**
 * WGSL of the texture kernel. With `bias`, a read-only f32 binding 4 holds a bias added to every
 * row at column `off_bias + column` (a linear layer's epilogue); with `epilogue`, C gets an
 * activation of the result (f32 C only).
 */
export function textureCode(
  cfg: TextureConfig,
  dc: DType,
  cVec: boolean,
  arr: boolean,
  bias = false,
  epilogue: TextureEpilogue | null = null,
): string {
  const { tm, tn, wg } = cfg;
  const comp = ["x", "y", "z", "w"];
  const decl: string[] = [];
  for (let i = 0; i < tm; i++) {
    decl.push(`  ${Array.from({ length: tn }, (_, j) => `var c${i}_${j} = 0.0;`).join(" ")}`);
  }
  const body: string[] = [];
  const layer = arr ? "layer, " : "";
  for (let q = 0; q < tm / 4; q++) {
    body.push(`    let a${q} = textureLoad(At, vec2<i32>(ax + ${q}, ky), ${layer}0);`);
  }
  for (let q = 0; q < tn / 4; q++) {
    body.push(`    let b${q} = textureLoad(Bt, vec2<i32>(bx + ${q * wg}, ky), ${layer}0);`);
  }
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < tn; j++) {
      body.push(
        `    c${i}_${j} = fma(a${i >> 2}.${comp[i & 3]}, b${j >> 2}.${comp[j & 3]}, c${i}_${j});`,
      );
    }
  }
  const store: string[] = [`  let accumulate = p.accumulate != 0u;`];
  const cvtS = (e: string) => (dc === "f16" ? `f32(${e})` : e);
  const cvtV = (e: string) => (dc === "f16" ? `vec4<f32>(${e})` : e);
  // Column 4 (bx0 + q wg) + e holds accumulator c_i_(4q + e).
  for (let q = 0; q < tn / 4; q++) store.push(`  let col${q} = 4u * (bx0 + ${q * wg}u);`);
  for (let i = 0; i < tm; i++) {
    store.push(`  if (row0 + ${i}u < p.m) {`);
    store.push(`    let rc = oc + (row0 + ${i}u) * p.ldc;`);
    for (let q = 0; q < tn / 4; q++) {
      if (cVec) {
        const v = [0, 1, 2, 3].map((e) => `c${i}_${4 * q + e}`).join(", ");
        store.push(`    if (col${q} < p.n) {`);
        store.push(`      let ci = (rc + col${q}) >> 2u;`);
        store.push(`      var v = vec4<f32>(${v});`);
        if (bias) {
          store.push(`      let bi = p.off_bias + col${q};`);
          store.push(
            `      v += vec4<f32>(Bias[bi], Bias[bi + 1u], Bias[bi + 2u], Bias[bi + 3u]);`,
          );
        }
        store.push(`      if (accumulate) { v += ${cvtV("C[ci]")}; }`);
        if (epilogue?.pre) store.push(`      Pre[ci] = v;`);
        if (epilogue) store.push(`      v = act(v);`);
        store.push(`      C[ci] = ${dc === "f16" ? "vec4<f16>(v)" : "v"};`);
        store.push(`    }`);
      } else {
        for (let e = 0; e < 4; e++) {
          store.push(`    if (col${q} + ${e}u < p.n) {`);
          store.push(`      var v = c${i}_${4 * q + e};`);
          if (bias) store.push(`      v += Bias[p.off_bias + col${q} + ${e}u];`);
          store.push(`      if (accumulate) { v += ${cvtS(`C[rc + col${q} + ${e}u]`)}; }`);
          if (epilogue?.pre) store.push(`      Pre[rc + col${q} + ${e}u] = v;`);
          if (epilogue) store.push(`      v = act(v);`);
          store.push(`      C[rc + col${q} + ${e}u] = ${dc === "f16" ? "f16(v)" : "v"};`);
          store.push(`    }`);
        }
      }
    }
    store.push(`  }`);
  }
  return fill(textureSrc, {
    ENABLE: enables(dc),
    T_TYPE: arr ? "texture_2d_array" : "texture_2d",
    C_ELEM: elemType(dc, cVec),
    WG: wg,
    TM: tm,
    TN: tn,
    DECL: decl.join("\n"),
    BODY: body.join("\n"),
    STORE: store.join("\n"),
    BIAS: bias ? "@group(0) @binding(4) var<storage, read> Bias: array<f32>;" : "",
    EPI: epilogue ? epilogueCode(epilogue, bias, cVec) : "",
  });
}

/** WGSL of the repack kernel. */
function packCode(d: DType, vec: boolean, arr: boolean): string {
  const cvt = (e: string) => (d === "f16" ? `f32(${e})` : e);
  const load = vec
    ? [`  if (v0 < p.v_count) { v = ${d === "f16" ? "vec4<f32>(X[e >> 2u])" : "X[e >> 2u]"}; }`]
    : [0, 1, 2, 3].map((c) =>
      `  if (v0 + ${c}u < p.v_count) { v.${"xyzw"[c]} = ${cvt(`X[e + ${c}u * p.sv]`)}; }`
    );
  return fill(packSrc, {
    ENABLE: enables(d),
    X_ELEM: elemType(d, vec),
    LOAD: load.join("\n"),
    T_TYPE: arr ? "texture_storage_2d_array" : "texture_storage_2d",
    STORE: arr
      ? "textureStore(T, vec2<i32>(i32(x), i32(y)), i32(gid.z), v);"
      : "textureStore(T, vec2<i32>(i32(x), i32(y)), v);",
  });
}

// ------------------------------------------------------------------ planning

/** An operand restricted to one window: where to bind it and its offset inside the binding. */
interface Windowed {
  binding: Binding;
  /** Element offset of the piece's element (0, 0) of batch item 0, relative to the binding. */
  rel: number;
}

/** Element span [lo, hi) that a piece of an operand touches. */
function spanOf(
  base: number,
  rows: number,
  cols: number,
  rowStride: number,
  colStride: number,
  batchShape: readonly number[],
  batchStrides: readonly number[],
): [number, number] {
  let hi = base + (rows - 1) * rowStride + (cols - 1) * colStride;
  for (let d = 0; d < batchShape.length; d++) hi += (batchShape[d] - 1) * batchStrides[d];
  return [base, hi + 1];
}

/**
 * A binding window over elements [lo, hi) of an operand's buffer (starting on the offset
 * alignment, at most `maxBytes`), with `lo`'s offset inside it; null when it does not fit.
 */
export function windowFor(
  eng: Engine,
  op: Pick<MatOperand, "buffer" | "dtype">,
  lo: number,
  hi: number,
  maxBytes: number,
): Windowed | null {
  const bytes = DTYPE_BYTES[op.dtype];
  const align = eng.limits.minStorageBufferOffsetAlignment ?? 256;
  const start = Math.floor((lo * bytes) / align) * align;
  const need = hi * bytes - start;
  const avail = Math.floor(Math.min(op.buffer.size - start, maxBytes) / 16) * 16;
  if (need > avail) return null;
  return { binding: { buffer: op.buffer, offset: start, size: avail }, rel: lo - start / bytes };
}

/** Row/column strides of A, B and C in (m, k), (k, n), (m, n) order. */
function strides2(p: MatProblem) {
  return {
    a: p.a.t ? [1, p.a.ld] : [p.a.ld, 1],
    b: p.b.t ? [1, p.b.ld] : [p.b.ld, 1],
    c: [p.c.ld, 1],
  };
}

/** One dispatch-to-be: a sub-problem with its bindings resolved. */
interface Piece {
  m: number;
  n: number;
  k: number;
  accumulate: boolean;
  batchShape: number[]; // ≤ 4 axes
  batchA: number[];
  batchB: number[];
  batchC: number[];
  a: Windowed;
  b: Windowed;
  c: Windowed;
}

/**
 * Split a problem into pieces that each bind within `maxBytes` per operand and fit the grid
 * limits: batch axes beyond four become separate pieces; when a whole batch does not fit, each
 * batch item is split along m, n and k (k pieces accumulate into C).
 */
export function splitProblem(
  eng: Engine,
  p: MatProblem,
  cfg: MatmulConfig,
  maxBytes = matmulSettings.maxWindowBytes || eng.maxBinding,
): Piece[] {
  const merged = collapse(p.batch, [p.a.batch, p.b.batch, p.c.batch]);
  const [bsA, bsB, bsC] = merged.strides;
  const shape = merged.shape;
  const inner = Math.max(0, shape.length - 4);
  const outerShape = shape.slice(0, inner);
  const innerShape = shape.slice(inner);
  const st = strides2(p);
  const maxDim = eng.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const [tileM, tileN] = tileOf(cfg);
  const kMax = eng.loopBudget;
  const pieces: Piece[] = [];
  const nOuter = prod(outerShape);
  for (let t = 0; t < nOuter; t++) {
    // Offsets of this outer batch index.
    let rem = t;
    const off = [p.a.offset, p.b.offset, p.c.offset];
    for (let d = inner - 1; d >= 0; d--) {
      const i = rem % outerShape[d];
      rem = Math.floor(rem / outerShape[d]);
      off[0] += i * bsA[d];
      off[1] += i * bsB[d];
      off[2] += i * bsC[d];
    }
    const iA = bsA.slice(inner);
    const iB = bsB.slice(inner);
    const iC = bsC.slice(inner);
    // Whole group at once (in k pieces where the adapter caps loop lengths)?
    if (p.m <= maxDim * tileM && p.n <= maxDim * tileN) {
      const group: Piece[] = [];
      let fits = true;
      for (let k0 = 0; k0 < p.k; k0 += kMax) {
        const kc = Math.min(kMax, p.k - k0);
        const la = off[0] + k0 * st.a[1];
        const lb = off[1] + k0 * st.b[0];
        const sa = spanOf(la, p.m, kc, st.a[0], st.a[1], innerShape, iA);
        const sb = spanOf(lb, kc, p.n, st.b[0], st.b[1], innerShape, iB);
        const sc = spanOf(off[2], p.m, p.n, st.c[0], st.c[1], innerShape, iC);
        const wa = windowFor(eng, p.a, sa[0], sa[1], maxBytes);
        const wb = windowFor(eng, p.b, sb[0], sb[1], maxBytes);
        const wc = windowFor(eng, p.c, sc[0], sc[1], maxBytes);
        if (!wa || !wb || !wc) {
          fits = false;
          break;
        }
        group.push({
          m: p.m,
          n: p.n,
          k: kc,
          accumulate: k0 > 0,
          batchShape: innerShape,
          batchA: iA,
          batchB: iB,
          batchC: iC,
          a: wa,
          b: wb,
          c: wc,
        });
      }
      if (fits) {
        pieces.push(...group);
        continue;
      }
    }
    // Item by item, split along m, n, k.
    const nInner = prod(innerShape);
    const chunks = chooseChunks(eng, p, maxBytes, maxDim * tileM, maxDim * tileN);
    chunks.k = Math.min(chunks.k, kMax);
    for (let z = 0; z < nInner; z++) {
      let r = z;
      const o = [...off];
      for (let d = innerShape.length - 1; d >= 0; d--) {
        const i = r % innerShape[d];
        r = Math.floor(r / innerShape[d]);
        o[0] += i * iA[d];
        o[1] += i * iB[d];
        o[2] += i * iC[d];
      }
      for (let m0 = 0; m0 < p.m; m0 += chunks.m) {
        const mc = Math.min(chunks.m, p.m - m0);
        for (let n0 = 0; n0 < p.n; n0 += chunks.n) {
          const nc = Math.min(chunks.n, p.n - n0);
          for (let k0 = 0; k0 < p.k; k0 += chunks.k) {
            const kc = Math.min(chunks.k, p.k - k0);
            const la = o[0] + m0 * st.a[0] + k0 * st.a[1];
            const lb = o[1] + k0 * st.b[0] + n0 * st.b[1];
            const lc = o[2] + m0 * st.c[0] + n0 * st.c[1];
            const sa = spanOf(la, mc, kc, st.a[0], st.a[1], [], []);
            const sb = spanOf(lb, kc, nc, st.b[0], st.b[1], [], []);
            const sc = spanOf(lc, mc, nc, st.c[0], st.c[1], [], []);
            const wa = windowFor(eng, p.a, sa[0], sa[1], maxBytes);
            const wb = windowFor(eng, p.b, sb[0], sb[1], maxBytes);
            const wc = windowFor(eng, p.c, sc[0], sc[1], maxBytes);
            if (!wa || !wb || !wc) throw new Error("internal: matmul window planning failed");
            pieces.push({
              m: mc,
              n: nc,
              k: kc,
              accumulate: k0 > 0,
              batchShape: [],
              batchA: [],
              batchB: [],
              batchC: [],
              a: wa,
              b: wb,
              c: wc,
            });
          }
        }
      }
    }
  }
  return pieces;
}

/** Chunk sizes along m, n, k so that every operand's piece fits `maxBytes` (with alignment slack). */
function chooseChunks(
  eng: Engine,
  p: MatProblem,
  maxBytes: number,
  mCap: number,
  nCap: number,
): { m: number; n: number; k: number } {
  const align = eng.limits.minStorageBufferOffsetAlignment ?? 256;
  const st = strides2(p);
  const ch = { m: Math.min(p.m, mCap), n: Math.min(p.n, nCap), k: p.k };
  const halve = (x: number) => {
    const h = Math.ceil(x / 2);
    return h > 64 ? Math.floor(h / 64) * 64 : h;
  };
  const ops: [MatOperand, "m" | "k", "k" | "n", number[]][] = [
    [p.a, "m", "k", st.a],
    [p.b, "k", "n", st.b],
    [p.c, "m", "n", st.c],
  ];
  for (let guard = 0; guard < 200; guard++) {
    let changed = false;
    for (const [op, d1, d2, s] of ops) {
      const bytes = DTYPE_BYTES[op.dtype];
      const span = ((ch[d1] - 1) * s[0] + (ch[d2] - 1) * s[1] + 1) * bytes + align;
      if (span <= Math.floor(maxBytes / 16) * 16) continue;
      // Halve the axis with the larger stride (it dominates the span), if it can shrink.
      const first = s[0] >= s[1] ? d1 : d2;
      const other = first === d1 ? d2 : d1;
      const dim = ch[first] > 1 ? first : other;
      if (ch[dim] <= 1) {
        throw new RangeError(
          `Cannot run matmul: one element of an operand does not fit a binding window of ${maxBytes} bytes`,
        );
      }
      ch[dim] = halve(ch[dim]);
      changed = true;
    }
    if (!changed) return ch;
  }
  throw new Error("internal: matmul chunking did not converge");
}

/** Vec4 and k-step flags for one piece under a config. */
function flagsFor(cfg: MatmulConfig, p: MatProblem, piece: Piece): Flags {
  if (cfg.variant !== "register") {
    return { aVec: false, bVec: false, cVec: false, ku: 1, tail: false };
  }
  const al = (rel: number, ld: number, bs: number[]) =>
    rel % 4 === 0 && ld % 4 === 0 && bs.every((s) => s % 4 === 0);
  const aAl = al(piece.a.rel, p.a.ld, piece.batchA);
  const bAl = al(piece.b.rel, p.b.ld, piece.batchB);
  const cAl = al(piece.c.rel, p.c.ld, piece.batchC);
  const aVecK = cfg.ku === 4 && !p.a.t && aAl;
  const aVecM = p.a.t && aAl && cfg.tm % 4 === 0 && piece.m % 4 === 0;
  const bVecK = cfg.ku === 4 && p.b.t && bAl;
  const bVecN = !p.b.t && bAl && cfg.tn % 4 === 0 && piece.n % 4 === 0;
  const cVec = cAl && cfg.tn % 4 === 0 && piece.n % 4 === 0;
  return {
    aVec: aVecK || aVecM,
    bVec: bVecK || bVecN,
    cVec,
    ku: aVecK || bVecK ? 4 : 1,
    tail: (aVecK || bVecK) && piece.k % 4 !== 0,
  };
}

/**
 * The dispatches that compute a problem with a config (one per piece and per 65535 batch items).
 * Feed them to `eng.run`.
 */
export function planMatmul(
  eng: Engine,
  p: MatProblem,
  cfg: MatmulConfig,
  maxBytes?: number,
): Dispatch[] {
  if (cfg.variant === "texture") {
    throw new Error("internal: the texture variant plans with textureJobs()");
  }
  if (p.m === 0 || p.n === 0 || prod(p.batch) === 0) return [];
  const pieces = splitProblem(eng, p, cfg, maxBytes);
  const maxDim = eng.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const [tileM, tileN] = tileOf(cfg);
  const dtypes = [p.a.dtype, p.b.dtype, p.c.dtype];
  const out: Dispatch[] = [];
  for (const piece of pieces) {
    const f = flagsFor(cfg, p, piece);
    const key = `matmul|${configName(cfg)}|${p.a.t ? "T" : "N"}${p.b.t ? "T" : "N"}|` +
      `${f.aVec ? "v" : "s"}${f.bVec ? "v" : "s"}${f.cVec ? "v" : "s"}${f.ku}${f.tail ? "t" : ""}|${
        dtypes.join(",")
      }`;
    const code = () =>
      cfg.variant === "register"
        ? registerCode(cfg, p.a.t, p.b.t, dtypes, f)
        : tiledCode(cfg as TiledConfig, p.a.t, p.b.t, dtypes);
    const pad = 4 - piece.batchShape.length;
    const bShape = [...Array(pad).fill(1), ...piece.batchShape];
    const pads = (xs: number[]) => [...Array(pad).fill(0), ...xs];
    const nb = prod(piece.batchShape);
    for (let z0 = 0; z0 < nb; z0 += maxDim) {
      const params = new Params()
        .u32(piece.m).u32(piece.n).u32(piece.k).u32(z0)
        .u32(p.a.ld).u32(p.b.ld).u32(p.c.ld).u32(piece.accumulate ? 1 : 0)
        .u32(piece.a.rel).u32(piece.b.rel).u32(piece.c.rel).u32(0)
        .vec4u(bShape, 1, 1)
        .vec4u(pads(piece.batchA), 1)
        .vec4u(pads(piece.batchB), 1)
        .vec4u(pads(piece.batchC), 1)
        .bytes();
      out.push({
        label: "matmul",
        key,
        code,
        params: params.slice(),
        inputs: [piece.a.binding, piece.b.binding],
        outputs: [piece.c.binding],
        workgroups: [
          Math.ceil(piece.n / tileN),
          Math.ceil(piece.m / tileM),
          Math.min(maxDim, nb - z0),
        ],
      });
    }
  }
  return out;
}

/**
 * The same product computed as Cᵀ = Bᵀ·Aᵀ when C is a column (n = 1): C's memory is then one
 * row of m values, and the kernels' invocations spread along the long axis instead of idling.
 */
export function orient(p: MatProblem): MatProblem {
  if (p.n !== 1 || p.m === 1) return p;
  return {
    m: 1,
    n: p.m,
    k: p.k,
    batch: p.batch,
    a: { ...p.b, t: !p.b.t },
    b: { ...p.a, t: !p.a.t },
    c: { ...p.c, ld: p.m },
  };
}

// ------------------------------------------------------------------ jobs (own encoder)

/** A dispatch encoded outside the engine (texture bindings allowed). Params go to binding 0. */
export interface Job {
  kind?: "dispatch";
  label: string;
  key: string;
  code: () => string;
  params: Uint8Array;
  /** Bindings 1, 2, ... */
  resources: GPUBindingResource[];
  workgroups: [number, number, number];
}

/** A buffer-to-texture copy (rows of `width` texels, `bytesPerRow` apart) into one layer. */
export interface CopyJob {
  kind: "copy";
  buffer: GPUBuffer;
  /** Byte offset of the first row. */
  offset: number;
  bytesPerRow: number;
  texture: GPUTexture;
  layer: number;
  width: number;
  height: number;
}

/** What {@link submitJobs} encodes. */
export type AnyJob = Job | CopyJob;

/** A binding as a bind-group resource. */
export function resourceOf(b: Binding): GPUBufferBinding {
  if (b instanceof GPUBuffer) return { buffer: b, offset: 0, size: b.size };
  return { buffer: b.buffer, offset: b.offset ?? 0, size: b.size };
}

/** Buffer dispatches as jobs. */
export function jobsOf(ds: Dispatch[]): Job[] {
  return ds.map((d) => ({
    label: d.label,
    key: d.key,
    code: d.code,
    params: d.params as Uint8Array,
    resources: [...d.inputs, ...d.outputs].map(resourceOf),
    workgroups: [d.workgroups[0], d.workgroups[1] ?? 1, d.workgroups[2] ?? 1],
  }));
}

/** Textures kept for reuse by the texture kernel, per engine (queue order makes reuse safe). */
export interface TexEntry {
  texture: GPUTexture;
  view: GPUTextureView;
  dims: string;
  bytes: number;
  used: number;
}
const texCache = new WeakMap<Engine, TexEntry[]>();
let texClock = 0;

/** Most bytes of textures kept between texture-kernel calls (per engine). */
const TEX_CACHE_BYTES = 256 << 20;

/**
 * A `w` x `h` x `layers` rgba32float texture from the engine's reuse list (not one in `taken`),
 * or a new one; evicts least recently used textures past the budget.
 */
export function acquireTexture(
  eng: Engine,
  w: number,
  h: number,
  layers: number,
  taken: Set<TexEntry>,
): TexEntry {
  let list = texCache.get(eng);
  if (!list) texCache.set(eng, list = []);
  const dims = `${w}x${h}x${layers}`;
  const hit = list.find((e) => e.dims === dims && !taken.has(e));
  if (hit) {
    hit.used = ++texClock;
    taken.add(hit);
    return hit;
  }
  const texture = eng.device.createTexture({
    size: [w, h, layers],
    format: "rgba32float",
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING |
      GPUTextureUsage.COPY_DST,
    label: "glassbox matmul operand",
  });
  const e: TexEntry = {
    texture,
    view: texture.createView({ dimension: layers > 1 ? "2d-array" : "2d" }),
    dims,
    bytes: w * h * layers * 16,
    used: ++texClock,
  };
  list.push(e);
  taken.add(e);
  // Evict least recently used textures past the budget. Work encoded earlier may still use them:
  // submit it first (a submit that uses a destroyed texture is invalid; after the submit,
  // destroy() waits for the work).
  let total = list.reduce((a, x) => a + x.bytes, 0);
  list.sort((x, y) => x.used - y.used);
  let flushed = false;
  for (let i = 0; i < list.length && total > TEX_CACHE_BYTES;) {
    const x = list[i];
    if (taken.has(x)) {
      i++;
      continue;
    }
    if (!flushed) {
      eng.flush();
      flushed = true;
    }
    x.texture.destroy();
    total -= x.bytes;
    list.splice(i, 1);
  }
  return e;
}

/**
 * Destroy the textures the texture kernel keeps between calls (they are not tensors, so
 * `memory()` does not count them); returns the bytes freed. Later calls make new ones.
 *
 * @example
 * ```ts
 * console.log(`freed ${releaseMatmulTextures(engine()) / 2 ** 20} MiB`);
 * ```
 */
export function releaseMatmulTextures(eng: Engine): number {
  const list = texCache.get(eng) ?? [];
  eng.flush();
  let bytes = 0;
  for (const e of list) {
    bytes += e.bytes;
    e.texture.destroy();
  }
  texCache.delete(eng);
  return bytes;
}

/**
 * Bytes of textures the texture kernel keeps for this engine.
 *
 * @example
 * ```ts
 * console.log(matmulTextureBytes(engine()));
 * ```
 */
export function matmulTextureBytes(eng: Engine): number {
  return (texCache.get(eng) ?? []).reduce((a, e) => a + e.bytes, 0);
}

/**
 * The jobs of the texture kernel for a problem, or null when it does not apply (texture size
 * limits, more than four batch axes after merging, an operand too big for one binding window).
 */
export function textureJobs(
  eng: Engine,
  p: MatProblem,
  cfg: TextureConfig,
  maxBytes?: number,
): AnyJob[] | null {
  const fit = textureFit(eng, p, cfg, maxBytes);
  if (!fit) return null;
  const { wa, wb, shape } = fit;
  const lim = eng.device.limits;
  const maxLayers = lim.maxTextureArrayLayers ?? 256;
  const nb = prod(shape);
  // Layer counts the GL backend reads as cube arrays (multiples of 6 above 6) get one spare layer.
  let layers = Math.min(nb, maxLayers);
  if (layers > 6 && layers % 6 === 0) layers = layers < maxLayers ? layers + 1 : layers - 1;
  const taken = new Set<TexEntry>();
  const tA = acquireTexture(eng, wa, p.k, layers, taken);
  const tB = acquireTexture(eng, wb, p.k, layers, taken);
  return textureJobsWith(p, cfg, fit, tA, tB, layers);
}

/** Whether the texture kernel applies to a problem (no side effects). */
export function textureApplies(
  eng: Engine,
  p: MatProblem,
  cfg: TextureConfig,
  maxBytes?: number,
): boolean {
  return textureFit(eng, p, cfg, maxBytes) !== null;
}

function textureFit(eng: Engine, p: MatProblem, cfg: TextureConfig, maxBytes?: number) {
  const win = maxBytes ?? (matmulSettings.maxWindowBytes || eng.maxBinding);
  const lim = eng.device.limits;
  const maxDim2 = lim.maxTextureDimension2D ?? 8192;
  const maxGroups = eng.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const wa = Math.ceil(p.m / cfg.tm) * (cfg.tm / 4);
  const blockN = cfg.wg * cfg.tn;
  const wb = Math.ceil(p.n / blockN) * (blockN / 4);
  if (p.k < 1 || p.k > maxDim2 || wa > maxDim2 || wb > maxDim2 || p.k > maxGroups) return null;
  if (p.k > eng.loopBudget) return null; // the kernel loops over k
  if (Math.ceil(p.m / cfg.tm) > maxGroups || Math.ceil(p.n / blockN) > maxGroups) return null;
  const merged = collapse(p.batch, [p.a.batch, p.b.batch, p.c.batch]);
  if (merged.shape.length > 4) return null;
  const [bsA, bsB, bsC] = merged.strides;
  const shape = merged.shape;
  const st = strides2(p);
  const sa = spanOf(p.a.offset, p.m, p.k, st.a[0], st.a[1], shape, bsA);
  const sb = spanOf(p.b.offset, p.k, p.n, st.b[0], st.b[1], shape, bsB);
  const sc = spanOf(p.c.offset, p.m, p.n, st.c[0], st.c[1], shape, bsC);
  const wA = windowFor(eng, p.a, sa[0], sa[1], win);
  const wB = windowFor(eng, p.b, sb[0], sb[1], win);
  const wC = windowFor(eng, p.c, sc[0], sc[1], win);
  if (!wA || !wB || !wC) return null;
  return { wa, wb, blockN, shape, bsA, bsB, bsC, wA, wB, wC };
}

function textureJobsWith(
  p: MatProblem,
  cfg: TextureConfig,
  fit: NonNullable<ReturnType<typeof textureFit>>,
  tA: TexEntry,
  tB: TexEntry,
  layers: number,
): AnyJob[] {
  const { wa, wb, blockN, shape, bsA, bsB, bsC, wA, wB, wC } = fit;
  const nb = prod(shape);
  const arr = layers > 1;
  const pad = 4 - shape.length;
  const bShape = [...Array(pad).fill(1), ...shape];
  const pads = (xs: number[]) => [...Array(pad).fill(0), ...xs];
  const al = (rel: number, bs: number[], su: number) =>
    rel % 4 === 0 && su % 4 === 0 && bs.every((x) => x % 4 === 0);
  const cVec = cfg.tn % 4 === 0 && p.n % 4 === 0 && wC.rel % 4 === 0 && p.c.ld % 4 === 0 &&
    bsC.every((x) => x % 4 === 0);
  const jobs: AnyJob[] = [];
  // Operand X(u = k index, v = m or n index): strides along u and v.
  const aU = p.a.t ? p.a.ld : 1;
  const aV = p.a.t ? 1 : p.a.ld;
  const bU = p.b.t ? 1 : p.b.ld;
  const bV = p.b.t ? p.b.ld : 1;
  const packJob = (
    op: MatOperand,
    w: Windowed,
    su: number,
    sv: number,
    vCount: number,
    bs: number[],
    tex: TexEntry,
    width: number,
    z0: number,
    nz: number,
  ): Job => {
    const vec = sv === 1 && vCount % 4 === 0 && al(w.rel, bs, su);
    const params = new Params()
      .u32(p.k).u32(vCount).u32(su).u32(sv)
      .u32(w.rel).u32(z0).u32(width).u32(0)
      .vec4u(bShape, 1, 1)
      .vec4u(pads(bs), 1)
      .bytes();
    return {
      label: "matmul pack",
      key: `matmul pack|${op.dtype}|${vec ? "v" : "s"}|${arr ? "array" : "2d"}`,
      code: () => packCode(op.dtype, vec, arr),
      params: params.slice(),
      resources: [resourceOf(w.binding), tex.view],
      workgroups: [Math.ceil(width / 64), p.k, nz],
    };
  };
  // An operand already laid out as its texture wants (contiguous along m or n, f32, rows on
  // 256-byte boundaries, 16-byte aligned) is copied in (a memcpy) instead of repacked.
  const copyable = (op: MatOperand, sv: number, su: number, vCount: number, bs: number[]) => {
    if (op.dtype !== "f32" || sv !== 1 || (su * 4) % 256 !== 0 || su === 0) return false;
    if (op.offset % 4 !== 0 || bs.some((x) => x % 4 !== 0)) return false;
    // The last texel of each row may read up to 3 elements past v_count, inside the row stride.
    return Math.ceil(vCount / 4) * 4 <= su &&
      spanOf(op.offset, p.k, Math.ceil(vCount / 4) * 4, su, 1, shape, bs)[1] * 4 <=
        op.buffer.size;
  };
  const copyA = copyable(p.a, aV, aU, p.m, bsA);
  const copyB = copyable(p.b, bV, bU, p.n, bsB);
  const copies = (
    op: MatOperand,
    su: number,
    vCount: number,
    bs: number[],
    tex: TexEntry,
    z0: number,
    nz: number,
  ) => {
    const out: CopyJob[] = [];
    for (let z = z0; z < z0 + nz; z++) {
      let rem = z;
      let o = op.offset;
      for (let d = shape.length - 1; d >= 0; d--) {
        o += (rem % shape[d]) * bs[d];
        rem = Math.floor(rem / shape[d]);
      }
      out.push({
        kind: "copy",
        buffer: op.buffer,
        offset: o * 4,
        bytesPerRow: su * 4,
        texture: tex.texture,
        layer: z - z0,
        width: Math.ceil(vCount / 4),
        height: p.k,
      });
    }
    return out;
  };
  for (let z0 = 0; z0 < nb; z0 += layers) {
    const nz = Math.min(layers, nb - z0);
    if (copyA) jobs.push(...copies(p.a, aU, p.m, bsA, tA, z0, nz));
    else jobs.push(packJob(p.a, wA, aU, aV, p.m, bsA, tA, wa, z0, nz));
    if (copyB) jobs.push(...copies(p.b, bU, p.n, bsB, tB, z0, nz));
    else jobs.push(packJob(p.b, wB, bU, bV, p.n, bsB, tB, wb, z0, nz));
    const params = new Params()
      .u32(p.m).u32(p.n).u32(p.k).u32(z0)
      .u32(p.c.ld).u32(0).u32(wC.rel).u32(0)
      .vec4u(bShape, 1, 1)
      .vec4u(pads(bsC), 1)
      .bytes();
    jobs.push({
      label: "matmul",
      key: `matmul|${configName(cfg)}|${p.c.dtype}|${cVec ? "v" : "s"}|${arr ? "array" : "2d"}`,
      code: () => textureCode(cfg, p.c.dtype, cVec, arr),
      params: params.slice(),
      resources: [tA.view, tB.view, resourceOf(wC.binding)],
      workgroups: [Math.ceil(p.n / blockN), Math.ceil(p.m / cfg.tm), nz],
    });
  }
  return jobs;
}

/** Errors of jobs submitted outside the engine, raised by the next matmul on that engine. */
const lateErrors = new WeakMap<Engine, Error[]>();

/** Throw the first error a previous texture-kernel submission reported. */
export function throwLateErrors(eng: Engine): void {
  const list = lateErrors.get(eng);
  if (list?.length) {
    const e = list.shift()!;
    throw e;
  }
}

/**
 * Encode jobs on a command encoder of our own (`reps` times in one compute pass, with optional
 * timestamps around the pass) and submit it. Returns the validation error promise.
 */
export function submitJobs(
  eng: Engine,
  jobs: AnyJob[],
  reps = 1,
  timing?: { querySet: GPUQuerySet; resolve: GPUBuffer; readback: GPUBuffer },
): Promise<GPUError | null> {
  const device = eng.device;
  const align = eng.limits.minUniformBufferOffsetAlignment ?? 256;
  const dispatches = jobs.filter((j): j is Job => j.kind !== "copy");
  const slot = Math.max(
    align,
    ...dispatches.map((j) => Math.ceil(j.params.byteLength / align) * align),
  );
  // Pipelines first: eng.pipeline keeps its own error scopes.
  const pipes = dispatches.map((j) => eng.pipeline(j.label, j.key, j.code));
  device.pushErrorScope("validation");
  let err: Promise<GPUError | null> = Promise.resolve(null);
  try {
    const uniform = device.createBuffer({
      size: slot * Math.max(1, dispatches.length),
      usage: GPUBufferUsage.UNIFORM,
      mappedAtCreation: true,
      label: "glassbox matmul params",
    });
    const bytes = new Uint8Array(uniform.getMappedRange());
    dispatches.forEach((j, i) => bytes.set(j.params, i * slot));
    uniform.unmap();
    const groups = new Map<Job, [GPUComputePipeline, GPUBindGroup]>();
    dispatches.forEach((j, i) => {
      const group = device.createBindGroup({
        layout: pipes[i].getBindGroupLayout(0),
        entries: [
          {
            binding: 0,
            resource: {
              buffer: uniform,
              offset: i * slot,
              size: Math.max(16, j.params.byteLength),
            },
          },
          ...j.resources.map((resource, r) => ({ binding: r + 1, resource })),
        ],
        label: j.label,
      });
      groups.set(j, [pipes[i], group]);
    });
    // Runs of dispatches share a compute pass; copies go between passes. Timestamps (if asked)
    // mark the start of the first pass and the end of the last.
    const seq: AnyJob[] = [];
    for (let r = 0; r < reps; r++) seq.push(...jobs);
    const passCount = seq.filter((j, i) =>
      j.kind !== "copy" && (i === 0 || seq[i - 1].kind === "copy")
    )
      .length;
    const enc = device.createCommandEncoder({ label: "glassbox matmul" });
    let pass: GPUComputePassEncoder | null = null;
    let passes = 0;
    for (const j of seq) {
      if (j.kind === "copy") {
        pass?.end();
        pass = null;
        enc.copyBufferToTexture(
          {
            buffer: j.buffer,
            offset: j.offset,
            bytesPerRow: j.bytesPerRow,
            rowsPerImage: j.height,
          },
          { texture: j.texture, origin: [0, 0, j.layer] },
          [j.width, j.height, 1],
        );
        continue;
      }
      if (!pass) {
        passes++;
        const tw: GPUComputePassTimestampWrites | undefined =
          timing && (passes === 1 || passes === passCount)
            ? {
              querySet: timing.querySet,
              ...(passes === 1 ? { beginningOfPassWriteIndex: 0 } : {}),
              ...(passes === passCount ? { endOfPassWriteIndex: 1 } : {}),
            }
            : undefined;
        pass = enc.beginComputePass(tw ? { timestampWrites: tw } : {});
      }
      const [pipe, group] = groups.get(j)!;
      pass.setPipeline(pipe);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(...j.workgroups);
    }
    pass?.end();
    if (timing) {
      enc.resolveQuerySet(timing.querySet, 0, 2, timing.resolve, 0);
      enc.copyBufferToBuffer(timing.resolve, 0, timing.readback, 0, 16);
    }
    device.queue.submit([enc.finish()]);
    uniform.destroy();
  } finally {
    err = device.popErrorScope();
  }
  return err;
}

/** Encode a problem: buffer variants on the engine, the texture variant on its own encoder. */
export function runMatmul(eng: Engine, p: MatProblem, cfg: MatmulConfig): void {
  throwLateErrors(eng);
  if (cfg.variant === "texture") {
    const jobs = textureJobs(eng, p, cfg);
    if (jobs) {
      // Encoded in the engine's batch like every other kernel: copies into the cached
      // textures and the dispatches run in queue order with the work around them.
      for (const j of jobs) {
        if (j.kind === "copy") {
          eng.copyToTexture(
            {
              buffer: j.buffer,
              offset: j.offset,
              bytesPerRow: j.bytesPerRow,
              rowsPerImage: j.height,
            },
            { texture: j.texture, origin: [0, 0, j.layer] },
            [j.width, j.height, 1],
          );
        } else {
          eng.run({
            label: j.label,
            key: j.key,
            code: j.code,
            params: j.params,
            inputs: [],
            outputs: [],
            resources: j.resources,
            writes: j.label === "matmul" ? [p.c.buffer] : undefined,
            workgroups: j.workgroups,
          });
        }
      }
      return;
    }
    cfg = registerConfig(classOf(p)); // does not apply here: the register kernel handles everything
  }
  for (const d of planMatmul(eng, p, cfg)) eng.run(d);
}

// ------------------------------------------------------------------ autotune

/** One candidate's timing. */
export interface TuneEntry {
  config: string;
  /** Fastest milliseconds per run (all its dispatches) of the stand-in problem (Infinity if it failed). */
  ms: number;
  gflops: number;
  /** Why the candidate could not run, if it could not. */
  error?: string;
}

/** What the autotune decided for a shape class. */
export interface TuneResult {
  key: string;
  config: MatmulConfig;
  /** The stand-in problem that was timed. */
  timed: { m: number; n: number; k: number };
  entries: TuneEntry[];
  /**
   * "timestamp" (GPU timestamps), "cpu" (process CPU time over the core count: CPU adapters) or
   * "wall" (wall clock around queue completion).
   */
  clock: string;
}

interface TunedSlot {
  result?: TuneResult;
  pending?: Promise<TuneResult>;
  /** The autotune failed for this class: use the default config, do not retry. */
  failed?: string;
}

function slot(eng: Engine, key: string): TunedSlot | undefined {
  return eng.tuned.get(key) as TunedSlot | undefined;
}

/**
 * The config to use for a problem: a forced variant's default, else the tuned winner of its
 * class, else the adapter's default — and, for a new class large enough to matter, a background
 * autotune whose winner later calls use.
 */
export function chooseConfig(eng: Engine, p: MatProblem, variant?: MatmulVariant): MatmulConfig {
  const c = classOf(p);
  if (variant) return defaultConfig(eng, c, variant);
  const key = classKey(c);
  const s = slot(eng, key);
  if (s?.result) return s.result.config;
  const flops = 2 * c.m * c.n * c.k * c.batch;
  if (!s && matmulSettings.autotune && flops >= matmulSettings.tuneMinFlops) {
    tuneClass(eng, c).catch(() => {/* recorded in the slot */});
  }
  return defaultConfig(eng, c);
}

/** Shrink a class's sizes to about `flops` (keeping each size's residue mod 4 class) for timing. */
function standIn(c: MatClass, flops: number): { m: number; n: number; k: number } {
  const d = { m: c.m, n: c.n, k: c.k };
  const keep = (
    orig: number,
    x: number,
  ) => (orig % 4 === 0 ? Math.max(4, Math.round(x / 4) * 4) : (x | 1));
  for (let i = 0; i < 64 && 2 * d.m * d.n * d.k > flops; i++) {
    // m first (down to 128), then the larger of n and k.
    const big = d.m > 128 ? "m" : d.n >= d.k ? "n" : "k";
    const next = keep(c[big], Math.max(16, Math.floor(d[big] / 2)));
    if (next >= d[big]) break;
    d[big] = next;
  }
  return d;
}

/**
 * Time every candidate config for a class on a stand-in problem with its own buffers, and cache
 * the fastest in `eng.tuned`. Runs outside the engine's command batching (own command encoder),
 * so it neither flushes nor waits on the caller's work.
 */
export function tuneClass(eng: Engine, c: MatClass): Promise<TuneResult> {
  const key = classKey(c);
  const s = slot(eng, key);
  if (s?.result) return Promise.resolve(s.result);
  if (s?.pending) return s.pending;
  if (s?.failed) return Promise.reject(new Error(`matmul autotune failed for ${key}: ${s.failed}`));
  const pending = doTune(eng, c, key).then(
    (result) => {
      eng.tuned.set(key, { result });
      return result;
    },
    (e) => {
      eng.tuned.set(key, { failed: String((e as Error)?.message ?? e) });
      throw e;
    },
  );
  eng.tuned.set(key, { pending });
  return pending;
}

async function doTune(eng: Engine, c: MatClass, key: string): Promise<TuneResult> {
  const device = eng.device;
  const dims = standIn(c, matmulSettings.tuneFlops);
  const { m, n, k } = dims;
  const ldOf = (contig: number, al: boolean) => (Math.ceil(contig / 4) * 4) + (al ? 0 : 1);
  const lda = ldOf(c.aT ? m : k, c.aAligned);
  const ldb = ldOf(c.bT ? k : n, c.bAligned);
  const rowsA = c.aT ? k : m;
  const rowsB = c.bT ? n : k;
  const made: GPUBuffer[] = [];
  const buf = (elems: number, d: DType) => {
    const size = Math.max(256, Math.ceil((elems * DTYPE_BYTES[d]) / 256) * 256);
    const b = device.createBuffer({
      size,
      // Like the pool's buffers: the texture kernel copies operands straight into textures.
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label: "glassbox matmul tune",
    });
    made.push(b);
    return b;
  };
  const prob: MatProblem = {
    m,
    n,
    k,
    batch: [],
    a: {
      buffer: buf(rowsA * lda, c.dtypes[0]),
      dtype: c.dtypes[0],
      offset: 0,
      ld: lda,
      t: c.aT,
      batch: [],
    },
    b: {
      buffer: buf(rowsB * ldb, c.dtypes[1]),
      dtype: c.dtypes[1],
      offset: 0,
      ld: ldb,
      t: c.bT,
      batch: [],
    },
    c: {
      buffer: buf(m * n, c.dtypes[2]),
      dtype: c.dtypes[2],
      offset: 0,
      ld: n,
      t: false,
      batch: [],
    },
  };
  // GPUs: timestamps where the adapter has them, else the wall clock. CPU adapters run the
  // kernels on this process's threads, so where the runtime reports process CPU time (Deno,
  // Node) that is the clock: other processes' load inflates the wall clock but hardly the CPU
  // time (divided by the core count, it reads like the wall time of an idle machine).
  // Lavapipe's timestamps are not trustworthy (some passes read as microseconds).
  const proc =
    (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process;
  const cpuClock = eng.gpu.info.isCpu && typeof proc?.cpuUsage === "function";
  const cores = Math.max(
    1,
    (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
      ?.hardwareConcurrency ?? 1,
  );
  const cpuMs = () => {
    const u = proc!.cpuUsage!();
    return (u.user + u.system) / 1000;
  };
  let clock = cpuClock
    ? "cpu"
    : eng.hasFeature("timestamp-query") && !eng.gpu.info.isCpu
    ? "timestamp"
    : "wall";
  const querySet = clock === "timestamp"
    ? device.createQuerySet({ type: "timestamp", count: 2 })
    : null;
  const resolve = querySet
    ? device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    })
    : null;
  if (resolve) made.push(resolve);

  // Run the jobs `reps` times in one pass; milliseconds per repetition.
  const time = async (jobs: AnyJob[], reps: number): Promise<number> => {
    let readback: GPUBuffer | null = null;
    if (querySet && resolve && clock === "timestamp") {
      readback = device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
    }
    const t0 = performance.now();
    const c0 = cpuClock ? cpuMs() : 0;
    const err = submitJobs(
      eng,
      jobs,
      reps,
      readback ? { querySet: querySet!, resolve: resolve!, readback } : undefined,
    );
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    const cpu = cpuClock ? (cpuMs() - c0) / cores : 0;
    const e = await err;
    if (e) {
      readback?.destroy();
      throw new Error(e.message);
    }
    if (readback) {
      await readback.mapAsync(GPUMapMode.READ);
      const [t1, t2] = new BigUint64Array(readback.getMappedRange());
      const ns = Number(t2 - t1);
      readback.unmap();
      readback.destroy();
      // Some adapters write zeros (or nonsense): use the wall clock from then on.
      if (ns > 0 && ns < wall * 1e6 * 1.5) return ns / 1e6 / reps;
      clock = "wall";
    }
    return (cpuClock ? cpu : wall) / reps;
  };

  const entries: TuneEntry[] = [];
  let best: { cfg: MatmulConfig; ms: number } | null = null;
  const flops = 2 * m * n * k;
  try {
    for (const cfg of candidates(eng, c)) {
      let ms = Infinity;
      let error: string | undefined;
      try {
        const jobs = cfg.variant === "texture"
          ? textureJobs(eng, prob, cfg)
          : jobsOf(planMatmul(eng, prob, cfg));
        if (!jobs) continue;
        await time(jobs, 1); // compile and warm up
        const once = await time(jobs, 1);
        ms = once;
        if (!best || once < 1.5 * best.ms) {
          // One more sample of at least ~4 ms; keep the minimum, since load only adds time.
          const reps = Math.max(1, Math.min(32, Math.ceil(4 / Math.max(once, 1e-3))));
          ms = Math.min(ms, await time(jobs, reps));
        }
      } catch (e) {
        ms = Infinity;
        error = String((e as Error)?.message ?? e);
      }
      entries.push({
        config: configName(cfg),
        ms,
        gflops: Number.isFinite(ms) ? flops / ms / 1e6 : 0,
        ...(error ? { error } : {}),
      });
      if (!best || ms < best.ms) best = { cfg, ms };
    }
  } finally {
    for (const b of made) b.destroy();
    querySet?.destroy();
  }
  if (!best || !Number.isFinite(best.ms)) throw new Error(`matmul autotune failed for ${key}`);
  return { key, config: best.cfg, timed: dims, entries, clock };
}
