/**
 * Shared helpers for kernel files: template filling, uniform packing, size checks.
 *
 * @module
 */

import type { Engine } from "../gpu/engine.ts";
import { type Tensor } from "../tensor.ts";
import { type DType, DTYPE_BYTES } from "../dtype.ts";

/** Replace `{{NAME}}` placeholders; throws if one is left unfilled. */
export function fill(template: string, values: Record<string, string | number>): string {
  const out = template.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in values)) throw new Error(`Kernel template placeholder {{${k}}} has no value`);
    return String(values[k]);
  });
  return out;
}

/** `enable f16;` when any dtype is f16. */
export function enables(...dtypes: DType[]): string {
  return dtypes.includes("f16") ? "enable f16;" : "";
}

/** WGSL storage element type for a dtype. */
export function wgslType(d: DType): string {
  return d;
}

/**
 * Packs a uniform struct following WGSL layout: scalars align to 4 bytes, vec4s and arrays of
 * vec4 to 16. Write fields in the order the struct declares them.
 */
export class Params {
  #buf = new ArrayBuffer(256);
  #view = new DataView(this.#buf);
  #at = 0;

  #grow(need: number) {
    if (this.#at + need <= this.#buf.byteLength) return;
    const bigger = new ArrayBuffer(Math.max(this.#buf.byteLength * 2, this.#at + need));
    new Uint8Array(bigger).set(new Uint8Array(this.#buf));
    this.#buf = bigger;
    this.#view = new DataView(bigger);
  }

  #align(a: number) {
    this.#at = Math.ceil(this.#at / a) * a;
  }

  u32(v: number): this {
    this.#grow(4);
    this.#view.setUint32(this.#at, v >>> 0, true);
    this.#at += 4;
    return this;
  }

  i32(v: number): this {
    this.#grow(4);
    this.#view.setInt32(this.#at, v | 0, true);
    this.#at += 4;
    return this;
  }

  f32(v: number): this {
    this.#grow(4);
    this.#view.setFloat32(this.#at, v, true);
    this.#at += 4;
    return this;
  }

  /** An `array<vec4<u32>, n>` holding `values` padded with `pad`. */
  vec4u(values: readonly number[], n: number, pad = 0): this {
    this.#align(16);
    this.#grow(16 * n);
    for (let i = 0; i < 4 * n; i++) {
      this.#view.setUint32(this.#at + 4 * i, (i < values.length ? values[i] : pad) >>> 0, true);
    }
    this.#at += 16 * n;
    return this;
  }

  /** The packed bytes, padded to 16. */
  bytes(): Uint8Array {
    this.#align(16);
    return new Uint8Array(this.#buf, 0, Math.max(16, this.#at));
  }
}

/** Bytes of a tensor's elements. */
export function byteSize(t: Tensor): number {
  return t.size * DTYPE_BYTES[t.dtype];
}

/**
 * Throw a clear error when a tensor's storage cannot be bound in one piece.
 * Kernels that split their work call this only for the pieces.
 */
export function checkBindable(op: string, eng: Engine, ...ts: Tensor[]): void {
  for (const t of ts) {
    const bytes = t.buffer.size;
    if (bytes > eng.maxBinding && (t.offset + t.size) * DTYPE_BYTES[t.dtype] > eng.maxBinding) {
      throw new RangeError(
        `Cannot run ${op}: tensor ${t.describe()} needs ${
          (byteSize(t) / 2 ** 20).toFixed(1)
        } MiB, more than this adapter's maxStorageBufferBindingSize ` +
          `(${
            (eng.maxBinding / 2 ** 20).toFixed(0)
          } MiB); split it along an axis (slice) and run ${op} on the parts`,
      );
    }
  }
}
