/**
 * Hardened reader and writer for the
 * [safetensors](https://github.com/huggingface/safetensors) format.
 *
 * Layout of a file:
 *
 * ```text
 * [8 bytes]  N, the header length, an unsigned 64-bit little-endian integer
 * [N bytes]  a UTF-8 JSON object:
 *              { "<tensor name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] },
 *                "__metadata__"?: { "<string>": "<string>" } }
 * [rest]     the data region; data_offsets are relative to its start
 * ```
 *
 * Every problem with the input is reported as a {@linkcode SafetensorsError} whose `code`
 * says what went wrong and whose message names the tensor and its offsets. Validation only
 * needs the header bytes plus the total file size, so huge files can be streamed
 * ({@linkcode openSafetensors}). Nothing is allocated from header values before they have
 * been checked against the file size.
 *
 * Differences from the reference implementation, on purpose:
 * - Holes in the data region (bytes that belong to no tensor, including trailing bytes)
 *   are accepted; overlapping tensors are rejected. Pass `{ requireContiguous: true }`
 *   to get the reference behaviour (code `"offsets-gap"`).
 * - A key that appears twice in one JSON object is rejected (`"duplicate-key"`) instead
 *   of letting the last one win, so two readers can never disagree about the contents.
 * - The header is parsed by a strict, iterative JSON parser in this module rather than
 *   `JSON.parse` (which, in V8 15.0 as shipped with Deno 2.9.6, can return a wrong key for
 *   escaped object keys); nesting deeper than 128 levels is rejected.
 *
 * Memory: parsing a header allocates JavaScript objects in proportion to the header size
 * (at most `maxHeaderSize`, 100 MB by default; real headers are kilobytes to a few MB),
 * never in proportion to shapes or offsets, which are checked against the file size first.
 *
 * This module uses only web-platform APIs (no Deno, no Node), so it runs in browsers.
 *
 * @module
 */

/** The element types this module understands. */
export type SafetensorsDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "U32"
  | "I8"
  | "U8"
  | "BOOL";

const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  U32: 4,
  F16: 2,
  BF16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/**
 * All supported dtypes, largest element first.
 *
 * @example
 * ```ts
 * import { SAFETENSORS_DTYPES } from "./safetensors.ts";
 * console.log(SAFETENSORS_DTYPES.includes("BF16")); // true
 * ```
 */
export const SAFETENSORS_DTYPES: readonly SafetensorsDtype[] = Object.freeze(
  Object.keys(DTYPE_SIZE) as SafetensorsDtype[],
);

/**
 * The largest header accepted by default (100 MB), as in the reference implementation.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_HEADER_SIZE } from "./safetensors.ts";
 * console.log(DEFAULT_MAX_HEADER_SIZE); // 100000000
 * ```
 */
export const DEFAULT_MAX_HEADER_SIZE = 100_000_000;

/**
 * What went wrong, for {@linkcode SafetensorsError}:
 * - `"file-too-small"`: fewer than 8 bytes, so there is no length prefix.
 * - `"header-too-large"`: the length prefix exceeds `maxHeaderSize` (100 MB by default).
 * - `"header-truncated"`: the header runs past the end of the file, or the caller passed
 *   fewer header bytes than the prefix announces.
 * - `"header-json"`: the header is not valid UTF-8 or not valid JSON.
 * - `"header-not-object"`: the header is valid JSON but not an object.
 * - `"duplicate-key"`: some JSON object in the header has the same key twice.
 * - `"bad-metadata"`: `__metadata__` is not an object of strings.
 * - `"bad-entry"`: a tensor entry is not an object, lacks a field, or has a field of the
 *   wrong type (including negative, fractional, non-finite or unsafe integers).
 * - `"dtype-unknown"`: a dtype outside {@linkcode SAFETENSORS_DTYPES}.
 * - `"offsets-reversed"`: `end < begin`.
 * - `"offsets-out-of-range"`: `end` is past the end of the data region.
 * - `"shape-mismatch"`: `end - begin` differs from product(shape) × dtype size.
 * - `"offsets-overlap"`: two tensors share bytes.
 * - `"offsets-gap"`: with `requireContiguous`, bytes that belong to no tensor.
 * - `"tensor-not-found"`: a lookup by a name that the file does not contain.
 * - `"short-read"`: a streaming `read` callback returned the wrong number of bytes.
 * - `"invalid-argument"`: the caller passed something unusable (bad file size, bad
 *   writer input, ...).
 */
export type SafetensorsErrorCode =
  | "file-too-small"
  | "header-too-large"
  | "header-truncated"
  | "header-json"
  | "header-not-object"
  | "duplicate-key"
  | "bad-metadata"
  | "bad-entry"
  | "dtype-unknown"
  | "offsets-reversed"
  | "offsets-out-of-range"
  | "shape-mismatch"
  | "offsets-overlap"
  | "offsets-gap"
  | "tensor-not-found"
  | "short-read"
  | "invalid-argument";

/** Extra details attached to a {@linkcode SafetensorsError}. */
export interface SafetensorsErrorDetails {
  /** The tensor at fault, where one is. */
  key?: string;
  /** That tensor's `data_offsets` as written in the header (relative to the data region). */
  offsets?: readonly [number, number];
  /** For `"offsets-overlap"`: the other tensor involved. */
  otherKey?: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * The only error type thrown for bad input by this module.
 *
 * @example
 * ```ts
 * import { readSafetensors, SafetensorsError } from "./safetensors.ts";
 * try {
 *   readSafetensors(new Uint8Array(3));
 * } catch (e) {
 *   if (e instanceof SafetensorsError) console.log(e.code); // "file-too-small"
 * }
 * ```
 */
export class SafetensorsError extends Error {
  /** Machine-readable reason. */
  readonly code: SafetensorsErrorCode;
  /** The tensor at fault, where one is. */
  readonly key?: string;
  /** That tensor's `data_offsets` as written in the header, when they are numbers. */
  readonly offsets?: readonly [number, number];
  /** For `"offsets-overlap"`: the other tensor involved. */
  readonly otherKey?: string;

  /**
   * Creates an error; the readers and writers of this module fill in every field.
   *
   * @param code machine-readable reason
   * @param message full human-readable message
   * @param details the tensor and offsets at fault, and the cause
   */
  constructor(code: SafetensorsErrorCode, message: string, details: SafetensorsErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "SafetensorsError";
    this.code = code;
    if (details.key !== undefined) this.key = details.key;
    if (details.offsets !== undefined) this.offsets = details.offsets;
    if (details.otherKey !== undefined) this.otherKey = details.otherKey;
  }
}

/** One tensor as described by a validated header. */
export interface SafetensorsEntry {
  /** The tensor's name (its key in the header). */
  readonly name: string;
  /** Element type. */
  readonly dtype: SafetensorsDtype;
  /** Dimensions; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** Absolute file offset of the first byte. */
  readonly begin: number;
  /** Absolute file offset one past the last byte. */
  readonly end: number;
  /** `data_offsets` as written in the header (relative to the data region). */
  readonly dataOffsets: readonly [number, number];
}

/** A validated header. */
export interface SafetensorsHeader {
  /** Total size of the file in bytes. */
  readonly fileSize: number;
  /** Length of the JSON header in bytes (the value of the 8-byte prefix). */
  readonly headerSize: number;
  /** Absolute offset of the data region (`8 + headerSize`). */
  readonly dataStart: number;
  /** All tensors, sorted by `begin` (then `end`, then name): the order to stream them in. */
  readonly tensors: readonly SafetensorsEntry[];
  /** The `__metadata__` object; `{}` when absent. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Options for the readers. */
export interface SafetensorsReadOptions {
  /** Largest accepted header length in bytes. Default {@linkcode DEFAULT_MAX_HEADER_SIZE}. */
  maxHeaderSize?: number;
  /**
   * Reject bytes of the data region that belong to no tensor, as the reference
   * implementation does. Default `false`: holes are accepted, overlaps never are.
   */
  requireContiguous?: boolean;
}

/** A tensor's raw little-endian bytes with its type and shape. */
export interface SafetensorsTensor {
  /** Element type. */
  readonly dtype: SafetensorsDtype;
  /** Dimensions; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** The raw bytes: for {@linkcode SafetensorsFile.get}, a view into the file, not a copy. */
  readonly bytes: Uint8Array;
}

// ---------------------------------------------------------------------------------------
// small helpers

const READ = "Cannot read safetensors: ";
const WRITE = "Cannot write safetensors: ";

function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Quotes a tensor name for a message, shortening absurdly long ones. */
function q(name: string): string {
  return JSON.stringify(name.length > 200 ? name.slice(0, 200) + "..." : name);
}

/** Describes any JSON value for a message without recursion (safe on deep nesting). */
function show(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return q(v);
  if (v === null || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) {
    if (v.length <= 8 && v.every((x) => typeof x === "number")) return `[${v.join(", ")}]`;
    return `an array of length ${v.length}`;
  }
  if (typeof v === "object") return "an object";
  return typeof v;
}

function showShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function checkFileSize(fileSize: number): void {
  if (typeof fileSize !== "number" || !Number.isSafeInteger(fileSize) || fileSize < 0) {
    throw new SafetensorsError(
      "invalid-argument",
      `${READ}file size ${String(fileSize)} is not a non-negative integer`,
    );
  }
}

function maxHeader(options: SafetensorsReadOptions | undefined): number {
  const m = options?.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE;
  if (typeof m !== "number" || !Number.isSafeInteger(m) || m < 0) {
    throw new SafetensorsError(
      "invalid-argument",
      `${READ}maxHeaderSize ${String(m)} is not a non-negative integer`,
    );
  }
  return m;
}

function isNonNegativeSafeInteger(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Number of elements of a shape: the product of its dimensions, `1` for a scalar.
 * Returns `Infinity` when the product exceeds `Number.MAX_SAFE_INTEGER`.
 *
 * @example
 * ```ts
 * import { elementCount } from "./safetensors.ts";
 * console.log(elementCount([2, 3]), elementCount([]), elementCount([4, 0])); // 6 1 0
 * ```
 */
export function elementCount(shape: readonly number[]): number {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return n;
}

/**
 * Whether `value` names a supported dtype.
 *
 * @example
 * ```ts
 * import { isSafetensorsDtype } from "./safetensors.ts";
 * console.log(isSafetensorsDtype("F16"), isSafetensorsDtype("F8_E4M3")); // true false
 * ```
 */
export function isSafetensorsDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === "string" && hasOwn(DTYPE_SIZE, value);
}

/**
 * Size in bytes of one element of `dtype`. Throws a {@linkcode SafetensorsError} with code
 * `"dtype-unknown"` for anything else.
 *
 * @example
 * ```ts
 * import { dtypeByteSize } from "./safetensors.ts";
 * console.log(dtypeByteSize("BF16")); // 2
 * ```
 */
export function dtypeByteSize(dtype: SafetensorsDtype): number {
  if (!isSafetensorsDtype(dtype)) {
    throw new SafetensorsError("dtype-unknown", `Unknown safetensors dtype ${show(dtype)}`);
  }
  return DTYPE_SIZE[dtype];
}

// ---------------------------------------------------------------------------------------
// header parsing

/**
 * Reads and checks the 8-byte length prefix: the first step of streaming a file.
 *
 * @param prefix at least the first 8 bytes of the file
 * @param fileSize total size of the file in bytes
 * @returns the header length N; the header occupies bytes `[8, 8 + N)`
 *
 * @example
 * ```ts
 * import { parseSafetensorsHeaderSize, writeSafetensors } from "./safetensors.ts";
 * const file = writeSafetensors({ x: { dtype: "U8", shape: [1], data: new Uint8Array([7]) } });
 * const n = parseSafetensorsHeaderSize(file.subarray(0, 8), file.length);
 * console.log((8 + n) % 8); // 0
 * ```
 */
export function parseSafetensorsHeaderSize(
  prefix: Uint8Array,
  fileSize: number,
  options?: SafetensorsReadOptions,
): number {
  checkFileSize(fileSize);
  const limit = maxHeader(options);
  if (fileSize < 8) {
    throw new SafetensorsError(
      "file-too-small",
      `${READ}file is ${fileSize} bytes long, shorter than the 8-byte length prefix`,
    );
  }
  if (!(prefix instanceof Uint8Array) || prefix.length < 8) {
    throw new SafetensorsError(
      "invalid-argument",
      `${READ}need the first 8 bytes of the file to read the header length`,
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  if (hi !== 0 || lo > limit) {
    const n = (BigInt(hi) << 32n) | BigInt(lo);
    throw new SafetensorsError(
      "header-too-large",
      `${READ}header length ${n} exceeds the limit of ${limit} bytes`,
    );
  }
  if (lo > fileSize - 8) {
    throw new SafetensorsError(
      "header-truncated",
      `${READ}header length ${lo} runs past the end of the file ` +
        `(${fileSize} bytes, so at most ${fileSize - 8} header bytes)`,
    );
  }
  return lo;
}

/**
 * Validates a header. Needs only the first `8 + N` bytes of the file (more is fine, e.g.
 * the whole file) plus the total file size, so huge files can be checked before any
 * tensor data is read.
 *
 * @param bytes the file's first bytes: the length prefix and the whole header at least
 * @param fileSize total size of the file in bytes
 * @throws {SafetensorsError} for every problem with the input
 *
 * @example
 * ```ts
 * import { parseSafetensorsHeader, writeSafetensors } from "./safetensors.ts";
 * const file = writeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * const h = parseSafetensorsHeader(file, file.length);
 * console.log(h.tensors[0].name, h.tensors[0].end - h.tensors[0].begin); // w 8
 * ```
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  fileSize: number,
  options?: SafetensorsReadOptions,
): SafetensorsHeader {
  checkFileSize(fileSize);
  if (!(bytes instanceof Uint8Array)) {
    throw new SafetensorsError("invalid-argument", `${READ}expected a Uint8Array`);
  }
  if (bytes.length > fileSize) {
    throw new SafetensorsError(
      "invalid-argument",
      `${READ}got ${bytes.length} bytes but the file size is only ${fileSize}`,
    );
  }
  if (bytes.length < 8) {
    // Decide between "the file is too small" and "the caller gave too few bytes".
    if (fileSize < 8) parseSafetensorsHeaderSize(bytes, fileSize, options);
    throw new SafetensorsError(
      "invalid-argument",
      `${READ}need the first 8 bytes of the file to read the header length`,
    );
  }
  const headerSize = parseSafetensorsHeaderSize(bytes, fileSize, options);
  if (bytes.length < 8 + headerSize) {
    throw new SafetensorsError(
      "header-truncated",
      `${READ}header is ${headerSize} bytes but only ${bytes.length - 8} were provided`,
    );
  }
  return parseHeaderBody(bytes.subarray(8, 8 + headerSize), fileSize, options);
}

/** Validates the JSON header body (the N bytes after the prefix). */
function parseHeaderBody(
  body: Uint8Array,
  fileSize: number,
  options: SafetensorsReadOptions | undefined,
): SafetensorsHeader {
  const headerSize = body.length;
  const dataStart = 8 + headerSize;
  const dataSize = fileSize - dataStart;

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(body);
  } catch (cause) {
    throw new SafetensorsError("header-json", `${READ}header is not valid UTF-8`, { cause });
  }
  const root = parseJson(text);
  if (!isPlainObject(root)) {
    throw new SafetensorsError(
      "header-not-object",
      `${READ}header must be a JSON object, got ${show(root)}`,
    );
  }

  let metadata: Record<string, string> = {};
  if (hasOwn(root, "__metadata__")) {
    const m = root.__metadata__;
    if (m !== null) {
      if (!isPlainObject(m)) {
        throw new SafetensorsError(
          "bad-metadata",
          `${READ}__metadata__ must be an object of strings, got ${show(m)}`,
        );
      }
      for (const k of Object.keys(m)) {
        if (typeof m[k] !== "string") {
          throw new SafetensorsError(
            "bad-metadata",
            `${READ}__metadata__ value for ${q(k)} must be a string, got ${show(m[k])}`,
          );
        }
      }
      metadata = m as Record<string, string>;
    }
  }

  const tensors: SafetensorsEntry[] = [];
  for (const name of Object.keys(root)) {
    if (name === "__metadata__") continue;
    tensors.push(parseEntry(name, root[name], dataStart, dataSize));
  }
  tensors.sort((a, b) =>
    a.begin - b.begin || a.end - b.end || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  checkLayout(tensors, dataStart, dataSize, options?.requireContiguous ?? false);
  return { fileSize, headerSize, dataStart, tensors, metadata };
}

const ENTRY_FIELDS = ["dtype", "shape", "data_offsets"] as const;

function parseEntry(
  name: string,
  entry: unknown,
  dataStart: number,
  dataSize: number,
): SafetensorsEntry {
  const tn = () => `tensor ${q(name)}`;
  if (!isPlainObject(entry)) {
    throw new SafetensorsError(
      "bad-entry",
      `${READ}${tn()} must be an object, got ${show(entry)}`,
      {
        key: name,
      },
    );
  }
  for (const field of ENTRY_FIELDS) {
    if (!hasOwn(entry, field)) {
      throw new SafetensorsError("bad-entry", `${READ}${tn()} has no "${field}" field`, {
        key: name,
      });
    }
  }
  const { dtype, shape, data_offsets: offs } = entry;

  // Offsets first, so that every later message can name them.
  if (!Array.isArray(offs) || offs.length !== 2) {
    throw new SafetensorsError(
      "bad-entry",
      `${READ}${tn()} has data_offsets ${show(offs)} (expected [begin, end])`,
      { key: name },
    );
  }
  const b: unknown = offs[0];
  const e: unknown = offs[1];
  if (!isNonNegativeSafeInteger(b) || !isNonNegativeSafeInteger(e)) {
    const numeric = typeof b === "number" && typeof e === "number";
    throw new SafetensorsError(
      "bad-entry",
      `${READ}${tn()} has data_offsets ${show(offs)} (offsets must be non-negative integers)`,
      { key: name, offsets: numeric ? [b, e] : undefined },
    );
  }
  // Built only on the error paths: this function runs once per tensor.
  const os = () => `data_offsets [${b}, ${e}]`;
  const details = (): SafetensorsErrorDetails => ({ key: name, offsets: [b, e] });

  if (typeof dtype !== "string") {
    throw new SafetensorsError(
      "bad-entry",
      `${READ}${tn()} with ${os()} has dtype ${show(dtype)} (expected a string)`,
      details(),
    );
  }
  if (!isSafetensorsDtype(dtype)) {
    throw new SafetensorsError(
      "dtype-unknown",
      `${READ}${tn()} with ${os()} has unknown dtype ${q(dtype)} ` +
        `(supported: ${SAFETENSORS_DTYPES.join(", ")})`,
      details(),
    );
  }
  if (!Array.isArray(shape)) {
    throw new SafetensorsError(
      "bad-entry",
      `${READ}${tn()} with ${os()} has shape ${show(shape)} (expected an array)`,
      details(),
    );
  }
  for (let i = 0; i < shape.length; i++) {
    if (!isNonNegativeSafeInteger(shape[i])) {
      throw new SafetensorsError(
        "bad-entry",
        `${READ}${tn()} with ${os()} has shape ${show(shape)} ` +
          `(dimension ${i} is ${show(shape[i])}; dimensions must be non-negative integers)`,
        details(),
      );
    }
  }
  if (e < b) {
    throw new SafetensorsError(
      "offsets-reversed",
      `${READ}${tn()} has ${os()} (end before begin)`,
      details(),
    );
  }
  if (e > dataSize) {
    throw new SafetensorsError(
      "offsets-out-of-range",
      `${READ}${tn()} has ${os()} (end past the data region, which is ${dataSize} bytes)`,
      details(),
    );
  }
  const dims = shape as number[];
  const count = elementCount(dims);
  const need = count * DTYPE_SIZE[dtype];
  if (need !== e - b) {
    throw new SafetensorsError(
      "shape-mismatch",
      `${READ}${tn()} has ${os()} (${e - b} bytes) but shape ${showShape(dims)} of ${dtype} needs ${
        Number.isFinite(need) ? `${need} bytes` : "more than 2^53 bytes"
      }`,
      details(),
    );
  }
  return {
    name,
    dtype,
    shape: dims.slice(),
    begin: dataStart + b,
    end: dataStart + e,
    dataOffsets: [b, e],
  };
}

/** Overlap (and, optionally, hole) check on entries sorted by `begin`. */
function checkLayout(
  sorted: readonly SafetensorsEntry[],
  dataStart: number,
  dataSize: number,
  requireContiguous: boolean,
): void {
  let last: SafetensorsEntry | undefined; // the non-empty entry reaching furthest so far
  let covered = dataStart;
  for (const t of sorted) {
    const [b, e] = t.dataOffsets;
    if (requireContiguous && t.begin !== covered) {
      throw new SafetensorsError(
        t.begin > covered ? "offsets-gap" : "offsets-overlap",
        `${READ}tensor ${q(t.name)} has data_offsets [${b}, ${e}] but the previous tensor ends at ${
          covered - dataStart
        } (tensors must be packed without holes)`,
        { key: t.name, offsets: [b, e], otherKey: last?.name },
      );
    }
    if (t.begin === t.end) continue; // an empty range overlaps nothing
    if (last !== undefined && t.begin < last.end) {
      const [lb, le] = last.dataOffsets;
      throw new SafetensorsError(
        "offsets-overlap",
        `${READ}tensor ${q(t.name)} has data_offsets [${b}, ${e}] which overlap tensor ${
          q(last.name)
        } with data_offsets [${lb}, ${le}]`,
        { key: t.name, offsets: [b, e], otherKey: last.name },
      );
    }
    if (last === undefined || t.end > last.end) last = t;
    covered = Math.max(covered, t.end);
  }
  if (requireContiguous && covered !== dataStart + dataSize) {
    throw new SafetensorsError(
      "offsets-gap",
      `${READ}the last ${dataStart + dataSize - covered} bytes of the data region ` +
        `belong to no tensor (tensors must be packed without holes)`,
    );
  }
}

/** Deepest JSON nesting accepted; a valid header needs 3 levels. */
const MAX_JSON_DEPTH = 128;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const JSON_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/**
 * Strict, iterative JSON parser (RFC 8259) used instead of `JSON.parse`, because:
 * - a key repeated within one object must be an error, not "last one wins";
 * - nesting depth is bounded without relying on the engine's stack;
 * - V8 15.0 (Deno 2.9.6) has a `JSON.parse` bug that can return a stale, wrong key for an
 *   escaped object key (after `{"q":1,"a\\":1}`, parsing `{"q":1,"a\n":2}` yields the key
 *   `a\` instead of `a` + newline), which would silently rename tensors.
 *
 * A `"__proto__"` key becomes an ordinary own property (via `Object.defineProperty`).
 * Throws {@linkcode SafetensorsError} with code `"header-json"` or `"duplicate-key"`.
 */
function parseJson(text: string): unknown {
  const n = text.length;
  let pos = 0;
  const fail = (what: string): never => {
    const near = pos < n ? `${JSON.stringify(text.slice(pos, pos + 10))} at` : "end of input,";
    throw new SafetensorsError(
      "header-json",
      `${READ}header is not valid JSON (${what}: ${near} character ${pos})`,
    );
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else return;
    }
  };
  const str = (): string => {
    // At an opening quote.
    pos++;
    let out = "";
    let chunk = pos;
    for (;;) {
      if (pos >= n) fail("unterminated string");
      const c = text.charCodeAt(pos);
      if (c === QUOTE) {
        out += text.slice(chunk, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c !== BACKSLASH) {
        pos++;
        continue;
      }
      out += text.slice(chunk, pos);
      const e = text[pos + 1];
      if (e === "u") {
        const hex = text.slice(pos + 2, pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 6;
      } else if (e !== undefined && Object.prototype.hasOwnProperty.call(JSON_ESCAPES, e)) {
        out += JSON_ESCAPES[e];
        pos += 2;
      } else fail("bad escape");
      chunk = pos;
    }
  };

  const digit = (c: number) => c >= 0x30 && c <= 0x39;
  const num = (): number => {
    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    const start = pos;
    if (text.charCodeAt(pos) === 0x2d) pos++;
    const first = text.charCodeAt(pos);
    if (first === 0x30) pos++;
    else if (digit(first)) {
      while (digit(text.charCodeAt(pos))) pos++;
    } else fail("bad number");
    let c = text.charCodeAt(pos);
    if (c === 0x2e) {
      pos++;
      if (!digit(text.charCodeAt(pos))) fail("bad number");
      while (digit(text.charCodeAt(pos))) pos++;
      c = text.charCodeAt(pos);
    }
    if (c === 0x65 || c === 0x45) {
      pos++;
      c = text.charCodeAt(pos);
      if (c === 0x2b || c === 0x2d) pos++;
      if (!digit(text.charCodeAt(pos))) fail("bad number");
      while (digit(text.charCodeAt(pos))) pos++;
    }
    return Number(text.slice(start, pos));
  };

  interface Frame {
    value: Record<string, unknown> | unknown[];
    key: string | null; // objects: the key whose value is being parsed
  }
  const stack: Frame[] = [];

  /** Reads `"key" :` into the current object frame. */
  const key = (frame: Frame) => {
    ws();
    if (text.charCodeAt(pos) !== QUOTE) fail("expected a string key");
    const k = str();
    if (Object.prototype.hasOwnProperty.call(frame.value, k)) {
      const top = stack.length === 1;
      throw new SafetensorsError(
        "duplicate-key",
        `${READ}header repeats the key ${q(k)} ${top ? "at the top level" : "inside one object"}`,
        top ? { key: k } : {},
      );
    }
    ws();
    if (text.charCodeAt(pos) !== COLON) fail('expected ":"');
    pos++;
    frame.key = k;
  };

  for (;;) {
    // Parse one value (opening containers pushes a frame and goes round again).
    ws();
    const c = text.charCodeAt(pos);
    let value: unknown;
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (stack.length >= MAX_JSON_DEPTH) fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
      pos++;
      ws();
      if (c === OPEN_BRACE) {
        const frame: Frame = { value: {}, key: null };
        if (text.charCodeAt(pos) === CLOSE_BRACE) {
          pos++;
          value = frame.value;
        } else {
          stack.push(frame);
          key(frame);
          continue;
        }
      } else {
        if (text.charCodeAt(pos) === CLOSE_BRACKET) {
          pos++;
          value = [];
        } else {
          stack.push({ value: [], key: null });
          continue;
        }
      }
    } else if (c === QUOTE) {
      value = str();
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      value = num();
    } else if (c === 0x74 && text.startsWith("true", pos)) {
      pos += 4;
      value = true;
    } else if (c === 0x66 && text.startsWith("false", pos)) {
      pos += 5;
      value = false;
    } else if (c === 0x6e && text.startsWith("null", pos)) {
      pos += 4;
      value = null;
    } else {
      fail(pos >= n ? "unexpected end" : "unexpected character");
    }

    // Store the value, then close as many containers as the input closes.
    for (;;) {
      const frame = stack[stack.length - 1];
      if (frame === undefined) {
        ws();
        if (pos < n) fail("unexpected text after the top-level value");
        return value;
      }
      if (Array.isArray(frame.value)) frame.value.push(value);
      else if (frame.key !== "__proto__") frame.value[frame.key!] = value;
      else {
        // Plain assignment would set the prototype instead of creating a property.
        Object.defineProperty(frame.value, frame.key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      ws();
      const d = text.charCodeAt(pos);
      if (d === COMMA) {
        pos++;
        if (!Array.isArray(frame.value)) key(frame);
        break; // parse the next value
      }
      if (d === (Array.isArray(frame.value) ? CLOSE_BRACKET : CLOSE_BRACE)) {
        pos++;
        stack.pop();
        value = frame.value;
        continue;
      }
      fail(Array.isArray(frame.value) ? 'expected "," or "]"' : 'expected "," or "}"');
    }
  }
}

// ---------------------------------------------------------------------------------------
// in-memory reading

/**
 * An in-memory safetensors file with a validated header. Obtain one with
 * {@linkcode readSafetensors}.
 */
export class SafetensorsFile implements SafetensorsHeader {
  /** The whole file. */
  readonly bytes: Uint8Array;
  /** Total size of the file in bytes. */
  readonly fileSize: number;
  /** Length of the JSON header in bytes (the value of the 8-byte prefix). */
  readonly headerSize: number;
  /** Absolute offset of the data region (`8 + headerSize`). */
  readonly dataStart: number;
  /** All tensors, sorted by `begin` (then `end`, then name). */
  readonly tensors: readonly SafetensorsEntry[];
  /** The `__metadata__` object; `{}` when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  #index: Map<string, SafetensorsEntry>;

  /**
   * Wraps a file and its header; normally called by {@linkcode readSafetensors}.
   *
   * @param bytes the whole file
   * @param header its validated header (from {@linkcode parseSafetensorsHeader})
   */
  constructor(bytes: Uint8Array, header: SafetensorsHeader) {
    if (header.fileSize !== bytes.length) {
      throw new SafetensorsError("invalid-argument", `${READ}header does not match the bytes`);
    }
    this.bytes = bytes;
    this.fileSize = header.fileSize;
    this.headerSize = header.headerSize;
    this.dataStart = header.dataStart;
    this.tensors = header.tensors;
    this.metadata = header.metadata;
    this.#index = new Map();
    for (const t of header.tensors) this.#index.set(t.name, t);
  }

  /**
   * Tensor names in file order.
   *
   * @example
   * ```ts
   * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
   * const f = readSafetensors(writeSafetensors({ a: { dtype: "U8", shape: [], data: new Uint8Array(1) } }));
   * console.log(f.names()); // ["a"]
   * ```
   */
  names(): string[] {
    return this.tensors.map((t) => t.name);
  }

  /**
   * Whether the file contains a tensor called `name`.
   *
   * @example
   * ```ts
   * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
   * const f = readSafetensors(writeSafetensors({}));
   * console.log(f.has("a")); // false
   * ```
   */
  has(name: string): boolean {
    return this.#index.has(name);
  }

  /**
   * The header entry of `name`; throws `"tensor-not-found"` if there is none.
   *
   * @example
   * ```ts
   * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
   * const f = readSafetensors(writeSafetensors({ a: { dtype: "I32", shape: [2], data: new Int32Array(2) } }));
   * console.log(f.entry("a").dataOffsets); // [0, 8]
   * ```
   */
  entry(name: string): SafetensorsEntry {
    return lookup(this.#index, name);
  }

  /**
   * The tensor `name`: dtype, shape and a view of its bytes (no copy).
   *
   * @example
   * ```ts
   * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
   * const f = readSafetensors(writeSafetensors({ a: { dtype: "U8", shape: [2], data: new Uint8Array([1, 2]) } }));
   * console.log(f.get("a").bytes); // Uint8Array(2) [ 1, 2 ]
   * ```
   */
  get(name: string): SafetensorsTensor {
    const e = lookup(this.#index, name);
    return { dtype: e.dtype, shape: e.shape, bytes: this.bytes.subarray(e.begin, e.end) };
  }

  /**
   * Converts a tensor (by name, entry, or tensor) to a new `Float32Array`; see
   * the standalone {@linkcode toFloat32}.
   *
   * @example
   * ```ts
   * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
   * const f = readSafetensors(writeSafetensors({ a: { dtype: "I32", shape: [2], data: new Int32Array([3, -4]) } }));
   * console.log(f.toFloat32("a")); // Float32Array(2) [ 3, -4 ]
   * ```
   */
  toFloat32(tensor: string | SafetensorsEntry | SafetensorsTensor): Float32Array {
    if (typeof tensor === "string") return toFloat32(this.get(tensor));
    if ("bytes" in tensor) return toFloat32(tensor);
    return toFloat32(this.get(tensor.name));
  }
}

function lookup(index: Map<string, SafetensorsEntry>, name: string): SafetensorsEntry {
  const e = index.get(name);
  if (e === undefined) {
    throw new SafetensorsError("tensor-not-found", `${READ}no tensor named ${q(String(name))}`, {
      key: String(name),
    });
  }
  return e;
}

/**
 * Parses and validates a whole safetensors file held in memory. Tensor bytes are returned
 * as views into `bytes`, never copied.
 *
 * @throws {SafetensorsError} for every problem with the input
 *
 * @example
 * ```ts
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * const file = writeSafetensors(
 *   { "h.0.attn.c_attn.weight": { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
 *   { format: "pt" },
 * );
 * const st = readSafetensors(file);
 * console.log(st.metadata.format, st.get("h.0.attn.c_attn.weight").shape); // pt [2, 2]
 * console.log(st.toFloat32("h.0.attn.c_attn.weight")); // Float32Array(4) [ 1, 2, 3, 4 ]
 * ```
 */
export function readSafetensors(
  bytes: Uint8Array,
  options?: SafetensorsReadOptions,
): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) {
    throw new SafetensorsError("invalid-argument", `${READ}expected a Uint8Array`);
  }
  return new SafetensorsFile(bytes, parseSafetensorsHeader(bytes, bytes.length, options));
}

// ---------------------------------------------------------------------------------------
// streaming

/** Reads `length` bytes at absolute `offset` of the file; must return exactly that many. */
export type SafetensorsReadFn = (offset: number, length: number) => Promise<Uint8Array>;

/** A safetensors file opened for streaming; see {@linkcode openSafetensors}. */
export interface SafetensorsStream extends SafetensorsHeader {
  /** Whether the file contains a tensor called `name`. */
  has(name: string): boolean;
  /** The header entry of `name`; throws `"tensor-not-found"` if there is none. */
  entry(name: string): SafetensorsEntry;
  /** Reads just the bytes of tensor `name`. */
  tensorBytes(name: string): Promise<Uint8Array>;
  /** Reads tensor `name`: dtype, shape and bytes. */
  tensor(name: string): Promise<SafetensorsTensor>;
}

async function readExactly(read: SafetensorsReadFn, offset: number, length: number) {
  const got = await read(offset, length);
  if (!(got instanceof Uint8Array) || got.length !== length) {
    throw new SafetensorsError(
      "short-read",
      `${READ}read(${offset}, ${length}) returned ${
        got instanceof Uint8Array ? `${got.length} bytes` : "something other than a Uint8Array"
      }`,
    );
  }
  return got;
}

/**
 * Opens a file through a random-access `read` callback: reads and validates the 8-byte
 * prefix and the header, then reads each tensor's range only when asked. Errors thrown by
 * `read` itself propagate unchanged.
 *
 * @param read returns exactly `length` bytes at absolute `offset`
 * @param fileSize total size of the file in bytes
 * @throws {SafetensorsError} for every problem with the input
 *
 * @example
 * ```ts
 * import { openSafetensors, writeSafetensors } from "./safetensors.ts";
 * const file = writeSafetensors({ x: { dtype: "U8", shape: [3], data: new Uint8Array([1, 2, 3]) } });
 * const st = await openSafetensors(async (off, len) => file.slice(off, off + len), file.length);
 * console.log(await st.tensorBytes("x")); // Uint8Array(3) [ 1, 2, 3 ]
 * ```
 */
export async function openSafetensors(
  read: SafetensorsReadFn,
  fileSize: number,
  options?: SafetensorsReadOptions,
): Promise<SafetensorsStream> {
  if (typeof read !== "function") {
    throw new SafetensorsError("invalid-argument", `${READ}read must be a function`);
  }
  checkFileSize(fileSize);
  maxHeader(options);
  if (fileSize < 8) parseSafetensorsHeaderSize(new Uint8Array(8), fileSize, options);
  const prefix = await readExactly(read, 0, 8);
  const headerSize = parseSafetensorsHeaderSize(prefix, fileSize, options);
  const body = await readExactly(read, 8, headerSize);
  const header = parseHeaderBody(body, fileSize, options);
  const index = new Map(header.tensors.map((t) => [t.name, t]));
  const tensorBytes = (name: string): Promise<Uint8Array> => {
    const e = lookup(index, name);
    if (e.end === e.begin) return Promise.resolve(new Uint8Array(0));
    return readExactly(read, e.begin, e.end - e.begin);
  };
  return {
    ...header,
    has: (name) => index.has(name),
    entry: (name) => lookup(index, name),
    tensorBytes: (name) => {
      try {
        return tensorBytes(name);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    tensor: async (name) => {
      const e = lookup(index, name);
      return { dtype: e.dtype, shape: e.shape, bytes: await tensorBytes(name) };
    },
  };
}

// ---------------------------------------------------------------------------------------
// float conversions

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float16 bit pattern -> float32 bit pattern, exact (NaN payloads kept). */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let man = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (man << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (man << 13)) >>> 0;
  if (man === 0) return sign >>> 0;
  // Subnormal: value = man * 2^-24; normalise so the leading 1 lands at bit 10.
  let e = 113;
  while ((man & 0x400) === 0) {
    man <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((man & 0x3ff) << 13)) >>> 0;
}

let f16Table: Uint32Array | undefined;
function f16TableGet(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/**
 * Decodes an IEEE 754 binary16 bit pattern (0..65535). Exact for every pattern,
 * subnormals, ±0, ±Infinity and NaN included.
 *
 * @example
 * ```ts
 * import { f16ToF32 } from "./safetensors.ts";
 * console.log(f16ToF32(0x3c00), f16ToF32(0x0001), f16ToF32(0xfc00)); // 1 5.960464477539063e-8 -Infinity
 * ```
 */
export function f16ToF32(bits: number): number {
  scratchU32[0] = f16BitsToF32Bits(bits & 0xffff);
  return scratchF32[0];
}

/**
 * Decodes a bfloat16 bit pattern (0..65535): the top half of a float32.
 *
 * @example
 * ```ts
 * import { bf16ToF32 } from "./safetensors.ts";
 * console.log(bf16ToF32(0x3f80), bf16ToF32(0xc040)); // 1 -3
 * ```
 */
export function bf16ToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Encodes a number as IEEE 754 binary16 bits, rounding to nearest with ties to even
 * (directly from the double, like `Math.f16round`). NaN becomes the quiet NaN `0x7e00`.
 *
 * @example
 * ```ts
 * import { f32ToF16Bits } from "./safetensors.ts";
 * console.log(f32ToF16Bits(1).toString(16), f32ToF16Bits(65520).toString(16)); // 3c00 7c00
 * ```
 */
export function f32ToF16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= 65520) return sign | 0x7c00; // halfway between 65504 and 2^16 rounds to even: inf
  if (a < 2 ** -14) {
    // Subnormal range, in units of 2^-24; 1024 units is the smallest normal, encoded alike.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven(a * 2 ** (10 - e)); // in [1024, 2048]
  if (m === 2048) {
    m = 1024;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (m - 1024);
}

/**
 * Encodes a number as bfloat16 bits: first rounded to float32 (as bfloat16 data normally
 * comes from float32), then to bfloat16 by round-to-nearest, ties to even. NaN stays NaN
 * (quieted).
 *
 * @example
 * ```ts
 * import { f32ToBf16Bits } from "./safetensors.ts";
 * console.log(f32ToBf16Bits(1).toString(16), f32ToBf16Bits(-3).toString(16)); // 3f80 c040
 * ```
 */
export function f32ToBf16Bits(value: number): number {
  scratchF32[0] = value;
  const bits = scratchU32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) {
    return ((bits >>> 16) | 0x40) & 0xffff;
  }
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Converts a tensor's little-endian bytes to a new `Float32Array`. F32 and F16/BF16 are
 * converted bit-exactly (NaN payloads, subnormals and infinities kept); F64 rounds to
 * nearest; integers convert to the nearest float32 (I64 via `Number`, so huge values lose
 * precision); BOOL gives 0 or 1.
 *
 * @throws {SafetensorsError} `"dtype-unknown"`, or `"shape-mismatch"` when the byte length
 * is not a whole number of elements
 *
 * @example
 * ```ts
 * import { toFloat32 } from "./safetensors.ts";
 * console.log(toFloat32({ dtype: "F16", bytes: new Uint8Array([0x00, 0x3c, 0x00, 0xc0]) })); // Float32Array(2) [ 1, -2 ]
 * ```
 */
export function toFloat32(tensor: { dtype: SafetensorsDtype; bytes: Uint8Array }): Float32Array {
  const { dtype, bytes } = tensor;
  const size = dtypeByteSize(dtype);
  if (!(bytes instanceof Uint8Array) || bytes.length % size !== 0) {
    throw new SafetensorsError(
      "shape-mismatch",
      `Cannot convert ${dtype} data of ${
        bytes instanceof Uint8Array ? bytes.length : "?"
      } bytes: not a whole number of ${size}-byte elements`,
    );
  }
  const n = bytes.length / size;
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F32":
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
      else {
        const u = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) u[i] = dv.getUint32(4 * i, true);
      }
      break;
    case "F16": {
      const u = new Uint32Array(out.buffer);
      const table = f16TableGet();
      for (let i = 0, j = 0; i < n; i++, j += 2) u[i] = table[bytes[j] | (bytes[j + 1] << 8)];
      break;
    }
    case "BF16": {
      const u = new Uint32Array(out.buffer);
      for (let i = 0, j = 0; i < n; i++, j += 2) u[i] = (bytes[j] << 16) | (bytes[j + 1] << 24);
      break;
    }
    case "F64":
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    case "I64":
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, true));
      break;
    case "I32":
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
      break;
    case "U32":
      for (let i = 0; i < n; i++) out[i] = dv.getUint32(4 * i, true);
      break;
    case "I8":
      for (let i = 0; i < n; i++) out[i] = (bytes[i] << 24) >> 24;
      break;
    case "U8":
      for (let i = 0; i < n; i++) out[i] = bytes[i];
      break;
    case "BOOL":
      for (let i = 0; i < n; i++) out[i] = bytes[i] === 0 ? 0 : 1;
      break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// writing

/** Position in the reference implementation's `Dtype` enum; the writer sorts by it, descending. */
const WRITE_RANK: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  F16: 3,
  BF16: 4,
  I32: 5,
  U32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
};

/** Orders strings by code point, i.e. like their UTF-8 bytes (Rust's `String` order). */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF: they sort after 0xE000-0xFFFF.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys && (xs ? y >= 0xe000 : x >= 0xe000)) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** One tensor to write: its raw data is taken byte for byte (platform order, i.e. LE). */
export interface SafetensorsTensorInput {
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Dimensions; `[]` for a scalar. */
  shape: readonly number[];
  /**
   * The elements, little-endian: any typed array, `DataView` or `Uint8Array` of raw bytes
   * whose byte length is product(shape) × dtype size (F16/BF16: e.g. a `Uint16Array` of bit
   * patterns from {@linkcode f32ToF16Bits} / {@linkcode f32ToBf16Bits}).
   */
  data: ArrayBufferView;
}

/** Options for {@linkcode writeSafetensors}. */
export interface SafetensorsWriteOptions {
  /** Refuse to write a header longer than this. Default {@linkcode DEFAULT_MAX_HEADER_SIZE}. */
  maxHeaderSize?: number;
}

/**
 * Serialises tensors (and optional string metadata) to safetensors bytes.
 *
 * Deterministic, and byte-identical to the reference implementation (up to the order of
 * metadata keys, which it leaves to a hash map): tensors are laid out in the reference's
 * dtype order (I64, F64, F32, U32, I32, BF16, F16, I8, U8, BOOL: larger elements first),
 * then by name in code-point (UTF-8 byte) order, so every tensor starts at a multiple of
 * its element size; the header lists `__metadata__` (keys in code-point order) first, then
 * the tensors in data order, and is padded with spaces so that the data region starts at a
 * multiple of 8.
 *
 * @throws {SafetensorsError} for bad input (`"invalid-argument"`, `"dtype-unknown"`,
 * `"bad-entry"`, `"shape-mismatch"`, `"bad-metadata"`, `"header-too-large"`)
 *
 * @example
 * ```ts
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * const file = writeSafetensors(
 *   { wte: { dtype: "F32", shape: [2, 3], data: new Float32Array(6) } },
 *   { format: "pt" },
 * );
 * console.log(readSafetensors(file).get("wte").bytes.length); // 24
 * ```
 */
export function writeSafetensors(
  tensors: Readonly<Record<string, SafetensorsTensorInput>>,
  metadata?: Readonly<Record<string, string>>,
  options?: SafetensorsWriteOptions,
): Uint8Array {
  if (!isPlainObject(tensors)) {
    throw new SafetensorsError("invalid-argument", `${WRITE}tensors must be an object`);
  }
  const limit = maxHeader(options);
  interface Item {
    name: string;
    dtype: SafetensorsDtype;
    shape: number[];
    bytes: Uint8Array;
  }
  const items: Item[] = [];
  for (const name of Object.keys(tensors)) {
    const t = (tensors as Record<string, unknown>)[name];
    const tn = () => `tensor ${q(name)}`;
    if (name === "__metadata__") {
      throw new SafetensorsError("bad-entry", `${WRITE}"__metadata__" is reserved`, { key: name });
    }
    if (!isPlainObject(t)) {
      throw new SafetensorsError("bad-entry", `${WRITE}${tn()} must be an object`, { key: name });
    }
    const { dtype, shape, data } = t;
    if (!isSafetensorsDtype(dtype)) {
      throw new SafetensorsError(
        "dtype-unknown",
        `${WRITE}${tn()} has unknown dtype ${show(dtype)}`,
        {
          key: name,
        },
      );
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
      throw new SafetensorsError(
        "bad-entry",
        `${WRITE}${tn()} has shape ${show(shape)} (expected non-negative integers)`,
        { key: name },
      );
    }
    if (!ArrayBuffer.isView(data)) {
      throw new SafetensorsError(
        "bad-entry",
        `${WRITE}${tn()} data must be a typed array or DataView`,
        { key: name },
      );
    }
    const need = elementCount(shape) * DTYPE_SIZE[dtype];
    if (data.byteLength !== need) {
      throw new SafetensorsError(
        "shape-mismatch",
        `${WRITE}${tn()} has ${data.byteLength} bytes of data but shape ${
          showShape(shape)
        } of ${dtype} needs ${Number.isFinite(need) ? need : "more than 2^53"}`,
        { key: name },
      );
    }
    items.push({
      name,
      dtype,
      shape: shape.slice(),
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
  }
  items.sort((a, b) =>
    WRITE_RANK[b.dtype] - WRITE_RANK[a.dtype] || compareCodePoints(a.name, b.name)
  );

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) {
      throw new SafetensorsError("bad-metadata", `${WRITE}metadata must be an object of strings`);
    }
    const keys = Object.keys(metadata).sort(compareCodePoints);
    const kv: string[] = [];
    for (const k of keys) {
      const v = (metadata as Record<string, unknown>)[k];
      if (typeof v !== "string") {
        throw new SafetensorsError(
          "bad-metadata",
          `${WRITE}metadata value for ${q(k)} must be a string, got ${show(v)}`,
        );
      }
      kv.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`"__metadata__":{${kv.join(",")}}`);
  }
  let offset = 0;
  for (const it of items) {
    const end = offset + it.bytes.length;
    parts.push(
      `${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${
        it.shape.join(",")
      }],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerSize = json.length + ((8 - (json.length % 8)) % 8);
  if (headerSize > limit) {
    throw new SafetensorsError(
      "header-too-large",
      `${WRITE}header would be ${headerSize} bytes, over the limit of ${limit}`,
    );
  }
  const out = new Uint8Array(8 + headerSize + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headerSize, true);
  dv.setUint32(4, 0, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerSize);
  let at = 8 + headerSize;
  for (const it of items) {
    out.set(it.bytes, at);
    at += it.bytes.length;
  }
  return out;
}
