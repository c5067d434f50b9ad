/**
 * Synthetic data for training induction heads, generated on the GPU.
 *
 * Every row is `[BOS] + prefix + r + r + filler`: a random prefix of 0 to `maxPrefix` tokens, a
 * run `r` of `minLen` to `maxLen` random tokens repeated once, and random filler up to the
 * context length. Where the run starts and how long it is vary from row to row (a fixed offset
 * would let one layer solve the task by position). Random tokens are uniform over the
 * vocabulary except BOS. Each token is a function of (seed, step, row, position) through the
 * counter-based Philox-4x32-10 generator, so batches are reproducible and cost one dispatch and
 * no upload; {@link repeatedSequencesRef} makes the same tokens on the CPU.
 *
 * @module
 */

import { type Engine, engine as defaultEngine } from "../gpu/engine.ts";
import { empty } from "../ops/creation.ts";
import { keep } from "../memory.ts";
import type { Tensor } from "../tensor.ts";
import { repeatTokensKernel } from "../kernels/train_data.ts";
import { philox4x32 } from "../reference/random.ts";

/** Options of the repeated-run data. */
export interface RepeatDataOptions {
  /** Rows per batch. */
  batch: number;
  /** Tokens per row (the context length). */
  ctx: number;
  /** Vocabulary size, BOS included (default 64). */
  vocab?: number;
  /** The BOS token id, first in every row and never drawn elsewhere (default 0). */
  bos?: number;
  /** Shortest repeated run (default 8). */
  minLen?: number;
  /** Longest repeated run (default 20; capped so that BOS + r + r fits in `ctx`). */
  maxLen?: number;
  /** Longest random prefix before the run (default 20; capped to fit). */
  maxPrefix?: number;
  /** Seed of the stream (default 0): an integer in [0, 2^53). */
  seed?: number;
}

/** Options with every default filled in and checked. */
export type RepeatDataConfig = Required<RepeatDataOptions> & {
  /** The longest run that fits: min(maxLen, ⌊(ctx − 1) / 2⌋). */
  lenMax: number;
};

/** A batch: token ids and, per row, where the repeated run starts and its length. */
export interface RepeatBatch {
  /** i32 [batch, ctx]. */
  tokens: Tensor;
  /** i32 [batch, 2]: (position of the first copy's first token, run length). */
  meta: Tensor;
}

function checkInt(what: string, v: unknown, lo: number, hi = 2 ** 32 - 1): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(
      `Cannot make repeated-run data: ${what} must be an integer in [${lo}, ${hi}], got ${
        String(v)
      }`,
    );
  }
  return v;
}

/**
 * The options with their defaults, checked: the shortest run must fit twice after BOS.
 *
 * @example
 * ```ts
 * repeatDataConfig({ batch: 32, ctx: 48 }).lenMax; // 20
 * ```
 */
export function repeatDataConfig(o: RepeatDataOptions): RepeatDataConfig {
  const batch = checkInt("batch", o.batch, 1, 2 ** 24);
  const ctx = checkInt("ctx", o.ctx, 2, 2 ** 20);
  const vocab = checkInt("vocab", o.vocab ?? 64, 2, 2 ** 31 - 1);
  const bos = checkInt("bos", o.bos ?? 0, 0, vocab - 1);
  const minLen = checkInt("minLen", o.minLen ?? 8, 1);
  const maxLen = checkInt("maxLen", o.maxLen ?? 20, minLen);
  const maxPrefix = checkInt("maxPrefix", o.maxPrefix ?? 20, 0);
  const seed = checkInt("seed", o.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
  if (1 + 2 * minLen > ctx) {
    throw new RangeError(
      `Cannot make repeated-run data: ctx ${ctx} is too short for BOS and two copies of a run ` +
        `of minLen ${minLen} (needs ctx ≥ ${1 + 2 * minLen})`,
    );
  }
  const lenMax = Math.min(maxLen, Math.floor((ctx - 1) / 2));
  return { batch, ctx, vocab, bos, minLen, maxLen, maxPrefix, seed, lenMax };
}

/**
 * A generator of batches into buffers it owns and reuses: `next(step)` overwrites `tokens` and
 * `meta` with batch `step` (one dispatch, nothing uploaded or read back), so a training loop
 * allocates nothing per step.
 *
 * @example
 * ```ts
 * const data = new RepeatData({ batch: 32, ctx: 48, seed: 1 });
 * for (let step = 0; step < 100; step++) trainer.step(data.next(step).tokens);
 * data.dispose();
 * ```
 */
export class RepeatData {
  readonly cfg: RepeatDataConfig;
  readonly engine: Engine;
  /** i32 [batch, ctx], overwritten by each {@link next}. */
  readonly tokens: Tensor;
  /** i32 [batch, 2]: (start of the first copy, run length), overwritten by each {@link next}. */
  readonly meta: Tensor;

  constructor(opts: RepeatDataOptions, eng: Engine = defaultEngine()) {
    this.cfg = repeatDataConfig(opts);
    this.engine = eng;
    this.tokens = keep(empty([this.cfg.batch, this.cfg.ctx], "i32", eng));
    this.meta = keep(empty([this.cfg.batch, 2], "i32", eng));
    this.tokens.name = "tokens";
    this.meta.name = "repeat meta";
  }

  /** Write batch `step` (an integer in [0, 2^32)) into {@link tokens} and {@link meta}. */
  next(step: number): RepeatBatch {
    checkInt("step", step, 0);
    const c = this.cfg;
    repeatTokensKernel(this.engine, this.tokens, this.meta, { ...c, step });
    return { tokens: this.tokens, meta: this.meta };
  }

  /** Free the buffers. */
  dispose(): void {
    this.tokens.dispose();
    this.meta.dispose();
  }
}

/**
 * Batch `step` of the repeated-run data as new tensors (the caller disposes them).
 *
 * @example
 * ```ts
 * const { tokens, meta } = repeatedSequences({ batch: 4, ctx: 48, seed: 7 }, 0);
 * console.log(await tokens.toArray());
 * ```
 */
export function repeatedSequences(
  opts: RepeatDataOptions,
  step = 0,
  eng: Engine = defaultEngine(),
): RepeatBatch {
  const c = repeatDataConfig(opts);
  checkInt("step", step, 0);
  const tokens = empty([c.batch, c.ctx], "i32", eng);
  const meta = empty([c.batch, 2], "i32", eng);
  repeatTokensKernel(eng, tokens, meta, { ...c, step });
  return { tokens, meta };
}

/** An integer in [0, n) from 32 random bits (the high word of x·n; exact in f64). */
function below(x: number, n: number): number {
  return Math.floor(((x >>> 0) * n) / 2 ** 32);
}

/**
 * The CPU reference of {@link repeatedSequences}: the same tokens and meta, bit for bit.
 *
 * @example
 * ```ts
 * const { tokens, meta } = repeatedSequencesRef({ batch: 2, ctx: 48 }, 0); // Int32Arrays
 * ```
 */
export function repeatedSequencesRef(
  opts: RepeatDataOptions,
  step = 0,
): { tokens: Int32Array; meta: Int32Array } {
  const c = repeatDataConfig(opts);
  checkInt("step", step, 0);
  const key: [number, number] = [c.seed >>> 0, Math.floor(c.seed / 2 ** 32) >>> 0];
  const tokens = new Int32Array(c.batch * c.ctx);
  const meta = new Int32Array(c.batch * 2);
  for (let row = 0; row < c.batch; row++) {
    const rr = philox4x32([0xffffffff, row, step, 1], key);
    const len = c.minLen + below(rr[0], c.lenMax - c.minLen + 1);
    const sMax = Math.min(c.maxPrefix, c.ctx - 1 - 2 * len);
    const start = 1 + below(rr[1], sMax + 1);
    meta[2 * row] = start;
    meta[2 * row + 1] = len;
    tokens[row * c.ctx] = c.bos;
    for (let pos = 1; pos < c.ctx; pos++) {
      const q = pos >= start + len && pos < start + 2 * len ? pos - len : pos;
      let v = below(philox4x32([q, row, step, 0], key)[0], c.vocab - 1);
      if (v >= c.bos) v++;
      tokens[row * c.ctx + pos] = v;
    }
  }
  return { tokens, meta };
}
