/**
 * Who owns GPU memory: scopes that free temporaries, `keep`, `dispose` of nested structures, and
 * the public counters.
 *
 * @module
 */

import { engine, type MemoryInfo, type Tracked } from "./gpu/engine.ts";
import { Tensor } from "./tensor.ts";

function collect(value: unknown, out: Set<Tracked>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collect(v, out, seen);
  } else if (typeof (value as { tensors?: () => Iterable<Tensor> }).tensors === "function") {
    for (const t of (value as { tensors: () => Iterable<Tensor> }).tensors()) out.add(t);
  }
}

/**
 * Run `fn`, then dispose every tensor it created except those in its result (found in arrays,
 * plain objects, Maps, and objects with a `tensors()` method). Synchronous, like tfjs's `tidy`.
 *
 * @example
 * ```ts
 * const y = tidy(() => relu(add(matmul(x, w), b))); // the matmul output is freed
 * ```
 */
export function tidy<T>(fn: () => T): T {
  const eng = engine();
  eng.beginScope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    eng.endScope(new Set());
    throw e;
  }
  if (result instanceof Promise) {
    eng.endScope(new Set());
    throw new TypeError("tidy() got an async function; use `await scope(async () => ...)`");
  }
  const keep = new Set<Tracked>();
  collect(result, keep);
  eng.endScope(keep);
  return result;
}

/**
 * Async form of {@link tidy}. Tensors created by other concurrent async work while `fn` awaits
 * are also counted as this scope's: do not interleave scopes.
 */
export async function scope<T>(fn: () => Promise<T>): Promise<T> {
  const eng = engine();
  eng.beginScope();
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    eng.endScope(new Set());
    throw e;
  }
  const keep = new Set<Tracked>();
  collect(result, keep);
  eng.endScope(keep);
  return result;
}

/** Keep a tensor past every open scope (the caller now owns it). Returns it. */
export function keep<T extends Tensor>(t: T): T {
  t.engine.keep(t);
  return t;
}

/** Dispose every tensor found in a value (arrays, objects, Maps). */
export function dispose(value: unknown): void {
  const found = new Set<Tracked>();
  collect(value, found);
  for (const t of found) t.dispose();
}

/**
 * Memory counters: live tensors, live bytes, peak bytes, pooled GPU bytes, pipelines, submits.
 *
 * @example
 * ```ts
 * const before = memory().liveTensors;
 * tidy(() => exp(x));
 * console.assert(memory().liveTensors === before);
 * ```
 */
export function memory(): MemoryInfo {
  return engine().memory();
}
