/**
 * The one shared device for the test suite. GPU tests never skip silently: without an adapter
 * they report themselves ignored by name, and GLASSBOX_REQUIRE_GPU=1 (set by CI) turns a missing
 * adapter into a failure.
 */

import fc from "fast-check";
import { type Engine, init } from "../src/gpu/engine.ts";

// GLASSBOX_FC_SEED makes every fast-check property deterministic (CI sets it, so a CI run can
// be reproduced exactly); without it each run explores new cases.
const fcSeed = (() => {
  try {
    return Deno.env.get("GLASSBOX_FC_SEED");
  } catch {
    return undefined;
  }
})();
if (fcSeed) fc.configureGlobal({ seed: Number(fcSeed) });

let engine: Engine | null = null;
let failure: Error | null = null;
try {
  engine = await init();
} catch (e) {
  failure = e as Error;
}

const required = (() => {
  try {
    return Deno.env.get("GLASSBOX_REQUIRE_GPU") === "1";
  } catch {
    return false;
  }
})();

if (!engine) {
  console.warn(`GPU tests will be ignored: ${failure?.message}`);
}

/** Register a test that needs the GPU. */
export function gpuTest(name: string, fn: (eng: Engine) => void | Promise<void>): void {
  if (!engine && required) {
    Deno.test(name, () => {
      throw new Error(`No GPU adapter (GLASSBOX_REQUIRE_GPU=1): ${failure?.message}`);
    });
    return;
  }
  Deno.test({
    name,
    ignore: !engine,
    // Pooled GPU buffers and the device outlive a test by design.
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => fn(engine!),
  });
}

/** Number of fast-check runs for GPU properties (GLASSBOX_NUM_RUNS overrides). */
export const NUM_RUNS = (() => {
  try {
    return Number(Deno.env.get("GLASSBOX_NUM_RUNS") ?? "25");
  } catch {
    return 25;
  }
})();

/** Largest |a−b| / (atol + rtol·|b|) over two arrays; ≤ 1 means within tolerance. */
export function closeness(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): { ratio: number; index: number; got: number; want: number } {
  if (got.length !== want.length) {
    throw new Error(`length mismatch: got ${got.length} values, want ${want.length}`);
  }
  let worst = { ratio: 0, index: -1, got: 0, want: 0 };
  for (let i = 0; i < got.length; i++) {
    const g = got[i];
    const w = want[i];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (w === g) continue; // infinities
    const r = Math.abs(g - w) / (atol + rtol * Math.abs(w));
    if (!(r <= worst.ratio)) {
      worst = { ratio: Number.isNaN(r) ? Infinity : r, index: i, got: g, want: w };
    }
  }
  return worst;
}

/** Throw with the worst element when arrays differ beyond `atol + rtol·|want|`. */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol = 1e-5,
  rtol = 1e-5,
  what = "values",
): void {
  const w = closeness(got, want, atol, rtol);
  if (w.ratio > 1) {
    throw new Error(
      `${what} differ at index ${w.index}: got ${w.got}, want ${w.want} (atol ${atol}, rtol ${rtol})`,
    );
  }
}
