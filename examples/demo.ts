/**
 * glassbox's main demo: Toy Models of Superposition (Elhage et al. 2022,
 * https://transformer-circuits.pub/2022/toy_model/index.html), five of the paper's experiments
 * trained on the WebGPU adapter (lavapipe on a CPU), written to `out/toy/report.html` (one
 * self-contained file) and `out/toy/results.json`.
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
 * ```sh
 * deno run -A examples/demo.ts [--out DIR] [--quick]
 * ```
 *
 * `--quick` trains a quarter of the steps (a smoke test; the figures are rougher).
 *
 * @module
 */

import process from "node:process";
import { init } from "../src/gpu/engine.ts";
import { classifyTwoFeature, neighbourAngles, type TwoFeaturePhase } from "../src/toy/mod.ts";
import {
  instanceResults,
  terminalLine,
  toJson,
  type ToyResults,
  trainToy,
  type TrainToyConfig,
} from "../src/cli/toy.ts";
import { parseFlags } from "../src/cli/args.ts";
import {
  DIMENSION_FRACTIONS,
  nearestFraction,
  type PhaseCell,
  type PhaseData,
  type ToyInstanceResult,
  toyReportHtml,
  type ToyReportSection,
} from "../src/viz/toy_report.ts";

const flags = parseFlags("demo", Deno.args, { out: "string", quick: "boolean" });
const OUT = ((flags.out as string | undefined) ?? "out/toy").replace(/\/$/, "");
const QUICK = flags.quick === true;
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
console.log(`glassbox demo: Toy Models of Superposition on ${adapter}${QUICK ? " (--quick)" : ""}`);

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
const denseRelu = await experiment("dense", "[1/5] dense n=5 m=2 (ReLU)", {
  ...base,
  features: 5,
  hidden: 2,
  instances: 1,
  importance: imp09,
  featureProbability: [1],
  steps: s1,
  lr: warmupCosine(3e-3, s1),
});
const denseLinear = await experiment("denseLinear", "[1/5] dense n=5 m=2 (linear)", {
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
const pentagon = await experiment("pentagon", "[2/5] pentagon n=5 m=2, 1-S=0.01", {
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
const sweep = await experiment("sweep", "[3/5] n=5 m=2 x8, 1-S=50^-linspace(0,1)", {
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
  `[4/5] phase diagram n=2 m=1, ${K}x${K}x${SEEDS} seeds`,
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
const dims = await experiment("dimensionality", "[5/5] n=100 m=20 x12, 1-S=20^-linspace(0,1)", {
  ...base,
  batch: 256,
  features: 100,
  hidden: 20,
  instances: p5.length,
  importance: new Array(100).fill(1),
  featureProbability: p5,
  steps: s5,
  lr: warmupCosine(1e-2, s5),
});

// ---- results and report
const wall = (performance.now() - wall0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const countRegions = (name: string) => phaseCells.flat().filter((c) => c.region === name).length;
const results = {
  generator: "glassbox examples/demo.ts",
  adapter,
  quick: QUICK,
  seconds: wall,
  cpuSeconds,
  timings,
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
  const counts = dims.map((r) => r.dimensionality.filter((d) => nearestFraction(d) === fi).length);
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
    caption: "Eight instances, 1 − S = 50^(−linspace(0, 1)). Features represented (‖Wᵢ‖ > 0.5), " +
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
    caption: "m / ‖W‖²F falls as features get sparser, and features settle at the fractions of a " +
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
const html = toyReportHtml({
  title: "Toy Models of Superposition, reproduced with glassbox",
  subtitle: `Trained on ${adapter} in ${wall.toFixed(0)} s (CPU ${cpuSeconds.toFixed(0)} s)` +
    `${QUICK ? ", --quick" : ""}. Elhage et al. 2022, transformer-circuits.pub/2022/toy_model.`,
  sections,
});
await Deno.writeTextFile(`${OUT}/report.html`, html);

console.log(
  `pentagon: neighbour angles ${pentAngles.map((a) => a.toFixed(1)).join(", ")}°; ` +
    `phase diagram: ${REGIONS.map((r) => `${r.name} ${countRegions(r.name)}`).join(", ")} cells`,
);
console.log(
  `done in ${wall.toFixed(1)} s (CPU ${cpuSeconds.toFixed(1)} s): wrote ${OUT}/report.html and ` +
    `${OUT}/results.json`,
);
