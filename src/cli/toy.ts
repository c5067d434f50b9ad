/**
 * `deno task glassbox toy`: train toy models of superposition (Elhage et al. 2022) for any
 * configuration and write `DIR/results.json` and `DIR/report.html` (one self-contained file).
 *
 * ```text
 * deno task glassbox toy [--features N] [--hidden M] [--instances K] [--importance R|I1,..,In]
 *                        [--feature-probability p1,..,pK] [--steps S] [--batch B] [--lr L]
 *                        [--seed X] [--variant relu|linear|abs] [--out DIR]
 * ```
 *
 * Bad arguments exit with code 2 and a message naming the argument.
 *
 * @module
 */

import { init } from "../gpu/engine.ts";
import { gram } from "../toy/metrics.ts";
import { ToyModel, type ToySnapshot } from "../toy/model.ts";
import { type ToyInstanceResult, toyReportHtml, type ToyReportSection } from "../viz/toy_report.ts";
import { parseFlags, UsageError } from "./args.ts";

/** Where the command's lines go (stdout and stderr by default); tests capture them. */
export interface CliIO {
  log?: (line: string) => void;
  error?: (line: string) => void;
  /** Rewrite the current progress line (a terminal); default: only final lines are printed. */
  progress?: (line: string) => void;
}

const VARIANTS = ["relu", "linear", "abs"] as const;

/** One run's configuration, after defaults. */
export interface ToyRunConfig {
  features: number;
  hidden: number;
  instances: number;
  /** One importance per feature. */
  importance: number[];
  /** One 1 − S per instance. */
  featureProbability: number[];
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  variant: (typeof VARIANTS)[number];
  out: string;
}

/** `results.json`. */
export interface ToyResults {
  /** What made the file. */
  generator: string;
  config: Omit<ToyRunConfig, "out">;
  /** The WebGPU adapter that trained the models. */
  adapter: string;
  /** Wall-clock seconds of training (without the report) and the training speed. */
  seconds: number;
  stepsPerSecond: number;
  instances: (ToyInstanceResult & {
    instance: number;
    /** "abs" only: the output weights W2, n rows of m numbers. */
    W2?: number[][];
    frobeniusSq: number;
    represented: number;
  })[];
}

export const USAGE =
  `usage: deno task glassbox toy [--features N] [--hidden M] [--instances K] [--importance R|I1,..,In]
                              [--feature-probability p1,..,pK] [--steps S] [--batch B] [--lr L]
                              [--seed X] [--variant relu|linear|abs] [--out DIR]

Trains K toy models of superposition at once (one per feature probability) and writes
DIR/results.json (per instance: featureProbability, importance, W, b, loss, featureNorms,
superposition, dimensionality D_i, dimensionsPerFeature, WtW) and DIR/report.html.

  --features N               n, features (default 5)
  --hidden M                 m, hidden dimensions (default 2)
  --instances K              models trained at once (default 8)
  --importance R|I1,..,In    one number R: importance R^i for feature i (default 0.9);
                             n numbers: the importance of each feature
  --feature-probability P    1 − S per instance, in (0, 1]: K numbers, or one for all
                             (default 50^-linspace(0, 1, K): dense to 1/50)
  --steps S                  training steps (default 5000)
  --batch B                  batch size (default 1024)
  --lr L                     Adam learning rate (default 0.001)
  --seed X                   seed of the initial weights and the data (default 0)
  --variant V                relu (default), linear, or abs (computation in superposition)
  --out DIR                  output folder (default out/toy)`;

const FLAGS = {
  features: "int",
  hidden: "int",
  instances: "int",
  importance: "numbers",
  "feature-probability": "numbers",
  steps: "int",
  batch: "int",
  lr: "number",
  seed: "int",
  variant: "string",
  out: "string",
  help: "boolean",
} as const;

/** 50^-linspace(0, 1, k): from dense (1) to 1/50. */
export function defaultProbabilities(k: number): number[] {
  return Array.from({ length: k }, (_, i) => 50 ** -(k > 1 ? i / (k - 1) : 0));
}

function positiveInt(name: string, v: number, max = 2 ** 31 - 1): number {
  if (v < 1 || v > max) throw new UsageError(`--${name} must be in [1, ${max}], got ${v}`);
  return v;
}

/**
 * Read the command's flags into a {@link ToyRunConfig}, with defaults.
 *
 * @throws {UsageError} naming the argument: an unknown flag, a non-numeric value, a count that
 *   does not match (--feature-probability vs --instances, --importance vs --features), a
 *   probability outside (0, 1], --hidden < 1, and so on.
 * @example
 * ```ts
 * const cfg = parseToyArgs(["--features", "5", "--feature-probability", "0.1"]);
 * ```
 */
export function parseToyArgs(args: string[]): ToyRunConfig & { help: boolean } {
  const f = parseFlags("toy", args, FLAGS);
  const features = positiveInt("features", (f.features as number | undefined) ?? 5, 100_000);
  const hidden = positiveInt("hidden", (f.hidden as number | undefined) ?? 2, 100_000);
  const instances = positiveInt("instances", (f.instances as number | undefined) ?? 8, 100_000);
  const steps = positiveInt("steps", (f.steps as number | undefined) ?? 5000, 10_000_000);
  const batch = positiveInt("batch", (f.batch as number | undefined) ?? 1024, 1 << 24);
  const seed = (f.seed as number | undefined) ?? 0;
  if (seed < 0 || seed > 2 ** 52 - 1) {
    throw new UsageError(`--seed must be an integer in [0, 2^52), got ${seed}`);
  }
  const lr = (f.lr as number | undefined) ?? 1e-3;
  if (!(lr > 0)) throw new UsageError(`--lr must be a positive number, got ${lr}`);
  const variant = (f.variant as string | undefined) ?? "relu";
  if (!(VARIANTS as readonly string[]).includes(variant)) {
    throw new UsageError(`--variant must be one of ${VARIANTS.join(", ")}, got "${variant}"`);
  }

  const imp = (f.importance as number[] | undefined) ?? [0.9];
  let importance: number[];
  if (imp.length === 1 && features !== 1) {
    if (!(imp[0] > 0)) {
      throw new UsageError(`--importance R must be a positive number (I_i = R^i), got ${imp[0]}`);
    }
    importance = Array.from({ length: features }, (_, i) => imp[0] ** i);
  } else {
    if (imp.length !== features) {
      throw new UsageError(
        `--importance needs one number (a decay R: I_i = R^i) or one per feature (${features}, ` +
          `from --features), got ${imp.length}: ${imp.join(",")}`,
      );
    }
    const bad = imp.findIndex((v) => !(v >= 0));
    if (bad >= 0) {
      throw new UsageError(`--importance values must be ≥ 0, got ${imp[bad]} for feature ${bad}`);
    }
    if (imp.every((v) => v === 0)) throw new UsageError(`--importance values are all 0`);
    importance = [...imp];
  }

  const fp = f["feature-probability"] as number[] | undefined;
  let featureProbability: number[];
  if (fp === undefined) featureProbability = defaultProbabilities(instances);
  else {
    if (fp.length !== instances && fp.length !== 1) {
      throw new UsageError(
        `--feature-probability needs one value per instance (${instances}, from --instances) ` +
          `or one for all, got ${fp.length}: ${fp.join(",")}`,
      );
    }
    const bad = fp.findIndex((p) => !(p > 0 && p <= 1));
    if (bad >= 0) {
      throw new UsageError(
        `--feature-probability values are 1 − S and must be in (0, 1], got ${fp[bad]} ` +
          `(value ${bad + 1} of ${fp.length})`,
      );
    }
    featureProbability = fp.length === 1 ? new Array(instances).fill(fp[0]) : [...fp];
  }
  const out = (f.out as string | undefined) ?? "out/toy";
  if (out.trim() === "") throw new UsageError(`--out must name a folder, got ""`);
  return {
    features,
    hidden,
    instances,
    importance,
    featureProbability,
    steps,
    batch,
    lr,
    seed,
    variant: variant as ToyRunConfig["variant"],
    out,
    help: f.help === true,
  };
}

/**
 * A snapshot's instances as `results.json` records (metrics flattened, WᵀW added). `loss` is
 * the snapshot's (after {@link trainToy}: the mean of the losses logged over the last 100 steps).
 */
export function instanceResults(snap: ToySnapshot): ToyResults["instances"] {
  return snap.instances.map((s) => ({
    instance: s.instance,
    featureProbability: s.featureProbability,
    importance: s.importance,
    W: s.W,
    ...(s.W2 ? { W2: s.W2 } : {}),
    b: s.b,
    loss: s.loss ?? NaN,
    featureNorms: s.metrics.featureNorms,
    superposition: s.metrics.superposition,
    dimensionality: s.metrics.dimensionality,
    dimensionsPerFeature: s.metrics.dimensionsPerFeature,
    frobeniusSq: s.metrics.frobeniusSq,
    represented: s.metrics.represented,
    WtW: gram(s.W),
  }));
}

/**
 * What {@link trainToy} trains: a {@link ToyRunConfig} without `out`, where importance and
 * probability may also be given per instance per feature, and lr may be a schedule.
 */
export interface TrainToyConfig {
  features: number;
  hidden: number;
  instances: number;
  /** One per feature (shared), or one array per instance. */
  importance: number[] | number[][];
  /** One per instance, or one array (per feature) per instance. */
  featureProbability: number[] | number[][];
  steps: number;
  batch: number;
  /** A learning rate, or one per global step (0-based). */
  lr: number | ((step: number) => number);
  seed: number;
  variant: ToyRunConfig["variant"];
}

/** Training logs the loss every LOG_EVERY steps; the reported loss is the mean of the last LOSS_LOGS. */
const LOG_EVERY = 10;
const LOSS_LOGS = 10;

/** Options of {@link trainToy}. */
export interface TrainToyOptions {
  /** Called during training with a progress line (steps/s, mean loss). */
  onProgress?: (line: string) => void;
  /** Number of progress updates over the run (default 20). */
  updates?: number;
  /** A label for progress lines (default "toy"). */
  label?: string;
  /**
   * The reported loss of each instance is the mean of its last this many logged losses, logged
   * every 10 steps (default 10: the last 100 steps).
   */
  lossLogs?: number;
}

/**
 * Train one configuration on the default engine and return its snapshot, training seconds and
 * steps per second. Trains in a few chunks so that progress can be reported.
 *
 * @example
 * ```ts
 * await init();
 * const r = await trainToy(parseToyArgs(["--steps", "100"]));
 * console.log(r.snapshot.instances[0].metrics.featureNorms);
 * ```
 */
export async function trainToy(
  cfg: TrainToyConfig,
  opts: TrainToyOptions = {},
): Promise<{ snapshot: ToySnapshot; seconds: number; stepsPerSecond: number }> {
  let model: ToyModel;
  try {
    model = new ToyModel({
      nInstances: cfg.instances,
      nFeatures: cfg.features,
      nHidden: cfg.hidden,
      variant: cfg.variant,
      featureProbability: cfg.featureProbability,
      importance: cfg.importance,
      seed: cfg.seed,
    });
    model.plan(cfg.batch); // size checks (scratch past one binding) fail here, before training
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError((e as Error).message);
    throw e;
  }
  try {
    const updates = Math.max(1, Math.min(opts.updates ?? 20, cfg.steps));
    const label = opts.label ?? "toy";
    const t0 = performance.now();
    let done = 0;
    const recent: number[][] = []; // the last LOSS_LOGS logged losses, per log [instance]
    for (let u = 1; u <= updates; u++) {
      const target = Math.round((cfg.steps * u) / updates);
      if (target <= done) continue;
      const r = await model.train({
        steps: target - done,
        batch: cfg.batch,
        lr: cfg.lr,
        logEvery: LOG_EVERY,
      });
      recent.push(...r.losses);
      recent.splice(0, Math.max(0, recent.length - (opts.lossLogs ?? LOSS_LOGS)));
      done = target;
      const el = (performance.now() - t0) / 1000;
      const losses = model.lastLoss ?? [];
      const mean = losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : NaN;
      opts.onProgress?.(
        `${label}: step ${done}/${cfg.steps}  ${(done / el).toFixed(0)} steps/s  ` +
          `loss ${mean.toExponential(3)} (mean of ${cfg.instances})  ${el.toFixed(1)} s`,
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    const snapshot = await model.snapshot();
    // One batch's loss is noisy when features are sparse: report the mean of the last logs.
    for (const inst of snapshot.instances) {
      if (recent.length) {
        inst.loss = recent.reduce((a, l) => a + l[inst.instance], 0) / recent.length;
      }
    }
    return { snapshot, seconds, stepsPerSecond: cfg.steps / seconds };
  } finally {
    model.dispose();
  }
}

/** The report sections for one configuration's results. */
export function reportSections(
  cfg: Omit<ToyRunConfig, "out">,
  res: Pick<ToyResults, "instances">,
): ToyReportSection[] {
  const sections: ToyReportSection[] = [{
    kind: "instances",
    title: `n = ${cfg.features}, m = ${cfg.hidden}: each instance's W`,
    caption: `${cfg.instances} instance(s), ${cfg.steps} steps of Adam (lr ${cfg.lr}, batch ` +
      `${cfg.batch}). ` +
      (cfg.hidden <= 2
        ? `Arrows: the columns of W, coloured by importance; `
        : `(m = ${cfg.hidden}: W's columns are shown through `) +
      `WᵀW and the feature norms, coloured by superposition${cfg.hidden <= 2 ? "" : ")"}.`,
    instances: res.instances,
  }];
  if (new Set(cfg.featureProbability).size > 1) {
    sections.push({
      kind: "dimensionality",
      title: "Dimensions per feature against sparsity",
      caption: "m / ‖W‖²F per instance (line) and each feature's Dᵢ (points) against 1/(1 − S), " +
        "with the fractions of a dimension the paper's features settle at.",
      instances: res.instances,
    });
  }
  return sections;
}

/**
 * JSON text with objects indented and every array of numbers (and each row of a matrix) on one
 * line; non-finite numbers become null, as in JSON.stringify.
 *
 * @example
 * ```ts
 * toJson({ W: [[1, 0], [0, 1]] }); // '{\n "W": [\n  [1, 0],\n  [0, 1]\n ]\n}'
 * ```
 */
export function toJson(value: unknown, indent = ""): string {
  const inner = indent + " ";
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "number" || v === null)) {
      return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
    }
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => inner + toJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) =>
      v !== undefined && typeof v !== "function"
    );
    if (entries.length === 0) return "{}";
    return `{\n${
      entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${toJson(v, inner)}`).join(",\n")
    }\n${indent}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Rewrite the terminal's current line (an empty line clears it). */
export function terminalLine(line: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(`\r${line}\x1b[K`));
}

/** Run the command; returns the exit code. */
export async function run(args: string[], io: CliIO = {}): Promise<number> {
  const log = io.log ?? ((l: string) => console.log(l));
  const cfg = parseToyArgs(args);
  if (cfg.help) {
    log(USAGE);
    return 0;
  }
  const eng = await init();
  const adapter = `${eng.gpu.info.description || eng.gpu.info.vendor || "unknown adapter"}` +
    (eng.gpu.info.isCpu ? " (CPU)" : "");
  const { out, help: _help, ...config } = cfg;
  log(
    `toy: n=${cfg.features} m=${cfg.hidden} instances=${cfg.instances} variant=${cfg.variant} ` +
      `steps=${cfg.steps} batch=${cfg.batch} lr=${cfg.lr} on ${adapter}`,
  );
  let last = "";
  const progress = io.progress ?? (!io.log && Deno.stdout.isTerminal() ? terminalLine : undefined);
  const { snapshot, seconds, stepsPerSecond } = await trainToy(config, {
    onProgress: (l) => {
      last = l;
      progress?.(l);
    },
  });
  if (progress === terminalLine) terminalLine("");
  if (last) log(last);
  const results: ToyResults = {
    generator: "glassbox toy",
    config,
    adapter,
    seconds,
    stepsPerSecond,
    instances: instanceResults(snapshot),
  };
  await Deno.mkdir(out, { recursive: true });
  const dir = out.endsWith("/") ? out : `${out}/`;
  await Deno.writeTextFile(`${dir}results.json`, toJson(results) + "\n");
  const html = toyReportHtml({
    title: `Toy models of superposition: n = ${cfg.features}, m = ${cfg.hidden}`,
    subtitle: `glassbox toy, ${cfg.variant}, ${cfg.steps} steps in ${seconds.toFixed(1)} s ` +
      `(${stepsPerSecond.toFixed(0)} steps/s) on ${adapter}`,
    sections: reportSections(config, results),
  });
  await Deno.writeTextFile(`${dir}report.html`, html);
  log(`wrote ${dir}results.json and ${dir}report.html`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await run(Deno.args));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`glassbox toy: ${e.message}\n\n${USAGE}`);
      Deno.exit(2);
    }
    throw e;
  }
}
