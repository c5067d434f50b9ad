/**
 * Making tensors: from typed or nested arrays, constants, ranges and seeded random numbers.
 *
 * @module
 */

import { type Engine, engine as defaultEngine } from "../gpu/engine.ts";
import { type DType, DTYPE_BYTES, f32ToF16Bits, type TypedArray } from "../dtype.ts";
import { type NestedArray, type Shape, sizeOf, Storage, Tensor } from "../tensor.ts";
import { mapKernel } from "../kernels/elementwise.ts";
import { randomFill } from "../kernels/random.ts";

/** Options common to creation functions. */
export interface CreateOptions {
  dtype?: DType;
  /** Engine to create on (default: the one from `init()`). */
  engine?: Engine;
  /** Whether gradients flow to this tensor (a parameter). */
  requiresGrad?: boolean;
  name?: string;
}

function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(
        `Cannot run ${op}: shape [${shape.join(", ")}] has an invalid size ${d}`,
      );
    }
  }
}

function checkDtype(op: string, eng: Engine, dtype: DType): void {
  if (!["f32", "i32", "u32", "f16"].includes(dtype)) {
    throw new TypeError(`Cannot run ${op}: unknown dtype "${dtype}" (use f32, i32, u32 or f16)`);
  }
  if (dtype === "f16" && !eng.hasFeature("shader-f16")) {
    throw new TypeError(
      `Cannot run ${op}: dtype f16 needs the adapter feature shader-f16, which this adapter lacks`,
    );
  }
}

/** An uninitialised tensor (for kernels; its contents are whatever the pooled buffer held). */
export function empty(shape: Shape, dtype: DType = "f32", eng: Engine = defaultEngine()): Tensor {
  checkShape("empty", shape);
  checkDtype("empty", eng, dtype);
  eng.checkAlive();
  const bytes = sizeOf(shape) * DTYPE_BYTES[dtype];
  const maxBuffer = eng.limits.maxBufferSize ?? 256 << 20;
  if (bytes > maxBuffer) {
    throw new RangeError(
      `Cannot allocate ${dtype}[${shape.join(", ")}]: ${bytes} bytes is more than this adapter's ` +
        `maxBufferSize (${maxBuffer}); split the tensor`,
    );
  }
  const buffer = eng.pool.acquire(bytes, "tensor");
  return new Tensor(new Storage(eng, buffer, bytes), shape, dtype);
}

function setMeta(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  if (opts.name) t.name = opts.name;
  return t;
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
    if (cur === undefined) break;
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], axis: number, out: number[]): void {
  if (axis === shape.length) {
    if (typeof data !== "number") {
      throw new TypeError(
        `Cannot make tensor: nested array is ragged (expected a number at depth ${axis})`,
      );
    }
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[axis]) {
    throw new TypeError(
      `Cannot make tensor: nested array is ragged (axis ${axis} should have length ${shape[axis]})`,
    );
  }
  for (const x of data) flatten(x, shape, axis + 1, out);
}

/**
 * A tensor from a typed array (with a shape) or from nested arrays.
 *
 * @example
 * ```ts
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);          // f32[2, 3]
 * const ids = tensor(new Int32Array([5, 7]), [2]);     // i32[2]
 * ```
 */
export function tensor(
  data: NestedArray | TypedArray | number[],
  shape?: Shape,
  opts: CreateOptions = {},
): Tensor {
  const eng = opts.engine ?? defaultEngine();
  let flat: ArrayLike<number>;
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    flat = data as TypedArray;
    dtype = opts.dtype ??
      (data instanceof Int32Array ? "i32" : data instanceof Uint32Array ? "u32" : "f32");
    shape ??= [flat.length];
  } else {
    const inferred = inferShape(data as NestedArray);
    const values: number[] = [];
    flatten(data as NestedArray, inferred, 0, values);
    flat = values;
    dtype = opts.dtype ?? "f32";
    shape ??= inferred;
  }
  checkShape("tensor", shape);
  if (sizeOf(shape) !== flat.length) {
    throw new RangeError(
      `Cannot make tensor: ${flat.length} values do not fill shape [${shape.join(", ")}] (${
        sizeOf(shape)
      } elements)`,
    );
  }
  const t = empty(shape, dtype, eng);
  let bytes: ArrayBufferView;
  switch (dtype) {
    case "f32":
      bytes = flat instanceof Float32Array ? flat : Float32Array.from(flat);
      break;
    case "i32":
      bytes = flat instanceof Int32Array ? flat : Int32Array.from(flat);
      break;
    case "u32":
      bytes = flat instanceof Uint32Array ? flat : Uint32Array.from(flat);
      break;
    case "f16": {
      const h = new Uint16Array(flat.length);
      for (let i = 0; i < flat.length; i++) h[i] = f32ToF16Bits(flat[i]);
      bytes = h;
      break;
    }
  }
  if (flat.length > 0) eng.write(t.buffer, 0, bytes);
  return setMeta(t, opts);
}

/** A tensor holding `value` everywhere. */
export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  const eng = opts.engine ?? defaultEngine();
  const dtype = opts.dtype ?? "f32";
  checkShape("full", shape);
  const t = mapKernel(eng, {
    op: "full",
    expr: "s",
    inputs: [],
    outShape: shape,
    outDtype: dtype,
    scalar: value,
    scalarType: dtype === "f16" ? "f32" : dtype,
  });
  return setMeta(t, opts);
}

/** Zeros. */
export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}

/** Ones. */
export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/**
 * `start, start + step, ...` below `stop` (NumPy's arange). With one argument: `0 .. stop-1`.
 *
 * @example
 * ```ts
 * arange(5);            // [0, 1, 2, 3, 4]
 * arange(1, 2, 0.25);   // [1, 1.25, 1.5, 1.75]
 * ```
 */
export function arange(start: number, stop?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0 || !Number.isFinite(step)) {
    throw new RangeError(`Cannot run arange: step must be a finite non-zero number, got ${step}`);
  }
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const eng = opts.engine ?? defaultEngine();
  const dtype = opts.dtype ?? "f32";
  const ct = dtype === "f16" ? "f32" : dtype;
  const t = mapKernel(eng, {
    op: "arange",
    expr: `s + ${ct}(i) * s2`,
    inputs: [],
    outShape: [n],
    outDtype: dtype,
    scalar: start,
    scalar2: step,
    scalarType: ct,
  });
  return setMeta(t, opts);
}

let globalSeed = 0x5eed;
let globalCounter = 0;

/** Set the seed that `rand`/`randn` use when no seed is given (like `torch.manual_seed`). */
export function manualSeed(seed: number): void {
  globalSeed = seed;
  globalCounter = 0;
}

function nextSeed(seed?: number): number {
  if (seed !== undefined) return seed;
  // Each unseeded call gets its own stream, determined by the global seed.
  return (globalSeed * 1_000_003 + ++globalCounter * 7919) % 2 ** 52;
}

/** Options for random tensors. */
export interface RandomOptions extends CreateOptions {
  /** Seed of the counter-based stream: the same seed gives the same numbers on any adapter. */
  seed?: number;
}

/**
 * Uniform random numbers on [low, high), generated on the GPU (Philox-4x32-10).
 *
 * @example
 * ```ts
 * const x = rand([2, 3], { seed: 1 });
 * ```
 */
export function rand(
  shape: Shape,
  opts: RandomOptions & { low?: number; high?: number } = {},
): Tensor {
  const eng = opts.engine ?? defaultEngine();
  const t = empty(shape, "f32", eng);
  randomFill(eng, t, "uniform", nextSeed(opts.seed), opts.low ?? 0, opts.high ?? 1);
  return setMeta(t, opts);
}

/**
 * Normal random numbers (mean, std), generated on the GPU (Philox-4x32-10 and Box-Muller).
 *
 * @example
 * ```ts
 * const w = randn([768, 768], { seed: 0, std: 0.02 });
 * ```
 */
export function randn(
  shape: Shape,
  opts: RandomOptions & { mean?: number; std?: number } = {},
): Tensor {
  const eng = opts.engine ?? defaultEngine();
  const t = empty(shape, "f32", eng);
  randomFill(eng, t, "normal", nextSeed(opts.seed), opts.mean ?? 0, opts.std ?? 1);
  return setMeta(t, opts);
}
