import fc from "fast-check";
import assert from "node:assert/strict";
import { CharTokenizer, GPT2Tokenizer, WordTokenizer } from "../../src/io/tokenizers.ts";

Deno.test("GPT2Tokenizer gives GPT-2's ids and prepends BOS like TransformerLens", () => {
  const tok = new GPT2Tokenizer();
  assert.deepEqual([...tok.toTokens("Hello world", { prependBos: false })], [15496, 995]);
  assert.deepEqual([...tok.toTokens("Hello world")], [50256, 15496, 995]);
  assert.deepEqual(tok.toStrTokens("Hello world"), ["<|endoftext|>", "Hello", " world"]);
  assert.throws(
    () => tok.toString([50257]),
    /token 50257 at position 0 is outside the vocabulary \[0, 50257\)/,
  );
});

Deno.test("GPT2Tokenizer round-trips any text", () => {
  const tok = new GPT2Tokenizer();
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 60 }), (s) => {
      assert.equal(tok.toString(tok.toTokens(s, { prependBos: false })), s);
    }),
    { numRuns: 200 },
  );
});

Deno.test("CharTokenizer and WordTokenizer round-trip and reject unknown input", () => {
  const c = new CharTokenizer("abc");
  assert.deepEqual([...c.toTokens("cab")], [0, 3, 1, 2]);
  assert.equal(c.toString(c.toTokens("abcabc")), "abcabc");
  assert.throws(() => c.toTokens("abd"), /character "d" at 2 is not in the alphabet/);
  const w = new WordTokenizer(["the", "cat", "sat"]);
  assert.deepEqual(w.toStrTokens("the cat sat"), ["<bos>", "the", "cat", "sat"]);
  assert.deepEqual(w.toStrTokens("the dog", { prependBos: false }), ["the", "<unk>"]);
  assert.equal(w.toString(w.toTokens("the cat")), "the cat");
});
