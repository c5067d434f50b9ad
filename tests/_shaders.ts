/**
 * Representative instantiations of every WGSL template in shaders/, for tests/shaders_test.ts
 * (compiled on the Deno adapter) and tests/browser/browser_test.ts (compiled by Chromium's Tint).
 *
 * Each file in shaders/ has `{{NAME}}` placeholders that its kernel file in src/kernels/ fills.
 * A new shader needs an entry in {@link SHADER_VARIANTS} filling every placeholder with what its
 * kernel really writes there (or, for generated kernels such as matmul, a {@link ShaderGenerator}
 * that runs the kernel's own code generator); the tests fail, naming the file and placeholders,
 * until it has one. A file without placeholders needs no entry.
 */

import { fill } from "../src/kernels/_util.ts";
import type { Engine } from "../src/gpu/engine.ts";

/** One instantiation of a template. */
export interface ShaderVariant {
  /** Short description, e.g. "f32 ternary". */
  label: string;
  /** A value for every `{{NAME}}` in the file. */
  values: Record<string, string | number>;
  /** An optional feature the variant needs (compiled only where the adapter has it). */
  feature?: "shader-f16" | "subgroups";
  /** Entry points the kernel uses with these values (default: every `@compute` function). */
  entryPoints?: string[];
}

const bind = (k: number, name: string, type: string, access: "read" | "read_write") =>
  `@group(0) @binding(${k}) var<storage, ${access}> ${name}: array<${type}>;`;

/** Per shader file (name in shaders/), the variants to compile. */
export const SHADER_VARIANTS: Record<string, ShaderVariant[]> = {
  // src/kernels/elementwise.ts: up to three inputs A, B, C, output `out`, expression in a, b, c,
  // s, s2, i; the helpers (pow_s, tanh_s, ...) used by src/ops/elementwise.ts.
  "elementwise.wgsl": [
    {
      label: "f32 ternary using every helper",
      values: {
        ENABLE: "",
        BINDINGS: [
          bind(1, "A", "f32", "read"),
          bind(2, "B", "f32", "read"),
          bind(3, "C", "f32", "read"),
          bind(4, "out", "f32", "read_write"),
        ].join("\n"),
        LOADS: "let a = f32(A[ia]);\n  let b = f32(B[ib]);\n  let c = f32(C[ic]);",
        EXPR: "pow_s(a, b) + tanh_s(c) + sigmoid_s(a) + erf_s(b) * s + s2 + f32(i)",
        OUT: "f32",
        CT: "f32",
        INDEX: ewIndex(3, ["a", "b", "c"]),
        WG: 64,
      },
    },
    {
      label: "f32 comparison to u32 mask",
      values: {
        ENABLE: "",
        BINDINGS: [
          bind(1, "A", "f32", "read"),
          bind(2, "B", "f32", "read"),
          bind(3, "out", "u32", "read_write"),
        ].join("\n"),
        LOADS: "let a = f32(A[ia]);\n  let b = f32(B[ib]);",
        EXPR: "select(0u, 1u, a < b)",
        OUT: "u32",
        CT: "f32",
        INDEX: ewIndex(1, ["a", "b"]),
        WG: 256,
      },
    },
    {
      label: "i32 binary with i32 scalar",
      values: {
        ENABLE: "",
        BINDINGS: [
          bind(1, "A", "i32", "read"),
          bind(2, "B", "i32", "read"),
          bind(3, "out", "i32", "read_write"),
        ].join("\n"),
        LOADS: "let a = i32(A[ia]);\n  let b = i32(B[ib]);",
        EXPR: "max(a, 0) + b * s",
        OUT: "i32",
        CT: "i32",
        INDEX: ewIndex(2, ["a", "b"]),
        WG: 64,
      },
    },
    {
      label: "no inputs (full)",
      values: {
        ENABLE: "",
        BINDINGS: bind(1, "out", "f32", "read_write"),
        LOADS: "",
        EXPR: "s",
        OUT: "f32",
        CT: "f32",
        INDEX: "",
        WG: 256,
      },
    },
    {
      label: "f16 in, f16 out",
      feature: "shader-f16",
      values: {
        ENABLE: "enable f16;",
        BINDINGS: [bind(1, "A", "f16", "read"), bind(2, "out", "f16", "read_write")].join("\n"),
        LOADS: "let a = f32(A[ia]);",
        EXPR: "0.5 * a * (1.0 + tanh_s(0.7978845608028654 * (a + 0.044715 * a * a * a)))",
        OUT: "f16",
        CT: "f32",
        INDEX: ewIndex(1, ["a"]),
        WG: 64,
      },
    },
  ],
  // src/kernels/random.ts: NORMAL is a WGSL bool literal.
  "random.wgsl": [
    { label: "uniform", values: { NORMAL: "false" } },
    { label: "normal", values: { NORMAL: "true" } },
  ],
  // src/kernels/autograd.ts: T is the gradient's dtype.
  "autograd.wgsl": [
    { label: "f32", values: { ENABLE: "", T: "f32" } },
    { label: "f16", feature: "shader-f16", values: { ENABLE: "enable f16;", T: "f16" } },
  ],
  // src/kernels/concat.ts: T is the tensors' dtype.
  "concat.wgsl": [
    { label: "f32", values: { ENABLE: "", T: "f32" } },
    { label: "i32", values: { ENABLE: "", T: "i32" } },
    { label: "f16", feature: "shader-f16", values: { ENABLE: "enable f16;", T: "f16" } },
  ],
  // src/kernels/cross_entropy.ts: entry point `rows` (WG 64 or 256) and `reduce` (T f32, WG 256);
  // VALID and IGNORED depend on the targets' dtype.
  "cross_entropy.wgsl": [
    {
      label: "rows, f32 logits, i32 targets, WG 64",
      entryPoints: ["rows"],
      values: { ENABLE: "", T: "f32", IDX: "i32", WG: 64, ...ceIdx("i32") },
    },
    {
      label: "rows, f32 logits, u32 targets, WG 256",
      entryPoints: ["rows"],
      values: { ENABLE: "", T: "f32", IDX: "u32", WG: 256, ...ceIdx("u32") },
    },
    {
      label: "rows, f16 logits",
      entryPoints: ["rows"],
      feature: "shader-f16",
      values: {
        ENABLE: "enable f16;",
        T: "f16",
        IDX: "i32",
        WG: 64,
        ...ceIdx("i32"),
      },
    },
    {
      label: "reduce, i32 targets",
      entryPoints: ["reduce"],
      values: { ENABLE: "", T: "f32", IDX: "i32", WG: 256, ...ceIdx("i32") },
    },
    {
      label: "reduce, u32 targets",
      entryPoints: ["reduce"],
      values: { ENABLE: "", T: "f32", IDX: "u32", WG: 256, ...ceIdx("u32") },
    },
  ],
  // src/kernels/gather.ts: T is the dtype or vec4 of it; CLAMP is clampExpr(IDX).
  "gather.wgsl": [
    { label: "f32, i32 index", values: { ENABLE: "", T: "f32", IDX: "i32", CLAMP: clamp("i32") } },
    {
      label: "vec4<f32>, u32 index",
      values: { ENABLE: "", T: "vec4<f32>", IDX: "u32", CLAMP: clamp("u32") },
    },
    {
      label: "vec4<i32>, i32 index",
      values: { ENABLE: "", T: "vec4<i32>", IDX: "i32", CLAMP: clamp("i32") },
    },
    {
      label: "f16",
      feature: "shader-f16",
      values: { ENABLE: "enable f16;", T: "f16", IDX: "i32", CLAMP: clamp("i32") },
    },
  ],
  // src/kernels/onehot.ts: MATCH compares the raw index with the class c.
  "onehot.wgsl": [
    {
      label: "f32 from i32",
      values: { ENABLE: "", T: "f32", IDX: "i32", MATCH: "raw >= 0 && u32(raw) == c" },
    },
    { label: "i32 from u32", values: { ENABLE: "", T: "i32", IDX: "u32", MATCH: "raw == c" } },
    {
      label: "f16 from i32",
      feature: "shader-f16",
      values: { ENABLE: "enable f16;", T: "f16", IDX: "i32", MATCH: "raw >= 0 && u32(raw) == c" },
    },
  ],
  // src/kernels/reduce.ts: state family S with its output FIN and state words SW; T is the
  // compute type, SRC/DST the bound arrays (u32 for the split plan's scratch states).
  "reduce.wgsl": [
    reduceVariant("sum f32 (row, thread)", "sum", "sum_out", 2, "f32", "f32", "f32", "f32", [
      "main_final",
      "main_thread",
    ]),
    reduceVariant("sum f32 (split: partial)", "sum", "sum_out", 2, "f32", "f32", "u32", "f32", [
      "main_partial",
    ]),
    reduceVariant("sum f32 (split: combine)", "sum", "sum_out", 2, "f32", "u32", "f32", "f32", [
      "main_combine",
    ]),
    reduceVariant("mean f32", "sum", "mean_out", 2, "f32", "f32", "f32", "f32"),
    reduceVariant("std f32", "var", "std_out", 3, "f32", "f32", "f32", "f32"),
    reduceVariant("var f32 (split: partial)", "var", "var_out", 3, "f32", "f32", "u32", "f32", [
      "main_partial",
    ]),
    reduceVariant("max u32", "max", "max_out", 1, "u32", "u32", "u32", "u32"),
    reduceVariant("min i32", "min", "min_out", 1, "i32", "i32", "i32", "i32"),
    reduceVariant("argmax f32", "argmax", "argmax_out", 2, "f32", "f32", "i32", "i32"),
    reduceVariant("argmin i32", "argmin", "argmin_out", 2, "i32", "i32", "i32", "i32"),
    {
      ...reduceVariant("sum f16", "sum", "sum_out", 2, "f32", "f16", "f16", "f32"),
      feature: "shader-f16",
    },
  ],
  // src/kernels/scatter.ts: T/CT are the dtype or vec4 of it (when rows are 4-aligned); `base`
  // at binding 3 when given, pushing `out` to binding 4.
  "scatter.wgsl": [
    scatterVariant("f32, i32 index, no base", "f32", "i32", false, false),
    scatterVariant("vec4<f32>, u32 index, with base", "f32", "u32", true, true),
    scatterVariant("vec4<i32>, i32 index, no base", "i32", "i32", true, false),
    { ...scatterVariant("f16, with base", "f16", "i32", false, true), feature: "shader-f16" },
  ],
  // src/kernels/layernorm.ts: X, then W and B when given, then Y, then S when the scale is kept.
  // src/kernels/linear.ts: packs a weight (once, cached) or a linear layer's input.
  "linear_pack.wgsl": [
    { label: "f32", values: { ENABLE: "", X_ELEM: "f32" } },
    { label: "f16", feature: "shader-f16", values: { ENABLE: "enable f16;", X_ELEM: "f16" } },
  ],
  "layernorm.wgsl": [
    layerNormVariant("f32, weight and bias, WG 64", "f32", true, true, false, 64),
    layerNormVariant("f32, no affine, scale kept, WG 256", "f32", false, false, true, 256),
    {
      ...layerNormVariant("f16, weight only", "f16", true, false, true, 128),
      feature: "shader-f16",
    },
  ],
  // src/kernels/softmax.ts: WG from softmaxWorkgroup(n) (a power of two), LOG a bool literal.
  "softmax.wgsl": [
    {
      label: "softmax f32, WG 64",
      values: { ENABLE: "", IN: "f32", OUT: "f32", WG: 64, LOG: "false" },
    },
    {
      label: "logSoftmax f32, WG 256",
      values: { ENABLE: "", IN: "f32", OUT: "f32", WG: 256, LOG: "true" },
    },
    {
      label: "softmax f16",
      feature: "shader-f16",
      values: { ENABLE: "enable f16;", IN: "f16", OUT: "f16", WG: 128, LOG: "false" },
    },
  ],
  // src/kernels/topk.ts: K = nextPow2(k) ≤ 64, WG = min(256, 4096 / K, max(32, nextPow2(len))),
  // KEY the order-preserving u32 key of a value (flipped for smallest).
  "topk.wgsl": [
    topkVariant("f32 largest, K 8, WG 256", "f32", true, 8, 256),
    topkVariant("i32 smallest, K 64, WG 64", "i32", false, 64, 64),
    topkVariant("u32 largest, K 1, WG 32", "u32", true, 1, 32),
    { ...topkVariant("f16 smallest, K 4, WG 256", "f16", false, 4, 256), feature: "shader-f16" },
  ],
};

/** The INDEX code src/kernels/elementwise.ts writes: direct for rank 1, else unrolled. */
function ewIndex(rank: number, names: string[]): string {
  const lines: string[] = [];
  if (rank > 1) {
    lines.push("var rem = i;");
    for (let d = rank - 1; d >= 0; d--) {
      const dim = `p.shape[${d >> 2}][${d & 3}]`;
      if (d > 0) lines.push(`let c${d} = rem % ${dim};`, `rem = rem / ${dim};`);
      else lines.push("let c0 = rem;");
    }
  }
  for (const n of names) {
    if (rank === 1) {
      lines.push(`let i${n} = p.off_${n} + i;`);
      continue;
    }
    const terms = [`p.off_${n}`];
    for (let d = 0; d < rank; d++) terms.push(`c${d} * p.stride_${n}[${d >> 2}][${d & 3}]`);
    lines.push(`let i${n} = ${terms.join(" + ")};`);
  }
  return lines.join("\n  ");
}

function ceIdx(idx: "i32" | "u32"): { VALID: string; IGNORED: string } {
  return idx === "i32"
    ? { VALID: "tg >= 0 && u32(tg) < p.vocab", IGNORED: "tg == bitcast<i32>(p.ignore_bits)" }
    : { VALID: "tg < p.vocab", IGNORED: "tg == p.ignore_bits" };
}

function clamp(idx: "i32" | "u32"): string {
  return idx === "i32" ? "u32(clamp(raw, 0, i32(p.n) - 1))" : "min(raw, p.n - 1u)";
}

function reduceVariant(
  label: string,
  state: string,
  fin: string,
  sw: number,
  t: "f32" | "i32" | "u32",
  srcType: string,
  dstType: string,
  outc: string,
  entryPoints = ["main_final", "main_thread"],
): ShaderVariant {
  const extremes = {
    f32: ["-pinf()", "pinf()"],
    i32: ["bitcast<i32>(0x80000000u)", "bitcast<i32>(0x7fffffffu)"],
    u32: ["0u", "0xffffffffu"],
  }[t];
  return {
    label,
    entryPoints,
    values: {
      ENABLE: srcType === "f16" || dstType === "f16" ? "enable f16;" : "",
      S: state,
      FIN: fin,
      SW: sw,
      T: t,
      SRC: srcType,
      DST: dstType,
      OUTC: outc,
      LOWEST: extremes[0],
      HIGHEST: extremes[1],
      ISNAN: t === "f32" ? "f_is_nan(x)" : "false",
      WG: 256,
      TWG: 64,
    },
  };
}

function scatterVariant(
  label: string,
  dtype: "f32" | "i32" | "f16",
  idx: "i32" | "u32",
  vec: boolean,
  base: boolean,
): ShaderVariant {
  const ct = dtype === "f16" ? "f32" : dtype;
  const T = vec ? `vec4<${dtype}>` : dtype;
  const CT = vec ? `vec4<${ct}>` : ct;
  return {
    label,
    values: {
      ENABLE: dtype === "f16" ? "enable f16;" : "",
      T,
      CT,
      IDX: idx,
      CLAMP: clamp(idx),
      BASE_DECL: base ? bind(3, "base", T, "read") : "",
      OUT_BINDING: base ? 4 : 3,
      BASE: base ? `${CT}(base[p.base_off + e])` : `${CT}(0)`,
    },
  };
}

function layerNormVariant(
  label: string,
  dtype: "f32" | "f16",
  weight: boolean,
  bias: boolean,
  scale: boolean,
  wg: number,
): ShaderVariant {
  let k = 1;
  const bindings = [bind(k++, "X", dtype, "read")];
  if (weight) bindings.push(bind(k++, "W", dtype, "read"));
  if (bias) bindings.push(bind(k++, "B", dtype, "read"));
  bindings.push(bind(k++, "Y", dtype, "read_write"));
  if (scale) bindings.push(bind(k++, "S", dtype, "read_write"));
  return {
    label,
    values: {
      ENABLE: dtype === "f16" ? "enable f16;" : "",
      BINDINGS: bindings.join("\n"),
      LOAD_W: weight ? "f32(W[p.w_off + j])" : "1.0",
      LOAD_B: bias ? "f32(B[p.b_off + j])" : "0.0",
      STORE_SCALE: scale ? `S[row] = ${dtype}(scale);` : "",
      OUT: dtype,
      WG: wg,
    },
  };
}

function topkVariant(
  label: string,
  dtype: "f32" | "i32" | "u32" | "f16",
  largest: boolean,
  k: number,
  wg: number,
): ShaderVariant {
  const flip = largest ? "0u" : "0xffffffffu";
  const key = dtype === "u32"
    ? `return raw ^ ${flip};`
    : dtype === "i32"
    ? `return (bitcast<u32>(raw) ^ 0x80000000u) ^ ${flip};`
    : [
      "var b = bitcast<u32>(f32(raw));",
      `  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu ^ ${flip}; }`,
      "  if (b == 0x80000000u) { b = 0u; }",
      "  let key = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);",
      `  return key ^ ${flip};`,
    ].join("\n");
  return {
    label,
    values: { ENABLE: dtype === "f16" ? "enable f16;" : "", T: dtype, KEY: key, K: k, WG: wg },
  };
}

/**
 * Kernels whose WGSL is assembled by a code generator too rich to mirror in a table: their
 * instances come from the kernel's own generator, run on a few problems. `files` are the
 * templates a generator covers. A generator may throw (an API it uses changed): the tests then
 * fail for those files with its message.
 */
export interface ShaderGenerator {
  files: string[];
  generate(eng: Engine): Promise<Instance[]>;
}

/** A dispatch or texture job as the matmul planners return them (other steps lack `code`). */
interface PlannedKernel {
  label?: string;
  key?: string;
  code?: () => string;
  entryPoint?: string;
}

/** Minimal view of src/kernels/matmul.ts, loaded untyped so that a change there fails only here. */
interface MatmulModule {
  planMatmul(eng: Engine, p: unknown, cfg: { variant: string }): PlannedKernel[];
  textureJobs?(eng: Engine, p: unknown, cfg: { variant: string }): PlannedKernel[] | null;
  candidates(eng: Engine, c: unknown): { variant: string }[];
  classOf(p: unknown): unknown;
  configName(c: unknown): string;
  TILED_64?: { variant: string };
  TILED_128?: { variant: string };
}

/**
 * The matmul kernels (src/kernels/matmul.ts) through its planners on a few problems, every
 * candidate config of each: `planMatmul` for the buffer variants (matmul_<variant>.wgsl) and
 * `textureJobs` for the texture variant (matmul_pack.wgsl, then matmul_texture.wgsl).
 */
const matmulGenerator: ShaderGenerator = {
  files: ["matmul_register.wgsl", "matmul_tiled.wgsl", "matmul_texture.wgsl", "matmul_pack.wgsl"],
  async generate(eng) {
    const spec = "../src/kernels/matmul.ts";
    const mm = await import(new URL(spec, import.meta.url).href) as MatmulModule;
    for (const f of ["planMatmul", "candidates", "classOf", "configName"] as const) {
      if (typeof mm[f] !== "function") {
        throw new Error(
          `src/kernels/matmul.ts no longer exports ${f}(): update matmulGenerator in tests/_shaders.ts`,
        );
      }
    }
    const buffers: GPUBuffer[] = [];
    const operand = (dtype: string, rows: number, cols: number, t: boolean, ld: number) => {
      const bytes = Math.max(16, Math.ceil((rows * cols * (dtype === "f16" ? 2 : 4)) / 16) * 16);
      const buffer = eng.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.STORAGE,
        label: "shader test",
      });
      buffers.push(buffer);
      return { buffer, dtype, offset: 0, ld, t, batch: [] as number[] };
    };
    // [m, k, n, transA, transB]: aligned, odd sizes, and each transposed layout.
    const shapes: [number, number, number, boolean, boolean][] = [
      [64, 128, 64, false, false],
      [37, 129, 61, false, false],
      [32, 64, 48, false, true],
      [33, 20, 17, true, false],
      [5, 7, 3, true, true],
      [1, 64, 256, false, false],
    ];
    const dtypeSets = [["f32", "f32", "f32"]];
    if (eng.hasFeature("shader-f16")) dtypeSets.push(["f16", "f16", "f16"], ["f16", "f32", "f32"]);
    const out = new Map<string, Instance>();
    try {
      for (const [da, db, dc] of dtypeSets) {
        for (const [m, k, n, aT, bT] of shapes) {
          const p = {
            m,
            n,
            k,
            batch: [] as number[],
            a: operand(da, m, k, aT, aT ? m : k),
            b: operand(db, k, n, bT, bT ? k : n),
            c: operand(dc, m, n, false, n),
          };
          const configs = [...mm.candidates(eng, mm.classOf(p))];
          for (const extra of [mm.TILED_64, mm.TILED_128]) {
            if (extra && !configs.some((c) => mm.configName(c) === mm.configName(extra))) {
              configs.push(extra);
            }
          }
          for (const cfg of configs) {
            let kernels: PlannedKernel[];
            if (cfg.variant === "texture") {
              if (typeof mm.textureJobs !== "function") {
                throw new Error(
                  "src/kernels/matmul.ts has a texture variant but no textureJobs(): update matmulGenerator in tests/_shaders.ts",
                );
              }
              kernels = mm.textureJobs(eng, p, cfg) ?? [];
            } else kernels = mm.planMatmul(eng, p, cfg);
            for (const d of kernels) {
              // Texture plans also hold copies and other non-kernel steps: skip them.
              if (typeof d?.code !== "function" || typeof d.key !== "string") continue;
              if (out.has(d.key)) continue;
              const file = d.key.startsWith("matmul pack")
                ? "matmul_pack.wgsl"
                : `matmul_${cfg.variant}.wgsl`;
              out.set(d.key, {
                file,
                label: `${mm.configName(cfg)}, ${aT ? "T" : "N"}${
                  bT ? "T" : "N"
                }, ${da}/${db}/${dc} (${d.key})`,
                feature: [da, db, dc].includes("f16") ? "shader-f16" : undefined,
                code: d.code(),
                entryPoints: [d.entryPoint ?? "main"],
              });
            }
          }
        }
      }
    } finally {
      for (const b of buffers) b.destroy();
    }
    return [...out.values()];
  },
};

/** Minimal view of src/kernels/toy.ts (untyped, like {@link MatmulModule}). */
interface ToyModule {
  planToy(eng: Engine, dims: Record<string, unknown>, opts?: Record<string, unknown>): unknown;
  toyShader(plan: unknown): string;
}

/** The toy-model training kernel (src/kernels/toy.ts): `planToy` then `toyShader` on a few models. */
const toyGenerator: ShaderGenerator = {
  files: ["toy_train.wgsl"],
  async generate(eng) {
    const spec = "../src/kernels/toy.ts";
    const toy = await import(new URL(spec, import.meta.url).href) as ToyModule;
    for (const f of ["planToy", "toyShader"] as const) {
      if (typeof toy[f] !== "function") {
        throw new Error(
          `src/kernels/toy.ts no longer exports ${f}(): update toyGenerator in tests/_shaders.ts`,
        );
      }
    }
    // [features, hidden, variant, plan options]: the unrolled path (and its workgroup-size
    // extremes) and the general one.
    const cases: [number, number, string, Record<string, unknown>][] = [
      [5, 2, "relu", {}],
      [5, 2, "relu", { wg: 256 }],
      [8, 4, "abs", {}],
      [20, 5, "linear", {}],
      [100, 20, "relu", { reg: false }],
    ];
    const out = new Map<string, Instance>();
    for (const [nFeatures, nHidden, variant, opts] of cases) {
      const dims = { nInstances: 4, nFeatures, nHidden, variant, batch: 256 };
      const code = toy.toyShader(toy.planToy(eng, dims, opts));
      if (out.has(code)) continue;
      out.set(code, {
        file: "toy_train.wgsl",
        label: `${variant}, ${nFeatures} features, ${nHidden} hidden ${JSON.stringify(opts)}`,
        code,
        entryPoints: [...code.matchAll(/@compute[^;{]*?\bfn\s+(\w+)/g)].map((m) => m[1]),
      });
    }
    return [...out.values()];
  },
};

/** Every generator; their files need no entry in {@link SHADER_VARIANTS}. */
export const SHADER_GENERATORS: ShaderGenerator[] = [matmulGenerator, toyGenerator];

/** The generator covering a file, if any. */
export function generatorOf(file: string): ShaderGenerator | undefined {
  return SHADER_GENERATORS.find((g) => g.files.includes(file));
}

/** A template from shaders/. */
export interface ShaderFile {
  /** File name, e.g. "elementwise.wgsl". */
  file: string;
  source: string;
  /** Its placeholders, sorted. */
  placeholders: string[];
}

/** The folder of the templates. */
export const SHADER_DIR = new URL("../shaders/", import.meta.url);

/** Every shaders/*.wgsl, sorted by name. */
export async function loadShaders(): Promise<ShaderFile[]> {
  const out: ShaderFile[] = [];
  for await (const e of Deno.readDir(SHADER_DIR)) {
    if (!e.isFile || !e.name.endsWith(".wgsl")) continue;
    const source = await Deno.readTextFile(new URL(e.name, SHADER_DIR));
    const placeholders = [...new Set([...source.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]))]
      .sort();
    out.push({ file: e.name, source, placeholders });
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

/** The variants of a file: its entry, or the file as it is when it has no placeholders. */
export function variantsOf(s: ShaderFile): ShaderVariant[] {
  const listed = SHADER_VARIANTS[s.file];
  if (listed && listed.length > 0) return listed;
  return s.placeholders.length === 0 ? [{ label: "as is", values: {} }] : [];
}

/** What is missing from {@link SHADER_VARIANTS} for these files (empty when complete). */
export function variantProblems(shaders: ShaderFile[]): string[] {
  const problems: string[] = [];
  for (const s of shaders) {
    if (generatorOf(s.file)) continue;
    const variants = variantsOf(s);
    if (variants.length === 0) {
      problems.push(
        `shaders/${s.file} has no entry in SHADER_VARIANTS (tests/_shaders.ts): add one with ` +
          `representative values for ${
            s.placeholders.map((p) => `{{${p}}}`).join(", ") || "(no placeholders)"
          }`,
      );
      continue;
    }
    for (const v of variants) {
      const missing = s.placeholders.filter((p) => !(p in v.values));
      if (missing.length > 0) {
        problems.push(
          `shaders/${s.file} variant "${v.label}" in tests/_shaders.ts has no value for ` +
            `${missing.map((p) => `{{${p}}}`).join(", ")}: add one`,
        );
      }
      const extra = Object.keys(v.values).filter((k) => !s.placeholders.includes(k));
      if (extra.length > 0) {
        problems.push(
          `shaders/${s.file} variant "${v.label}" fills ${extra.join(", ")}, which the file no ` +
            `longer has: remove them from tests/_shaders.ts`,
        );
      }
    }
  }
  return problems;
}

/** Entries of {@link SHADER_VARIANTS} for files that are not in shaders/ (all files given). */
export function staleEntries(shaders: ShaderFile[]): string[] {
  const files = new Set(shaders.map((s) => s.file));
  const listed = [...Object.keys(SHADER_VARIANTS), ...SHADER_GENERATORS.flatMap((g) => g.files)];
  return listed.filter((f) => !files.has(f)).map((f) =>
    `tests/_shaders.ts lists ${f}, which is not in shaders/: remove it`
  );
}

/** One filled-in template, ready to compile. */
export interface Instance {
  file: string;
  label: string;
  feature?: string;
  code: string;
  /** Compute entry points in the code. */
  entryPoints: string[];
}

/**
 * Every variant of every file, filled (files without complete entries are left out). Files that
 * a generator covers are left out too: see {@link generatedInstances}.
 */
export function instances(shaders: ShaderFile[]): Instance[] {
  const out: Instance[] = [];
  for (const s of shaders) {
    if (generatorOf(s.file)) continue;
    for (const v of variantsOf(s)) {
      if (s.placeholders.some((p) => !(p in v.values))) continue;
      const code = fill(s.source, v.values);
      const entryPoints = v.entryPoints ??
        [...code.matchAll(/@compute[^;{]*?\bfn\s+(\w+)/g)].map((m) => m[1]);
      out.push({ file: s.file, label: v.label, feature: v.feature, code, entryPoints });
    }
  }
  return out;
}

/** The generated instances of these files (each generator run once), by file. */
export async function generatedInstances(eng: Engine, shaders: ShaderFile[]): Promise<Instance[]> {
  const files = new Set(shaders.map((s) => s.file));
  const out: Instance[] = [];
  for (const g of SHADER_GENERATORS) {
    if (!g.files.some((f) => files.has(f))) continue;
    out.push(...(await g.generate(eng)).filter((i) => files.has(i.file)));
  }
  return out;
}

/** Where a line of filled code came from: "shaders/x.wgsl:12", or the filled text's line. */
export function locate(template: ShaderFile, code: string, line: number): string {
  const text = code.split("\n")[line - 1] ?? "";
  const lines = template.source.split("\n");
  const at = text.trim() ? lines.findIndex((l) => l === text) : -1;
  const where = at >= 0
    ? `shaders/${template.file}:${at + 1}`
    : `shaders/${template.file} (line ${line} of the filled code, text from a placeholder)`;
  return `${where}\n    ${line} | ${text}`;
}

/**
 * Constructs that some WGSL compilers accept and others reject, found by reading the code.
 * Chrome's Tint rejects a constant expression whose value is inf or NaN (naga, under Deno,
 * accepts it), e.g. `bitcast<f32>(0x7f800000u)`: bitcast a runtime value instead.
 */
export function portabilityProblems(file: string, source: string): string[] {
  const problems: string[] = [];
  const lines = source.split("\n");
  lines.forEach((l, i) => {
    for (const m of l.matchAll(/bitcast<f(?:32|16)>\(\s*(0x[0-9a-fA-F]+)[ui]?\s*\)/g)) {
      const bits = parseInt(m[1], 16) >>> 0;
      const isF16 = m[0].startsWith("bitcast<f16>");
      const allOnes = isF16 ? ((bits >>> 10) & 0x1f) === 0x1f : ((bits >>> 23) & 0xff) === 0xff;
      if (allOnes) {
        problems.push(
          `shaders/${file}:${i + 1}: ${m[0]} is a constant inf/NaN, which Chrome's WGSL compiler ` +
            `(Tint) rejects ("value cannot be represented"); bitcast a runtime value (a \`let\`) instead\n` +
            `    ${i + 1} | ${l.trim()}`,
        );
      }
    }
  });
  return problems;
}
