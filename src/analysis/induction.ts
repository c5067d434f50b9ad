/**
 * Induction and previous-token scores of attention heads, on sequences whose run repeats
 * (`src/train/data.ts`): the small detectors a training loop records every few steps.
 *
 * For rows holding a run r at [start, start + len) and again at [start + len, start + 2·len):
 *
 * - **induction score** of a head: its mean attention from each token of the second copy to the
 *   token just after that token's earlier copy, `pattern[b, h, q, q − len + 1]` over rows b and
 *   queries q in the second copy;
 * - **previous-token score**: its mean attention to the position before, `pattern[b, h, q, q − 1]`
 *   over rows b and queries q ≥ 1.
 *
 * A perfect induction head scores 1; uniform causal attention scores about 2/(2·start + 3·len)
 * (the mean of 1/(q + 1) over the second copy). The GPU versions cost one dispatch per layer and
 * read nothing back; the `*Ref` functions are their f64 CPU references, usable on any pattern.
 *
 * @module
 */

import { noGrad } from "../autograd/tape.ts";
import { empty } from "../ops/creation.ts";
import { contiguous } from "../ops/movement.ts";
import { fmtShape, readTensors, type Tensor } from "../tensor.ts";
import { headScoresKernel } from "../kernels/train_scores.ts";
import type { HookedTransformer } from "../model/hooked_transformer.ts";

function checkPattern(op: string, pattern: Tensor): void {
  if (pattern.dtype !== "f32") {
    throw new TypeError(`Cannot run ${op}: pattern ${pattern.describe()} must be f32`);
  }
  const s = pattern.shape;
  if (s.length !== 4 || s[2] !== s[3]) {
    throw new RangeError(
      `Cannot run ${op}: pattern ${pattern.describe()} must be [batch, head, pos, pos] ` +
        `(as blocks.{l}.attn.hook_pattern)`,
    );
  }
}

function checkRuns(op: string, runs: Tensor, batch: number): void {
  if (runs.dtype !== "i32") {
    throw new TypeError(`Cannot run ${op}: runs ${runs.describe()} must be i32`);
  }
  if (runs.rank !== 2 || runs.shape[0] !== batch || runs.shape[1] !== 2) {
    throw new RangeError(
      `Cannot run ${op}: runs ${runs.describe()} must be [${batch}, 2] (start, length per row)`,
    );
  }
}

/**
 * Per-head (induction, previous-token) scores of one layer: f32 [head, 2], on the GPU (one
 * dispatch, no readback). `pattern` is [batch, head, pos, pos]; `runs` is i32 [batch, 2], the
 * start of each row's first copy and the run length (the `meta` of {@link RepeatData}).
 *
 * @example
 * ```ts
 * const { tokens, meta } = repeatedSequences({ batch: 32, ctx: 48, seed: 1 });
 * const { cache } = model.runWithCache(tokens, { names: /hook_pattern$/ });
 * const s = headScores(cache.get("pattern", 1), meta); // [n_heads, 2]
 * ```
 */
export function headScores(pattern: Tensor, runs: Tensor): Tensor {
  const out = empty([pattern.shape[1] ?? 0, 2], "f32", pattern.engine);
  try {
    headScoresInto(pattern, runs, out, 0);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/**
 * {@link headScores} written into `out` (contiguous f32) from element `offset`: head h's
 * induction score at offset + 2h, its previous-token score at offset + 2h + 1. For recording
 * scores over training into one history buffer without readback.
 *
 * @example
 * ```ts
 * headScoresInto(pattern, meta, history, (slot * nLayers + layer) * nHeads * 2);
 * ```
 */
export function headScoresInto(pattern: Tensor, runs: Tensor, out: Tensor, offset: number): void {
  const op = "headScores";
  checkPattern(op, pattern);
  checkRuns(op, runs, pattern.shape[0]);
  const H = pattern.shape[1];
  if (out.dtype !== "f32" || !out.isContiguous || offset < 0 || offset + 2 * H > out.size) {
    throw new RangeError(
      `Cannot run ${op}: out ${out.describe()} must be contiguous f32 with room for ${
        2 * H
      } values at offset ${offset}`,
    );
  }
  noGrad(() => {
    const pc = contiguous(pattern);
    const rc = contiguous(runs);
    try {
      headScoresKernel(pattern.engine, pc, rc, out, offset);
    } finally {
      if (pc !== pattern) pc.dispose();
      if (rc !== runs) rc.dispose();
    }
  });
}

/** Scores of every head of a model: [layer][head]. */
export interface ModelHeadScores {
  /** Induction score of each head, [layer][head]. */
  induction: number[][];
  /** Previous-token score of each head, [layer][head]. */
  prevToken: number[][];
}

/**
 * Per-head scores of every layer of `model` on `tokens` (i32 [batch, pos]) with runs `runs`
 * ([batch, 2]): one forward pass keeping only the patterns, one dispatch per layer, and one
 * readback.
 *
 * @example
 * ```ts
 * const { tokens, meta } = repeatedSequences({ batch: 64, ctx: 48, seed: 99 });
 * const s = await modelHeadScores(model, tokens, meta);
 * console.log(Math.max(...s.induction[1]));
 * ```
 */
export async function modelHeadScores(
  model: HookedTransformer,
  tokens: Tensor,
  runs: Tensor,
): Promise<ModelHeadScores> {
  const { nLayers: L, nHeads: H } = model.cfg;
  const out = empty([L, H, 2], "f32", model.engine);
  try {
    modelHeadScoresInto(model, tokens, runs, out, 0);
    const [v] = await readTensors([out]);
    return splitScores(v as Float32Array, L, H, 0);
  } finally {
    out.dispose();
  }
}

/**
 * {@link modelHeadScores} without the readback: writes [layer, head, (induction, prev)] into
 * `out` from element `offset` (L·H·2 values).
 *
 * @example
 * ```ts
 * modelHeadScoresInto(model, evalTokens, evalMeta, history, slot * nLayers * nHeads * 2);
 * ```
 */
export function modelHeadScoresInto(
  model: HookedTransformer,
  tokens: Tensor,
  runs: Tensor,
  out: Tensor,
  offset: number,
): void {
  const names = Array.from(
    { length: model.cfg.nLayers },
    (_, l) => `blocks.${l}.attn.hook_pattern`,
  );
  const { logits, cache } = noGrad(() => model.runWithCache(tokens, { names }));
  logits.dispose();
  try {
    const H = model.cfg.nHeads;
    names.forEach((n, l) => headScoresInto(cache.get(n), runs, out, offset + l * H * 2));
  } finally {
    cache.dispose();
  }
}

/** [layer][head] arrays from a flat [L, H, 2] block of scores starting at `offset`. */
export function splitScores(
  v: ArrayLike<number>,
  L: number,
  H: number,
  offset = 0,
): ModelHeadScores {
  const induction: number[][] = [];
  const prevToken: number[][] = [];
  for (let l = 0; l < L; l++) {
    const ind: number[] = [];
    const prev: number[] = [];
    for (let h = 0; h < H; h++) {
      ind.push(v[offset + (l * H + h) * 2]);
      prev.push(v[offset + (l * H + h) * 2 + 1]);
    }
    induction.push(ind);
    prevToken.push(prev);
  }
  return { induction, prevToken };
}

function checkRef(op: string, pattern: ArrayLike<number>, shape: readonly number[]): void {
  if (shape.length !== 4 || shape[2] !== shape[3]) {
    throw new RangeError(
      `Cannot run ${op}: shape ${fmtShape(shape)} must be [batch, head, pos, pos]`,
    );
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (pattern.length !== n) {
    throw new RangeError(
      `Cannot run ${op}: ${pattern.length} values do not fill shape ${fmtShape(shape)} (${n})`,
    );
  }
}

/**
 * f64 reference of the induction score of each head (see the module comment) for a pattern
 * [batch, head, pos, pos] given as flat values, and runs [batch, 2] (start, length).
 *
 * @example
 * ```ts
 * const scores = inductionScoresRef(patternValues, [2, 4, 48, 48], new Int32Array([5, 10, 1, 8]));
 * ```
 */
export function inductionScoresRef(
  pattern: ArrayLike<number>,
  shape: readonly number[],
  runs: ArrayLike<number>,
): Float64Array {
  checkRef("inductionScoresRef", pattern, shape);
  const [B, H, P] = shape;
  const out = new Float64Array(H);
  for (let h = 0; h < H; h++) {
    let s = 0;
    let n = 0;
    for (let b = 0; b < B; b++) {
      const base = (b * H + h) * P * P;
      const [start, len] = [runs[2 * b], runs[2 * b + 1]];
      for (let q = start + len; q < Math.min(start + 2 * len, P); q++) {
        s += pattern[base + q * P + q - len + 1];
        n++;
      }
    }
    out[h] = s / Math.max(n, 1);
  }
  return out;
}

/**
 * f64 reference of the previous-token score of each head: mean of pattern[b, h, q, q − 1] over
 * rows and queries q ≥ 1.
 *
 * @example
 * ```ts
 * const scores = prevTokenScoresRef(patternValues, [2, 4, 48, 48]);
 * ```
 */
export function prevTokenScoresRef(
  pattern: ArrayLike<number>,
  shape: readonly number[],
): Float64Array {
  checkRef("prevTokenScoresRef", pattern, shape);
  const [B, H, P] = shape;
  const out = new Float64Array(H);
  for (let h = 0; h < H; h++) {
    let s = 0;
    for (let b = 0; b < B; b++) {
      const base = (b * H + h) * P * P;
      for (let q = 1; q < P; q++) s += pattern[base + q * P + q - 1];
    }
    out[h] = s / Math.max(B * (P - 1), 1);
  }
  return out;
}
