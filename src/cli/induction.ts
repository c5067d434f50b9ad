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

import { init } from "../gpu/engine.ts";
import { saveCheckpoint } from "../io/fs.ts";
import { repeatDataConfig } from "../train/data.ts";
import { inductionResultsJson, trainInduction } from "../train/induction.ts";
import { fusedUnsupported } from "../kernels/train_fused.ts";
import { makeConfig } from "../model/config.ts";
import { type InductionReportData, inductionReportHtml } from "../viz/induction_report.ts";
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
  const a: InductionArgs = {
    out: (f.out as string | undefined) ?? "",
    layers: atLeast("layers", num("layers", 2), 1, 64),
    steps: atLeast("steps", num("steps", 3000), 0),
    seed: atLeast("seed", num("seed", 0), 0, 2 ** 30 - 1),
    dModel: atLeast("d-model", num("d-model", 64), 1, 4096),
    heads: atLeast("heads", num("heads", 4), 1, 256),
    ctx: atLeast("ctx", num("ctx", 48), 17, 1024),
    batch: atLeast("batch", num("batch", 32), 1, 65536),
    lr: num("lr", 1e-3),
    logEvery: atLeast("log-every", num("log-every", 50), 1),
    warmup: atLeast("warmup", num("warmup", 0), 0),
    schedule: ((f.schedule as string | undefined) ?? "constant") as "constant" | "cosine",
    backend: ((f.backend as string | undefined) ?? "auto") as "auto" | "fused" | "autodiff",
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
    onProgress: (p) => {
      const rate = p.step > 0 ? ` ${(p.step / p.seconds).toFixed(2)} steps/s` : "";
      log(
        `step ${String(p.step).padStart(String(p.steps).length)}/${p.steps}  loss ${
          Number.isNaN(p.loss) ? "  -   " : p.loss.toFixed(4)
        }  best induction ${p.bestInduction.toFixed(3)}  best prev-token ${
          p.bestPrevToken.toFixed(3)
        }  ${p.seconds.toFixed(1)} s${rate}`,
      );
    },
  });
  try {
    const dir = a.out.replace(/\/+$/, "");
    await Deno.mkdir(dir, { recursive: true });
    await saveCheckpoint(r.model, `${dir}/model`);
    const json = { generator: "glassbox induction", adapter, ...inductionResultsJson(r) };
    await Deno.writeTextFile(`${dir}/results.json`, JSON.stringify(json) + "\n");
    await Deno.writeTextFile(
      `${dir}/report.html`,
      inductionReportHtml(json as unknown as InductionReportData),
    );
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
    log(`wrote ${dir}/model/, ${dir}/results.json and ${dir}/report.html`);
  } finally {
    r.model.dispose();
  }
  return 0;
}
