/**
 * Forward-pass benchmark: a GPT-2-small-shaped `HookedTransformer` (12 layers, d_model 768, 12
 * heads, d_mlp 3072, vocab 50257, n_ctx 1024; random weights, std 0.02) on batch 1 × 128 tokens,
 * beside PyTorch on the CPU for the same model shape in the same run
 * (`/usr/bin/python3 bench/forward_torch.py`).
 *
 * Cases: `cache: "none"` (`forward`, logits only) and `cache: "full"` (`runWithCache` keeping
 * every hook point). Each: two warm-up runs (the matmul autotune finishes before timing), then
 * the median of `--runs` (default 5) runs, each ended by `engine.sync()` (so the GPU work is
 * done) and followed by freeing the logits and cache. `peak_bytes` is `memory().peakBytes`
 * over one run after `resetPeak()` (parameters included: 652 MB of them); `texture_bytes` are the
 * rgba32float textures kept beside the tensors (on CPU adapters the linear layers' weights are
 * packed once into that layout, src/kernels/linear.ts, and the matmul keeps operand textures).
 * One JSON line per case:
 *
 * ```
 * {"bench":"forward","cache":"none","glassbox_ms":…,"torch_ms":…,"ratio":…,"peak_bytes":…,
 *  "cache_bytes":…,"texture_bytes":…,"adapter":"…","torch_threads":…}
 * ```
 *
 * `ratio` = glassbox_ms / torch_ms (below 1: glassbox is faster). If PyTorch cannot run,
 * `torch_ms` is null and `torch_error` says why.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp/xdg deno run -A bench/forward.ts [--runs=5] [--pos=128]
 * [--no-torch] [--check]`. `--check` also compares the logits of the first 4 positions with the
 * f64 reference transformer (the windowed embedding and unembedding included).
 *
 * @module
 */

import { type Engine, init } from "../src/gpu/engine.ts";
import { memory } from "../src/memory.ts";
import { tensor } from "../src/ops/creation.ts";
import { HookedTransformer } from "../src/model/mod.ts";
import { refTransformer } from "../src/reference/transformer.ts";
import { linearWeightBytes } from "../src/kernels/linear.ts";
import { matmulTextureBytes } from "../src/kernels/matmul.ts";

const args = new Map(
  Deno.args.map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? "true"] as [string, string];
  }),
);
const RUNS = Number(args.get("runs") ?? 5);
const POS = Number(args.get("pos") ?? 128);
const BATCH = 1;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Wait for every matmul autotune started so far (they run in the background). */
async function tunesDone(eng: Engine): Promise<void> {
  for (const v of eng.tuned.values()) {
    const pending = (v as { pending?: Promise<unknown> } | undefined)?.pending;
    if (pending) await pending.catch(() => {});
  }
}

async function torchBaseline(): Promise<{ ms: number | null; threads?: number; error?: string }> {
  try {
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [
        new URL("./forward_torch.py", import.meta.url).pathname,
        String(BATCH),
        String(POS),
        String(RUNS),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      return { ms: null, error: new TextDecoder().decode(out.stderr).trim().slice(-500) };
    }
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
    const r = JSON.parse(line);
    return { ms: r.torch_ms, threads: r.threads };
  } catch (e) {
    return { ms: null, error: String((e as Error).message ?? e) };
  }
}

const eng = await init();
const model = HookedTransformer.init({
  nLayers: 12,
  dModel: 768,
  nHeads: 12,
  dMlp: 3072,
  dVocab: 50257,
  nCtx: 1024,
  act: "gelu_new",
  initializerRange: 0.02,
}, { seed: 0 });
let s = 12345;
const ids = new Int32Array(BATCH * POS).map(() => (s = (s * 1103515245 + 12345) % 2 ** 31) % 50257);
const tokens = tensor(ids, [BATCH, POS], { dtype: "i32" });
await eng.sync();

const cases: { cache: "none" | "full"; run: () => number }[] = [
  {
    cache: "none",
    run: () => {
      model.forward(tokens).dispose();
      return 0;
    },
  },
  {
    cache: "full",
    run: () => {
      const { logits, cache } = model.runWithCache(tokens);
      const bytes = cache.bytes;
      logits.dispose();
      cache.dispose();
      return bytes;
    },
  },
];

const results: Record<string, unknown>[] = [];
for (const c of cases) {
  for (let i = 0; i < 2; i++) {
    c.run();
    await eng.sync();
    await tunesDone(eng);
  }
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    c.run();
    await eng.sync();
    times.push(performance.now() - t0);
  }
  eng.resetPeak();
  const cacheBytes = c.run();
  await eng.sync();
  results.push({
    bench: "forward",
    cache: c.cache,
    glassbox_ms: Math.round(median(times) * 10) / 10,
    peak_bytes: memory().peakBytes,
    cache_bytes: cacheBytes,
    texture_bytes: linearWeightBytes(eng) + matmulTextureBytes(eng),
    batch: BATCH,
    pos: POS,
    adapter: eng.gpu.info.description,
  });
}
if (args.has("check")) {
  // The 154 MB embedding and unembedding run in windows: check the logits of the first 4
  // positions (causal, so they depend on the first 4 tokens only) against the f64 reference.
  const K = 4;
  const logits = model.forward(tokens);
  const got = await logits.read();
  logits.dispose();
  const params = new Map<string, ArrayLike<number>>();
  for (const [n, t] of model.stateDict()) params.set(n, await t.read());
  const ref = refTransformer(model.cfg, params, [Array.from(ids.slice(0, K))]);
  let worst = 0;
  for (let i = 0; i < K * 50257; i++) {
    worst = Math.max(worst, Math.abs(got[i] - ref.logits.data[i]));
  }
  console.log(
    JSON.stringify({ bench: "forward", check: "logits[:4] vs f64 reference", max_abs_err: worst }),
  );
}
tokens.dispose();
model.dispose();

const torch = args.has("no-torch") ? { ms: null, error: "--no-torch" } : await torchBaseline();
for (const r of results) {
  const ms = r.glassbox_ms as number;
  console.log(JSON.stringify({
    bench: r.bench,
    cache: r.cache,
    glassbox_ms: ms,
    torch_ms: torch.ms,
    ratio: torch.ms ? Math.round((ms / torch.ms) * 100) / 100 : null,
    peak_bytes: r.peak_bytes,
    cache_bytes: r.cache_bytes,
    texture_bytes: r.texture_bytes,
    batch: r.batch,
    pos: r.pos,
    adapter: r.adapter,
    ...(torch.threads !== undefined ? { torch_threads: torch.threads } : {}),
    ...(torch.error ? { torch_error: torch.error } : {}),
  }));
}
