/// <reference lib="dom" />
/**
 * The attention page: load a checkpoint folder the user picks, run it on their text (or token
 * ids) with WebGPU in the page, and show every head's pattern with the attention view.
 *
 * Bundled by `deno task glassbox attention --serve` (esbuild, like `deno task bundle`) into
 * app.js next to index.html. The page's progress is in `window.__attention` (for tests).
 *
 * @module
 */

import { GPT2Tokenizer, type HookedTransformer, init } from "../../mod.ts";
import { loadCheckpoint } from "../../src/io/checkpoint.ts";
import {
  attentionData,
  type AttentionViewData,
  type AttentionViewHandle,
  mountAttentionView,
} from "../../src/viz/attention.ts";

/** What the page is doing, readable by tests as `window.__attention`. */
interface PageState {
  state: "starting" | "no-gpu" | "idle" | "loading" | "running" | "ready" | "error";
  error: string | null;
  model: { nLayers: number; nHeads: number; dVocab: number; nCtx: number } | null;
  tokens: string[];
  /** The token ids shown. */
  ids: number[];
  /** What the view shows (every head's pattern, computed in this page). */
  data: AttentionViewData | null;
  adapter: string | null;
  view: AttentionViewHandle | null;
}

const state: PageState = {
  state: "starting",
  error: null,
  model: null,
  tokens: [],
  ids: [],
  data: null,
  adapter: null,
  view: null,
};
(globalThis as unknown as { __attention: PageState }).__attention = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const folder = $<HTMLInputElement>("folder");
const files = $<HTMLInputElement>("files");
const text = $<HTMLTextAreaElement>("text");
const button = $<HTMLButtonElement>("run");
const status = $<HTMLDivElement>("status");
const view = $<HTMLDivElement>("view");

const GPT2_VOCAB = 50257;
let model: HookedTransformer | null = null;
let tokenizer: GPT2Tokenizer | null = null;
let edited = false;

function say(msg: string, error = false) {
  status.textContent = msg;
  status.classList.toggle("error", error);
}

function fail(e: unknown) {
  const msg = e instanceof Error ? e.message : String(e);
  state.state = "error";
  state.error = msg;
  say(msg, true);
}

/**
 * A random sequence repeated twice (distinct tokens when the vocabulary allows): induction
 * heads light up on its second half.
 */
function repeatedSequence(dVocab: number, nCtx: number): number[] {
  let a = 12345;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const lo = dVocab > 2 ? 1 : 0; // keep clear of a BOS-like token 0
  const pool = Array.from({ length: dVocab - lo }, (_, i) => i + lo);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  const n = Math.max(1, Math.min(16, Math.floor(nCtx / 2), pool.length));
  const half = pool.slice(0, n);
  return [...half, ...half];
}

function tokensOf(m: HookedTransformer, input: string): { ids: number[]; strs: string[] } {
  const { dVocab, nCtx } = m.cfg;
  let ids: number[];
  let strs: string[];
  if (/^[\s,\d]+$/.test(input) && input.trim() !== "") {
    ids = input.split(/[\s,]+/).filter(Boolean).map(Number);
    strs = tokenizer ? tokenizer.toStrTokens(ids.filter((t) => t < dVocab)) : ids.map(String);
  } else if (tokenizer) {
    ids = [...tokenizer.toTokens(input, { prependBos: true })];
    strs = tokenizer.toStrTokens(ids);
  } else {
    throw new Error(
      `This model's vocabulary has ${dVocab} tokens and no tokenizer here: give token ids ` +
        `separated by spaces or commas`,
    );
  }
  if (ids.length === 0) throw new Error("No tokens: type some text or token ids");
  if (ids.length > nCtx) {
    throw new Error(`${ids.length} tokens is more than the model's context of ${nCtx}`);
  }
  const bad = ids.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= dVocab);
  if (bad >= 0) {
    throw new Error(
      `Token id ${ids[bad]} at position ${bad} is outside the vocabulary [0, ${dVocab})`,
    );
  }
  return { ids, strs };
}

async function show() {
  if (!model) return;
  button.disabled = true;
  state.state = "running";
  state.error = null;
  try {
    const { ids, strs } = tokensOf(model, text.value);
    say(`Running ${ids.length} tokens through the model…`);
    const t0 = performance.now();
    const data = await attentionData(model, ids, strs);
    state.view?.destroy();
    state.view = mountAttentionView(view, data);
    state.tokens = strs;
    state.ids = ids;
    state.data = data;
    state.state = "ready";
    const { nLayers, nHeads } = model.cfg;
    say(
      `${nLayers} layers × ${nHeads} heads on ${ids.length} tokens, computed in ${
        ((performance.now() - t0) / 1000).toFixed(2)
      } s on ${state.adapter}.`,
    );
  } catch (e) {
    fail(e);
  } finally {
    button.disabled = model === null;
  }
}

async function load(list: FileList | null) {
  if (!list || list.length === 0) return;
  const picked = [...list].filter((f) =>
    f.name === "config.json" || f.name === "model.safetensors"
  );
  state.state = "loading";
  state.error = null;
  button.disabled = true;
  say(`Loading ${picked.map((f) => f.name).join(" and ") || "the files"}…`);
  try {
    model?.dispose();
    model = null;
    const m = await loadCheckpoint(picked.length > 0 ? picked : [...list]);
    model = m;
    const { nLayers, nHeads, dVocab, nCtx } = m.cfg;
    state.model = { nLayers, nHeads, dVocab, nCtx };
    tokenizer = dVocab === GPT2_VOCAB ? new GPT2Tokenizer() : null;
    if (!edited || text.value.trim() === "") {
      text.value = tokenizer
        ? "When Mary and John went to the store, John gave a drink to Mary."
        : repeatedSequence(dVocab, nCtx).join(" ");
    }
    state.state = "idle";
    await show();
  } catch (e) {
    fail(e);
  } finally {
    button.disabled = model === null;
  }
}

folder.addEventListener("change", () => load(folder.files));
files.addEventListener("change", () => load(files.files));
text.addEventListener("input", () => (edited = true));
text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) show();
});
button.addEventListener("click", () => show());

try {
  const eng = await init();
  const info = eng.gpu.info;
  state.adapter = `${info.description || info.vendor || "WebGPU"}${
    info.isCpu ? " (software)" : ""
  }`;
  state.state = "idle";
  say(`WebGPU ready (${state.adapter}). Pick a checkpoint folder.`);
} catch (e) {
  state.state = "no-gpu";
  state.error = e instanceof Error ? e.message : String(e);
  say(`WebGPU is not available in this browser: ${state.error}`, true);
}
