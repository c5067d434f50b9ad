/**
 * `deno task doctor`: what WebGPU adapter this machine has, and whether every kernel gives the
 * right answer on it.
 *
 * Prints the adapter (description, backend, software or not, features, key limits), then runs
 * each check of every `src/doctor/checks_*.ts` once against its f64 CPU reference, one line each,
 * then a matmul GFLOP/s figure when `src/doctor/checks_matmul.ts` exports `matmulGflops`.
 * Exits 1 if there is no adapter or any check fails.
 *
 * Usage: `deno task doctor [FILTER]`: FILTER keeps only checks whose family or name contains it.
 *
 * @module
 */

import { type Engine, init } from "../gpu/engine.ts";
import type { CheckResult, DoctorCheck } from "../doctor/check.ts";

const DOCTOR_DIR = new URL("../doctor/", import.meta.url);

/** Longest a single check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 120_000;

/** Options for {@link runDoctor}. */
export interface DoctorOptions {
  /** Keep only checks whose "family name" contains this text. */
  filter?: string;
  /** Where lines go (console.log by default). */
  log?: (line: string) => void;
}

/** The outcome of {@link runDoctor}. */
export interface DoctorReport {
  passed: number;
  failed: number;
  /** 0 when every check passed, else 1. */
  exitCode: number;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? "?" : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** Lines describing the engine's adapter and device. */
export function describeAdapter(eng: Engine): string[] {
  const i = eng.gpu.info;
  const l = i.limits;
  const lines = [
    `adapter: ${i.description}${
      i.vendor && i.vendor !== i.description ? ` (vendor ${i.vendor})` : ""
    }` +
    `${i.architecture ? `, architecture ${i.architecture}` : ""}`,
    `backend: ${i.backend}; ${i.isCpu ? "software (CPU) adapter" : "hardware adapter"}`,
    `features: ${i.features.length ? i.features.join(", ") : "none"}`,
    `limits: storage binding ${mib(l.maxStorageBufferBindingSize)}, buffer ${
      mib(l.maxBufferSize)
    }, ` +
    `${l.maxStorageBuffersPerShaderStage} storage buffers per stage, ` +
    `workgroup storage ${l.maxComputeWorkgroupStorageSize} B, ` +
    `${l.maxComputeInvocationsPerWorkgroup} invocations per workgroup, ` +
    `${l.maxComputeWorkgroupsPerDimension} workgroups per dimension`,
  ];
  if (l.subgroupMinSize !== undefined) {
    lines.push(`subgroup size: ${l.subgroupMinSize}..${l.subgroupMaxSize}`);
  }
  return lines;
}

/** Every `checks_*.ts` in src/doctor, sorted. */
async function checkFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(DOCTOR_DIR)) {
    if (e.isFile && /^checks_\w+\.ts$/.test(e.name)) files.push(e.name);
  }
  return files.sort();
}

function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return String(r);
  return r !== 0 && r < 0.01 ? r.toExponential(1) : r.toFixed(2);
}

/** `matmulGflops`' result as text: a number, or `{ gflops, m, k, n, config }` with any of the rest. */
function formatGflops(v: unknown): string {
  if (typeof v === "number") return v.toFixed(1);
  const o = v as {
    gflops?: unknown;
    m?: number;
    n?: number;
    k?: number;
    config?: string;
    detail?: string;
  };
  if (!o || typeof o.gflops !== "number") return `unexpected result ${JSON.stringify(v)}`;
  const extra = [
    o.m !== undefined && o.k !== undefined && o.n !== undefined ? `${o.m}x${o.k}x${o.n}` : "",
    o.config ?? "",
    o.detail ?? "",
  ].filter(Boolean);
  return `${o.gflops.toFixed(1)}${extra.length ? ` (${extra.join(", ")})` : ""}`;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Print the adapter, run every doctor check once, print one line each and a matmul GFLOP/s
 * figure. Returns the counts and the exit code; does not exit.
 *
 * @example
 * ```ts
 * const { exitCode } = await runDoctor({ filter: "softmax" });
 * ```
 */
export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const log = opts.log ?? ((s: string) => console.log(s));
  let eng: Engine;
  try {
    eng = await init();
  } catch (e) {
    log(`FAIL no WebGPU device: ${(e as Error).message}`);
    return { passed: 0, failed: 1, exitCode: 1 };
  }
  for (const line of describeAdapter(eng)) log(line);
  log("");

  let passed = 0;
  let failed = 0;
  let gflops: ((eng: Engine) => Promise<unknown> | unknown) | null = null;
  const started = performance.now();
  for (const file of await checkFiles()) {
    const family = file.replace(/^checks_|\.ts$/g, "");
    let mod: { checks?: DoctorCheck[]; matmulGflops?: (eng: Engine) => unknown };
    try {
      mod = await import(new URL(file, DOCTOR_DIR).href);
    } catch (e) {
      log(`FAIL src/doctor/${file} did not load: ${(e as Error).message}`);
      failed++;
      continue;
    }
    if (family === "matmul" && typeof mod.matmulGflops === "function") {
      gflops = mod.matmulGflops as (eng: Engine) => Promise<unknown>;
    }
    if (!Array.isArray(mod.checks)) {
      log(`FAIL src/doctor/${file} exports no \`checks\` array`);
      failed++;
      continue;
    }
    for (const check of mod.checks) {
      const label = check.name;
      if (opts.filter && !`${family} ${label}`.includes(opts.filter)) continue;
      let r: CheckResult;
      try {
        r = await withTimeout(Promise.resolve().then(() => check.run()), CHECK_TIMEOUT_MS, label);
      } catch (e) {
        log(`FAIL ${label}: threw ${(e as Error).message ?? e}`);
        failed++;
        continue;
      }
      const ok = r.ratio <= 1; // false for NaN
      const text = `${label} ${r.detail}`;
      log(`${ok ? "ok  " : "FAIL"} ${text.padEnd(56)}   (err ${fmtRatio(r.ratio)} of tol)`);
      if (ok) passed++;
      else failed++;
    }
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  log("");
  if (passed + failed === 0) {
    log(`no doctor checks ran${opts.filter ? ` (filter "${opts.filter}")` : ""}`);
  } else {
    log(`${passed} ${passed === 1 ? "check" : "checks"} ok, ${failed} failed (${secs} s)`);
  }

  if (!opts.filter || "matmul".includes(opts.filter)) {
    if (!gflops) {
      log("matmul GFLOP/s: not available");
    } else {
      try {
        const v = await withTimeout(
          Promise.resolve().then(() => gflops!(eng)),
          CHECK_TIMEOUT_MS,
          "matmulGflops",
        );
        log(`matmul GFLOP/s: ${formatGflops(v)}`);
      } catch (e) {
        log(`matmul GFLOP/s: failed (${(e as Error).message})`);
      }
    }
  }
  return { passed, failed, exitCode: failed > 0 ? 1 : 0 };
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => a !== "--");
  if (args.includes("-h") || args.includes("--help")) {
    console.log(
      "Usage: deno task doctor [FILTER]\n  FILTER: run only checks whose family or name contains it",
    );
    Deno.exit(0);
  }
  if (args.length > 1) {
    console.error(
      `doctor takes at most one argument (a filter), got ${args.length}: ${args.join(" ")}`,
    );
    Deno.exit(2);
  }
  const { exitCode } = await runDoctor({ filter: args[0] });
  Deno.exit(exitCode);
}
