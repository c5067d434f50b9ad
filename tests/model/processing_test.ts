/**
 * TransformerLens weight processing (src/model/processing.ts): each step and all together leave
 * the log-probs unchanged, in f64 (the reference transformer, to 1e-9) and on the GPU
 * (processWeights, to f32 tolerance); the steps do what TL's do, checked on hand-worked values
 * and on the invariants they establish.
 */

import assert from "node:assert/strict";
import { gpuTest } from "../_gpu.ts";
import { randomModel, randomTokens, rng } from "./_fixtures.ts";
import {
  type ConfigInput,
  type HookedTransformerConfig,
  makeConfig,
  paramShapes,
} from "../../src/model/mod.ts";
import {
  centerUnembed,
  centerWritingWeights,
  foldLayerNorm,
  foldValueBiases,
  type HostStateDict,
  paramGroups,
  processedConfig,
  type ProcessOptions,
  processStateDict,
  processWeights,
} from "../../src/model/processing.ts";
import { type RefActivation, refTransformer } from "../../src/reference/transformer.ts";
import { readTensors } from "../../src/tensor.ts";

const BASE = { nLayers: 2, dModel: 16, nHeads: 4, dMlp: 32, nCtx: 8, dVocab: 23 } as const;

const CONFIGS: [string, ConfigInput][] = [
  ["GPT-2-like (LN, standard)", { ...BASE }],
  ["attention-only", { ...BASE, attnOnly: true }],
  ["shortformer", { ...BASE, positionalEmbedding: "shortformer" }],
  ["shortformer, LNPre", { ...BASE, positionalEmbedding: "shortformer", normalization: "LNPre" }],
  ["LNPre", { ...BASE, normalization: "LNPre" }],
  ["no layer norm", { ...BASE, normalization: null }],
  ["d_head·n_heads ≠ d_model, relu", { ...BASE, dHead: 3, act: "relu" }],
];

/** Every single step, and all four (TL's from_pretrained default). */
const STEPS: [string, ProcessOptions][] = [
  ["foldLn", {
    foldLn: true,
    centerWritingWeights: false,
    centerUnembed: false,
    foldValueBiases: false,
  }],
  ["centerWritingWeights", {
    foldLn: false,
    centerWritingWeights: true,
    centerUnembed: false,
    foldValueBiases: false,
  }],
  ["centerUnembed", {
    foldLn: false,
    centerWritingWeights: false,
    centerUnembed: true,
    foldValueBiases: false,
  }],
  ["foldValueBiases", {
    foldLn: false,
    centerWritingWeights: false,
    centerUnembed: false,
    foldValueBiases: true,
  }],
  ["all four", {}],
];

/** A random f64 state dict (every parameter random, biases and LN weights included). */
function randomHost(cfg: HookedTransformerConfig, seed: number): HostStateDict {
  const r = rng(seed);
  const g = (std: number, mean = 0) =>
    mean + std * Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  const sd: HostStateDict = new Map();
  for (const [name, shape] of paramShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const leaf = name.slice(name.lastIndexOf(".") + 1);
    const std = name === "embed.W_E" || name === "pos_embed.W_pos"
      ? 1
      : leaf.startsWith("W_")
      ? cfg.initializerRange
      : 0.3;
    const data = Float64Array.from({ length: n }, () => g(std, leaf === "w" ? 1 : 0));
    sd.set(name, { data, shape });
  }
  return sd;
}

function copyHost(sd: HostStateDict): HostStateDict {
  return new Map([...sd].map(([k, v]) => [k, { data: v.data.slice(), shape: v.shape }]));
}

function values(sd: HostStateDict): Map<string, ArrayLike<number>> {
  return new Map([...sd].map(([k, v]) => [k, v.data]));
}

/** log_softmax over the last axis, in f64. */
function logProbs(logits: ArrayLike<number>, V: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r < logits.length / V; r++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[r * V + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[r * V + v] - m);
    const lse = m + Math.log(s);
    for (let v = 0; v < V; v++) out[r * V + v] = logits[r * V + v] - lse;
  }
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function refLogits(
  cfg: HookedTransformerConfig,
  sd: HostStateDict,
  tokens: number[][],
): RefActivation {
  return refTransformer(cfg, values(sd), tokens).logits;
}

// ------------------------------------------------------------------------------ f64

for (const [label, input] of CONFIGS) {
  Deno.test(`processStateDict() leaves the f64 log-probs unchanged, step by step and all together: ${label}`, () => {
    const cfg = makeConfig(input);
    const sd0 = randomHost(cfg, 17);
    const tokens = randomTokens(4, 2, 8, cfg.dVocab);
    const before = refLogits(cfg, sd0, tokens);
    const lp0 = logProbs(before.data, cfg.dVocab);
    for (const [step, opts] of STEPS) {
      const { cfg: c2, stateDict } = processStateDict(cfg, copyHost(sd0), opts);
      assert.deepEqual([...stateDict.keys()].sort(), [...paramShapes(c2).keys()].sort(), step);
      assert.deepEqual(c2, processedConfig(cfg, opts), step);
      const after = refLogits(c2, stateDict, tokens);
      // f64 throughout: differences are rounding, ≲ 1e-13 on O(1) values.
      const d = maxDiff(logProbs(after.data, cfg.dVocab), lp0);
      assert.ok(d < 1e-9, `${label}, ${step}: log-probs moved by ${d}`);
      if (!opts.centerUnembed && opts.centerUnembed !== undefined) {
        // Without centring the unembedding the logits themselves are unchanged.
        const dl = maxDiff(after.data, before.data);
        assert.ok(dl < 1e-9, `${label}, ${step}: logits moved by ${dl}`);
      }
    }
  });
}

Deno.test("processStateDict() group by group equals processing the whole state dict", () => {
  for (const [label, input] of CONFIGS) {
    const cfg = makeConfig(input);
    const sd = randomHost(cfg, 5);
    const whole = processStateDict(cfg, copyHost(sd)).stateDict;
    const parts: HostStateDict = new Map();
    for (const group of paramGroups(cfg)) {
      const g: HostStateDict = new Map(
        group.map((n) => [n, { data: sd.get(n)!.data.slice(), shape: sd.get(n)!.shape }]),
      );
      for (const [k, v] of processStateDict(cfg, g).stateDict) parts.set(k, v);
    }
    assert.deepEqual([...parts.keys()].sort(), [...whole.keys()].sort(), label);
    for (const [k, v] of whole) assert.deepEqual(parts.get(k)!.data, v.data, `${label}: ${k}`);
  }
});

Deno.test("paramGroups() lists every parameter once, in coupled groups", () => {
  for (const [label, input] of CONFIGS) {
    const cfg = makeConfig(input);
    const groups = paramGroups(cfg);
    assert.deepEqual(groups.flat(), [...paramShapes(cfg).keys()], label);
    assert.deepEqual(groups[0], ["embed.W_E"]);
    const last = groups[groups.length - 1];
    assert.ok(last.includes("unembed.W_U") && last.includes("unembed.b_U"), label);
    if (cfg.normalization === "LN") assert.ok(last.includes("ln_final.w"), label);
  }
});

// ------------------------------------------------------------------------------ TL semantics

Deno.test("foldLayerNorm() folds w and b as TL does (worked by hand)", () => {
  // d_model 2, one head of d_head 1, attention only, no positional embedding.
  const cfg = makeConfig({
    nLayers: 1,
    dModel: 2,
    nHeads: 1,
    dHead: 1,
    nCtx: 2,
    dVocab: 2,
    attnOnly: true,
    positionalEmbedding: "none",
  });
  const h = (data: number[], shape: number[]) => ({ data: Float64Array.from(data), shape });
  const sd: HostStateDict = new Map([
    ["embed.W_E", h([1, 2, 3, 4], [2, 2])],
    ["blocks.0.ln1.w", h([2, 3], [2])],
    ["blocks.0.ln1.b", h([1, -1], [2])],
    ["blocks.0.attn.W_Q", h([1, 2], [1, 2, 1])],
    ["blocks.0.attn.W_K", h([0, 1], [1, 2, 1])],
    ["blocks.0.attn.W_V", h([1, 1], [1, 2, 1])],
    ["blocks.0.attn.W_O", h([1, 2], [1, 1, 2])],
    ["blocks.0.attn.b_Q", h([0.5], [1, 1])],
    ["blocks.0.attn.b_K", h([0], [1, 1])],
    ["blocks.0.attn.b_V", h([0], [1, 1])],
    ["blocks.0.attn.b_O", h([0, 0], [2])],
    ["ln_final.w", h([1, 2], [2])],
    ["ln_final.b", h([3, 0], [2])],
    ["unembed.W_U", h([1, 0, 0, 1], [2, 2])],
    ["unembed.b_U", h([0, 0], [2])],
  ]);
  foldLayerNorm(cfg, sd);
  // b_Q = 0.5 + (1·1 + 2·(−1)) = −0.5; W_Q = (1·2, 2·3) = (2, 6), centred over d_model: (−2, 2).
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.b_Q")!.data), [-0.5]);
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.W_Q")!.data), [-2, 2]);
  // b_K = 0 + (0·1 + 1·(−1)) = −1; W_K = (0, 3) → (−1.5, 1.5).
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.b_K")!.data), [-1]);
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.W_K")!.data), [-1.5, 1.5]);
  // b_V = 1 − 1 = 0; W_V = (2, 3) → (−0.5, 0.5).
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.W_V")!.data), [-0.5, 0.5]);
  // b_U[v] = Σ_m W_U[m, v]·b[m] = (3, 0); W_U = [[1, 0], [0, 2]] centred per column over
  // d_model: [[0.5, −1], [−0.5, 1]].
  assert.deepEqual(Array.from(sd.get("unembed.b_U")!.data), [3, 0]);
  assert.deepEqual(Array.from(sd.get("unembed.W_U")!.data), [0.5, -1, -0.5, 1]);
  assert.ok(!sd.has("blocks.0.ln1.w") && !sd.has("ln_final.b"));
  // W_O and W_E are not reading weights: untouched.
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.W_O")!.data), [1, 2]);
  assert.deepEqual(Array.from(sd.get("embed.W_E")!.data), [1, 2, 3, 4]);

  // fold value biases: b_O += b_V @ W_O.
  sd.get("blocks.0.attn.b_V")!.data[0] = 2;
  foldValueBiases(cfg, sd);
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.b_O")!.data), [2, 4]);
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.b_V")!.data), [0]);
  // centre writing weights: W_E rows, W_O rows, b_O.
  const c2 = processedConfig(cfg);
  centerWritingWeights(c2, sd);
  assert.deepEqual(Array.from(sd.get("embed.W_E")!.data), [-0.5, 0.5, -0.5, 0.5]);
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.W_O")!.data), [-0.5, 0.5]);
  assert.deepEqual(Array.from(sd.get("blocks.0.attn.b_O")!.data), [-1, 1]);
  // centre unembed: each W_U row over the vocabulary, b_U.
  centerUnembed(c2, sd);
  assert.deepEqual(Array.from(sd.get("unembed.W_U")!.data), [0.75, -0.75, -0.75, 0.75]);
  assert.deepEqual(Array.from(sd.get("unembed.b_U")!.data), [1.5, -1.5]);
});

Deno.test("processStateDict() establishes TL's invariants (centred readers and writers, b_V = 0)", () => {
  const cfg = makeConfig(BASE);
  const { cfg: c2, stateDict: sd } = processStateDict(cfg, randomHost(cfg, 2));
  assert.equal(c2.normalization, "LNPre");
  const near0 = (x: number, what: string) => assert.ok(Math.abs(x) < 1e-12, `${what}: ${x}`);
  const { dModel: D, nHeads: H, dHead: Dh, dVocab: V, dMlp: M } = c2;
  const colMeans = (data: Float64Array, off: number, rows: number, cols: number, what: string) => {
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += data[off + r * cols + c];
      near0(s / rows, `${what} column ${c}`);
    }
  };
  const rowMeans = (data: Float64Array, rows: number, cols: number, what: string) => {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += data[r * cols + c];
      near0(s / cols, `${what} row ${r}`);
    }
  };
  const d = (n: string) => sd.get(n)!.data as Float64Array;
  rowMeans(d("embed.W_E"), V, D, "W_E");
  rowMeans(d("pos_embed.W_pos"), c2.nCtx, D, "W_pos");
  for (let l = 0; l < c2.nLayers; l++) {
    for (const x of ["Q", "K", "V"]) {
      for (let h = 0; h < H; h++) {
        colMeans(d(`blocks.${l}.attn.W_${x}`), h * D * Dh, D, Dh, `W_${x}`);
      }
    }
    assert.ok(d(`blocks.${l}.attn.b_V`).every((v) => v === 0));
    rowMeans(d(`blocks.${l}.attn.W_O`), H * Dh, D, "W_O");
    rowMeans(d(`blocks.${l}.attn.b_O`), 1, D, "b_O");
    colMeans(d(`blocks.${l}.mlp.W_in`), 0, D, M, "W_in");
    rowMeans(d(`blocks.${l}.mlp.W_out`), M, D, "W_out");
  }
  colMeans(d("unembed.W_U"), 0, D, V, "W_U over d_model");
  rowMeans(d("unembed.W_U"), D, V, "W_U over d_vocab");
  rowMeans(d("unembed.b_U"), 1, V, "b_U");
});

Deno.test("foldLayerNorm() and centerWritingWeights() refuse models they would change; missing partners are named", () => {
  const pre = makeConfig({ ...BASE, normalization: "LNPre" });
  assert.throws(() => foldLayerNorm(pre, randomHost(pre, 1)), /normalization is "LNPre"/);
  const none = makeConfig({ ...BASE, normalization: null });
  assert.throws(() => centerWritingWeights(none, randomHost(none, 1)), /no layer norm/);
  const cfg = makeConfig(BASE);
  const sd = randomHost(cfg, 1);
  sd.delete("blocks.1.attn.W_K");
  assert.throws(() => foldLayerNorm(cfg, sd), /"blocks\.1\.attn\.W_K" is missing/);
  const bad = randomHost(cfg, 1);
  bad.set("unembed.W_U", { data: new Float64Array(3), shape: [3] });
  assert.throws(() => centerUnembed(cfg, bad), /"unembed\.W_U" has shape \[3\].*\[16, 23\]/);
  // Shortformer models: no folding (processing leaves "LN"), W_pos left alone (module notes).
  const sf = makeConfig({ ...BASE, positionalEmbedding: "shortformer" });
  assert.throws(() => foldLayerNorm(sf, randomHost(sf, 3)), /shortformer/);
  assert.equal(processedConfig(sf).normalization, "LN");
  const s1 = randomHost(sf, 3);
  const wpos = s1.get("pos_embed.W_pos")!.data.slice();
  centerWritingWeights(sf, s1);
  assert.deepEqual(s1.get("pos_embed.W_pos")!.data, wpos);
});

// ------------------------------------------------------------------------------ GPU

for (const [label, input] of CONFIGS) {
  gpuTest(
    `processWeights() leaves the GPU log-probs unchanged, step by step and all together: ${label}`,
    async () => {
      const { model } = randomModel(input, 9);
      const tokens = randomTokens(6, 2, 7, model.cfg.dVocab);
      const V = model.cfg.dVocab;
      const l0 = model.forward(tokens);
      const [base] = await readTensors([l0]);
      l0.dispose();
      const lp0 = logProbs(base, V);
      try {
        for (const [step, opts] of STEPS) {
          const p = await processWeights(model, opts);
          try {
            assert.deepEqual(p.cfg, processedConfig(model.cfg, opts), step);
            const l = p.forward(tokens);
            const [got] = await readTensors([l]);
            l.dispose();
            // Two f32 GPU runs of O(1) log-probs (d_model 16, 2 layers): each within ~2e-6 of
            // exact (see _fixtures.ts ATOL); 1e-4 leaves headroom and still catches any wrong
            // fold (which moves them by ≥ 1e-2).
            const d = maxDiff(logProbs(got, V), lp0);
            assert.ok(d < 1e-4, `${label}, ${step}: log-probs moved by ${d}`);
          } finally {
            p.dispose();
          }
        }
        assert.ok(!model.isDisposed, "the original model is left alone");
      } finally {
        model.dispose();
      }
    },
  );
}
