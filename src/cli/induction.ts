/**
 * `deno task glassbox induction`: train a small attention-only transformer on repeated random
 * runs, find its induction heads, and write
 *
 * - `DIR/model/`: the trained model as a checkpoint folder (config.json + model.safetensors,
 *   loadable with `loadCheckpoint` and `glassbox cache`),
 * - `DIR/results.json`: per-step losses, every head's induction and previous-token scores over
 *   training, the final scores and the phase change,
 * - `DIR/report.html`: the loss curve and the scores over training (one self-contained file).
 *
 * ```text
 * deno task glassbox induction --layers 1|2 --steps S --seed X --out DIR [--d-model D] [--heads H]
 *     [--ctx C] [--batch B] [--lr L] [--log-every K] [--warmup W] [--schedule constant|cosine]
 *     [--backend auto|fused|autodiff]
 * ```
 *
 * Bad arguments exit with code 2 and a message naming the argument.
 *
 * @module
 */

import { type Engine, init } from "../gpu/engine.ts";
import { saveCheckpoint } from "../io/fs.ts";
import { repeatDataConfig } from "../train/data.ts";
import {
  type HeadScore,
  type InductionProgress,
  inductionResultsJson,
  trainInduction,
} from "../train/induction.ts";
import { fusedUnsupported } from "../kernels/train_fused.ts";
import { makeConfig } from "../model/config.ts";
import type { HookedTransformer } from "../model/hooked_transformer.ts";
import {
  type InductionReportData,
  inductionReportHtml,
  type ReportLink,
} from "../viz/induction_report.ts";
import { type FlagKind, parseFlags, UsageError } from "./args.ts";

/** Where the command's lines go (stdout by default); tests capture them. */
export interface CliIO {
  log?: (line: string) => void;
}

export const USAGE =
  `usage: deno task glassbox induction --out DIR [--layers 1|2] [--steps S] [--seed X]
                                    [--d-model D] [--heads H] [--ctx C] [--batch B] [--lr L]
                                    [--log-every K] [--warmup W] [--schedule constant|cosine]
                                    [--backend auto|fused|autodiff]

Trains an attention-only transformer on sequences [BOS] + random prefix (0-20 tokens) + r + r +
random filler (r: 8-20 random tokens, vocabulary 64), and measures every head's induction and
previous-token scores on held-out sequences every K steps. Writes DIR/model/ (a checkpoint
folder), DIR/results.json and DIR/report.html.

  --out DIR         output folder (required)
  --layers N        layers (default 2; 1 shows no induction head)
  --steps S         training steps (default 3000)
  --seed X          seed of the weights and the data (default 0)
  --d-model D       residual width (default 64; a multiple of --heads)
  --heads H         heads per layer (default 4)
  --ctx C           context length (default 48; at least 17)
  --batch B         sequences per step (default 32)
  --lr L            AdamW learning rate (default 0.001)
  --log-every K     steps between loss readbacks and score measurements (default 50)
  --warmup W        linear warm-up steps (default 0)
  --schedule S      after the warm-up: constant (default) or cosine decay to lr/10
  --backend B       auto (default: fused where it applies), fused or autodiff
  --help            this text`;

const FLAGS: Record<string, FlagKind> = {
  out: "string",
  layers: "int",
  steps: "int",
  seed: "int",
  "d-model": "int",
  heads: "int",
  ctx: "int",
  batch: "int",
  lr: "number",
  "log-every": "int",
  warmup: "int",
  schedule: "string",
  backend: "string",
  help: "boolean",
};

/** The command's settings after defaults and checks. */
export interface InductionArgs {
  out: string;
  layers: number;
  steps: number;
  seed: number;
  dModel: number;
  heads: number;
  ctx: number;
  batch: number;
  lr: number;
  logEvery: number;
  warmup: number;
  schedule: "constant" | "cosine";
  backend: "auto" | "fused" | "autodiff";
  help: boolean;
}

/** The settings of a run without `--help`: what {@link trainInductionTo} takes. */
export type InductionSettings = Omit<InductionArgs, "help">;

/**
 * The command's defaults (the experiment of the issue), `out` left empty.
 *
 * @example
 * ```ts
 * const s: InductionSettings = { ...INDUCTION_DEFAULTS, out: "out/induction", steps: 2000 };
 * ```
 */
export const INDUCTION_DEFAULTS: Readonly<InductionSettings> = Object.freeze({
  out: "",
  layers: 2,
  steps: 3000,
  seed: 0,
  dModel: 64,
  heads: 4,
  ctx: 48,
  batch: 32,
  lr: 1e-3,
  logEvery: 50,
  warmup: 0,
  schedule: "constant",
  backend: "auto",
});

function atLeast(name: string, v: number, lo: number, hi = 2 ** 31 - 1): number {
  if (v < lo || v > hi) {
    throw new UsageError(`--${name} must be between ${lo} and ${hi}, got ${v}`);
  }
  return v;
}

/**
 * Parse and check the arguments; throws a {@link UsageError} naming the bad one.
 *
 * @example
 * ```ts
 * parseInductionArgs(["--layers", "2", "--out", "out/ind"]).steps; // 3000
 * ```
 */
export function parseInductionArgs(args: string[]): InductionArgs {
  const f = parseFlags("induction", args, FLAGS);
  const help = f.help === true;
  const num = (k: string, d: number) => (f[k] === undefined ? d : f[k] as number);
  const D = INDUCTION_DEFAULTS;
  const a: InductionArgs = {
    out: (f.out as string | undefined) ?? D.out,
    layers: atLeast("layers", num("layers", D.layers), 1, 64),
    steps: atLeast("steps", num("steps", D.steps), 0),
    seed: atLeast("seed", num("seed", D.seed), 0, 2 ** 30 - 1),
    dModel: atLeast("d-model", num("d-model", D.dModel), 1, 4096),
    heads: atLeast("heads", num("heads", D.heads), 1, 256),
    ctx: atLeast("ctx", num("ctx", D.ctx), 17, 1024),
    batch: atLeast("batch", num("batch", D.batch), 1, 65536),
    lr: num("lr", D.lr),
    logEvery: atLeast("log-every", num("log-every", D.logEvery), 1),
    warmup: atLeast("warmup", num("warmup", D.warmup), 0),
    schedule: ((f.schedule as string | undefined) ?? D.schedule) as "constant" | "cosine",
    backend: ((f.backend as string | undefined) ?? D.backend) as "auto" | "fused" | "autodiff",
    help,
  };
  if (help) return a;
  if (!a.out) {
    throw new UsageError(
      "--out DIR is required (where to write model/, results.json, report.html)",
    );
  }
  if (!(a.lr > 0)) throw new UsageError(`--lr must be > 0, got ${a.lr}`);
  if (a.dModel % a.heads !== 0) {
    throw new UsageError(`--d-model ${a.dModel} is not a multiple of --heads ${a.heads}`);
  }
  if (a.schedule !== "constant" && a.schedule !== "cosine") {
    throw new UsageError(`--schedule must be constant or cosine, got "${a.schedule}"`);
  }
  if (!["auto", "fused", "autodiff"].includes(a.backend)) {
    throw new UsageError(`--backend must be auto, fused or autodiff, got "${a.backend}"`);
  }
  if (a.backend === "fused") {
    const why = fusedUnsupported(makeConfig({
      nLayers: a.layers,
      dModel: a.dModel,
      nHeads: a.heads,
      nCtx: a.ctx,
      dVocab: 64,
      attnOnly: true,
    }));
    if (why) throw new UsageError(`--backend fused cannot train this model: ${why}`);
  }
  try {
    repeatDataConfig({ batch: a.batch, ctx: a.ctx });
  } catch (e) {
    throw new UsageError(`--ctx ${a.ctx}: ${(e as Error).message}`);
  }
  return a;
}

/**
 * One progress line of a run: step, mean loss since the last line, the best induction and
 * previous-token scores, elapsed seconds and steps per second.
 *
 * @example
 * ```ts
 * progressLine({ step: 50, steps: 100, loss: 4.1, bestInduction: 0.03, bestPrevToken: 0.07,
 *   seconds: 3.2 }); // "step  50/100  loss 4.1000  best induction 0.030 ..."
 * ```
 */
export function progressLine(p: InductionProgress): string {
  const rate = p.step > 0 ? ` ${(p.step / p.seconds).toFixed(2)} steps/s` : "";
  return `step ${String(p.step).padStart(String(p.steps).length)}/${p.steps}  loss ${
    Number.isNaN(p.loss) ? "  -   " : p.loss.toFixed(4)
  }  best induction ${p.bestInduction.toFixed(3)}  best prev-token ${p.bestPrevToken.toFixed(3)}  ${
    p.seconds.toFixed(1)
  } s${rate}`;
}

/** Options of {@link trainInductionTo}. */
export interface InductionRunOptions {
  /** Called after each score evaluation (every `logEvery` steps). */
  onProgress?: (p: InductionProgress) => void | Promise<void>;
  /** Engine (default: the one from `init()`). */
  engine?: Engine;
  /** Links the report shows under "See also" (hrefs relative to the output folder). */
  links?: ReportLink[];
  /**
   * Called with the trained model and the run's summary (its `dir` is the output folder) after
   * the files are written and before the model is disposed (the demo writes its attention view
   * there).
   */
  withModel?: (model: HookedTransformer, run: InductionRunSummary) => void | Promise<void>;
  /** The `generator` recorded in results.json (default "glassbox induction"). */
  generator?: string;
}

/** What {@link trainInductionTo} returns (the model is disposed by then). */
export interface InductionRunSummary {
  /** The output folder, without a trailing slash. */
  dir: string;
  /** The files and folders written: DIR/model/, DIR/results.json, DIR/report.html. */
  files: { model: string; results: string; report: string };
  /** What was written to results.json. */
  results: Record<string, unknown>;
  /** The adapter trained on, in words. */
  adapter: string;
  backend: "fused" | "autodiff";
  /** The best induction head after training (layers ≥ 1; layer 0 in a 1-layer model). */
  bestInduction: HeadScore;
  /** The best previous-token head of layer 0 after training. */
  bestPrevToken: HeadScore;
  phaseChange: { step: number; from: number; to: number } | null;
  seconds: number;
  stepsPerSecond: number;
  tokensPerSecond: number;
}

/**
 * Train with `a`'s settings and write `a.out`/model/, results.json and report.html: the work of
 * `glassbox induction`, for callers such as the demo.
 *
 * @example
 * ```ts
 * const r = await trainInductionTo({ ...INDUCTION_DEFAULTS, out: "out/ind2", steps: 2000 });
 * console.log(r.bestInduction.score, r.files.report);
 * ```
 */
export async function trainInductionTo(
  a: InductionSettings,
  opts: InductionRunOptions = {},
): Promise<InductionRunSummary> {
  if (!a.out) throw new UsageError("the output folder (--out DIR) is required");
  const eng = opts.engine ?? await init();
  const adapter = `${eng.gpu.info.description || eng.gpu.info.vendor || "unknown adapter"}` +
    (eng.gpu.info.isCpu ? " (CPU)" : "");
  const r = await trainInduction({
    layers: a.layers,
    steps: a.steps,
    seed: a.seed,
    dModel: a.dModel,
    heads: a.heads,
    ctx: a.ctx,
    batch: a.batch,
    lr: a.lr,
    logEvery: a.logEvery,
    warmupSteps: a.warmup,
    schedule: a.schedule,
    backend: a.backend,
    engine: eng,
    onProgress: opts.onProgress,
  });
  try {
    const dir = a.out.replace(/\/+$/, "");
    const files = {
      model: `${dir}/model`,
      results: `${dir}/results.json`,
      report: `${dir}/report.html`,
    };
    await Deno.mkdir(dir, { recursive: true });
    await saveCheckpoint(r.model, files.model);
    const json = {
      generator: opts.generator ?? "glassbox induction",
      adapter,
      ...inductionResultsJson(r),
    };
    await Deno.writeTextFile(files.results, JSON.stringify(json) + "\n");
    await Deno.writeTextFile(
      files.report,
      inductionReportHtml(json as unknown as InductionReportData, { links: opts.links }),
    );
    const summary: InductionRunSummary = {
      dir,
      files,
      results: json,
      adapter,
      backend: r.backend,
      bestInduction: r.bestInduction,
      bestPrevToken: r.bestPrevToken,
      phaseChange: r.phaseChange,
      seconds: r.seconds,
      stepsPerSecond: r.stepsPerSecond,
      tokensPerSecond: r.tokensPerSecond,
    };
    await opts.withModel?.(r.model, summary);
    return summary;
  } finally {
    r.model.dispose();
  }
}

/**
 * Run the command; returns the exit code.
 *
 * @example
 * ```ts
 * await run(["--layers", "2", "--steps", "3000", "--seed", "0", "--out", "out/ind2"]);
 * ```
 */
export async function run(args: string[], io: CliIO = {}): Promise<number> {
  const log = io.log ?? ((l: string) => console.log(l));
  const a = parseInductionArgs(args);
  if (a.help) {
    log(USAGE);
    return 0;
  }
  const eng = await init();
  const adapter = `${eng.gpu.info.description || eng.gpu.info.vendor || "unknown adapter"}` +
    (eng.gpu.info.isCpu ? " (CPU)" : "");
  log(
    `induction: ${a.layers} layer(s), d_model ${a.dModel}, ${a.heads} heads, ctx ${a.ctx}, ` +
      `batch ${a.batch}, lr ${a.lr}, ${a.steps} steps, seed ${a.seed} on ${adapter}`,
  );
  const r = await trainInductionTo(a, { engine: eng, onProgress: (p) => log(progressLine(p)) });
  const bi = r.bestInduction;
  const bp = r.bestPrevToken;
  log(
    `done in ${r.seconds.toFixed(1)} s (${r.stepsPerSecond.toFixed(2)} steps/s, ${
      Math.round(r.tokensPerSecond)
    } tokens/s, ${r.backend} backend): best induction head L${bi.layer}H${bi.head} ${
      bi.score.toFixed(3)
    }, best previous-token head L${bp.layer}H${bp.head} ${bp.score.toFixed(3)}, phase change ${
      r.phaseChange ? `at step ${r.phaseChange.step}` : "none"
    }`,
  );
  log(`wrote ${r.dir}/model/, ${r.files.results} and ${r.files.report}`);
  return 0;
}
