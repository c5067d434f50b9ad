/**
 * Training benchmark: tokens per second of whole training steps (batch, forward, loss,
 * backward, gradient clipping, AdamW, the loss logged on the GPU and read back every 50 steps),
 * glassbox beside PyTorch on the CPU for the same model in the same run
 * (`/usr/bin/python3 bench/train_torch.py`).
 *
 * Cases:
 * - `attn2`: the 2-layer attention-only model of the induction experiment (d_model 64, 4 heads,
 *   d_vocab 64, context 64, batch 32) on the repeated-run data; glassbox's default (fused)
 *   backend. `attn2-autodiff` is the same model through the generic autodiff path.
 * - `gpt2x2`: a GPT-2-small-shaped stack of 2 blocks (d_model 768, 12 heads, d_mlp 3072,
 *   gelu_new, LayerNorm) at batch 4 × 128, through the autodiff; d_vocab 512 by default
 *   (`--vocab`), so the time is the blocks' and not the unembedding's.
 *
 * Each case: 3 warm-up steps (the matmul autotune finishes first), then `--rounds` (default 3)
 * rounds that alternate glassbox and PyTorch, each measuring for `--seconds` / rounds (default
 * 15 / 3, at least 3 s); the medians are reported (`glassbox_samples` and `torch_by_threads`
 * hold every round). glassbox reads the losses back every 50 steps as in training (every step
 * for `gpt2x2`, whose steps take seconds); a window ends with that readback. Two clocks: the
 * wall clock (`*_tokens_per_s`), and each process's CPU time, divided by the machine's core
 * count for both (`*_cpu_tokens_per_s`, and `*_cpu_ms_per_step` undivided): what a token costs
 * in CPU work, which other processes' load inflates much less than the wall clock (lavapipe
 * runs on this process's threads; PyTorch's OpenBLAS runs threads of its own beside torch's).
 * One JSON line per case:
 *
 * ```
 * {"bench":"train","model":"attn2","glassbox_tokens_per_s":…,"torch_tokens_per_s":…,"ratio":…,
 *  "glassbox_cpu_tokens_per_s":…,"torch_cpu_tokens_per_s":…,"cpu_ratio":…,"ms_per_step":…,
 *  "dispatches_per_step":…,"backend":"fused","adapter":"…","torch_threads":…}
 * ```
 *
 * `ratio` = glassbox tokens/s ÷ PyTorch tokens/s (above 1: glassbox is faster). PyTorch runs
 * with 1 thread and with one per core (`torch_by_threads`), and the faster median counts;
 * `--threads=N` runs only N. If PyTorch cannot run, `torch_tokens_per_s` is null and
 * `torch_error` says why.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp/xdg deno run -A bench/train.ts [--seconds=15] [--rounds=3] [--case=attn2,gpt2x2]
 * [--vocab=512] [--threads=N] [--no-torch]`.
 *
 * @module
 */

import { type Engine, init } from "../src/gpu/engine.ts";
import { HookedTransformer } from "../src/model/mod.ts";
import type { ConfigInput } from "../src/model/config.ts";
import { RepeatData } from "../src/train/data.ts";
import { type TrainBackend, Trainer } from "../src/train/trainer.ts";

const args = new Map(
  Deno.args.map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? "true"] as [string, string];
  }),
);
const SECONDS = Number(args.get("seconds") ?? 15);
const ROUNDS = Number(args.get("rounds") ?? 3);
const VOCAB = Number(args.get("vocab") ?? 512);
const CORES = navigator.hardwareConcurrency || 1;
const THREADS = Number(args.get("threads") ?? CORES);
const ONLY = args.get("case")?.split(",");

interface Case {
  name: string;
  torchCase: string;
  cfg: ConfigInput;
  batch: number;
  pos: number;
  backend: TrainBackend;
}

const CASES: Case[] = [
  {
    name: "attn2",
    torchCase: "attn2",
    cfg: { nLayers: 2, dModel: 64, nHeads: 4, nCtx: 64, dVocab: 64, attnOnly: true },
    batch: 32,
    pos: 64,
    backend: "auto",
  },
  {
    name: "attn2-autodiff",
    torchCase: "attn2",
    cfg: { nLayers: 2, dModel: 64, nHeads: 4, nCtx: 64, dVocab: 64, attnOnly: true },
    batch: 32,
    pos: 64,
    backend: "autodiff",
  },
  {
    name: "gpt2x2",
    torchCase: "gpt2x2",
    cfg: {
      nLayers: 2,
      dModel: 768,
      nHeads: 12,
      dMlp: 3072,
      nCtx: 128,
      dVocab: VOCAB,
      act: "gelu_new",
    },
    batch: 4,
    pos: 128,
    backend: "auto",
  },
];

/** Process CPU seconds (user + system), where the runtime reports them. */
function cpuSeconds(): number | null {
  const proc = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } })
    .process;
  if (typeof proc?.cpuUsage !== "function") return null;
  const u = proc.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Wait for every matmul autotune started so far (they run in the background). */
async function tunesDone(eng: Engine): Promise<void> {
  for (const v of eng.tuned.values()) {
    const pending = (v as { pending?: Promise<unknown> } | undefined)?.pending;
    if (pending) await pending.catch(() => {});
  }
}

/** One measurement window. */
interface Sample {
  tokensPerS: number;
  cpuTokensPerS: number | null;
  cpuMsPerStep: number | null;
  msPerStep: number;
  steps: number;
}

/** A glassbox model training on its data, measured in windows of about `seconds`. */
async function glassboxRunner(eng: Engine, c: Case) {
  const model = HookedTransformer.init(c.cfg, { seed: 0, engine: eng });
  const data = new RepeatData(
    { batch: c.batch, ctx: c.pos, vocab: model.cfg.dVocab, seed: 1 },
    eng,
  );
  // Losses are read back every 50 steps as in training (every step for the big model, whose
  // steps take seconds): the GPU runs while the next steps are encoded.
  const logEvery = c.cfg.dModel >= 512 ? 1 : 50;
  const trainer = new Trainer(model, { lr: 1e-3, clipNorm: 1, logEvery, backend: c.backend });
  let step = 0;
  for (let i = 0; i < 3; i++) {
    trainer.step(data.next(step++).tokens);
    await trainer.flushLog();
  }
  await eng.sync();
  await tunesDone(eng);
  const dispatches = trainer.stepDispatches(data.next(step++).tokens);
  await trainer.flushLog();
  await eng.sync();
  return {
    dispatches,
    backend: trainer.backend,
    async measure(seconds: number): Promise<Sample> {
      const c0 = cpuSeconds();
      const t0 = performance.now();
      let n = 0;
      while (true) {
        trainer.step(data.next(step++).tokens);
        n++;
        if (trainer.logFull) {
          await trainer.flushLog();
          if ((performance.now() - t0) / 1000 >= seconds && n >= 3) break;
        }
      }
      const wall = (performance.now() - t0) / 1000;
      const c1 = cpuSeconds();
      const cpu = c0 !== null && c1 !== null ? (c1 - c0) / CORES : null;
      const tokens = n * c.batch * c.pos;
      return {
        tokensPerS: tokens / wall,
        cpuTokensPerS: cpu ? tokens / cpu : null,
        cpuMsPerStep: cpu ? (1000 * cpu * CORES) / n : null,
        msPerStep: (1000 * wall) / n,
        steps: n,
      };
    },
    dispose() {
      trainer.dispose();
      data.dispose();
      model.dispose();
    },
  };
}

/** The sample with the median tokens/s. */
function median<T>(xs: T[], key: (x: T) => number): T {
  const s = [...xs].sort((a, b) => key(a) - key(b));
  return s[Math.floor((s.length - 1) / 2)];
}

/** One PyTorch run of a case with `threads` threads for `seconds`. */
async function torchRun(
  c: Case,
  threads: number,
  seconds: number,
): Promise<Record<string, unknown>> {
  try {
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [
        new URL("./train_torch.py", import.meta.url).pathname,
        c.torchCase,
        String(seconds),
        String(threads),
        String(VOCAB),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      return {
        tokens_per_s: null,
        torch_error: new TextDecoder().decode(out.stderr).trim().slice(-500),
      };
    }
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
    return JSON.parse(line);
  } catch (e) {
    return { tokens_per_s: null, torch_error: String((e as Error).message ?? e) };
  }
}

/** The thread counts PyTorch runs with: `--threads=N`, else 1 and one per core. */
const TORCH_THREADS = args.has("threads") ? [THREADS] : [...new Set([1, CORES])];

const eng = await init();
const adapter = `${eng.gpu.info.description || eng.gpu.info.vendor}` +
  (eng.gpu.info.isCpu ? " (CPU)" : "");
const round = (v: number | null | undefined, d = 1) =>
  v === null || v === undefined ? null : Number(v.toFixed(d));
for (const c of CASES) {
  if (ONLY && !ONLY.includes(c.name)) continue;
  // Rounds alternate glassbox and PyTorch, so a change in the machine's load hits both; the
  // medians are reported.
  const g = await glassboxRunner(eng, c);
  const gs: Sample[] = [];
  const ts = new Map<number, Record<string, unknown>[]>(TORCH_THREADS.map((n) => [n, []]));
  const window = Math.max(3, SECONDS / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    gs.push(await g.measure(window));
    if (args.has("no-torch")) continue;
    for (const n of TORCH_THREADS) ts.get(n)!.push(await torchRun(c, n, window));
  }
  g.dispose();
  const gm = median(gs, (x) => x.tokensPerS);
  // PyTorch's best thread count (on a loaded machine OpenMP's threads can slow each other).
  let t: Record<string, unknown> = args.has("no-torch")
    ? { tokens_per_s: null, torch_error: "--no-torch" }
    : { ...ts.get(TORCH_THREADS[0])![0], tokens_per_s: null };
  const byThreads: Record<string, unknown> = {};
  for (const [n, runs] of ts) {
    const ok = runs.filter((x) => typeof x.tokens_per_s === "number");
    if (ok.length === 0) continue;
    const m = median(ok, (x) => x.tokens_per_s as number);
    byThreads[n] = {
      tokens_per_s: m.tokens_per_s,
      cpu_tokens_per_s: m.cpu_tokens_per_s,
      samples: ok.map((x) => x.tokens_per_s),
    };
    if (
      typeof t.tokens_per_s !== "number" || (m.tokens_per_s as number) > (t.tokens_per_s as number)
    ) {
      t = m;
    }
  }
  const tt = typeof t.tokens_per_s === "number" ? t.tokens_per_s as number : null;
  const tc = (t.cpu_tokens_per_s as number | null) ?? null;
  const line: Record<string, unknown> = {
    bench: "train",
    model: c.name,
    glassbox_tokens_per_s: round(gm.tokensPerS),
    torch_tokens_per_s: tt,
    ratio: tt ? round(gm.tokensPerS / tt, 3) : null,
    glassbox_cpu_tokens_per_s: round(gm.cpuTokensPerS),
    torch_cpu_tokens_per_s: tc,
    cpu_ratio: tc && gm.cpuTokensPerS ? round(gm.cpuTokensPerS / tc, 3) : null,
    ms_per_step: round(gm.msPerStep, 2),
    torch_ms_per_step: t.ms_per_step ?? null,
    cpu_ms_per_step: round(gm.cpuMsPerStep, 2),
    torch_cpu_ms_per_step: t.cpu_ms_per_step ?? null,
    glassbox_samples: gs.map((x) => round(x.tokensPerS)),
    steps: gs.reduce((a, x) => a + x.steps, 0),
    dispatches_per_step: g.dispatches,
    backend: g.backend,
    tokens_per_step: c.batch * c.pos,
    d_vocab: c.cfg.dVocab,
    adapter,
    torch_threads: t.threads ?? null,
    torch_by_threads: byThreads,
  };
  if (t.torch_error) line.torch_error = t.torch_error;
  console.log(JSON.stringify(line));
}
