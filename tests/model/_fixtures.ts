/**
 * Shared fixtures of the model tests: small random-weight models (every parameter random,
 * biases and layer-norm weights included) with their f32 values on the CPU for the f64
 * reference, and comparison helpers.
 */

import { tensor } from "../../src/ops/creation.ts";
import {
  type ConfigInput,
  HookedTransformer,
  makeConfig,
  paramShapes,
} from "../../src/model/mod.ts";
import type { RefActivation } from "../../src/reference/transformer.ts";
import { readTensors, sizeOf, type Tensor } from "../../src/tensor.ts";
import { closeness } from "../_gpu.ts";

/**
 * Tolerance of GPU f32 activations against the f64 reference, per element:
 * |got − want| ≤ ATOL + RTOL·|want|. Each activation of these models (d_model ≤ 32, d_mlp ≤ 64,
 * 2 layers, values O(1)) is a chain of a few dozen f32 ops whose dot products have ≤ 64 terms:
 * rounding is ≈ 64 · 2⁻²⁴ ≈ 4e-6 relative per product, so a few 1e-6 absolute by the logits (the
 * observed worst is about 1e-6). The erf gelu's polynomial approximation adds ≤ 1.5e-7. ATOL 2e-5
 * and RTOL 1e-4 leave an order of magnitude of headroom without hiding real errors (a wrong
 * mask, scale or bias moves values by ≥ 1e-2).
 */
export const ATOL = 2e-5;
export const RTOL = 1e-4;

/** A small deterministic PRNG (mulberry32) for weights and tokens. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Normal(0, std) samples from `r` (Box-Muller). */
export function normals(r: () => number, n: number, std: number, mean = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

/** A model with every parameter random (fromStateDict), and the values for the reference. */
export function randomModel(
  input: ConfigInput,
  seed = 1,
): { model: HookedTransformer; params: Map<string, Float32Array> } {
  const cfg = makeConfig(input);
  const r = rng(seed);
  const params = new Map<string, Float32Array>();
  const tensors = new Map<string, Tensor>();
  for (const [name, shape] of paramShapes(cfg)) {
    const leaf = name.slice(name.lastIndexOf(".") + 1);
    const n = sizeOf(shape);
    const v = name === "embed.W_E" || name === "pos_embed.W_pos"
      ? normals(r, n, 1)
      : leaf.startsWith("W_")
      ? normals(r, n, cfg.initializerRange)
      : leaf === "w"
      ? normals(r, n, 0.1, 1)
      : normals(r, n, 0.1);
    params.set(name, v);
    tensors.set(name, tensor(v, shape));
  }
  return { model: HookedTransformer.fromStateDict(cfg, tensors), params };
}

/** Random token ids [batch][pos] below `vocab`. */
export function randomTokens(seed: number, batch: number, pos: number, vocab: number): number[][] {
  const r = rng(seed);
  return Array.from(
    { length: batch },
    () => Array.from({ length: pos }, () => Math.floor(r() * vocab)),
  );
}

/** Throw, naming `what` and the worst element, if `got` is not within ATOL/RTOL of `want`. */
export function assertNear(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  what: string,
  atol = ATOL,
  rtol = RTOL,
): void {
  const w = closeness(got, want, atol, rtol);
  if (w.ratio > 1) {
    throw new Error(
      `${what} differs from the f64 reference at index ${w.index}: got ${w.got}, want ${w.want} ` +
        `(atol ${atol}, rtol ${rtol})`,
    );
  }
}

/** Every cached activation compared with the reference's (names and shapes must match too). */
export async function compareCache(
  names: string[],
  cacheGet: (name: string) => Tensor,
  acts: Map<string, RefActivation>,
  label: string,
): Promise<void> {
  const ts = names.map(cacheGet);
  const data = await readTensors(ts);
  names.forEach((name, i) => {
    const want = acts.get(name);
    if (!want) throw new Error(`${label}: the reference has no activation "${name}"`);
    if (ts[i].shape.join() !== want.shape.join()) {
      throw new Error(
        `${label}: ${name} has shape [${ts[i].shape}], the reference [${want.shape}]`,
      );
    }
    assertNear(data[i], want.data, `${label}: ${name}`);
  });
}
