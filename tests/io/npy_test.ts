import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type NpyDtype,
  NpyError,
  type NpyErrorCode,
  type NpyInput,
  type NpyWritableDtype,
  parseNpyHeader,
  readNpy,
  writeNpy,
} from "../../src/io/npy.ts";

// ---------------------------------------------------------------------------------------
// helpers

/** Builds an npy file from a raw header dict (padded to 64 with a newline) and data bytes. */
function npyFromHeader(dict: string, data: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const body = new TextEncoder().encode(dict);
  const lenBytes = major === 1 ? 2 : 4;
  const total = Math.ceil((8 + lenBytes + body.length + 1) / 64) * 64;
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  const headerLen = total - 8 - lenBytes;
  if (major === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  out.set(body, 8 + lenBytes);
  out.fill(0x20, 8 + lenBytes + body.length, total - 1);
  out[total - 1] = 0x0a;
  out.set(data, total);
  return out;
}

const dict = (descr: string, shape: string, fortran = "False") =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

function expectError(fn: () => unknown, code: NpyErrorCode, ...fragments: string[]): NpyError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof NpyError, `expected NpyError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.name, "NpyError");
  for (const f of fragments) assert.ok(caught.message.includes(f), `${caught.message} ∌ ${f}`);
  return caught;
}

const rawBytes = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

// ---------------------------------------------------------------------------------------
// round trip

const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 });
const SIZES: Record<NpyWritableDtype, number> = { "<f4": 4, "<i4": 4, "<u4": 4, "<f2": 2 };

const inputArb: fc.Arbitrary<{ input: NpyInput; bytes: Uint8Array }> = fc
  .record({
    dtype: fc.constantFrom<NpyWritableDtype>("<f4", "<i4", "<u4", "<f2"),
    shape: shapeArb,
    raw: fc.boolean(),
  })
  .chain(({ dtype, shape, raw }) => {
    const n = shape.reduce((a, b) => a * b, 1) * SIZES[dtype];
    return fc.uint8Array({ minLength: n, maxLength: n }).map((bytes) => {
      const buf = bytes.slice().buffer;
      const data = raw
        ? new Uint8Array(buf)
        : dtype === "<f4"
        ? new Float32Array(buf)
        : dtype === "<i4"
        ? new Int32Array(buf)
        : dtype === "<u4"
        ? new Uint32Array(buf)
        : new Uint16Array(buf);
      return { input: { dtype, shape, data }, bytes };
    });
  });

Deno.test("writeNpy() round-trips random arrays bit for bit", () => {
  fc.assert(
    fc.property(inputArb, ({ input, bytes }) => {
      const file = writeNpy(input);
      const h = parseNpyHeader(file, file.length);
      assert.equal(h.dataOffset % 64, 0);
      assert.equal(file[h.dataOffset - 1], 0x0a);
      assert.deepEqual(h.version, [1, 0]);
      const a = readNpy(file);
      assert.equal(a.dtype, input.dtype);
      assert.deepEqual(a.shape, input.shape);
      assert.deepEqual(rawBytes(a.data), bytes);
      assert.deepEqual(
        writeNpy({
          dtype: input.dtype as NpyWritableDtype,
          shape: a.shape,
          data: a.data as Float32Array,
        }),
        file,
      );
    }),
    { numRuns: 500 },
  );
});

Deno.test("writeNpy() writes the header numpy writes", () => {
  const file = writeNpy({ dtype: "<f4", shape: [2, 3], data: new Float32Array(6) });
  const text = new TextDecoder().decode(file.subarray(10, 128));
  assert.equal(text.trimEnd(), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  assert.ok(text.endsWith(" \n"));
  assert.deepEqual([...file.subarray(0, 10)], [0x93, 78, 85, 77, 80, 89, 1, 0, 118, 0]);
  const one = writeNpy({ dtype: "<i4", shape: [3], data: new Int32Array(3) });
  assert.ok(new TextDecoder().decode(one).includes("'shape': (3,), }"));
  const scalar = readNpy(writeNpy({ dtype: "<u4", shape: [], data: new Uint32Array([7]) }));
  assert.deepEqual(scalar.shape, []);
  assert.deepEqual(scalar.data, new Uint32Array([7]));
});

Deno.test("writeNpy() switches to version 2.0 for huge headers", () => {
  const shape = new Array(25000).fill(1);
  const file = writeNpy({ dtype: "<f4", shape, data: new Float32Array([5]) });
  const h = parseNpyHeader(file, file.length);
  assert.deepEqual(h.version, [2, 0]);
  assert.equal(h.dataOffset % 64, 0);
  assert.deepEqual(readNpy(file).data, new Float32Array([5]));
});

Deno.test("writeNpy() rejects bad input with NpyError", () => {
  expectError(
    () => writeNpy({ dtype: "<f8" as NpyWritableDtype, shape: [1], data: new Float32Array(2) }),
    "dtype-unsupported",
    "<f8",
  );
  expectError(
    () => writeNpy({ dtype: "<i8" as NpyWritableDtype, shape: [1], data: new Uint8Array(8) }),
    "dtype-unsupported",
  );
  expectError(
    () => writeNpy({ dtype: "<f4", shape: [3], data: new Float32Array(2) }),
    "data-size-mismatch",
  );
  expectError(
    () => writeNpy({ dtype: "<f4", shape: [-1], data: new Float32Array(2) }),
    "bad-shape",
  );
  expectError(
    () => writeNpy({ dtype: "<f4", shape: [2], data: new Int32Array(2) }),
    "invalid-argument",
  );
  expectError(() => writeNpy(null as unknown as NpyInput), "invalid-argument");
});

// ---------------------------------------------------------------------------------------
// reading hand-written files

Deno.test("readNpy() reads <i8 as Int32Array, checking the range", () => {
  const values = [0n, -1n, 2147483647n, -2147483648n, 42n];
  const file = npyFromHeader(dict("<i8", "(5,)"), rawBytes(new BigInt64Array(values)));
  const a = readNpy(file);
  assert.equal(a.dtype, "<i8");
  assert.deepEqual(a.data, new Int32Array([0, -1, 2147483647, -2147483648, 42]));
  for (const bad of [2147483648n, -2147483649n, 2n ** 40n, -(2n ** 63n)]) {
    const err = expectError(
      () => readNpy(npyFromHeader(dict("<i8", "(2,)"), rawBytes(new BigInt64Array([1n, bad])))),
      "int64-out-of-range",
      "element 1",
      String(bad),
    );
    assert.equal(err.offset, 128 + 8);
  }
});

Deno.test("readNpy() reads <f2 as raw bits, versions 2.0 and 3.0, and old-style headers", () => {
  const bits = new Uint16Array([0x3c00, 0xfc00, 0x0001]);
  for (const major of [1, 2, 3]) {
    const a = readNpy(npyFromHeader(dict("<f2", "(3,)"), rawBytes(bits), major));
    assert.deepEqual(a.data, bits);
  }
  // Python 2 long suffixes, double quotes, no trailing comma, extra spaces, key order.
  const old = npyFromHeader(
    `{"shape": (1L, 2L), "fortran_order": False, "descr": "<i4"}`,
    rawBytes(new Int32Array([3, 4])),
  );
  assert.deepEqual(readNpy(old).shape, [1, 2]);
  const native = npyFromHeader(dict("=u4", "()"), rawBytes(new Uint32Array([9])));
  assert.equal(readNpy(native).dtype, "<u4");
  const utf8 = npyFromHeader(dict("<f4", "(1,)"), rawBytes(new Float32Array([1])), 3);
  assert.deepEqual(readNpy(utf8).data, new Float32Array([1]));
});

Deno.test("readNpy() keeps <f4 NaN payloads", () => {
  const bits = new Uint32Array([0x7fc00001, 0xffbfffff, 0x00000001]);
  const a = readNpy(npyFromHeader(dict("<f4", "(3,)"), rawBytes(bits)));
  assert.deepEqual(new Uint32Array(a.data.buffer), bits);
});

Deno.test("readNpy() reads from an unaligned view", () => {
  const file = writeNpy({ dtype: "<i4", shape: [2], data: new Int32Array([-1, 7]) });
  const buf = new Uint8Array(file.length + 3);
  buf.set(file, 3);
  assert.deepEqual(readNpy(buf.subarray(3)).data, new Int32Array([-1, 7]));
});

Deno.test("readNpy() rejects short files and bad magic", () => {
  expectError(() => readNpy(new Uint8Array(5)), "file-too-small");
  const file = writeNpy({ dtype: "<f4", shape: [1], data: new Float32Array(1) });
  const bad = file.slice();
  bad[1] = 0x4f;
  const err = expectError(() => readNpy(bad), "bad-magic");
  assert.equal(err.offset, 1);
  expectError(() => readNpy([1, 2] as unknown as Uint8Array), "invalid-argument");
});

Deno.test("readNpy() rejects unsupported versions", () => {
  const file = writeNpy({ dtype: "<f4", shape: [1], data: new Float32Array(1) });
  for (const [major, minor] of [[0, 0], [4, 0], [1, 1]]) {
    const bad = file.slice();
    bad[6] = major;
    bad[7] = minor;
    expectError(() => readNpy(bad), "version-unsupported", `${major}.${minor}`);
  }
});

Deno.test("readNpy() rejects header lengths past the end or over the limit", () => {
  const file = writeNpy({ dtype: "<f4", shape: [1], data: new Float32Array(1) });
  const bad = file.slice();
  new DataView(bad.buffer).setUint16(8, 0xffff, true);
  expectError(() => readNpy(bad), "header-truncated", "65535");
  const v2 = npyFromHeader(dict("<f4", "()"), new Uint8Array(4), 2);
  new DataView(v2.buffer).setUint32(8, 0xffffffff, true);
  expectError(() => readNpy(v2), "header-too-large", "4294967295");
  expectError(() => readNpy(file, { maxHeaderSize: 10 }), "header-too-large");
  expectError(
    () => parseNpyHeader(file.subarray(0, 20), file.length),
    "header-truncated",
    "provided",
  );
  const h = parseNpyHeader(file.subarray(0, 128), file.length);
  assert.equal(h.dataOffset, 128);
});

Deno.test("readNpy() rejects malformed header dicts", () => {
  const cases = [
    "",
    "{",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,), }",
    "{'descr': '<f4', 'fortran_order': false, 'shape': (2,), }",
    "{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
    "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,), }",
    "{'descr: '<f4', 'fortran_order': False, 'shape': (2,), }",
    "[1, 2]",
    "{'descr': '<f4', 'fortran_order': 'False', 'shape': (2,), }",
  ];
  for (const d of cases) {
    let caught: unknown;
    try {
      readNpy(npyFromHeader(d, new Uint8Array(8)));
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof NpyError, `${d}: ${caught}`);
    assert.ok(
      ["header-syntax", "bad-shape", "dtype-unsupported"].includes(caught.code),
      `${d}: ${caught.code}`,
    );
  }
  expectError(
    () => readNpy(npyFromHeader(cases[2], new Uint8Array(8))),
    "header-syntax",
    "trailing comma",
  );
});

Deno.test("readNpy() rejects missing, extra and repeated keys", () => {
  expectError(
    () => readNpy(npyFromHeader("{'descr': '<f4', 'shape': (1,)}", new Uint8Array(4))),
    "header-keys",
    "'descr', 'shape'".replaceAll("'", '"'),
  );
  expectError(
    () =>
      readNpy(npyFromHeader(dict("<f4", "(1,)").replace("}", "'extra': True}"), new Uint8Array(4))),
    "header-keys",
    '"extra"',
  );
  expectError(
    () =>
      readNpy(npyFromHeader(dict("<f4", "(1,)").replace("}", "'shape': (1,)}"), new Uint8Array(4))),
    "header-keys",
    "repeats",
  );
});

Deno.test("readNpy() rejects unsupported dtypes and Fortran order", () => {
  for (const d of [">f4", "<f8", "|u1", "|b1", "<c8", "O", "<U4"]) {
    expectError(
      () => readNpy(npyFromHeader(dict(d, "(1,)"), new Uint8Array(4))),
      "dtype-unsupported",
      d,
    );
  }
  expectError(
    () =>
      readNpy(npyFromHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }")),
    "header-syntax",
  );
  expectError(
    () => readNpy(npyFromHeader(dict("<f4", "(2, 2)", "True"), new Uint8Array(16))),
    "fortran-order",
  );
});

Deno.test("readNpy() rejects data of the wrong length", () => {
  expectError(
    () => readNpy(npyFromHeader(dict("<f4", "(2, 3)"), new Uint8Array(20))),
    "data-size-mismatch",
    "24 bytes",
    "20 bytes",
  );
  expectError(
    () => readNpy(npyFromHeader(dict("<f4", "(2,)"), new Uint8Array(9))),
    "data-size-mismatch",
  );
  expectError(
    () =>
      readNpy(
        npyFromHeader(dict("<f4", "(4294967296, 4294967296, 4294967296)"), new Uint8Array(8)),
      ),
    "data-size-mismatch",
    "more than 2^53",
  );
  assert.deepEqual(
    readNpy(npyFromHeader(dict("<f4", "(0, 1000000000)"))).data,
    new Float32Array(0),
  );
});

// ---------------------------------------------------------------------------------------
// fuzzing

function check(bytes: Uint8Array): string {
  try {
    const a = readNpy(bytes);
    const h = parseNpyHeader(bytes, bytes.length);
    assert.ok(h.dataOffset + h.byteLength === bytes.length);
    const n = a.shape.reduce((x, y) => x * y, 1);
    assert.equal(a.data.length, n);
    assert.ok((["<f4", "<i4", "<u4", "<f2", "<i8"] as NpyDtype[]).includes(a.dtype));
    return "ok";
  } catch (e) {
    if (!(e instanceof NpyError)) throw e;
    assert.ok(e.message.startsWith("Cannot read npy: "), e.message);
    return e.code;
  }
}

Deno.test("readNpy() survives random corruption: valid result or NpyError", () => {
  const seen = new Map<string, number>();
  const corruption = fc.oneof(
    fc.record({ kind: fc.constant("flip"), pos: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant("truncate"), pos: fc.nat() }),
    fc.record({ kind: fc.constant("data"), pos: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant("length"), pos: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({
      kind: fc.constant("splice"),
      pos: fc.nat(),
      text: fc.constantFrom(
        "(",
        ")",
        ",",
        "'",
        "True",
        "-1",
        "9",
        "L",
        "}",
        "{",
        ":",
        "'x': 1, ",
        "(1)",
      ),
    }),
  );
  fc.assert(
    fc.property(inputArb, fc.array(corruption, { minLength: 1, maxLength: 3 }), ({ input }, cs) => {
      let bytes = writeNpy(input);
      for (const c of cs) {
        bytes = bytes.slice();
        if (c.kind === "flip" && bytes.length) bytes[c.pos % Math.min(bytes.length, 128)] ^= c.xor!;
        if (c.kind === "data" && bytes.length > 128) {
          bytes[128 + (c.pos % (bytes.length - 128))] ^= c.xor!;
        }
        if (c.kind === "truncate") bytes = bytes.slice(0, c.pos % (bytes.length + 1));
        if (c.kind === "length" && bytes.length >= 12) {
          const dv = new DataView(bytes.buffer);
          if (bytes[6] === 1) dv.setUint16(8, c.pos & 0xffff, true);
          else dv.setUint32(8, c.pos, true);
        }
        if (c.kind === "splice" && bytes.length > 12) {
          const p = 10 + (c.pos % Math.min(bytes.length - 10, 60));
          const t = new TextEncoder().encode(c.text!).subarray(0, bytes.length - p);
          const out = new Uint8Array(bytes.length);
          out.set(bytes.subarray(0, p));
          out.set(t, p);
          out.set(bytes.subarray(p, out.length - t.length), p + t.length);
          bytes = out; // same length, so the header length still matches
        }
      }
      const code = check(bytes);
      seen.set(code, (seen.get(code) ?? 0) + 1);
    }),
    { numRuns: 3000 },
  );
  for (const code of ["ok", "header-syntax", "header-truncated", "data-size-mismatch"]) {
    assert.ok((seen.get(code) ?? 0) > 0, `never saw ${code}: ${JSON.stringify([...seen])}`);
  }
});

Deno.test("readNpy() survives random bytes after a valid prefix", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(1, 2, 3), (tail, major) => {
      const bytes = new Uint8Array(8 + tail.length);
      bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
      bytes.set(tail, 8);
      check(bytes);
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), fc.nat(32), (text, n) => {
      check(npyFromHeader(text, new Uint8Array(n)));
    }),
    { numRuns: 3000 },
  );
});
