/**
 * Head detectors: how much each attention head behaves like a previous-token, duplicate-token
 * or induction head on given tokens, from the cached `hook_pattern`s (TransformerLens's
 * `head_detector.detect_head` with `error_measure="mul"`).
 *
 * A detection pattern D [query, key] marks where such a head should attend. A head's score on
 * one sequence is `Σ (A ⊙ D) / Σ A` over its pattern A [query, key]: the fraction of its
 * attention that lands where D says (1 for a perfect head, 0 for one that never does), averaged
 * over the batch. Scores are computed on the GPU for every head at once: `[n_layers, n_heads]`.
 *
 * @module
 */

import { tensor } from "../ops/creation.ts";
import { div, mul } from "../ops/elementwise.ts";
import { concat } from "../ops/indexing.ts";
import { reshape } from "../ops/movement.ts";
import { mean, sum } from "../ops/reduce.ts";
import type { Tensor } from "../tensor.ts";
import type { ActivationCache } from "../model/hooks.ts";
import { scoped } from "./resid.ts";

/** The built-in detection patterns. */
export type HeadKind = "previous_token" | "duplicate_token" | "induction";

/** Options of the detectors. */
export interface DetectOptions {
  /** Ignore attention to the first position (BOS) in the score (default false, as TL). */
  excludeBos?: boolean;
  /** Ignore attention of each position to itself (default false, as TL). */
  excludeCurrentToken?: boolean;
  /** Only these layers (default: every layer whose hook_pattern is cached, from 0). */
  layers?: readonly number[];
}

/** Token ids [batch][pos] (or one sequence [pos]). */
export type TokenRows = readonly (readonly number[])[] | readonly number[];

function rowsOf(op: string, tokens: TokenRows): readonly (readonly number[])[] {
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw new RangeError(`Cannot run ${op}: tokens are empty`);
  }
  const rows = (Array.isArray(tokens[0]) ? tokens : [tokens]) as readonly (readonly number[])[];
  const P = rows[0].length;
  rows.forEach((r, b) => {
    if (!Array.isArray(r) || r.length !== P) {
      throw new RangeError(
        `Cannot run ${op}: token rows differ in length (row 0 has ${P}, row ${b} has ${
          Array.isArray(r) ? r.length : "no array"
        })`,
      );
    }
  });
  return rows;
}

/**
 * The detection pattern of `kind` for one sequence, row-major [pos (query), pos (key)], as TL
 * builds it:
 * - "previous_token": 1 at (q, q − 1);
 * - "duplicate_token": 1 at (q, k) for k < q with tokens[k] = tokens[q];
 * - "induction": 1 at (q, k) for 1 ≤ k ≤ q with tokens[k − 1] = tokens[q] and k − 1 < q (the
 *   token after an earlier copy of the current one).
 *
 * @example
 * ```ts
 * detectionPattern([7, 3, 7, 3], "induction"); // 1 at (2, 1) and (3, 2)
 * ```
 */
export function detectionPattern(tokens: readonly number[], kind: HeadKind): Float32Array {
  const P = tokens.length;
  const d = new Float32Array(P * P);
  for (let q = 0; q < P; q++) {
    for (let k = 0; k <= q; k++) {
      let on = false;
      if (kind === "previous_token") on = k === q - 1;
      else if (kind === "duplicate_token") on = k < q && tokens[k] === tokens[q];
      else if (kind === "induction") on = k >= 1 && k - 1 < q && tokens[k - 1] === tokens[q];
      else {
        throw new RangeError(
          `Cannot run detectionPattern: kind "${kind}" is not "previous_token", ` +
            `"duplicate_token" or "induction"`,
        );
      }
      if (on) d[q * P + k] = 1;
    }
  }
  return d;
}

function layersOf(op: string, cache: ActivationCache, opts: DetectOptions): number[] {
  if (opts.layers) {
    for (const l of opts.layers) cache.get("pattern", l); // throws naming the missing hook
    return [...opts.layers];
  }
  const out: number[] = [];
  while (cache.has("pattern", out.length)) out.push(out.length);
  if (out.length === 0) {
    throw new RangeError(
      `Cannot run ${op}: the cache holds no blocks.0.attn.hook_pattern (cache the patterns: ` +
        `runWithCache(tokens, { names: /hook_pattern$/ }))`,
    );
  }
  return out;
}

/**
 * Every head's score against detection patterns, one per batch element (`patterns[b]`, row-major
 * [pos, pos]): `[n_layers, n_heads]`, the mean over the batch of `Σ (A ⊙ D) / Σ A` (after the
 * exclusions). The patterns must be those of the sequences the cache was run on.
 *
 * @example
 * ```ts
 * const d = tokens.map((row) => detectionPattern(row, "induction"));
 * const scores = detectionScores(cache, d); // [n_layers, n_heads]
 * ```
 */
export function detectionScores(
  cache: ActivationCache,
  patterns: readonly Float32Array[],
  opts: DetectOptions = {},
): Tensor {
  const op = "detectionScores";
  const layers = layersOf(op, cache, opts);
  const first = cache.get("pattern", layers[0]); // [batch, head, q, k]
  const [B, , P, K] = first.shape;
  if (P !== K) {
    throw new RangeError(
      `Cannot run ${op}: ${first.describe()} is not square over query and key (a KV-cached run?)`,
    );
  }
  if (patterns.length !== B) {
    throw new RangeError(
      `Cannot run ${op}: ${patterns.length} detection pattern(s) for a batch of ${B} (${first.describe()})`,
    );
  }
  const det = new Float32Array(B * P * P);
  patterns.forEach((p, b) => {
    if (p.length !== P * P) {
      throw new RangeError(
        `Cannot run ${op}: detection pattern ${b} has ${p.length} values; the cached patterns ` +
          `have ${P} positions (${P * P} values)`,
      );
    }
    det.set(p, b * P * P);
  });
  // Exclusions as a 0/1 mask over (query, key).
  const keep = new Float32Array(P * P).fill(1);
  for (let q = 0; q < P; q++) {
    if (opts.excludeBos) keep[q * P] = 0;
    if (opts.excludeCurrentToken) keep[q * P + q] = 0;
  }
  const eng = first.engine;
  return scoped(eng, () => {
    const D = tensor(det, [B, 1, P, P], { engine: eng });
    const M = tensor(keep, [1, 1, P, P], { engine: eng });
    const rows = layers.map((l) => {
      const A = mul(cache.get("pattern", l), M); // [b, h, q, k]
      const hit = sum(mul(A, D), [2, 3]); // [b, h]
      const all = sum(A, [2, 3]);
      const score = mean(div(hit, all), 0); // [h]
      return reshape(score, [1, score.shape[0]]);
    });
    return concat(rows, 0);
  });
}

/**
 * Scores of every head as a `kind` head on `tokens` (the sequences the cache was run on):
 * `[n_layers, n_heads]` (see {@link detectionScores}).
 *
 * @example
 * ```ts
 * const { cache } = model.runWithCache(tokens, { names: /hook_pattern$/ });
 * const scores = await detectHeads(cache, tokens, "previous_token").toArray();
 * ```
 */
export function detectHeads(
  cache: ActivationCache,
  tokens: TokenRows,
  kind: HeadKind,
  opts: DetectOptions = {},
): Tensor {
  const rows = rowsOf("detectHeads", tokens);
  return detectionScores(cache, rows.map((r) => detectionPattern(r, kind)), opts);
}

/**
 * Previous-token scores of every head: the attention each position pays to the one before it.
 * `[n_layers, n_heads]`.
 *
 * @example
 * ```ts
 * const prev = previousTokenScores(cache, tokens);
 * ```
 */
export function previousTokenScores(
  cache: ActivationCache,
  tokens: TokenRows,
  opts: DetectOptions = {},
): Tensor {
  return detectHeads(cache, tokens, "previous_token", opts);
}

/**
 * Duplicate-token scores of every head: the attention each position pays to earlier copies of
 * its own token. `[n_layers, n_heads]`.
 *
 * @example
 * ```ts
 * const dup = duplicateTokenScores(cache, repeatedTokens);
 * ```
 */
export function duplicateTokenScores(
  cache: ActivationCache,
  tokens: TokenRows,
  opts: DetectOptions = {},
): Tensor {
  return detectHeads(cache, tokens, "duplicate_token", opts);
}

/**
 * Induction scores of every head: the attention each position pays to the token that followed
 * an earlier copy of its own token. On a random sequence repeated twice, an induction head
 * scores near 1. `[n_layers, n_heads]`.
 *
 * @example
 * ```ts
 * const seq = [...rand, ...rand];
 * const { cache } = model.runWithCache([seq], { names: /hook_pattern$/ });
 * const ind = inductionScores(cache, [seq]);
 * ```
 */
export function inductionScores(
  cache: ActivationCache,
  tokens: TokenRows,
  opts: DetectOptions = {},
): Tensor {
  return detectHeads(cache, tokens, "induction", opts);
}
