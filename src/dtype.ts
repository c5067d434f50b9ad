/**
 * Element types. Arithmetic runs in f32, i32 or u32; f16 is a storage type where the adapter has
 * `shader-f16` (kernels load it into f32 registers).
 *
 * @module
 */

/** Element type of a tensor. */
export type DType = "f32" | "i32" | "u32" | "f16";

/** Bytes per element. */
export const DTYPE_BYTES: Record<DType, number> = { f32: 4, i32: 4, u32: 4, f16: 2 };

/** The typed array a dtype reads back as (f16 reads back as Float32Array). */
export type TypedArrayFor<D extends DType> = D extends "i32" ? Int32Array
  : D extends "u32" ? Uint32Array
  : Float32Array;

/** Any typed array glassbox accepts as input. */
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint16Array;

/** True for float dtypes. */
export function isFloat(d: DType): boolean {
  return d === "f32" || d === "f16";
}

/** The WGSL type that arithmetic for a dtype uses. */
export function computeType(d: DType): "f32" | "i32" | "u32" {
  return d === "f16" ? "f32" : d;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** IEEE half bits to a number. */
export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A number to IEEE half bits, rounding to nearest even. */
export function f32ToF16Bits(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}
