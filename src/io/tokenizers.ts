/**
 * Tokenizers: GPT-2's byte-level BPE (from the npm package `gpt-tokenizer`, which ships the
 * r50k_base vocabulary offline), and character and word tokenizers for toy tasks. All share
 * TransformerLens's method names: `toTokens`, `toString`, `toStrTokens`.
 *
 * @module
 */

import { decode as r50kDecode, encode as r50kEncode } from "gpt-tokenizer/r50k_base";

/** Options for {@link Tokenizer.toTokens}. */
export interface ToTokensOptions {
  /** Put the BOS token first (TransformerLens's default is true). */
  prependBos?: boolean;
}

/** What every tokenizer offers. */
export interface Tokenizer {
  /** Vocabulary size. */
  readonly dVocab: number;
  /** The BOS token id, or null when the tokenizer has none. */
  readonly bosTokenId: number | null;
  /** Text to token ids. */
  toTokens(text: string, opts?: ToTokensOptions): Int32Array;
  /** Token ids to text. */
  toString(tokens: ArrayLike<number>): string;
  /** Text (or ids) to the string of each token. */
  toStrTokens(input: string | ArrayLike<number>, opts?: ToTokensOptions): string[];
}

function checkIds(name: string, tokens: ArrayLike<number>, dVocab: number): void {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t) || t < 0 || t >= dVocab) {
      throw new RangeError(
        `Cannot decode with ${name}: token ${t} at position ${i} is outside the vocabulary [0, ${dVocab})`,
      );
    }
  }
}

/**
 * GPT-2's tokenizer (50257 tokens; `<|endoftext|>` = 50256 is BOS, as in TransformerLens).
 *
 * @example
 * ```ts
 * const tok = new GPT2Tokenizer();
 * tok.toTokens("Hello world", { prependBos: false }); // Int32Array [15496, 995]
 * ```
 */
export class GPT2Tokenizer implements Tokenizer {
  readonly dVocab = 50257;
  readonly bosTokenId = 50256;

  toTokens(text: string, opts: ToTokensOptions = {}): Int32Array {
    const ids = r50kEncode(text, { allowedSpecial: new Set(["<|endoftext|>"]) });
    const bos = opts.prependBos ?? true;
    const out = new Int32Array(ids.length + (bos ? 1 : 0));
    if (bos) out[0] = this.bosTokenId;
    out.set(ids, bos ? 1 : 0);
    return out;
  }

  toString(tokens: ArrayLike<number>): string {
    checkIds("GPT2Tokenizer", tokens, this.dVocab);
    return r50kDecode(Array.from(tokens));
  }

  toStrTokens(input: string | ArrayLike<number>, opts: ToTokensOptions = {}): string[] {
    const ids = typeof input === "string" ? this.toTokens(input, opts) : input;
    checkIds("GPT2Tokenizer", ids, this.dVocab);
    return Array.from(ids, (id) => r50kDecode([id]));
  }
}

/**
 * One token per character of a fixed alphabet; id 0 is BOS.
 *
 * @example
 * ```ts
 * const tok = new CharTokenizer("abc");
 * tok.toTokens("cab"); // Int32Array [0, 3, 1, 2]
 * ```
 */
export class CharTokenizer implements Tokenizer {
  readonly bosTokenId = 0;
  readonly dVocab: number;
  readonly #chars: string[];
  readonly #index = new Map<string, number>();

  constructor(alphabet: string) {
    this.#chars = ["<bos>", ...new Set(Array.from(alphabet))];
    this.#chars.forEach((c, i) => this.#index.set(c, i));
    this.dVocab = this.#chars.length;
  }

  toTokens(text: string, opts: ToTokensOptions = {}): Int32Array {
    const chars = Array.from(text);
    const bos = opts.prependBos ?? true;
    const out = new Int32Array(chars.length + (bos ? 1 : 0));
    chars.forEach((c, i) => {
      const id = this.#index.get(c);
      if (id === undefined || id === 0) {
        throw new RangeError(
          `Cannot tokenize: character ${JSON.stringify(c)} at ${i} is not in the alphabet`,
        );
      }
      out[i + (bos ? 1 : 0)] = id;
    });
    return out;
  }

  toString(tokens: ArrayLike<number>): string {
    checkIds("CharTokenizer", tokens, this.dVocab);
    return Array.from(tokens, (t) => (t === 0 ? "" : this.#chars[t])).join("");
  }

  toStrTokens(input: string | ArrayLike<number>, opts: ToTokensOptions = {}): string[] {
    const ids = typeof input === "string" ? this.toTokens(input, opts) : input;
    checkIds("CharTokenizer", ids, this.dVocab);
    return Array.from(ids, (t) => this.#chars[t]);
  }
}

/**
 * Whitespace-separated words from a fixed vocabulary; id 0 is BOS, id 1 is `<unk>`.
 *
 * @example
 * ```ts
 * const tok = new WordTokenizer(["the", "cat", "sat"]);
 * tok.toStrTokens("the cat sat"); // ["<bos>", "the", "cat", "sat"]
 * ```
 */
export class WordTokenizer implements Tokenizer {
  readonly bosTokenId = 0;
  readonly dVocab: number;
  readonly #words: string[];
  readonly #index = new Map<string, number>();

  constructor(words: readonly string[]) {
    this.#words = ["<bos>", "<unk>", ...new Set(words)];
    this.#words.forEach((w, i) => this.#index.set(w, i));
    this.dVocab = this.#words.length;
  }

  toTokens(text: string, opts: ToTokensOptions = {}): Int32Array {
    const words = text.split(/\s+/).filter((w) => w.length > 0);
    const bos = opts.prependBos ?? true;
    const out = new Int32Array(words.length + (bos ? 1 : 0));
    words.forEach((w, i) => (out[i + (bos ? 1 : 0)] = this.#index.get(w) ?? 1));
    return out;
  }

  toString(tokens: ArrayLike<number>): string {
    checkIds("WordTokenizer", tokens, this.dVocab);
    return Array.from(tokens).filter((t) => t !== 0).map((t) => this.#words[t]).join(" ");
  }

  toStrTokens(input: string | ArrayLike<number>, opts: ToTokensOptions = {}): string[] {
    const ids = typeof input === "string" ? this.toTokens(input, opts) : input;
    checkIds("WordTokenizer", ids, this.dVocab);
    return Array.from(ids, (t) => this.#words[t]);
  }
}
