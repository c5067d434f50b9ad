/**
 * The tensor: a shape, a dtype and a view (strides, offset) onto GPU storage that the engine
 * owns through a reference count. Movement ops (`reshape`, `permute`, `slice`, ...) make views;
 * everything else makes new storage.
 *
 * @module
 */

import { type Engine, engine as defaultEngine, type Tracked } from "./gpu/engine.ts";
import { type DType, DTYPE_BYTES, f16BitsToF32, type TypedArrayFor } from "./dtype.ts";
import { contiguous } from "./ops/movement.ts";

export type { DType } from "./dtype.ts";

/** A shape: sizes of each axis, outermost first. */
export type Shape = readonly number[];

let nextId = 1;

/** GPU storage shared by a tensor and its views. */
export class Storage {
  refs = 1;
  constructor(
    readonly engine: Engine,
    readonly buffer: GPUBuffer,
    /** Logical bytes (the buffer may be larger: pool size class). */
    readonly bytes: number,
  ) {
    engine.addBytes(bytes);
  }

  release(): void {
    if (--this.refs === 0) {
      this.engine.pool.release(this.buffer);
      this.engine.addBytes(-this.bytes);
    }
  }
}

/** Row-major strides for a shape. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Number of elements of a shape. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[2, 3]` as text. */
export function fmtShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** Autograd bookkeeping attached to a tensor made by a recorded op (see src/autograd). */
export interface GradNode {
  op: string;
  inputs: Tensor[];
  attrs: Record<string, unknown>;
  /** Tensors saved for backward (owned by the node; disposed with the graph). */
  saved: Tensor[];
}

/** A view onto GPU storage. Create tensors with the functions in `ops/creation.ts`. */
export class Tensor implements Tracked {
  readonly id = nextId++;
  readonly shape: Shape;
  readonly strides: readonly number[];
  /** Offset in elements into the storage. */
  readonly offset: number;
  readonly dtype: DType;
  /** A name for errors and printing (hook name, parameter name). */
  name?: string;
  /** Whether gradients flow to this tensor (set on leaves; propagated by ops). */
  requiresGrad = false;
  /** Gradient filled in by `backward()`, owned by this tensor. */
  grad: Tensor | null = null;
  /** The op that made this tensor, when recorded for autograd. */
  node: GradNode | null = null;
  #storage: Storage | null;

  constructor(
    storage: Storage,
    shape: Shape,
    dtype: DType,
    strides?: readonly number[],
    offset = 0,
    isView = false,
  ) {
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    storage.engine.track(this, 0);
    if (isView) storage.refs++;
  }

  /** The engine this tensor lives on. */
  get engine(): Engine {
    return this.storageOrThrow().engine;
  }

  /** The storage; throws a clear error if this tensor was disposed. */
  storageOrThrow(): Storage {
    if (!this.#storage) {
      throw new Error(
        `Cannot use tensor ${this.describe()}: it was disposed`,
      );
    }
    return this.#storage;
  }

  /** The GPU buffer (throws if disposed). */
  get buffer(): GPUBuffer {
    return this.storageOrThrow().buffer;
  }

  /** "#12 "name" f32[2, 3]" for messages. */
  describe(): string {
    return `#${this.id}${this.name ? ` "${this.name}"` : ""} ${this.dtype}${fmtShape(this.shape)}`;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  get isDisposed(): boolean {
    return this.#storage === null;
  }

  /** True when the elements are laid out row-major from `offset` with no gaps. */
  get isContiguous(): boolean {
    let acc = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== acc) return false;
      acc *= this.shape[i];
    }
    return true;
  }

  /** Free this tensor's hold on its storage. Safe to call twice. */
  dispose(): void {
    if (!this.#storage) return;
    const s = this.#storage;
    this.#storage = null;
    s.engine.untrack(this);
    s.release();
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
    if (this.node) {
      for (const t of this.node.saved) t.dispose();
      this.node = null;
    }
  }

  /** A view with the same storage and new shape/strides/offset. */
  view(shape: Shape, strides: readonly number[], offset: number): Tensor {
    const t = new Tensor(this.storageOrThrow(), shape, this.dtype, strides, offset, true);
    return t;
  }

  /** Read the values back to the CPU (one submit, one map). f16 is returned as Float32Array. */
  async read(): Promise<TypedArrayFor<DType>> {
    const [data] = await readTensors([this]);
    return data;
  }

  /** Read back as a nested array (for small tensors and tests). */
  async toArray(): Promise<NestedArray> {
    const data = await this.read();
    return nest(Array.from(data as ArrayLike<number>), this.shape);
  }

  /** Readable text of the values (elides large tensors). */
  async print(precision = 4): Promise<string> {
    const data = Array.from(await this.read() as ArrayLike<number>);
    return formatTensor(data, this.shape, this.dtype, precision, this.name);
  }

  toString(): string {
    return `Tensor(${this.describe()}${this.isDisposed ? ", disposed" : ""})`;
  }
}

/** Nested JS arrays of numbers. */
export type NestedArray = number | NestedArray[];

function nest(flat: number[], shape: Shape): NestedArray {
  if (shape.length === 0) return flat[0];
  const [d, ...rest] = shape;
  const inner = sizeOf(rest);
  const out: NestedArray[] = [];
  for (let i = 0; i < d; i++) out.push(nest(flat.slice(i * inner, (i + 1) * inner), rest));
  return out;
}

/** Format values as nested brackets, eliding the middle of long axes. */
export function formatTensor(
  data: number[],
  shape: Shape,
  dtype: DType,
  precision = 4,
  name?: string,
): string {
  const fmt = (v: number) =>
    dtype === "f32" || dtype === "f16"
      ? (Number.isInteger(v) && Math.abs(v) < 1e6
        ? v.toFixed(1)
        : String(Number(v.toPrecision(precision))))
      : String(v);
  const edge = 3;
  const rec = (off: number, axis: number, indent: string): string => {
    if (axis === shape.length) return fmt(data[off]);
    const n = shape[axis];
    const stride = sizeOf(shape.slice(axis + 1));
    const idx = n > 2 * edge + 1
      ? [...Array(edge).keys(), -1, ...Array.from({ length: edge }, (_, i) => n - edge + i)]
      : [...Array(n).keys()];
    const parts = idx.map((i) => i < 0 ? "..." : rec(off + i * stride, axis + 1, indent + " "));
    const sep = axis === shape.length - 1 ? ", " : `,\n${indent} `;
    return `[${parts.join(sep)}]`;
  };
  const head = `Tensor(${name ? `"${name}" ` : ""}${dtype}${fmtShape(shape)})`;
  return `${head}\n${rec(0, 0, "")}`;
}

/**
 * Read several tensors back with a single submit and map.
 *
 * @example
 * ```ts
 * const [a, b] = await readTensors([x, y]);
 * ```
 */
export async function readTensors(tensors: Tensor[]): Promise<TypedArrayFor<DType>[]> {
  if (tensors.length === 0) return [];
  const eng = tensors[0].engine;
  const flat = tensors.map((t) => (t.isContiguous ? t : contiguous(t)));
  const ranges = flat.map((t) => ({
    buffer: t.buffer,
    offset: t.offset * DTYPE_BYTES[t.dtype],
    bytes: t.size * DTYPE_BYTES[t.dtype],
  }));
  let raw: ArrayBuffer[];
  try {
    raw = await eng.readRanges(ranges);
  } finally {
    flat.forEach((t, i) => {
      if (t !== tensors[i]) t.dispose();
    });
  }
  return raw.map((buf, i) => {
    const t = tensors[i];
    switch (t.dtype) {
      case "f32":
        return new Float32Array(buf);
      case "i32":
        return new Int32Array(buf);
      case "u32":
        return new Uint32Array(buf);
      case "f16": {
        const bits = new Uint16Array(buf);
        const out = new Float32Array(bits.length);
        for (let j = 0; j < bits.length; j++) out[j] = f16BitsToF32(bits[j]);
        return out;
      }
    }
  });
}

/** The default engine, or the engine of the first tensor given. */
export function engineOf(...ts: (Tensor | undefined)[]): Engine {
  for (const t of ts) if (t) return t.engine;
  return defaultEngine();
}
