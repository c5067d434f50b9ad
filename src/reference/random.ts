/**
 * CPU reference of glassbox's counter-based generator (Philox-4x32-10): the GPU stream must equal
 * it bit for bit, which is what makes seeded tensors the same on every adapter.
 *
 * @module
 */

function mulhilo(a: number, b: number): [number, number] {
  const p = BigInt(a >>> 0) * BigInt(b >>> 0);
  return [Number(p >> 32n) >>> 0, Number(p & 0xffffffffn) >>> 0];
}

/** Philox-4x32-10 of a counter under a key. */
export function philox4x32(counter: number[], key: [number, number]): number[] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let r = 0; r < 10; r++) {
    const [hi0, lo0] = mulhilo(0xd2511f53, c0);
    const [hi1, lo1] = mulhilo(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + 0x9e3779b9) >>> 0;
    k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** The first `n` uniform [0, 1) values glassbox's `rand` draws for `seed` (f32-exact). */
export function randRef(n: number, seed: number, offset = 0): Float64Array {
  const out = new Float64Array(n);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  for (let t = 0; t * 4 < n; t++) {
    const r = philox4x32([t, offset, 0, 0], [lo, hi]);
    for (let j = 0; j < 4 && t * 4 + j < n; j++) out[t * 4 + j] = (r[j] >>> 8) * 2 ** -24;
  }
  return out;
}
