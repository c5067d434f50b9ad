import assert from "node:assert/strict";
import fc from "fast-check";
import {
  bf16ToF32,
  DEFAULT_MAX_HEADER_SIZE,
  dtypeByteSize,
  elementCount,
  f16ToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  isSafetensorsDtype,
  openSafetensors,
  parseSafetensorsHeader,
  parseSafetensorsHeaderSize,
  readSafetensors,
  SAFETENSORS_DTYPES,
  type SafetensorsDtype,
  SafetensorsError,
  type SafetensorsErrorCode,
  type SafetensorsHeader,
  type SafetensorsReadOptions,
  type SafetensorsTensorInput,
  toFloat32,
  writeSafetensors,
} from "../../src/io/safetensors.ts";

// ---------------------------------------------------------------------------------------
// helpers

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Builds a file from raw header text (padded to 8) followed by `dataSize` bytes 0..255. */
function fileFromHeader(json: string, dataSize = 0): Uint8Array {
  const body = enc.encode(json);
  const n = body.length + ((8 - (body.length % 8)) % 8);
  const out = new Uint8Array(8 + n + dataSize);
  new DataView(out.buffer).setUint32(0, n, true);
  out.set(body, 8);
  out.fill(0x20, 8 + body.length, 8 + n);
  for (let i = 0; i < dataSize; i++) out[8 + n + i] = i & 0xff;
  return out;
}

/** Header text of a file written by this module. */
function headerText(file: Uint8Array): string {
  const n = new DataView(file.buffer, file.byteOffset).getUint32(0, true);
  return dec.decode(file.subarray(8, 8 + n));
}

function dataOf(file: Uint8Array): Uint8Array {
  const n = new DataView(file.buffer, file.byteOffset).getUint32(0, true);
  return file.subarray(8 + n);
}

function expectError(
  fn: () => unknown,
  code: SafetensorsErrorCode,
  ...fragments: string[]
): SafetensorsError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SafetensorsError, `expected SafetensorsError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.name, "SafetensorsError");
  for (const f of fragments) assert.ok(caught.message.includes(f), `${caught.message} ∌ ${f}`);
  return caught;
}

async function expectRejects(
  p: Promise<unknown>,
  code: SafetensorsErrorCode,
): Promise<SafetensorsError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SafetensorsError, `expected SafetensorsError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

const memReader = (file: Uint8Array) => (offset: number, length: number) =>
  Promise.resolve(file.slice(offset, offset + length));

/** Checks everything a successful parse promises about the file it came from. */
function assertConsistent(h: SafetensorsHeader, fileSize: number): void {
  assert.equal(h.fileSize, fileSize);
  assert.equal(h.dataStart, 8 + h.headerSize);
  assert.ok(h.dataStart <= fileSize);
  let furthest = h.dataStart;
  const names = new Set<string>();
  for (const t of h.tensors) {
    assert.ok(isSafetensorsDtype(t.dtype));
    assert.ok(!names.has(t.name));
    names.add(t.name);
    assert.ok(t.begin >= h.dataStart && t.begin <= t.end && t.end <= fileSize);
    assert.equal(t.end - t.begin, elementCount(t.shape) * dtypeByteSize(t.dtype));
    assert.deepEqual(t.dataOffsets, [t.begin - h.dataStart, t.end - h.dataStart]);
    for (const d of t.shape) assert.ok(Number.isSafeInteger(d) && d >= 0);
    if (t.begin < t.end) {
      assert.ok(t.begin >= furthest, `overlap at ${t.name}`);
      furthest = t.end;
    }
  }
  for (const v of Object.values(h.metadata)) assert.equal(typeof v, "string");
}

// ---------------------------------------------------------------------------------------
// arbitraries

const dtypeArb = fc.constantFrom(...SAFETENSORS_DTYPES);
const nameArb = fc
  .oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: "binary", maxLength: 6 }),
    fc.constantFrom("__proto__", "constructor", "h.0.attn.c_attn.weight", "", "0", "10", "a b"),
  )
  .filter((s) => s !== "__metadata__");
const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });

interface GenTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
  pad: number;
  view: "u8" | "typed";
}

const tensorArb: fc.Arbitrary<GenTensor> = fc
  .record({
    dtype: dtypeArb,
    shape: shapeArb,
    pad: fc.nat(7),
    view: fc.constantFrom("u8", "typed"),
  })
  .chain(({ dtype, shape, pad, view }) => {
    const n = elementCount(shape) * dtypeByteSize(dtype);
    return fc.uint8Array({ minLength: n, maxLength: n }).map((bytes) => ({
      dtype,
      shape,
      bytes,
      pad,
      view: view as "u8" | "typed",
    }));
  });

function defineAll<T>(pairs: [string, T][]): Record<string, T> {
  const o: Record<string, T> = {};
  for (const [k, v] of pairs) {
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return o;
}

/** Wraps raw bytes as the writer input, at an odd offset or as a matching typed array. */
function asInput(t: GenTensor): SafetensorsTensorInput {
  const size = dtypeByteSize(t.dtype);
  if (t.view === "u8" || size === 1) {
    const buf = new Uint8Array(t.bytes.length + t.pad);
    buf.set(t.bytes, t.pad);
    return { dtype: t.dtype, shape: t.shape, data: buf.subarray(t.pad) };
  }
  const buf = new ArrayBuffer(t.bytes.length + size * t.pad);
  new Uint8Array(buf, size * t.pad).set(t.bytes);
  const n = t.bytes.length / size;
  const data = size === 8
    ? new Float64Array(buf, 8 * t.pad, n)
    : size === 4
    ? new Int32Array(buf, 4 * t.pad, n)
    : new Uint16Array(buf, 2 * t.pad, n);
  return { dtype: t.dtype, shape: t.shape, data };
}

const tensorSetArb = fc.uniqueArray(fc.tuple(nameArb, tensorArb), {
  maxLength: 6,
  selector: ([name]) => name,
});
const metadataArb = fc.option(
  fc.uniqueArray(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })), {
    maxLength: 4,
    selector: ([k]) => k,
  }),
  { nil: undefined },
);

const fileArb = fc.tuple(tensorSetArb, metadataArb).map(([set, meta]) =>
  writeSafetensors(
    defineAll(set.map(([k, t]) => [k, asInput(t)])),
    meta && defineAll(meta),
  )
);

// ---------------------------------------------------------------------------------------
// round trip and writer format

Deno.test("writeSafetensors() round-trips random tensor sets byte for byte", async () => {
  await fc.assert(
    fc.asyncProperty(tensorSetArb, metadataArb, async (set, meta) => {
      const tensors = defineAll(set.map(([k, t]) => [k, asInput(t)]));
      const metadata = meta && defineAll(meta);
      const file = writeSafetensors(tensors, metadata);

      const st = readSafetensors(file, { requireContiguous: true });
      assertConsistent(st, file.length);
      assert.equal(st.dataStart % 8, 0);
      assert.deepEqual(st.metadata, metadata ?? {});
      assert.deepEqual(new Set(st.names()), new Set(set.map(([k]) => k)));
      for (const [name, t] of set) {
        const got = st.get(name);
        assert.equal(got.dtype, t.dtype);
        assert.deepEqual(got.shape, t.shape);
        assert.deepEqual(got.bytes, t.bytes);
        assert.equal(got.bytes.buffer, file.buffer, "get() must not copy");
        assert.equal(st.entry(name).dataOffsets[0] % dtypeByteSize(t.dtype), 0, "aligned");
        assert.equal(st.toFloat32(name).length, elementCount(t.shape));
      }

      // Deterministic: insertion order does not matter, and re-encoding is the identity.
      const reversed = defineAll(set.slice().reverse().map(([k, t]) => [k, asInput(t)]));
      assert.deepEqual(writeSafetensors(reversed, metadata), file);
      const again = defineAll(st.names().map((k) => [k, { ...st.get(k), data: st.get(k).bytes }]));
      assert.deepEqual(writeSafetensors(again, metadata), file);

      // Streaming sees the same thing.
      const s = await openSafetensors(memReader(file), file.length);
      assert.deepEqual(s.tensors, st.tensors);
      for (const [name, t] of set) assert.deepEqual(await s.tensorBytes(name), t.bytes);
    }),
    { numRuns: 300 },
  );
});

Deno.test("writeSafetensors() pads the header with spaces like the reference", () => {
  const file = writeSafetensors({ a: { dtype: "U8", shape: [1], data: new Uint8Array([7]) } });
  const json = '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
  const padded = json + " ".repeat((8 - (json.length % 8)) % 8);
  assert.equal(headerText(file), padded);
  assert.equal(new DataView(file.buffer).getBigUint64(0, true), BigInt(padded.length));
  assert.deepEqual(dataOf(file), new Uint8Array([7]));
  assert.equal(file.length, 8 + padded.length + 1);
});

Deno.test("writeSafetensors() orders by dtype then name, metadata first", () => {
  const file = writeSafetensors(
    {
      b: { dtype: "U8", shape: [1], data: new Uint8Array([1]) },
      a: { dtype: "U8", shape: [], data: new Uint8Array([2]) },
      z: { dtype: "F64", shape: [1], data: new Float64Array([3]) },
      m: { dtype: "BF16", shape: [1], data: new Uint16Array([0x3f80]) },
      c: { dtype: "F32", shape: [0, 5], data: new Float32Array(0) },
    },
    { z: "1", a: "2" },
  );
  assert.equal(
    headerText(file).trimEnd(),
    '{"__metadata__":{"a":"2","z":"1"},' +
      '"z":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
      '"c":{"dtype":"F32","shape":[0,5],"data_offsets":[8,8]},' +
      '"m":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]},' +
      '"a":{"dtype":"U8","shape":[],"data_offsets":[10,11]},' +
      '"b":{"dtype":"U8","shape":[1],"data_offsets":[11,12]}}',
  );
  const st = readSafetensors(file);
  assert.deepEqual(st.names(), ["z", "c", "m", "a", "b"]);
  assert.deepEqual(st.toFloat32("m"), new Float32Array([1]));
  assert.deepEqual(st.toFloat32("a"), new Float32Array([2]));
});

Deno.test("writeSafetensors() output is byte-identical to the reference implementation", () => {
  // Produced by the Python `safetensors` 0.8.0 package (`safetensors.serialize`) from the
  // same tensors and metadata.
  const refHeader = '{"__metadata__":{"format":"pt"},' +
    '"l":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
    '"z":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},' +
    '"c":{"dtype":"F32","shape":[0,5],"data_offsets":[16,16]},' +
    '"u":{"dtype":"U32","shape":[1],"data_offsets":[16,20]},' +
    '"i":{"dtype":"I32","shape":[2],"data_offsets":[20,28]},' +
    '"m":{"dtype":"BF16","shape":[1],"data_offsets":[28,30]},' +
    '"q":{"dtype":"F16","shape":[1],"data_offsets":[30,32]},' +
    '"s":{"dtype":"I8","shape":[1],"data_offsets":[32,33]},' +
    '"a":{"dtype":"U8","shape":[],"data_offsets":[33,34]},' +
    '"b":{"dtype":"U8","shape":[1],"data_offsets":[34,35]},' +
    '"\u00e9":{"dtype":"U8","shape":[1],"data_offsets":[35,36]},' +
    '"\uffff":{"dtype":"U8","shape":[1],"data_offsets":[36,37]},' +
    '"\u{10000}":{"dtype":"U8","shape":[1],"data_offsets":[37,38]},' +
    '"t":{"dtype":"BOOL","shape":[2],"data_offsets":[38,40]}}      ';
  const refData = [
    5,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    7,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    255,
    255,
    255,
    255,
    128,
    63,
    0,
    60,
    255,
    2,
    1,
    5,
    3,
    4,
    0,
    1,
  ];
  const u8 = (...b: number[]) => new Uint8Array(b);
  const file = writeSafetensors(
    {
      "\u{10000}": { dtype: "U8", shape: [1], data: u8(4) },
      t: { dtype: "BOOL", shape: [2], data: u8(0, 1) },
      s: { dtype: "I8", shape: [1], data: new Int8Array([-1]) },
      "\uffff": { dtype: "U8", shape: [1], data: u8(3) },
      q: { dtype: "F16", shape: [1], data: new Uint16Array([0x3c00]) },
      i: { dtype: "I32", shape: [2], data: new Int32Array([1, -1]) },
      "\u00e9": { dtype: "U8", shape: [1], data: u8(5) },
      a: { dtype: "U8", shape: [], data: u8(2) },
      m: { dtype: "BF16", shape: [1], data: new Uint16Array([0x3f80]) },
      c: { dtype: "F32", shape: [0, 5], data: new Float32Array(0) },
      u: { dtype: "U32", shape: [1], data: new Uint32Array([7]) },
      z: { dtype: "F64", shape: [1], data: new Float64Array([0]) },
      l: { dtype: "I64", shape: [1], data: new BigInt64Array([5n]) },
      b: { dtype: "U8", shape: [1], data: u8(1) },
    },
    { format: "pt" },
  );
  const expected = new Uint8Array(8 + enc.encode(refHeader).length + refData.length);
  new DataView(expected.buffer).setUint32(0, 808, true);
  expected.set(enc.encode(refHeader), 8);
  expected.set(refData, 816);
  assert.deepEqual(file, expected);
  const st = readSafetensors(expected, { requireContiguous: true });
  assert.deepEqual(st.toFloat32("i"), new Float32Array([1, -1]));
  assert.deepEqual(st.toFloat32("q"), new Float32Array([1]));
  assert.deepEqual(st.toFloat32("l"), new Float32Array([5]));
});

Deno.test("writeSafetensors() writes an empty file as a padded {}", () => {
  const file = writeSafetensors({});
  assert.equal(file.length, 16);
  assert.equal(headerText(file), "{}      ");
  const st = readSafetensors(file);
  assert.deepEqual(st.tensors, []);
  assert.deepEqual(st.metadata, {});
});

Deno.test("writeSafetensors() rejects bad input with SafetensorsError", () => {
  const ok = { dtype: "F32" as const, shape: [2], data: new Float32Array(2) };
  expectError(() => writeSafetensors({ __metadata__: ok }), "bad-entry", "__metadata__");
  expectError(
    () => writeSafetensors({ x: { ...ok, dtype: "F8" as SafetensorsDtype } }),
    "dtype-unknown",
    '"x"',
    '"F8"',
  );
  expectError(() => writeSafetensors({ x: { ...ok, shape: [3] } }), "shape-mismatch", '"x"');
  expectError(() => writeSafetensors({ x: { ...ok, shape: [-2] } }), "bad-entry", '"x"');
  expectError(() => writeSafetensors({ x: { ...ok, shape: [1.5] } }), "bad-entry");
  expectError(
    () => writeSafetensors({ x: { ...ok, data: [1, 2] as unknown as Float32Array } }),
    "bad-entry",
  );
  expectError(
    () => writeSafetensors({ x: ok }, { a: 1 as unknown as string }),
    "bad-metadata",
    '"a"',
  );
  expectError(() => writeSafetensors(null as never), "invalid-argument");
  expectError(
    () => writeSafetensors({ x: ok }, undefined, { maxHeaderSize: 8 }),
    "header-too-large",
  );
});

// ---------------------------------------------------------------------------------------
// float conversions

/** binary16 decoded with nothing but arithmetic. */
function refF16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

/** bfloat16 decoded with arithmetic; with `finite`, exponent 255 is treated as a number. */
function refBf16(h: number, finite = false): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 7) & 0xff;
  const m = h & 0x7f;
  if (e === 0) return s * m * 2 ** -133;
  if (e === 255 && !finite) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 127) * (1 + m / 128);
}

Deno.test("f16ToF32() matches arithmetic and DataView for all 65536 patterns", () => {
  const dv = new DataView(new ArrayBuffer(2)) as DataView & {
    getFloat16?: (o: number, le?: boolean) => number;
  };
  const bytes = new Uint8Array(2 * 65536);
  for (let h = 0; h < 65536; h++) {
    const got = f16ToF32(h);
    assert.ok(Object.is(got, refF16(h)), `0x${h.toString(16)}: ${got} vs ${refF16(h)}`);
    if (dv.getFloat16) {
      dv.setUint16(0, h, true);
      assert.ok(Object.is(got, dv.getFloat16(0, true)), `DataView 0x${h.toString(16)}`);
    }
    bytes[2 * h] = h & 0xff;
    bytes[2 * h + 1] = h >> 8;
  }
  // Bulk conversion agrees and keeps NaN payloads bit for bit.
  const out = toFloat32({ dtype: "F16", bytes });
  const bits = new Uint32Array(out.buffer);
  for (let h = 0; h < 65536; h++) {
    assert.ok(Object.is(out[h], refF16(h)), `toFloat32 0x${h.toString(16)}`);
    if ((h & 0x7c00) === 0x7c00) {
      assert.equal(bits[h], (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0);
    }
  }
  // Spot checks: smallest subnormal, largest subnormal, smallest normal, max, -0.
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24);
  assert.equal(f16ToF32(0x0400), 2 ** -14);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.ok(Object.is(f16ToF32(0x8000), -0));
});

Deno.test("bf16ToF32() matches arithmetic for all 65536 patterns", () => {
  const bytes = new Uint8Array(2 * 65536);
  const dv = new DataView(new ArrayBuffer(4));
  for (let h = 0; h < 65536; h++) {
    const got = bf16ToF32(h);
    assert.ok(Object.is(got, refBf16(h)), `0x${h.toString(16)}: ${got} vs ${refBf16(h)}`);
    dv.setUint32(0, h << 16, true);
    assert.ok(Object.is(got, dv.getFloat32(0, true)));
    bytes[2 * h] = h & 0xff;
    bytes[2 * h + 1] = h >> 8;
  }
  const out = toFloat32({ dtype: "BF16", bytes });
  const bits = new Uint32Array(out.buffer);
  for (let h = 0; h < 65536; h++) assert.equal(bits[h], (h << 16) >>> 0);
});

Deno.test("f32ToF16Bits() inverts f16ToF32() on every non-NaN pattern", () => {
  for (let h = 0; h < 65536; h++) {
    const x = f16ToF32(h);
    if (Number.isNaN(x)) assert.equal(f32ToF16Bits(x) & 0x7e00, 0x7e00);
    else assert.equal(f32ToF16Bits(x), h, `0x${h.toString(16)}`);
  }
});

Deno.test("f32ToF16Bits() rounds to nearest even like Math.f16round", () => {
  const f16round = (Math as unknown as { f16round?: (x: number) => number }).f16round;
  const check = (x: number) => {
    const got = f16ToF32(f32ToF16Bits(x));
    if (f16round) assert.ok(Object.is(got, f16round(x)), `${x}: ${got} vs ${f16round(x)}`);
    // Independent check: nothing representable is strictly closer.
    if (Number.isFinite(got) && !Number.isNaN(x)) {
      const h = f32ToF16Bits(x);
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7fff) > 0x7bff || n < 0 || n > 0xffff || ((n ^ h) & 0x8000)) continue;
        assert.ok(Math.abs(f16ToF32(n) - x) >= Math.abs(got - x), `${x}`);
      }
    }
  };
  // Exact halfway points between neighbours (ties), and just either side of them.
  for (let h = 0; h < 0x7bff; h++) {
    const mid = (f16ToF32(h) + f16ToF32(h + 1)) / 2;
    const expected = h % 2 === 0 ? h : h + 1;
    assert.equal(f32ToF16Bits(mid), expected, `tie after 0x${h.toString(16)}`);
    assert.equal(f32ToF16Bits(-mid), expected | 0x8000);
    check(mid * (1 + 2 ** -40));
    check(mid * (1 - 2 ** -40));
  }
  assert.equal(f32ToF16Bits(65519.99), 0x7bff);
  assert.equal(f32ToF16Bits(65520), 0x7c00);
  assert.equal(f32ToF16Bits(-Infinity), 0xfc00);
  assert.equal(f32ToF16Bits(2 ** -25), 0); // tie between 0 and the smallest subnormal
  assert.equal(f32ToF16Bits(2 ** -25 * 1.0001), 1);
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.equal(f32ToF16Bits(NaN), 0x7e00);
  fc.assert(fc.property(fc.double(), (x) => check(x)), { numRuns: 20000 });
  fc.assert(
    fc.property(fc.double({ min: -70000, max: 70000 }), (x) => check(x)),
    { numRuns: 20000 },
  );
});

Deno.test("f32ToBf16Bits() rounds float32 to nearest even", () => {
  const dv = new DataView(new ArrayBuffer(4));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
      dv.setUint32(0, bits);
      const x = dv.getFloat32(0);
      const got = f32ToBf16Bits(x);
      if (Number.isNaN(x)) {
        assert.ok(Number.isNaN(bf16ToF32(got)));
        return;
      }
      const lo = bits >>> 16;
      if ((bits & 0xffff) === 0) {
        assert.equal(got, lo);
        return;
      }
      // Candidates: truncation and the next pattern away from zero (2^128 past the max).
      const a = refBf16(lo, true);
      const b = refBf16(lo + 1, true);
      const da = Math.abs(x - a);
      const db = Math.abs(x - b);
      const want = da < db ? lo : db < da ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
      assert.equal(got, want, `bits 0x${bits.toString(16)}`);
    }),
    { numRuns: 50000 },
  );
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(-Infinity), 0xff80);
  assert.equal(f32ToBf16Bits(3.4028234663852886e38), 0x7f80); // float32 max rounds to inf
});

Deno.test("toFloat32() converts every dtype", () => {
  const le = (view: ArrayBufferView) =>
    new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  assert.deepEqual(
    toFloat32({ dtype: "F64", bytes: le(new Float64Array([1.5, 0.1, -1e300, 1e-50])) }),
    new Float32Array([1.5, Math.fround(0.1), -Infinity, 0]),
  );
  assert.deepEqual(
    toFloat32({ dtype: "F32", bytes: le(new Float32Array([1, -2.5, Infinity])) }),
    new Float32Array([1, -2.5, Infinity]),
  );
  assert.deepEqual(
    toFloat32({ dtype: "I64", bytes: le(new BigInt64Array([-5n, 2n ** 40n])) }),
    new Float32Array([-5, 2 ** 40]),
  );
  assert.deepEqual(
    toFloat32({ dtype: "I32", bytes: le(new Int32Array([-7, 2 ** 31 - 1])) }),
    new Float32Array([-7, 2 ** 31]),
  );
  assert.deepEqual(
    toFloat32({ dtype: "U32", bytes: le(new Uint32Array([0xffffffff, 3])) }),
    new Float32Array([2 ** 32, 3]),
  );
  assert.deepEqual(
    toFloat32({ dtype: "I8", bytes: new Uint8Array([0xff, 0x80, 5]) }),
    new Float32Array([-1, -128, 5]),
  );
  assert.deepEqual(
    toFloat32({ dtype: "U8", bytes: new Uint8Array([0xff, 0]) }),
    new Float32Array([255, 0]),
  );
  assert.deepEqual(
    toFloat32({ dtype: "BOOL", bytes: new Uint8Array([0, 1, 2]) }),
    new Float32Array([0, 1, 1]),
  );
  // Unaligned views work too.
  const buf = new Uint8Array(9);
  buf.set(le(new Float32Array([3, 4])), 1);
  assert.deepEqual(toFloat32({ dtype: "F32", bytes: buf.subarray(1) }), new Float32Array([3, 4]));
  expectError(() => toFloat32({ dtype: "F32", bytes: new Uint8Array(3) }), "shape-mismatch");
  expectError(
    () => toFloat32({ dtype: "Q4" as SafetensorsDtype, bytes: new Uint8Array(3) }),
    "dtype-unknown",
  );
});

Deno.test("dtypeByteSize() gives element sizes", () => {
  assert.deepEqual(
    SAFETENSORS_DTYPES.map((d) => [d, dtypeByteSize(d)]),
    [
      ["F64", 8],
      ["I64", 8],
      ["F32", 4],
      ["I32", 4],
      ["U32", 4],
      ["F16", 2],
      ["BF16", 2],
      ["I8", 1],
      ["U8", 1],
      ["BOOL", 1],
    ],
  );
  expectError(() => dtypeByteSize("toString" as SafetensorsDtype), "dtype-unknown");
  assert.equal(isSafetensorsDtype("__proto__"), false);
  assert.equal(elementCount([]), 1);
  assert.equal(elementCount([2 ** 30, 2 ** 30, 2 ** 30]), Infinity);
  assert.equal(elementCount([2 ** 40, 2 ** 40, 0]), 0);
});

// ---------------------------------------------------------------------------------------
// explicit error cases

const W = "h.0.attn.c_attn.weight";
const entry = (dtype: string, shape: unknown, offsets: unknown) =>
  JSON.stringify({ dtype, shape, data_offsets: offsets });

Deno.test("readSafetensors() rejects files shorter than 8 bytes", () => {
  for (let n = 0; n < 8; n++) {
    expectError(() => readSafetensors(new Uint8Array(n)), "file-too-small", `${n} bytes`);
  }
});

Deno.test("readSafetensors() rejects a header length past the end of the file", () => {
  const file = fileFromHeader("{}", 4);
  new DataView(file.buffer).setUint32(0, 13, true);
  expectError(() => readSafetensors(file), "header-truncated", "13", `${file.length} bytes`);
});

Deno.test("readSafetensors() rejects absurd header lengths before allocating", () => {
  const file = fileFromHeader("{}");
  const dv = new DataView(file.buffer);
  dv.setUint32(0, DEFAULT_MAX_HEADER_SIZE + 1, true);
  expectError(() => readSafetensors(file), "header-too-large", "100000001", "100000000");
  dv.setUint32(0, 8, true);
  dv.setUint32(4, 1, true);
  expectError(() => readSafetensors(file), "header-too-large", String(2 ** 32 + 8));
  dv.setUint32(4, 0xffffffff, true);
  dv.setUint32(0, 0xffffffff, true);
  expectError(() => readSafetensors(file), "header-too-large", String(2n ** 64n - 1n));
  // The limit is configurable.
  expectError(
    () => readSafetensors(fileFromHeader("{}"), { maxHeaderSize: 4 }),
    "header-too-large",
  );
});

Deno.test("readSafetensors() rejects malformed JSON and invalid UTF-8", () => {
  expectError(() => readSafetensors(fileFromHeader('{"a": ')), "header-json", "not valid JSON");
  expectError(() => readSafetensors(fileFromHeader("")), "header-json");
  expectError(() => readSafetensors(fileFromHeader("\uFEFF{}")), "header-json");
  const bad = fileFromHeader('{"\u00e9":1}');
  bad[10] = 0xff; // break the UTF-8 sequence
  expectError(() => readSafetensors(bad), "header-json", "UTF-8");
  const deep = "[".repeat(200000) + "]".repeat(200000);
  expectError(() => readSafetensors(fileFromHeader(deep)), "header-json", "nested deeper");
  const deepObj = `{"a":${"[".repeat(127)}${"]".repeat(127)}}`;
  expectError(() => readSafetensors(fileFromHeader(deepObj)), "bad-entry", '"a"');
  expectError(
    () => readSafetensors(fileFromHeader(`{"a":${"[".repeat(128)}${"]".repeat(128)}}`)),
    "header-json",
    "nested deeper than 128",
  );
  for (
    const bad of [
      '{"a":01}',
      '{"a":1.}',
      '{"a":-}',
      '{"a":.5}',
      '{"a":+1}',
      '{"a":"\\x"}',
      '{"a":"\\u12G4"}',
      '{"a":"\t"}'.replace("\\t", "\t"),
      '{"a":1,}',
      '{"a" 1}',
      "{'a':1}",
      '{"a":tru}',
      '{"a":NaN}',
      '{"a":1}}',
      '{"a":[1,]}',
      '{"a":1} x',
    ]
  ) {
    expectError(() => readSafetensors(fileFromHeader(bad)), "header-json");
  }
});

Deno.test("readSafetensors() accepts exactly the JSON that JSON.parse accepts", () => {
  const jsonish = fc.oneof(
    fc.json(),
    fc.json().chain((j) =>
      fc.tuple(
        fc.nat(j.length),
        fc.constantFrom("", ",", "]", "}", '"', "\\", "0", "-", " ", "\t", "\u0000"),
      )
        .map(([i, t]) => j.slice(0, i) + t + j.slice(i + 1))
    ),
    fc.string({ maxLength: 12, unit: fc.constantFrom(...'{}[]:,"0123456789-+.eEtrufalsn \\u\t') }),
  );
  fc.assert(
    fc.property(jsonish, (text) => {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      const code = checkSync(fileFromHeader(text, 4));
      // A repeated key may be reported before a later syntax error.
      if (valid) assert.notEqual(code, "header-json", JSON.stringify(text));
      else assert.ok(code === "header-json" || code === "duplicate-key", JSON.stringify(text));
    }),
    { numRuns: 5000 },
  );
});

Deno.test("readSafetensors() decodes every JSON string escape", () => {
  // Encodes a string the way a foreign writer might: random mixes of raw characters,
  // short escapes and upper/lower-case \\u escapes.
  const encode = (s: string, choices: number[]) => {
    let out = '"';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      const how = choices[i % choices.length];
      const hex = c.toString(16).padStart(4, "0");
      const surrogate = c >= 0xd800 && c < 0xe000; // raw halves would not survive UTF-8
      if (how === 0 && c >= 0x20 && c !== 0x22 && c !== 0x5c && !surrogate) out += s[i];
      else if (how === 1 && c === 0x2f) out += "\\/";
      else if (how === 2) out += "\\u" + hex.toUpperCase();
      else if (how === 3) out += "\\u" + hex;
      else out += JSON.stringify(s[i]).slice(1, -1);
    }
    return out + '"';
  };
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.tuple(
          fc.string({ unit: "binary", maxLength: 6 }),
          fc.string({ unit: "binary", maxLength: 6 }),
        ),
        {
          selector: ([k]) => k,
          maxLength: 5,
        },
      ),
      fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 8 }),
      (pairs, choices) => {
        const body = pairs.map(([k, v]) =>
          `${encode(k, choices)} : ${encode(v, choices.toReversed())}`
        );
        const st = readSafetensors(fileFromHeader(`{ "__metadata__" : {${body.join(" ,\n")}} }`));
        assert.deepEqual(Object.entries(st.metadata).sort(), pairs.slice().sort());
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("readSafetensors() is immune to the V8 JSON.parse stale-key bug", () => {
  // In V8 15.0 (Deno 2.9.6), JSON.parse('{"q":1,"a\\\\":1}') followed by
  // JSON.parse('{"q":1,"a\\n":2}') returns the key "a\\" for the second object.
  const first = readSafetensors(fileFromHeader(`{"__metadata__":{"q":"1","a\\\\":"x"}}`));
  const second = readSafetensors(fileFromHeader(`{"__metadata__":{"q":"1","a\\n":"y"}}`));
  assert.deepEqual(Object.keys(first.metadata), ["q", "a\\"]);
  assert.deepEqual(Object.keys(second.metadata), ["q", "a\n"]);
  const e = entry("U8", [1], [0, 1]);
  const t1 = readSafetensors(fileFromHeader(`{"q":${e},"\\\\\\"":${entry("U8", [1], [1, 2])}}`, 2));
  const t2 = readSafetensors(fileFromHeader(`{"q":${e},"\\"'":${entry("U8", [1], [1, 2])}}`, 2));
  assert.deepEqual(t1.names(), ["q", '\\"']);
  assert.deepEqual(t2.names(), ["q", "\"'"]);
});

Deno.test("readSafetensors() rejects a header that is not an object", () => {
  for (const json of ["[]", "null", '"x"', "12", "true"]) {
    expectError(() => readSafetensors(fileFromHeader(json)), "header-not-object");
  }
});

Deno.test("readSafetensors() rejects duplicate keys", () => {
  const e = entry("U8", [1], [0, 1]);
  const err = expectError(
    () => readSafetensors(fileFromHeader(`{"${W}":${e},"h.0.attn.c_attn.\\u0077eight":${e}}`, 1)),
    "duplicate-key",
    `"${W}"`,
  );
  assert.equal(err.key, W);
  expectError(
    () =>
      readSafetensors(
        fileFromHeader(`{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1),
      ),
    "duplicate-key",
    '"dtype"',
  );
  expectError(
    () => readSafetensors(fileFromHeader(`{"__metadata__":{"k":"1","k":"2"}}`)),
    "duplicate-key",
  );
  // Same key in different objects is fine.
  const ok = readSafetensors(fileFromHeader(`{"__metadata__":{"a":"x"},"a":${e}}`, 1));
  assert.deepEqual(ok.names(), ["a"]);
});

Deno.test("readSafetensors() rejects bad metadata", () => {
  expectError(
    () => readSafetensors(fileFromHeader('{"__metadata__":{"format":1}}')),
    "bad-metadata",
    '"format"',
  );
  expectError(() => readSafetensors(fileFromHeader('{"__metadata__":[]}')), "bad-metadata");
  expectError(() => readSafetensors(fileFromHeader('{"__metadata__":"pt"}')), "bad-metadata");
  assert.deepEqual(readSafetensors(fileFromHeader('{"__metadata__":null}')).metadata, {});
  const proto = readSafetensors(fileFromHeader('{"__metadata__":{"__proto__":"x"}}'));
  assert.equal(Object.getOwnPropertyDescriptor(proto.metadata, "__proto__")?.value, "x");
});

Deno.test("readSafetensors() rejects entries with missing or mistyped fields", () => {
  const cases: [string, string[]][] = [
    [`{"${W}":12}`, ["must be an object", "12"]],
    [`{"${W}":null}`, ["must be an object"]],
    [`{"${W}":[]}`, ["must be an object"]],
    [`{"${W}":{"shape":[1],"data_offsets":[0,4]}}`, ['no "dtype"']],
    [`{"${W}":{"dtype":"F32","data_offsets":[0,4]}}`, ['no "shape"']],
    [`{"${W}":{"dtype":"F32","shape":[1]}}`, ['no "data_offsets"']],
    [`{"${W}":${entry("F32", [1], [0])}}`, ["data_offsets [0]"]],
    [`{"${W}":${entry("F32", [1], [0, 4, 8])}}`, ["data_offsets [0, 4, 8]"]],
    [`{"${W}":${entry("F32", [1], "0,4")}}`, ['data_offsets "0,4"']],
    [`{"${W}":${entry("F32", [1], ["0", 4])}}`, ["data_offsets an array of length 2"]],
    [`{"${W}":${entry("F32", [1], [-4, 0])}}`, ["data_offsets [-4, 0]", "non-negative"]],
    [`{"${W}":${entry("F32", [1], [0.5, 4])}}`, ["data_offsets [0.5, 4]"]],
    [`{"${W}":{"dtype":"F32","shape":[1],"data_offsets":[0,1e400]}}`, ["[0, Infinity]"]],
    [`{"${W}":${entry("F32", [1], [0, 2 ** 53])}}`, [`[0, ${2 ** 53}]`]],
    [`{"${W}":${entry("F32", "1", [0, 4])}}`, ["data_offsets [0, 4]", 'shape "1"']],
    [`{"${W}":${entry("F32", [-1], [0, 4])}}`, ["data_offsets [0, 4]", "shape [-1]"]],
    [`{"${W}":${entry("F32", [1.5], [0, 4])}}`, ["shape [1.5]", "dimension 0 is 1.5"]],
    [`{"${W}":{"dtype":"F32","shape":[1,-1e400],"data_offsets":[0,4]}}`, [
      "dimension 1 is -Infinity",
    ]],
    [`{"${W}":${entry("F32", [1, null], [0, 4])}}`, ["dimension 1 is null"]],
    [`{"${W}":${entry("F32", [[1]], [0, 4])}}`, ["dimension 0 is [1]"]],
    [`{"${W}":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}`, ["data_offsets [0, 4]", "dtype 7"]],
  ];
  for (const [json, fragments] of cases) {
    const err = expectError(
      () => readSafetensors(fileFromHeader(json, 8)),
      "bad-entry",
      `tensor "${W}"`,
      ...fragments,
    );
    assert.equal(err.key, W);
  }
});

Deno.test("readSafetensors() rejects unknown dtypes", () => {
  const err = expectError(
    () => readSafetensors(fileFromHeader(`{"${W}":${entry("F8_E4M3", [4], [0, 4])}}`, 4)),
    "dtype-unknown",
    `tensor "${W}"`,
    "data_offsets [0, 4]",
    '"F8_E4M3"',
  );
  assert.equal(err.key, W);
  assert.deepEqual(err.offsets, [0, 4]);
  expectError(
    () => readSafetensors(fileFromHeader(`{"x":${entry("toString", [4], [0, 4])}}`, 4)),
    "dtype-unknown",
  );
});

Deno.test("readSafetensors() rejects end before begin", () => {
  const err = expectError(
    () => readSafetensors(fileFromHeader(`{"${W}":${entry("F32", [0], [100, 90])}}`, 200)),
    "offsets-reversed",
  );
  assert.equal(
    err.message,
    `Cannot read safetensors: tensor "${W}" has data_offsets [100, 90] (end before begin)`,
  );
  assert.equal(err.key, W);
  assert.deepEqual(err.offsets, [100, 90]);
});

Deno.test("readSafetensors() rejects offsets past the data region", () => {
  const err = expectError(
    () => readSafetensors(fileFromHeader(`{"${W}":${entry("F32", [4], [4, 20])}}`, 16)),
    "offsets-out-of-range",
    `tensor "${W}"`,
    "data_offsets [4, 20]",
    "16 bytes",
  );
  assert.deepEqual(err.offsets, [4, 20]);
  // A huge shape cannot trigger an allocation: the offsets are checked against the file.
  expectError(
    () =>
      readSafetensors(
        fileFromHeader(`{"x":${entry("F64", [2 ** 26, 2 ** 26], [0, 2 ** 55])}}`, 8),
      ),
    "bad-entry",
  );
});

Deno.test("readSafetensors() rejects byte lengths that disagree with the shape", () => {
  const err = expectError(
    () => readSafetensors(fileFromHeader(`{"${W}":${entry("F16", [2, 3], [0, 10])}}`, 16)),
    "shape-mismatch",
    `tensor "${W}"`,
    "data_offsets [0, 10]",
    "shape [2, 3]",
    "12 bytes",
  );
  assert.equal(err.key, W);
  expectError(
    () =>
      readSafetensors(
        fileFromHeader(`{"x":${entry("F32", [2 ** 30, 2 ** 30, 2 ** 30], [0, 8])}}`, 8),
      ),
    "shape-mismatch",
    "more than 2^53",
  );
  // Zero-size and scalar tensors.
  const st = readSafetensors(
    fileFromHeader(`{"s":${entry("F32", [], [0, 4])},"z":${entry("F32", [3, 0], [4, 4])}}`, 4),
  );
  assert.deepEqual(st.get("s").shape, []);
  assert.equal(st.get("z").bytes.length, 0);
});

Deno.test("readSafetensors() rejects overlapping offsets", () => {
  const json = `{"a":${entry("U8", [8], [0, 8])},"${W}":${entry("U8", [8], [4, 12])}}`;
  const err = expectError(
    () => readSafetensors(fileFromHeader(json, 12)),
    "offsets-overlap",
    `tensor "${W}" has data_offsets [4, 12]`,
    'tensor "a" with data_offsets [0, 8]',
  );
  assert.equal(err.key, W);
  assert.equal(err.otherKey, "a");
  assert.deepEqual(err.offsets, [4, 12]);
  // Identical ranges, and a range nested inside a longer earlier one.
  expectError(
    () =>
      readSafetensors(
        fileFromHeader(`{"a":${entry("U8", [4], [0, 4])},"b":${entry("I32", [], [0, 4])}}`, 4),
      ),
    "offsets-overlap",
  );
  expectError(
    () =>
      readSafetensors(
        fileFromHeader(
          `{"a":${entry("U8", [12], [0, 12])},"b":${entry("U8", [2], [2, 4])},"c":${
            entry("U8", [2], [6, 8])
          }}`,
          12,
        ),
      ),
    "offsets-overlap",
  );
  // Empty tensors overlap nothing, wherever they sit.
  const st = readSafetensors(
    fileFromHeader(`{"a":${entry("U8", [4], [0, 4])},"e":${entry("U8", [0], [2, 2])}}`, 4),
  );
  assert.equal(st.tensors.length, 2);
});

Deno.test("readSafetensors() accepts holes unless requireContiguous is set", () => {
  const json = `{"a":${entry("U8", [2], [0, 2])},"b":${entry("U8", [2], [4, 6])}}`;
  const file = fileFromHeader(json, 8);
  const st = readSafetensors(file);
  assert.deepEqual(st.get("b").bytes, new Uint8Array([4, 5]));
  const err = expectError(
    () => readSafetensors(file, { requireContiguous: true }),
    "offsets-gap",
    'tensor "b" has data_offsets [4, 6]',
  );
  assert.equal(err.key, "b");
  const trailing = fileFromHeader(`{"a":${entry("U8", [2], [0, 2])}}`, 3);
  assert.equal(readSafetensors(trailing).tensors.length, 1);
  expectError(
    () => readSafetensors(trailing, { requireContiguous: true }),
    "offsets-gap",
    "last 1 bytes",
  );
});

Deno.test("readSafetensors() get() returns views and rejects unknown names", () => {
  const file = fileFromHeader(`{"a":${entry("U8", [3], [1, 4])}}`, 4);
  const st = readSafetensors(file);
  const t = st.get("a");
  assert.deepEqual(t.bytes, new Uint8Array([1, 2, 3]));
  assert.equal(t.bytes.buffer, file.buffer);
  assert.equal(t.bytes.byteOffset, st.dataStart + 1);
  assert.deepEqual(st.toFloat32(st.entry("a")), new Float32Array([1, 2, 3]));
  assert.deepEqual(st.toFloat32(t), new Float32Array([1, 2, 3]));
  assert.equal(st.has("b"), false);
  const err = expectError(() => st.get("b"), "tensor-not-found", '"b"');
  assert.equal(err.key, "b");
  expectError(() => st.get("__proto__"), "tensor-not-found");
  expectError(() => st.get("toString"), "tensor-not-found");
});

Deno.test("readSafetensors() rejects non-Uint8Array input", () => {
  expectError(() => readSafetensors([1, 2, 3] as unknown as Uint8Array), "invalid-argument");
});

Deno.test("parseSafetensorsHeader() validates from the header bytes and file size alone", () => {
  const file = writeSafetensors({
    a: { dtype: "F32", shape: [1000], data: new Float32Array(1000) },
    b: { dtype: "U8", shape: [2], data: new Uint8Array(2) },
  });
  const n = parseSafetensorsHeaderSize(file.subarray(0, 8), file.length);
  const h = parseSafetensorsHeader(file.slice(0, 8 + n), file.length);
  assert.deepEqual(h, parseSafetensorsHeader(file, file.length));
  assert.equal(h.tensors[1].end, file.length);
  // Claiming a smaller file makes the offsets fall outside it.
  expectError(
    () => parseSafetensorsHeader(file.slice(0, 8 + n), file.length - 1),
    "offsets-out-of-range",
    '"b"',
  );
  expectError(
    () => parseSafetensorsHeader(file.slice(0, 8 + n - 1), file.length),
    "header-truncated",
  );
  expectError(() => parseSafetensorsHeader(file.slice(0, 4), file.length), "invalid-argument");
  expectError(() => parseSafetensorsHeader(file, file.length - 1), "invalid-argument");
  for (const size of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    expectError(() => parseSafetensorsHeader(file.slice(0, 8 + n), size), "invalid-argument");
  }
  expectError(() => parseSafetensorsHeaderSize(new Uint8Array(4), 100), "invalid-argument");
  expectError(() => parseSafetensorsHeaderSize(new Uint8Array(8), 7), "file-too-small");
});

// ---------------------------------------------------------------------------------------
// streaming

Deno.test("openSafetensors() reads only the requested ranges from a Deno.FsFile", async () => {
  const tensors = {
    "wte.weight": {
      dtype: "F32" as const,
      shape: [4, 3],
      data: new Float32Array(12).map((_, i) => i),
    },
    "h.0.ln_1.bias": {
      dtype: "BF16" as const,
      shape: [2],
      data: new Uint16Array([0x3f80, 0xc040]),
    },
    "idx": { dtype: "I64" as const, shape: [], data: new BigInt64Array([42n]) },
  };
  const file = writeSafetensors(tensors, { format: "pt" });
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    await Deno.writeFile(path, file);
    using f = await Deno.open(path, { read: true });
    const size = (await f.stat()).size;
    const reads: [number, number][] = [];
    // The Deno adapter: positioned reads, looping until the range is full.
    const read = async (offset: number, length: number) => {
      reads.push([offset, length]);
      const buf = new Uint8Array(length);
      await f.seek(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < length) {
        const n = await f.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      return buf.subarray(0, got);
    };
    const st = await openSafetensors(read, size);
    assert.deepEqual(reads, [[0, 8], [8, st.headerSize]]);
    assert.equal(st.metadata.format, "pt");
    assert.deepEqual(st.tensors.map((t) => t.name), ["idx", "wte.weight", "h.0.ln_1.bias"]);
    const e = st.entry("h.0.ln_1.bias");
    const t = await st.tensor("h.0.ln_1.bias");
    assert.deepEqual(reads.at(-1), [e.begin, e.end - e.begin]);
    assert.deepEqual(toFloat32(t), new Float32Array([1, -3]));
    assert.deepEqual(toFloat32(await st.tensor("wte.weight")), tensors["wte.weight"].data);
    assert.deepEqual(toFloat32(await st.tensor("idx")), new Float32Array([42]));
    assert.equal(reads.length, 5);
    await expectRejects(st.tensorBytes("nope"), "tensor-not-found");
    await expectRejects(st.tensor("nope"), "tensor-not-found");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("openSafetensors() rejects short reads and bad files", async () => {
  const file = writeSafetensors({ a: { dtype: "U8", shape: [4], data: new Uint8Array(4) } });
  await expectRejects(
    openSafetensors((o, n) => Promise.resolve(file.slice(o, o + n - 1)), file.length),
    "short-read",
  );
  const st = await openSafetensors(memReader(file), file.length);
  let calls = 0;
  const flaky = await openSafetensors((o, n) => {
    calls++;
    return Promise.resolve(calls > 2 ? new Uint8Array(0) : file.slice(o, o + n));
  }, file.length);
  await expectRejects(flaky.tensorBytes("a"), "short-read");
  assert.deepEqual(await st.tensorBytes("a"), new Uint8Array(4));
  await expectRejects(openSafetensors(memReader(file), 5), "file-too-small");
  await expectRejects(openSafetensors(memReader(file), file.length - 1), "offsets-out-of-range");
  await expectRejects(openSafetensors(memReader(file), -1), "invalid-argument");
  await expectRejects(
    openSafetensors(null as unknown as () => Promise<Uint8Array>, 10),
    "invalid-argument",
  );
  // Errors from the callback itself propagate unchanged.
  const boom = new Error("disk on fire");
  await assert.rejects(openSafetensors(() => Promise.reject(boom), 100), (e) => e === boom);
});

// ---------------------------------------------------------------------------------------
// fuzzing

type Corruption =
  | { kind: "flip"; pos: number; xor: number }
  | { kind: "truncate"; keep: number }
  | { kind: "prefix"; value: bigint }
  | { kind: "prefix-nudge"; delta: number }
  | { kind: "splice"; which: number; text: string }
  | { kind: "insert"; pos: number; text: string }
  | { kind: "overlap"; a: number; b: number; shift: number }
  | { kind: "duplicate"; which: number }
  | { kind: "entry"; which: number; op: "dim" | "dtype" | "swap"; value: number }
  | { kind: "extend"; bytes: number };

const nastyJson = fc.constantFrom(
  "-1",
  "1.5",
  "1e400",
  "-1e400",
  "9007199254740993",
  "18446744073709551615",
  "0",
  "null",
  "true",
  '"x"',
  '"F8_E4M3"',
  '"BF16"',
  "[]",
  "{}",
  "[0]",
  "[1,2,3]",
  "[4,2]",
  "[0,0]",
  '{"dtype":"F32"}',
  "[[[[[[[[]]]]]]]]",
  '"__metadata__"',
  '"\\u0000"',
);

const corruptionArb: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    pos: fc.nat(),
    xor: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat() }),
  fc.record({
    kind: fc.constant("prefix" as const),
    value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  }),
  fc.record({
    kind: fc.constant("prefix-nudge" as const),
    delta: fc.integer({ min: -16, max: 16 }),
  }),
  fc.record({
    kind: fc.constant("splice" as const),
    which: fc.nat(),
    text: fc.oneof(nastyJson, fc.json()),
  }),
  fc.record({
    kind: fc.constant("insert" as const),
    pos: fc.nat(),
    text: fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.constantFrom(",", "{", "}", '"', ":", "\\", "]"),
    ),
  }),
  fc.record({
    kind: fc.constant("overlap" as const),
    a: fc.nat(),
    b: fc.nat(),
    shift: fc.integer({ min: -4, max: 4 }),
  }),
  fc.record({ kind: fc.constant("duplicate" as const), which: fc.nat() }),
  fc.record({
    kind: fc.constant("entry" as const),
    which: fc.nat(),
    op: fc.constantFrom("dim" as const, "dtype" as const, "swap" as const),
    value: fc.nat(),
  }),
  fc.record({ kind: fc.constant("extend" as const), bytes: fc.integer({ min: 1, max: 9 }) }),
);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Reassembles a file from (possibly invalid) header text and a data region. */
function rebuild(text: string, data: Uint8Array): Uint8Array {
  const body = enc.encode(text);
  const out = new Uint8Array(8 + body.length + data.length);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, 8);
  out.set(data, 8 + body.length);
  return out;
}

function corrupt(file: Uint8Array, c: Corruption): Uint8Array {
  const out = file.slice();
  const dv = new DataView(out.buffer);
  const n = out.length >= 8 ? Number(dv.getBigUint64(0, true)) : 0;
  const sane = out.length >= 8 && 8 + n <= out.length;
  switch (c.kind) {
    case "flip":
      if (out.length > 0) out[c.pos % Math.min(out.length, 8 + n)] ^= c.xor;
      return out;
    case "truncate":
      return out.slice(0, c.keep % (out.length + 1));
    case "prefix":
      if (out.length >= 8) dv.setBigUint64(0, c.value, true);
      return out;
    case "prefix-nudge":
      if (out.length >= 8) dv.setBigUint64(0, BigInt(Math.max(0, n + c.delta)), true);
      return out;
    case "extend": {
      const bigger = new Uint8Array(out.length + c.bytes);
      bigger.set(out);
      return bigger;
    }
  }
  if (!sane) return out;
  const text = dec.decode(out.subarray(8, 8 + n));
  const data = out.subarray(8 + n);
  switch (c.kind) {
    case "splice": {
      const families = [
        /-?\d+(\.\d+)?/g,
        /"(?:[^"\\]|\\.)*"/g,
        /\[[^\][]*\]/g,
        /\{[^{}]*\}/g,
      ];
      const tokens = [...text.matchAll(families[c.which % families.length])];
      if (tokens.length === 0) return out;
      const t = tokens[Math.floor(c.which / families.length) % tokens.length];
      return rebuild(text.slice(0, t.index) + c.text + text.slice(t.index + t[0].length), data);
    }
    case "insert": {
      const p = c.pos % (text.length + 1);
      return rebuild(text.slice(0, p) + c.text + text.slice(p), data);
    }
    case "overlap":
    case "entry":
    case "duplicate": {
      let root: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
      try {
        root = JSON.parse(text);
      } catch {
        return out;
      }
      if (!isPlainObject(root)) return out;
      const names = Object.keys(root).filter((k) => k !== "__metadata__");
      if (names.length === 0) return out;
      if (c.kind === "duplicate") {
        const k = names[c.which % names.length];
        const dupText = text.trimEnd().replace(
          /}$/,
          `,${JSON.stringify(k)}:${JSON.stringify(root[k])}}`,
        );
        return rebuild(dupText, data);
      }
      if (c.kind === "entry") {
        const t = root[names[c.which % names.length]];
        if (!isPlainObject(t) || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets)) {
          return out;
        }
        if (c.op === "dim") {
          if (t.shape.length === 0) t.shape.push(c.value % 3);
          else t.shape[c.value % t.shape.length] = (c.value >> 4) % 6;
        } else if (c.op === "dtype") {
          t.dtype = SAFETENSORS_DTYPES[c.value % SAFETENSORS_DTYPES.length];
        } else t.data_offsets.reverse();
        return rebuild(JSON.stringify(root), data);
      }
      const a = root[names[c.a % names.length]];
      const b = root[names[c.b % names.length]];
      if (!Array.isArray(a?.data_offsets) || !Array.isArray(b?.data_offsets)) return out;
      const len = b.data_offsets[1] - b.data_offsets[0];
      const start = Math.max(0, a.data_offsets[0] + c.shift);
      b.data_offsets = [start, start + len];
      return rebuild(JSON.stringify(root), data);
    }
  }
}

/** The reader must either succeed consistently or throw SafetensorsError. */
function checkSync(bytes: Uint8Array, options?: SafetensorsReadOptions): string {
  try {
    const st = readSafetensors(bytes, options);
    assertConsistent(st, bytes.length);
    for (const t of st.tensors) {
      const got = st.get(t.name);
      assert.equal(got.bytes.length, t.end - t.begin);
      assert.equal(st.toFloat32(t.name).length, elementCount(t.shape));
    }
    return "ok";
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    assert.ok(e.message.startsWith("Cannot read safetensors: "), e.message);
    if (e.offsets) assert.ok(e.message.includes(`[${e.offsets[0]}, ${e.offsets[1]}]`), e.message);
    if (e.key !== undefined && e.key.length < 100) {
      assert.ok(e.message.includes(JSON.stringify(e.key)), e.message);
    }
    return e.code;
  }
}

async function checkAsync(bytes: Uint8Array, options?: SafetensorsReadOptions): Promise<string> {
  try {
    const st = await openSafetensors(memReader(bytes), bytes.length, options);
    assertConsistent(st, bytes.length);
    for (const t of st.tensors) {
      assert.deepEqual(await st.tensorBytes(t.name), bytes.subarray(t.begin, t.end));
    }
    return "ok";
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    return e.code;
  }
}

Deno.test("readSafetensors() survives random corruption: valid result or SafetensorsError", async () => {
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(
      fileArb,
      fc.array(corruptionArb, { minLength: 1, maxLength: 3 }),
      fc.boolean(),
      async (file, corruptions, contiguous) => {
        let bytes = file;
        for (const c of corruptions) bytes = corrupt(bytes, c);
        const options = contiguous ? { requireContiguous: true } : undefined;
        const a = checkSync(bytes, options);
        const b = await checkAsync(bytes, options);
        assert.equal(b, a, "streaming and in-memory readers must agree");
        seen.set(a, (seen.get(a) ?? 0) + 1);
      },
    ),
    { numRuns: 3000 },
  );
  // The corruptions are meant to reach deep into validation, not just break the JSON.
  for (
    const code of [
      "ok",
      "header-json",
      "bad-entry",
      "shape-mismatch",
      "offsets-reversed",
      "offsets-out-of-range",
      "offsets-overlap",
      "duplicate-key",
    ]
  ) {
    assert.ok((seen.get(code) ?? 0) > 0, `never saw ${code}: ${JSON.stringify([...seen])}`);
  }
});

Deno.test("readSafetensors() survives random bytes and random JSON headers", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      checkSync(bytes);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.jsonValue(), fc.nat(64), (value, dataSize) => {
      checkSync(fileFromHeader(JSON.stringify(value) ?? "null", dataSize));
      checkSync(fileFromHeader(JSON.stringify({ t: value }), dataSize));
      checkSync(
        fileFromHeader(
          JSON.stringify({ t: { dtype: "U8", shape: value, data_offsets: [0, 1] } }),
          dataSize,
        ),
      );
      checkSync(
        fileFromHeader(
          JSON.stringify({ t: { dtype: "U8", shape: [1], data_offsets: value } }),
          dataSize,
        ),
      );
    }),
    { numRuns: 2000 },
  );
});
