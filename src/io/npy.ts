/**
 * A small, hardened reader and writer for NumPy `.npy` files (format versions 1.0, 2.0
 * and 3.0), C order only.
 *
 * Layout: the magic `\x93NUMPY`, a major and minor version byte, the header length
 * (u16 LE for 1.0, u32 LE for 2.0/3.0), then a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a
 * final newline so that the data starts at a multiple of 64, then the raw elements.
 *
 * The header is parsed by a tiny tokenizer (never evaluated) and must contain exactly the
 * keys `descr`, `fortran_order` and `shape`. Every problem is reported as a
 * {@linkcode NpyError}. Nothing is allocated from header values before they have been
 * checked against the file size. Uses only web-platform APIs, so it runs in browsers.
 *
 * @module
 */

/**
 * Element types read by {@linkcode readNpy}. `"<f2"` data is kept as raw `Uint16Array` bit
 * patterns; `"<i8"` is read-only and converted to `Int32Array`, checking every value.
 */
export type NpyDtype = "<f4" | "<i4" | "<u4" | "<f2" | "<i8";

/** Element types accepted by {@linkcode writeNpy}. */
export type NpyWritableDtype = "<f4" | "<i4" | "<u4" | "<f2";

const ITEM_SIZE: Readonly<Record<NpyDtype, number>> = {
  "<f4": 4,
  "<i4": 4,
  "<u4": 4,
  "<f2": 2,
  "<i8": 8,
};

/**
 * What went wrong, for {@linkcode NpyError}:
 * `"file-too-small"`, `"bad-magic"`, `"version-unsupported"`, `"header-too-large"`,
 * `"header-truncated"`, `"header-syntax"` (not a dict literal of the expected form),
 * `"header-keys"` (missing, extra or repeated keys), `"dtype-unsupported"`,
 * `"fortran-order"` (Fortran-ordered arrays are not supported), `"bad-shape"`,
 * `"data-size-mismatch"` (data length ≠ product(shape) × item size),
 * `"int64-out-of-range"` (an `<i8` value outside the int32 range), `"invalid-argument"`.
 */
export type NpyErrorCode =
  | "file-too-small"
  | "bad-magic"
  | "version-unsupported"
  | "header-too-large"
  | "header-truncated"
  | "header-syntax"
  | "header-keys"
  | "dtype-unsupported"
  | "fortran-order"
  | "bad-shape"
  | "data-size-mismatch"
  | "int64-out-of-range"
  | "invalid-argument";

/**
 * The only error type thrown for bad input by this module.
 *
 * @example
 * ```ts
 * import { NpyError, readNpy } from "./npy.ts";
 * try {
 *   readNpy(new Uint8Array(4));
 * } catch (e) {
 *   if (e instanceof NpyError) console.log(e.code); // "file-too-small"
 * }
 * ```
 */
export class NpyError extends Error {
  /** Machine-readable reason. */
  readonly code: NpyErrorCode;
  /** Byte offset in the file where the problem was found, when known. */
  readonly offset?: number;

  /**
   * Creates an error; the readers and writers of this module fill in every field.
   *
   * @param code machine-readable reason
   * @param message full human-readable message
   * @param offset byte offset in the file, when known
   */
  constructor(code: NpyErrorCode, message: string, offset?: number) {
    super(message);
    this.name = "NpyError";
    this.code = code;
    if (offset !== undefined) this.offset = offset;
  }
}

/** A validated `.npy` header. */
export interface NpyHeader {
  /** Format version as `[major, minor]`. */
  readonly version: readonly [number, number];
  /** Element type. */
  readonly dtype: NpyDtype;
  /** Dimensions; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** Absolute offset of the first data byte. */
  readonly dataOffset: number;
  /** Length of the data in bytes. */
  readonly byteLength: number;
}

/** The typed array used for each dtype. */
export interface NpyDataTypes {
  /** float32. */
  "<f4": Float32Array;
  /** int32. */
  "<i4": Int32Array;
  /** uint32. */
  "<u4": Uint32Array;
  /** float16, as raw bit patterns (decode with `f16ToF32` from `safetensors.ts`). */
  "<f2": Uint16Array;
  /** int64, range-checked into int32. */
  "<i8": Int32Array;
}

/** A decoded array. */
export interface NpyArray<D extends NpyDtype = NpyDtype> {
  /** Element type as written in the file. */
  readonly dtype: D;
  /** Dimensions; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** The elements in C order, in a freshly allocated array. */
  readonly data: NpyDataTypes[D];
}

/** Options for the readers. */
export interface NpyReadOptions {
  /** Largest accepted header length in bytes. Default 1 MB. */
  maxHeaderSize?: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const READ = "Cannot read npy: ";
const WRITE = "Cannot write npy: ";
const DEFAULT_MAX_HEADER = 1 << 20;

function isNonNegativeSafeInteger(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function elementCount(shape: readonly number[]): number {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return n;
}

function clip(s: string): string {
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) + "..." : s);
}

// ---------------------------------------------------------------------------------------
// header dict tokenizer/parser

type Value = string | boolean | number[];

class HeaderParser {
  i = 0;
  constructor(readonly s: string, readonly base: number) {}

  fail(what: string): never {
    throw new NpyError(
      "header-syntax",
      `${READ}header ${clip(this.s)} is malformed at character ${this.i}: ${what}`,
      this.base + this.i,
    );
  }

  ws(): void {
    while (this.i < this.s.length && " \t\r\n".includes(this.s[this.i])) this.i++;
  }

  peek(): string {
    this.ws();
    return this.s[this.i] ?? "";
  }

  expect(c: string): void {
    if (this.peek() !== c) this.fail(`expected ${JSON.stringify(c)}`);
    this.i++;
  }

  string(): string {
    const quote = this.peek();
    if (quote !== "'" && quote !== '"') this.fail("expected a string");
    const end = this.s.indexOf(quote, this.i + 1);
    if (end < 0) this.fail("unterminated string");
    const body = this.s.slice(this.i + 1, end);
    if (body.includes("\\") || body.includes("\n")) this.fail("unsupported string escape");
    this.i = end + 1;
    return body;
  }

  int(): number {
    this.ws();
    const m = /^[0-9]+L?/.exec(this.s.slice(this.i, this.i + 24));
    if (!m) this.fail("expected a non-negative integer");
    const digits = m[0].endsWith("L") ? m[0].slice(0, -1) : m[0];
    const v = Number(digits);
    if (!Number.isSafeInteger(v)) this.fail(`integer ${digits} is too large`);
    this.i += m[0].length;
    return v;
  }

  value(): Value {
    const c = this.peek();
    if (c === "'" || c === '"') return this.string();
    if (this.s.startsWith("True", this.i)) {
      this.i += 4;
      return true;
    }
    if (this.s.startsWith("False", this.i)) {
      this.i += 5;
      return false;
    }
    if (c === "(") return this.tuple();
    return this.fail("expected a string, True, False or a tuple");
  }

  /** `()`, `(n,)`, `(n, m)`, `(n, m,)`; `(n)` is an int in Python, not a tuple. */
  tuple(): number[] {
    this.expect("(");
    const out: number[] = [];
    if (this.peek() === ")") {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.int());
      const c = this.peek();
      if (c === ",") {
        this.i++;
        if (this.peek() === ")") {
          this.i++;
          return out;
        }
      } else if (c === ")") {
        if (out.length === 1) this.fail("a one-element tuple needs a trailing comma");
        this.i++;
        return out;
      } else this.fail('expected "," or ")"');
    }
  }

  dict(): Map<string, Value> {
    const out = new Map<string, Value>();
    this.expect("{");
    while (this.peek() !== "}") {
      const key = this.string();
      this.expect(":");
      const v = this.value();
      if (out.has(key)) {
        throw new NpyError("header-keys", `${READ}header repeats the key ${clip(key)}`);
      }
      out.set(key, v);
      if (this.peek() === ",") this.i++;
      else if (this.peek() !== "}") this.fail('expected "," or "}"');
    }
    this.i++;
    if (this.peek() !== "") this.fail("unexpected text after the dict");
    return out;
  }
}

// ---------------------------------------------------------------------------------------
// reading

/**
 * Validates a `.npy` header. Needs only the file's first bytes (the magic, the header
 * length and the whole header; more is fine) and the total file size.
 *
 * @throws {NpyError} for every problem with the input
 *
 * @example
 * ```ts
 * import { parseNpyHeader, writeNpy } from "./npy.ts";
 * const file = writeNpy({ dtype: "<f4", shape: [2, 3], data: new Float32Array(6) });
 * const h = parseNpyHeader(file, file.length);
 * console.log(h.shape, h.dataOffset % 64); // [2, 3] 0
 * ```
 */
export function parseNpyHeader(
  bytes: Uint8Array,
  fileSize: number,
  options?: NpyReadOptions,
): NpyHeader {
  if (!(bytes instanceof Uint8Array)) {
    throw new NpyError("invalid-argument", `${READ}expected a Uint8Array`);
  }
  if (!isNonNegativeSafeInteger(fileSize) || bytes.length > fileSize) {
    throw new NpyError("invalid-argument", `${READ}bad file size ${String(fileSize)}`);
  }
  const limit = options?.maxHeaderSize ?? DEFAULT_MAX_HEADER;
  if (!isNonNegativeSafeInteger(limit)) {
    throw new NpyError("invalid-argument", `${READ}bad maxHeaderSize ${String(limit)}`);
  }
  if (fileSize < 10) {
    throw new NpyError("file-too-small", `${READ}file is ${fileSize} bytes, too short for npy`);
  }
  if (bytes.length < 10) {
    throw new NpyError("invalid-argument", `${READ}need at least the first 10 bytes`);
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new NpyError("bad-magic", `${READ}file does not start with "\\x93NUMPY"`, i);
    }
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) {
    throw new NpyError("version-unsupported", `${READ}format version ${major}.${minor}`, 6);
  }
  const lenBytes = major === 1 ? 2 : 4;
  if (fileSize < 8 + lenBytes || bytes.length < 8 + lenBytes) {
    throw new NpyError(
      fileSize < 8 + lenBytes ? "file-too-small" : "invalid-argument",
      `${READ}file ends inside the header length`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenBytes;
  if (headerLen > limit) {
    throw new NpyError(
      "header-too-large",
      `${READ}header length ${headerLen} exceeds the limit of ${limit} bytes`,
      8,
    );
  }
  if (start + headerLen > fileSize) {
    throw new NpyError(
      "header-truncated",
      `${READ}header length ${headerLen} runs past the end of the file (${fileSize} bytes)`,
      8,
    );
  }
  if (start + headerLen > bytes.length) {
    throw new NpyError(
      "header-truncated",
      `${READ}header is ${headerLen} bytes but only ${bytes.length - start} were provided`,
      8,
    );
  }
  const raw = bytes.subarray(start, start + headerLen);
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw);
    } catch {
      throw new NpyError("header-syntax", `${READ}header is not valid UTF-8`, start);
    }
  } else {
    text = "";
    for (let i = 0; i < raw.length; i += 8192) {
      text += String.fromCharCode(...raw.subarray(i, i + 8192)); // latin-1
    }
  }
  const dict = new HeaderParser(text, start).dict();
  const keys = [...dict.keys()].sort();
  if (keys.join() !== "descr,fortran_order,shape") {
    throw new NpyError(
      "header-keys",
      `${READ}header keys are ${
        keys.map(clip).join(", ") || "none"
      }; expected exactly descr, fortran_order, shape`,
      start,
    );
  }
  const descr = dict.get("descr");
  const fortran = dict.get("fortran_order");
  const shape = dict.get("shape");
  if (typeof descr !== "string") {
    throw new NpyError("dtype-unsupported", `${READ}descr must be a string`, start);
  }
  // "|u1"-style single-byte descrs are not supported; "=" is native order, i.e. little.
  const dtype = (descr.startsWith("=") ? "<" + descr.slice(1) : descr) as NpyDtype;
  if (!Object.prototype.hasOwnProperty.call(ITEM_SIZE, dtype)) {
    throw new NpyError(
      "dtype-unsupported",
      `${READ}dtype ${clip(descr)} is not supported (supported: ${
        Object.keys(ITEM_SIZE).join(", ")
      })`,
      start,
    );
  }
  if (typeof fortran !== "boolean") {
    throw new NpyError("header-syntax", `${READ}fortran_order must be True or False`, start);
  }
  if (fortran) {
    throw new NpyError("fortran-order", `${READ}Fortran-ordered arrays are not supported`, start);
  }
  if (!Array.isArray(shape)) {
    throw new NpyError("bad-shape", `${READ}shape must be a tuple of integers`, start);
  }
  const dataOffset = start + headerLen;
  const count = elementCount(shape);
  const byteLength = count * ITEM_SIZE[dtype];
  if (byteLength !== fileSize - dataOffset) {
    throw new NpyError(
      "data-size-mismatch",
      `${READ}shape (${shape.join(", ")}) of ${dtype} needs ${
        Number.isFinite(byteLength) ? byteLength : "more than 2^53"
      } bytes but the file has ${fileSize - dataOffset} bytes of data`,
      dataOffset,
    );
  }
  return { version: [major, minor], dtype, shape, dataOffset, byteLength };
}

/**
 * Reads a whole `.npy` file held in memory into a freshly allocated typed array
 * (see {@linkcode NpyDataTypes}).
 *
 * @throws {NpyError} for every problem with the input, including `"int64-out-of-range"`
 * for `<i8` values that do not fit in an int32
 *
 * @example
 * ```ts
 * import { readNpy, writeNpy } from "./npy.ts";
 * const a = readNpy(writeNpy({ dtype: "<i4", shape: [3], data: new Int32Array([1, -2, 3]) }));
 * console.log(a.dtype, a.shape, a.data); // <i4 [3] Int32Array(3) [ 1, -2, 3 ]
 * ```
 */
export function readNpy(bytes: Uint8Array, options?: NpyReadOptions): NpyArray {
  const h = parseNpyHeader(bytes, bytes?.length, options);
  const body = bytes.subarray(h.dataOffset, h.dataOffset + h.byteLength);
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const n = h.byteLength / ITEM_SIZE[h.dtype];
  switch (h.dtype) {
    case "<f4": {
      const data = new Float32Array(n);
      const u = new Uint32Array(data.buffer); // bit-exact, NaN payloads kept
      for (let i = 0; i < n; i++) u[i] = dv.getUint32(4 * i, true);
      return { dtype: h.dtype, shape: h.shape, data };
    }
    case "<i4": {
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = dv.getInt32(4 * i, true);
      return { dtype: h.dtype, shape: h.shape, data };
    }
    case "<u4": {
      const data = new Uint32Array(n);
      for (let i = 0; i < n; i++) data[i] = dv.getUint32(4 * i, true);
      return { dtype: h.dtype, shape: h.shape, data };
    }
    case "<f2": {
      const data = new Uint16Array(n);
      for (let i = 0; i < n; i++) data[i] = dv.getUint16(2 * i, true);
      return { dtype: h.dtype, shape: h.shape, data };
    }
    case "<i8": {
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(8 * i, true);
        const hi = dv.getInt32(8 * i + 4, true);
        // Fits in int32 iff the high word is the sign extension of the low word.
        if (hi !== (lo >= 0x80000000 ? -1 : 0)) {
          throw new NpyError(
            "int64-out-of-range",
            `${READ}<i8 element ${i} is ${dv.getBigInt64(8 * i, true)}, outside the int32 range`,
            h.dataOffset + 8 * i,
          );
        }
        data[i] = lo | 0;
      }
      return { dtype: h.dtype, shape: h.shape, data };
    }
  }
}

// ---------------------------------------------------------------------------------------
// writing

/** An array to write with {@linkcode writeNpy}. */
export interface NpyInput {
  /** Element type. */
  dtype: NpyWritableDtype;
  /** Dimensions; `[]` for a scalar. */
  shape: readonly number[];
  /**
   * The elements in C order: a typed array of the matching type (`Uint16Array` bit patterns
   * for `<f2`), or a `Uint8Array` of raw little-endian bytes.
   */
  data: Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;
}

/**
 * Serialises an array as `.npy` bytes: version 1.0 when the header fits (2.0 otherwise),
 * header padded with spaces and a newline so that the data starts at a multiple of 64.
 *
 * @throws {NpyError} `"invalid-argument"`, `"dtype-unsupported"`, `"bad-shape"` or
 * `"data-size-mismatch"`
 *
 * @example
 * ```ts
 * import { writeNpy } from "./npy.ts";
 * const file = writeNpy({ dtype: "<f4", shape: [2], data: new Float32Array([1, 2]) });
 * console.log(file.length); // 136
 * ```
 */
export function writeNpy(array: NpyInput): Uint8Array {
  if (array === null || typeof array !== "object") {
    throw new NpyError("invalid-argument", `${WRITE}expected {dtype, shape, data}`);
  }
  const { dtype, shape, data } = array;
  const expected: Record<NpyWritableDtype, unknown> = {
    "<f4": Float32Array,
    "<i4": Int32Array,
    "<u4": Uint32Array,
    "<f2": Uint16Array,
  };
  if (typeof dtype !== "string" || !Object.prototype.hasOwnProperty.call(expected, dtype)) {
    throw new NpyError(
      "dtype-unsupported",
      `${WRITE}dtype ${clip(String(dtype))} is not writable (use ${
        Object.keys(expected).join(", ")
      })`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
    throw new NpyError("bad-shape", `${WRITE}shape must be an array of non-negative integers`);
  }
  if (!(data instanceof Uint8Array) && !(data instanceof (expected[dtype] as typeof Uint8Array))) {
    throw new NpyError(
      "invalid-argument",
      `${WRITE}${dtype} data must be a ${
        (expected[dtype] as typeof Uint8Array).name
      } or Uint8Array`,
    );
  }
  const need = elementCount(shape) * ITEM_SIZE[dtype];
  if (data.byteLength !== need) {
    throw new NpyError(
      "data-size-mismatch",
      `${WRITE}shape (${shape.join(", ")}) of ${dtype} needs ${need} bytes, got ${data.byteLength}`,
    );
  }
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${tuple}, }`;
  let major = 1;
  let lenBytes = 2;
  let total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  if (total - 10 > 0xffff) {
    major = 2;
    lenBytes = 4;
    total = Math.ceil((12 + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - 8 - lenBytes;
  const out = new Uint8Array(total + need);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  const start = 8 + lenBytes;
  for (let i = 0; i < dict.length; i++) out[start + i] = dict.charCodeAt(i);
  out.fill(0x20, start + dict.length, total - 1);
  out[total - 1] = 0x0a;
  const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const size = ITEM_SIZE[dtype];
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (littleEndian || data instanceof Uint8Array) out.set(src, total);
  else {
    // Big-endian host: typed-array elements are stored byte-swapped.
    for (let i = 0; i < need; i += size) {
      for (let k = 0; k < size; k++) out[total + i + k] = src[i + size - 1 - k];
    }
  }
  return out;
}
