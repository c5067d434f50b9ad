/**
 * Representative instantiations of every WGSL template in shaders/, for tests/shaders_test.ts
 * (compiled on the Deno adapter) and tests/browser/browser_test.ts (compiled by Chromium's Tint).
 *
 * Each file in shaders/ has `{{NAME}}` placeholders that its kernel file in src/kernels/ fills.
 * A new shader needs an entry in {@link SHADER_VARIANTS} filling every placeholder with what its
 * kernel really writes there; the tests fail, naming the file and placeholders, until it has one.
 */

import { fill } from "../src/kernels/_util.ts";

/** One instantiation of a template. */
export interface ShaderVariant {
  /** Short description, e.g. "f32 ternary". */
  label: string;
  /** A value for every `{{NAME}}` in the file. */
  values: Record<string, string | number>;
  /** An optional feature the variant needs (compiled only where the adapter has it). */
  feature?: "shader-f16" | "subgroups";
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
      },
    },
  ],
  // src/kernels/random.ts: NORMAL is a WGSL bool literal.
  "random.wgsl": [
    { label: "uniform", values: { NORMAL: "false" } },
    { label: "normal", values: { NORMAL: "true" } },
  ],
};

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
    const placeholders = [...new Set([...source.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]))].sort();
    out.push({ file: e.name, source, placeholders });
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

/** What is missing from {@link SHADER_VARIANTS} for these files (empty when complete). */
export function variantProblems(shaders: ShaderFile[]): string[] {
  const problems: string[] = [];
  for (const s of shaders) {
    const variants = SHADER_VARIANTS[s.file];
    if (!variants || variants.length === 0) {
      problems.push(
        `shaders/${s.file} has no entry in SHADER_VARIANTS (tests/_shaders.ts): add one with ` +
          `representative values for ${s.placeholders.map((p) => `{{${p}}}`).join(", ") || "(no placeholders)"}`,
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
  const files = new Set(shaders.map((s) => s.file));
  for (const f of Object.keys(SHADER_VARIANTS)) {
    if (!files.has(f)) problems.push(`tests/_shaders.ts lists ${f}, which is not in shaders/: remove it`);
  }
  return problems;
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

/** Every variant of every file, filled (files without complete entries are left out). */
export function instances(shaders: ShaderFile[]): Instance[] {
  const out: Instance[] = [];
  for (const s of shaders) {
    for (const v of SHADER_VARIANTS[s.file] ?? []) {
      if (s.placeholders.some((p) => !(p in v.values))) continue;
      const code = fill(s.source, v.values);
      const entryPoints = [...code.matchAll(/@compute[^;{]*?\bfn\s+(\w+)/g)].map((m) => m[1]);
      out.push({ file: s.file, label: v.label, feature: v.feature, code, entryPoints });
    }
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
