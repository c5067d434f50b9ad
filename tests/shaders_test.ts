/**
 * Every shaders/*.wgsl template compiles on this adapter, in the representative instantiations
 * of tests/_shaders.ts (a table of placeholder values per file, or the kernel's own generator),
 * with no error from `getCompilationInfo` and none from pipeline creation (which also checks
 * binding counts and workgroup limits).
 */

import assert from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import type { Engine } from "../src/gpu/engine.ts";
import {
  generatedInstances,
  generatorOf,
  type Instance,
  instances,
  loadShaders,
  locate,
  portabilityProblems,
  type ShaderFile,
  staleEntries,
  variantProblems,
} from "./_shaders.ts";

const shaders = await loadShaders();

/** Compile one instance; return its errors as readable lines (empty when it compiles). */
async function compileErrors(eng: Engine, s: ShaderFile, inst: Instance): Promise<string[]> {
  const label = `${inst.file} (${inst.label})`;
  const errors: string[] = [];
  eng.device.pushErrorScope("validation");
  const messages = await eng.compile(label, inst.code);
  const moduleError = await eng.device.popErrorScope();
  for (const m of messages) {
    if (m.type !== "error") continue;
    errors.push(`${label}: error at ${locate(s, inst.code, m.lineNum)}\n  ${m.message.trim()}`);
  }
  if (moduleError && errors.length === 0) errors.push(`${label}: ${moduleError.message.trim()}`);
  if (errors.length > 0) return errors;
  if (inst.entryPoints.length === 0) return [`${label}: no @compute entry point found`];
  const module = eng.device.createShaderModule({ code: inst.code, label });
  for (const entryPoint of inst.entryPoints) {
    eng.device.pushErrorScope("validation");
    eng.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint }, label });
    const e = await eng.device.popErrorScope();
    if (e) errors.push(`${label}: pipeline for entry point ${entryPoint}: ${e.message.trim()}`);
  }
  return errors;
}

Deno.test("shaders/*.wgsl: every placeholder has a representative value in tests/_shaders.ts", () => {
  assert.ok(shaders.length > 0, "no .wgsl files found in shaders/");
  const problems = [...variantProblems(shaders), ...staleEntries(shaders)];
  assert.equal(problems.length, 0, `\n${problems.join("\n")}`);
});

Deno.test("shaders/*.wgsl: no constant inf/NaN (Chrome's Tint rejects what naga accepts)", () => {
  const problems = shaders.flatMap((s) => portabilityProblems(s.file, s.source));
  assert.equal(problems.length, 0, `\n${problems.join("\n")}`);
});

gpuTest(
  "Engine.compile() reports WGSL errors with their line (so the tests below can fail)",
  async (eng) => {
    const messages = await eng.compile(
      "broken",
      "@compute @workgroup_size(1)\nfn main() { let x: f32 = 1u; }",
    );
    const errors = messages.filter((m) => m.type === "error");
    assert.ok(errors.length > 0, "a type error compiled without an error message");
    assert.equal(errors[0].lineNum, 2);
  },
);

for (const s of shaders) {
  const generator = generatorOf(s.file);
  const list = instances([s]);
  const what = generator ? "variants from its kernel's generator" : `${list.length} variants`;
  gpuTest(`shaders/${s.file} compiles on this adapter (${what})`, async (eng) => {
    const problems = variantProblems([s]);
    assert.equal(problems.length, 0, `\n${problems.join("\n")}`);
    const todo = generator ? await generatedInstances(eng, [s]) : list;
    assert.ok(todo.length > 0, `no instance of shaders/${s.file} was made: see tests/_shaders.ts`);
    const errors: string[] = [];
    let compiled = 0;
    for (const inst of todo) {
      if (inst.feature && !eng.hasFeature(inst.feature)) continue;
      errors.push(...await compileErrors(eng, s, inst));
      compiled++;
    }
    assert.ok(compiled > 0, `no variant of shaders/${s.file} could be compiled on this adapter`);
    assert.equal(errors.length, 0, `\n${errors.join("\n\n")}`);
  });
}
