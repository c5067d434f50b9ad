/**
 * glassbox's main demo, trained on the WebGPU adapter (lavapipe on a CPU):
 *
 * - Toy Models of Superposition (Elhage et al. 2022,
 *   https://transformer-circuits.pub/2022/toy_model/index.html): five of the paper's experiments,
 *   written to `out/toy/report.html` (one self-contained file) and `out/toy/results.json`.
 * - Induction heads (Olsson et al. 2022,
 *   https://transformer-circuits.pub/2022/in-context-learning-and-induction-heads/index.html): a
 *   2-layer attention-only transformer trained on repeated random runs until a layer-1 head
 *   becomes an induction head (the phase change), written to `out/induction/` (the model, its
 *   `results.json`, `report.html`, and `attention.html`: every head's attention pattern on
 *   [BOS] + a random run + the same run, where the induction heads draw an off-diagonal stripe).
 *
 * The toy experiments:
 *
 * 1. n = 5, m = 2, importance 0.9ⁱ, dense: the ReLU model (and the linear one) keeps the two
 *    most important features, orthogonal, and drops the rest.
 * 2. n = 5, m = 2, equal importance, very sparse (1 − S = 0.01): a pentagon.
 * 3. n = 5, m = 2, importance 0.9ⁱ, 1 − S = 50^(−linspace(0, 1)) over 8 instances: more
 *    features in superposition as sparsity grows.
 * 4. n = 2, m = 1: the phase diagram over feature 1's relative importance 10^[−1, 1] and
 *    1 − S from 1 to 0.01 (not represented / dedicated dimension / antipodal superposition).
 * 5. n = 100, m = 20, equal importance, 1 − S = 20^(−linspace(0, 1)) over 12 instances:
 *    dimensions per feature against
 *    1/(1 − S), each feature's Dᵢ, and the fractions the paper finds (1, 3/4, 2/3, 1/2, 2/5, 3/8).
 *
 * Then 6., the induction run: d_model 64, 4 heads, context 48, batch 32, AdamW lr 1e-3,
 * {@link INDUCTION_STEPS} steps (the phase change comes near step 1450 on seed 0). The toy report
 * and the induction report link each other and the attention view.
 *
 * ```sh
 * deno run -A examples/demo.ts [--out DIR] [--quick] [--no-induction] [--induction-steps S]
 * ```
 *
 * `--out DIR` is the root (default `out`): the demo writes `DIR/toy/` and `DIR/induction/`.
 * `--quick` trains a quarter of the steps (a smoke test; the figures are rougher, and the
 * induction run stops before its phase change). `--no-induction` skips the induction run;
 * `--induction-steps S` sets its length.
 *
 * @module
 */

import process from "node:process";
import { type Engine, init } from "../src/gpu/engine.ts";
import { classifyTwoFeature, neighbourAngles, type TwoFeaturePhase } from "../src/toy/mod.ts";
import {
  instanceResults,
  terminalLine,
  toJson,
  type ToyResults,
  trainToy,
  type TrainToyConfig,
} from "../src/cli/toy.ts";
import { parseFlags, UsageError } from "../src/cli/args.ts";
import { attentionPageHtml } from "../src/cli/attention.ts";
import {
  INDUCTION_DEFAULTS,
  type InductionRunSummary,
  type InductionSettings,
  progressLine,
  trainInductionTo,
} from "../src/cli/induction.ts";
import { repeatedSequencesRef } from "../src/train/data.ts";
import type { ReportLink } from "../src/viz/induction_report.ts";
import {
  DIMENSION_FRACTIONS,
  nearestFraction,
  type PhaseCell,
  type PhaseData,
  type ToyInstanceResult,
  type ToyReport,
  toyReportHtml,
  type ToyReportSection,
} from "../src/viz/toy_report.ts";

// ------------------------------------------------------------------ the induction run

/** Training steps of the demo's induction run: past the phase change (≈ step 1450, seed 0). */
export const INDUCTION_STEPS = 2000;
/** Training steps of the induction run under `--quick` (a quarter: before the phase change). */
export const INDUCTION_QUICK_STEPS = 500;

/** Options of {@link inductionDemo}. */
export interface InductionDemoOptions {
  /** The demo's output root: the run goes to `root/induction/`. */
  root: string;
  /** Changes to the run's settings (default: {@link INDUCTION_DEFAULTS}, {@link INDUCTION_STEPS} steps). */
  settings?: Partial<Omit<InductionSettings, "out">>;
  /** Whether the toy report sits beside it at `root/toy/report.html` (the report links it). */
  withToy?: boolean;
  /** Final and sparse progress lines (default console.log). */
  log?: (line: string) => void;
  /** Every progress line, e.g. rewritten in place on a terminal (default none). */
  progress?: (line: string) => void;
  /** A label that starts the progress lines (default "induction"). */
  label?: string;
  engine?: Engine;
}

/** What {@link inductionDemo} returns: the run's summary plus the attention view it wrote. */
export interface InductionDemoResult extends InductionRunSummary {
  /** Path of the attention view (`root/induction/attention.html`). */
  attention: string;
  /** The token ids the attention view shows ([BOS] + r + r). */
  evalTokens: number[];
  /** Training steps. */
  steps: number;
}

/**
 * An induction-style evaluation sequence for a model with context `ctx` and vocabulary `vocab`:
 * [BOS = 0] + a run r of up to 16 random tokens + r again, drawn like the training data
 * (src/train/data.ts) from a stream the training never uses. Labels: "BOS" and the ids.
 *
 * @example
 * ```ts
 * const { ids, strs } = inductionEvalSequence(48, 64); // 33 tokens, strs[0] === "BOS"
 * ```
 */
export function inductionEvalSequence(
  ctx: number,
  vocab = 64,
  seed = 7_000_003,
): { ids: number[]; strs: string[] } {
  const len = Math.min(16, Math.floor((ctx - 1) / 2));
  const n = 1 + 2 * len;
  const { tokens } = repeatedSequencesRef({
    batch: 1,
    ctx: n,
    vocab,
    minLen: len,
    maxLen: len,
    maxPrefix: 0,
    seed,
  });
  const ids = [...tokens];
  return { ids, strs: ids.map((t, i) => (i === 0 ? "BOS" : String(t))) };
}

/**
 * The links each page of the demo shows under "See also", relative to its folder: the toy
 * report links the induction report and the attention view (when the induction run was made);
 * the induction report links the attention view and, `withToy`, the toy report.
 *
 * @example
 * ```ts
 * demoLinks("toy", { induction: true })[1].href; // "../induction/attention.html"
 * ```
 */
export function demoLinks(
  page: "toy" | "induction",
  made: { induction?: boolean; toy?: boolean } = {},
): ReportLink[] {
  const attention = {
    label: "Attention view of the 2-layer model",
    description: "every head's pattern on [BOS] + a random run + the same run again; the " +
      "layer-1 induction head attends along an off-diagonal stripe to the token after the " +
      "earlier copy, and a layer-0 head to the previous token",
  };
  if (page === "toy") {
    if (made.induction === false) return [];
    return [
      {
        href: "../induction/report.html",
        label: "Induction heads: the 2-layer run",
        description: "loss curve, every head's induction and previous-token scores over " +
          "training, and the phase change",
      },
      { href: "../induction/attention.html", ...attention },
    ];
  }
  const links: ReportLink[] = [{ href: "attention.html", ...attention }];
  if (made.toy) {
    links.push({
      href: "../toy/report.html",
      label: "Toy Models of Superposition",
      description: "the demo's other experiments",
    });
  }
  return links;
}

/**
 * The demo's induction part: train the 2-layer attention-only model and write
 * `root/induction/` (model/, results.json, report.html linking the others, and attention.html
 * on {@link inductionEvalSequence}).
 *
 * @example
 * ```ts
 * const r = await inductionDemo({ root: "out" });
 * console.log(r.bestInduction.score, r.attention); // e.g. 0.8 "out/induction/attention.html"
 * ```
 */
export async function inductionDemo(opts: InductionDemoOptions): Promise<InductionDemoResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const label = opts.label ?? "induction";
  const root = opts.root.replace(/\/+$/, "");
  const a: InductionSettings = {
    ...INDUCTION_DEFAULTS,
    steps: INDUCTION_STEPS,
    ...opts.settings,
    out: `${root}/induction`,
  };
  const every = Math.max(a.logEvery, Math.round(a.steps / 4 / a.logEvery) * a.logEvery);
  let attention = "";
  let evalTokens: number[] = [];
  const r = await trainInductionTo(a, {
    engine: opts.engine,
    generator: "glassbox examples/demo.ts",
    links: demoLinks("induction", { toy: opts.withToy ?? false }),
    onProgress: (p) => {
      const line = `${label}: ${progressLine(p)}`;
      opts.progress?.(line);
      if (!opts.progress && (p.step % every === 0 || p.step === p.steps)) log(line);
    },
    withModel: async (model, run) => {
      const { ids, strs } = inductionEvalSequence(a.ctx, model.cfg.dVocab);
      evalTokens = ids;
      attention = `${run.dir}/attention.html`;
      const head = (h: { layer: number; head: number; score: number }) =>
        `L${h.layer}H${h.head} (score ${h.score.toFixed(2)})`;
      const html = await attentionPageHtml(model, ids, strs, {
        title: `${a.layers}-layer attention-only model after ${a.steps} steps on [BOS] + a run ` +
          `of ${(ids.length - 1) / 2} random tokens, repeated. Induction head ` +
          `${head(run.bestInduction)}, previous-token head ${head(run.bestPrevToken)}`,
        // Open on the induction head, whose stripe is the point of the page.
        initial: [run.bestInduction.layer, run.bestInduction.head],
      });
      await Deno.writeTextFile(attention, html);
    },
  });
  return { ...r, attention, evalTokens, steps: a.steps };
}

/**
 * The terminal summary of an induction run: the best layer-1 (or deeper) induction head and
 * the best layer-0 previous-token head, with their scores, and the phase change.
 *
 * @example
 * ```ts
 * inductionSummaryLine(r); // "induction: best layer-1 induction head L1H1 0.809, ..."
 * ```
 */
export function inductionSummaryLine(r: InductionRunSummary & { steps?: number }): string {
  const bi = r.bestInduction;
  const bp = r.bestPrevToken;
  return `induction: best layer-${bi.layer} induction head L${bi.layer}H${bi.head} ` +
    `${bi.score.toFixed(3)}, best layer-0 previous-token head L${bp.layer}H${bp.head} ` +
    `${bp.score.toFixed(3)}, phase change ${
      r.phaseChange
        ? `at step ${r.phaseChange.step} (${r.phaseChange.from.toFixed(2)} → ${
          r.phaseChange.to.toFixed(2)
        })`
        : `not reached${r.steps !== undefined ? ` in ${r.steps} steps` : ""}`
    }; trained in ${r.seconds.toFixed(1)} s (${r.stepsPerSecond.toFixed(1)} steps/s)`;
}

/**
 * Write the toy-model report to `root/toy/report.html` with the demo's links
 * ({@link demoLinks}); returns its path.
 *
 * @example
 * ```ts
 * await writeToyReport("out", { title: "Toy models", sections }, { induction: true });
 * ```
 */
export async function writeToyReport(
  root: string,
  report: Omit<ToyReport, "links">,
  made: { induction: boolean },
): Promise<string> {
  const dir = `${root.replace(/\/+$/, "")}/toy`;
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/report.html`;
  await Deno.writeTextFile(path, toyReportHtml({ ...report, links: demoLinks("toy", made) }));
  return path;
}

// ------------------------------------------------------------------ the demo

async function main(): Promise<void> {
  const flags = parseFlags("demo", Deno.args, {
    out: "string",
    quick: "boolean",
    "no-induction": "boolean",
    "induction-steps": "int",
  });
  const ROOT = ((flags.out as string | undefined) ?? "out").replace(/\/+$/, "") || ".";
  const OUT = `${ROOT}/toy`;
  const QUICK = flags.quick === true;
  const INDUCTION = flags["no-induction"] !== true;
  const inductionSteps = (flags["induction-steps"] as number | undefined) ??
    (QUICK ? INDUCTION_QUICK_STEPS : INDUCTION_STEPS);
  if (!(inductionSteps >= 0)) {
    throw new UsageError(`--induction-steps must be ≥ 0, got ${inductionSteps}`);
  }
  const NEXP = INDUCTION ? 6 : 5;
  const steps = (s: number) => (QUICK ? Math.max(100, Math.round(s / 4)) : s);
  const linspace = (a: number, b: number, k: number) =>
    Array.from({ length: k }, (_, i) => (k === 1 ? a : a + ((b - a) * i) / (k - 1)));
  const fmt = (v: number, d = 3) => Number(v.toPrecision(d));

  /** Linear warm-up over the first 5% of steps, then cosine decay to 5% of `lr`. */
  function warmupCosine(lr: number, total: number): (step: number) => number {
    const warm = Math.max(1, Math.round(total * 0.05));
    return (s) =>
      s < warm ? (lr * (s + 1)) / warm : lr *
        (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * (s - warm)) / Math.max(1, total - warm))));
  }

  const eng = await init();
  const info = eng.gpu.info;
  const adapter = `${info.description || info.vendor || "unknown adapter"}${
    info.isCpu ? " (CPU)" : ""
  }`;
  const tty = Deno.stdout.isTerminal();
  console.log(
    `glassbox demo: Toy Models of Superposition${INDUCTION ? " and induction heads" : ""} on ` +
      `${adapter}${QUICK ? " (--quick)" : ""}`,
  );

  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  const timings: Record<string, { seconds: number; stepsPerSecond: number }> = {};

  /** Train one experiment with a progress line; returns its results records. */
  async function experiment(
    key: string,
    label: string,
    cfg: TrainToyConfig,
    lossLogs?: number,
  ): Promise<ToyResults["instances"]> {
    let last = "";
    const r = await trainToy(cfg, {
      label,
      lossLogs,
      onProgress: (l) => {
        last = l;
        if (tty) terminalLine(l);
      },
    });
    if (tty) terminalLine("");
    console.log(last);
    timings[key] = { seconds: r.seconds, stepsPerSecond: r.stepsPerSecond };
    return instanceResults(r.snapshot);
  }

  const base = { seed: 0, variant: "relu" as const, batch: 1024 };

  // ---- 1. dense, importance 0.9^i: ReLU and linear
  const imp09 = Array.from({ length: 5 }, (_, i) => 0.9 ** i);
  const s1 = steps(8000);
  const denseRelu = await experiment("dense", `[1/${NEXP}] dense n=5 m=2 (ReLU)`, {
    ...base,
    features: 5,
    hidden: 2,
    instances: 1,
    importance: imp09,
    featureProbability: [1],
    steps: s1,
    lr: warmupCosine(3e-3, s1),
  });
  const denseLinear = await experiment("denseLinear", `[1/${NEXP}] dense n=5 m=2 (linear)`, {
    ...base,
    variant: "linear",
    features: 5,
    hidden: 2,
    instances: 1,
    importance: imp09,
    featureProbability: [1],
    steps: s1,
    lr: warmupCosine(3e-3, s1),
  });

  // ---- 2. very sparse, equal importance: the pentagon
  const pentagon = await experiment("pentagon", `[2/${NEXP}] pentagon n=5 m=2, 1-S=0.01`, {
    ...base,
    features: 5,
    hidden: 2,
    instances: 1,
    importance: [1, 1, 1, 1, 1],
    featureProbability: [0.01],
    steps: s1,
    lr: warmupCosine(3e-3, s1),
  });
  const pentAngles = neighbourAngles(pentagon[0].W);

  // ---- 3. sparsity sweep over 8 instances, importance 0.9^i
  const p3 = linspace(0, 1, 8).map((t) => 50 ** -t);
  const sweep = await experiment("sweep", `[3/${NEXP}] n=5 m=2 x8, 1-S=50^-linspace(0,1)`, {
    ...base,
    features: 5,
    hidden: 2,
    instances: 8,
    importance: imp09,
    featureProbability: p3,
    steps: s1,
    lr: warmupCosine(3e-3, s1),
  });

  // ---- 4. phase diagram, n = 2, m = 1
  const K = 12, SEEDS = 3;
  const rel = linspace(-1, 1, K).map((e) => 10 ** e);
  const p4 = linspace(0, 2, K).map((e) => 10 ** -e);
  const combos = rel.flatMap((r) =>
    p4.flatMap((p) => Array.from({ length: SEEDS }, () => ({ r, p })))
  );
  const s4 = steps(4000);
  const phaseRuns = await experiment(
    "phase",
    `[4/${NEXP}] phase diagram n=2 m=1, ${K}x${K}x${SEEDS} seeds`,
    {
      ...base,
      batch: 256,
      features: 2,
      hidden: 1,
      instances: combos.length,
      importance: combos.map((c) => [1, c.r]),
      featureProbability: combos.map((c) => [c.p, c.p]),
      steps: s4,
      lr: warmupCosine(1e-2, s4),
    },
    50,
  );
  const REGIONS: { name: TwoFeaturePhase; description: string }[] = [
    { name: "not represented", description: "feature 1 gets no direction (‖W₁‖ ≤ 0.5)" },
    { name: "dedicated dimension", description: "feature 1 alone holds the hidden dimension" },
    {
      name: "antipodal superposition",
      description: "both features share the dimension with opposite signs",
    },
  ];
  // A seed can stop in a local minimum (a feature whose ReLU died early), so each cell shows the
  // phase of its lowest-loss seed: the best solution training found.
  const phaseCells: PhaseCell[][] = rel.map((r, yi) =>
    p4.map((p, xi) => {
      const runs = phaseRuns.slice((yi * K + xi) * SEEDS, (yi * K + xi + 1) * SEEDS);
      const best = [...runs].sort((a, b) => a.loss - b.loss)[0];
      const region: TwoFeaturePhase = classifyTwoFeature(best.W);
      return { featureProbability: p, relativeImportance: r, region, W: best.W, loss: best.loss };
    })
  );
  const phase: PhaseData = { xValues: p4, yValues: rel, regions: REGIONS, cells: phaseCells };

  // ---- 5. n = 100, m = 20: dimensions per feature
  const p5 = linspace(0, 1, 12).map((t) => 20 ** -t);
  const s5 = steps(5000);
  const dims = await experiment(
    "dimensionality",
    `[5/${NEXP}] n=100 m=20 x12, 1-S=20^-linspace(0,1)`,
    {
      ...base,
      batch: 256,
      features: 100,
      hidden: 20,
      instances: p5.length,
      importance: new Array(100).fill(1),
      featureProbability: p5,
      steps: s5,
      lr: warmupCosine(1e-2, s5),
    },
  );

  const wall = (performance.now() - wall0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;

  // ---- 6. induction heads: the 2-layer attention-only model
  let induction: InductionDemoResult | null = null;
  if (INDUCTION) {
    const label = `[6/${NEXP}] induction, 2-layer attention-only`;
    let last = "";
    induction = await inductionDemo({
      root: ROOT,
      engine: eng,
      withToy: true,
      label,
      settings: { steps: inductionSteps },
      progress: tty
        ? (l) => {
          last = l;
          terminalLine(l);
        }
        : undefined,
    });
    if (tty) {
      terminalLine("");
      console.log(last);
    }
    timings.induction = { seconds: induction.seconds, stepsPerSecond: induction.stepsPerSecond };
  }

  // ---- results and report
  const countRegions = (name: string) => phaseCells.flat().filter((c) => c.region === name).length;
  const results = {
    generator: "glassbox examples/demo.ts",
    adapter,
    quick: QUICK,
    seconds: wall,
    cpuSeconds,
    timings,
    induction: induction && {
      dir: "../induction",
      results: "../induction/results.json",
      report: "../induction/report.html",
      attention: "../induction/attention.html",
      steps: induction.steps,
      seconds: induction.seconds,
      backend: induction.backend,
      bestInduction: induction.bestInduction,
      bestPrevToken: induction.bestPrevToken,
      phaseChange: induction.phaseChange,
      evalTokens: induction.evalTokens,
    },
    experiments: {
      dense: {
        config: { features: 5, hidden: 2, importance: imp09, featureProbability: 1, steps: s1 },
        relu: denseRelu[0],
        linear: denseLinear[0],
      },
      pentagon: {
        config: { features: 5, hidden: 2, importance: 1, featureProbability: 0.01, steps: s1 },
        neighbourAngles: pentAngles,
        instance: pentagon[0],
      },
      sparsity: {
        config: { features: 5, hidden: 2, importance: imp09, featureProbability: p3, steps: s1 },
        instances: sweep,
      },
      phaseDiagram: {
        config: {
          features: 2,
          hidden: 1,
          relativeImportance: rel,
          featureProbability: p4,
          seeds: SEEDS,
          steps: s4,
          batch: 256,
        },
        regions: Object.fromEntries(REGIONS.map((r) => [r.name, countRegions(r.name)])),
        cells: phaseCells,
      },
      dimensionality: {
        config: {
          features: 100,
          hidden: 20,
          importance: 1,
          featureProbability: p5,
          steps: s5,
          batch: 256,
        },
        instances: dims,
      },
    },
  };
  await Deno.mkdir(OUT, { recursive: true });
  await Deno.writeTextFile(`${OUT}/results.json`, toJson(results) + "\n");

  const sparsityLabel = (r: ToyInstanceResult) => `1 − S = ${fmt(r.featureProbability)}`;
  const pick = [0, 5, 11].filter((i) => i < dims.length);
  /** Features with ‖Wᵢ‖ > 0.5 (as classifyTwoFeature and toyMetrics count them). */
  const represented = (r: ToyInstanceResult) => r.featureNorms.filter((v) => v > 0.5).length;
  const listOf = (xs: number[]) => xs.length ? xs.join(", ") : "none";
  const idx = (r: ToyInstanceResult, f: (v: number, i: number) => boolean) =>
    r.featureNorms.map((v, i) => (f(v, i) ? i : -1)).filter((i) => i >= 0);
  const kept = idx(denseRelu[0], (v) => v > 0.5);
  const dropped = idx(denseRelu[0], (v) => v <= 0.5);
  const denseCos = kept.length === 2
    ? denseRelu[0].WtW[kept[0]][kept[1]] /
      (denseRelu[0].featureNorms[kept[0]] * denseRelu[0].featureNorms[kept[1]])
    : NaN;
  // The sparsity at which most features sit at each of the paper's fractions (nearest, ±0.02).
  const fractionPeaks = DIMENSION_FRACTIONS.map((f, fi) => {
    const counts = dims.map((r) =>
      r.dimensionality.filter((d) => nearestFraction(d) === fi).length
    );
    const k = counts.indexOf(Math.max(...counts));
    return { name: f.label.split(" ")[0], count: counts[k], at: 1 / dims[k].featureProbability };
  }).filter((x) => x.count > 0);
  const sections: ToyReportSection[] = [
    {
      kind: "instances",
      title: "1. Dense features: n = 5, m = 2, importance 0.9ⁱ",
      caption: `With every feature present (S = 0), the ReLU model represents features ` +
        `${listOf(kept)} (‖Wᵢ‖ > 0.5; cosine between them ${fmt(denseCos, 2)}) and drops ` +
        `${listOf(dropped)}, whose biases are ${
          dropped.map((i) => fmt(denseRelu[0].b[i], 2)).join(", ")
        } (the mean of a uniform feature is 0.5). The linear model represents ${
          represented(denseLinear[0])
        }.`,
      instances: [denseRelu[0], denseLinear[0]],
      labels: ["ReLU output", "linear output"],
    },
    {
      kind: "instances",
      title: "2. Very sparse, equal importance: a pentagon",
      caption: `1 − S = 0.01. Neighbouring features are ${
        pentAngles.map((a) => a.toFixed(1)).join("°, ")
      }° apart (a regular pentagon: 72°); ‖Wᵢ‖ = ${
        pentagon[0].featureNorms.map((v) => v.toFixed(2)).join(", ")
      }.`,
      instances: pentagon,
      labels: ["1 − S = 0.01"],
    },
    {
      kind: "instances",
      title: "3. Superposition grows with sparsity: n = 5, m = 2, importance 0.9ⁱ",
      caption:
        "Eight instances, 1 − S = 50^(−linspace(0, 1)). Features represented (‖Wᵢ‖ > 0.5), " +
        `dense to sparse: ${sweep.map(represented).join(", ")}; mean Dᵢ of those: ${
          sweep.map((r) => {
            const d = r.dimensionality.filter((_, i) => r.featureNorms[i] > 0.5);
            return fmt(d.reduce((a, v) => a + v, 0) / Math.max(1, d.length), 2);
          }).join(", ")
        } (1: own dimension, 1/2: antipodal pair, 2/5: pentagon).`,
      instances: sweep,
      labels: sweep.map(sparsityLabel),
    },
    {
      kind: "phase",
      title: "4. Phase diagram: n = 2, m = 1",
      caption: `What happens to feature 1 (importance relative to feature 0 on the y axis) as ` +
        `features get sparser. Each cell shows the lowest-loss of ${SEEDS} seeds. Glyphs: W₀ ` +
        `(yellow) and W₁ (purple) on the one hidden dimension.`,
      phase,
    },
    {
      kind: "dimensionality",
      title: "5. Dimensions per feature against sparsity: n = 100, m = 20",
      caption:
        "m / ‖W‖²F falls as features get sparser, and features settle at the fractions of a " +
        "dimension the paper finds (dashed lines): " +
        fractionPeaks.map((x) =>
          `${x.count} features at Dᵢ ≈ ${x.name} (1/(1 − S) = ${fmt(x.at, 2)})`
        )
          .join(", ") +
        ".",
      instances: dims,
    },
    {
      kind: "instances",
      title: "5b. n = 100, m = 20: WᵀW at three sparsities",
      caption:
        pick.map((i) =>
          `1 − S = ${fmt(dims[i].featureProbability)}: ${represented(dims[i])} of 100 features ` +
          `represented, ${fmt(dims[i].dimensionsPerFeature)} dimensions per feature`
        ).join("; ") + ".",
      instances: pick.map((i) => dims[i]),
      labels: pick.map((i) => sparsityLabel(dims[i])),
    },
  ];
  await writeToyReport(ROOT, {
    title: "Toy Models of Superposition, reproduced with glassbox",
    subtitle: `Trained on ${adapter} in ${wall.toFixed(0)} s (CPU ${cpuSeconds.toFixed(0)} s)` +
      `${QUICK ? ", --quick" : ""}. Elhage et al. 2022, transformer-circuits.pub/2022/toy_model.`,
    sections,
  }, { induction: induction !== null });

  console.log(
    `pentagon: neighbour angles ${pentAngles.map((a) => a.toFixed(1)).join(", ")}°; ` +
      `phase diagram: ${REGIONS.map((r) => `${r.name} ${countRegions(r.name)}`).join(", ")} cells`,
  );
  if (induction) console.log(inductionSummaryLine(induction));
  const total = (performance.now() - wall0) / 1000;
  const totalCpu = process.cpuUsage(cpu0);
  console.log(
    `done in ${total.toFixed(1)} s (CPU ${
      ((totalCpu.user + totalCpu.system) / 1e6).toFixed(1)
    } s; ` +
      `toy models ${wall.toFixed(1)} s${
        induction ? `, induction ${induction.seconds.toFixed(1)} s` : ""
      }), wrote:`,
  );
  for (
    const p of [
      `${OUT}/report.html`,
      `${OUT}/results.json`,
      ...(induction
        ? [
          induction.files.report,
          induction.attention,
          induction.files.results,
          `${induction.files.model}/`,
        ]
        : []),
    ]
  ) console.log(`  ${p}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`demo: ${e.message}`);
    Deno.exit(2);
  }
}
