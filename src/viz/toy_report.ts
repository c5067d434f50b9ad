/**
 * The HTML report of Toy Models of Superposition runs (Elhage et al. 2022,
 * https://transformer-circuits.pub/2022/toy_model/index.html): one self-contained file (inline
 * SVG, canvas and JS; no network) with the paper's figures:
 *
 * - per model instance: the columns of W drawn as arrows from the origin (m = 2, or m = 1 on a
 *   line) coloured by importance, the WᵀW heatmap, and the feature norms ‖Wᵢ‖ as bars coloured by
 *   superposition Σ_{j≠i} (Ŵᵢ·Wⱼ)²;
 * - the phase diagram: a grid over feature density and relative importance coloured by region;
 * - dimensionality: dimensions per feature m / ‖W‖²_F against 1/(1 − S), each feature's Dᵢ as a
 *   scatter, and guide lines at the fractions the paper finds (1, 3/4, 2/3, 1/2, 2/5, 3/8).
 *
 * The builder takes plain data (the records of `results.json`), so it runs on a fake snapshot in
 * tests and anywhere the numbers come from.
 *
 * @example
 * ```ts
 * import { toyReportHtml } from "./toy_report.ts";
 * const html = toyReportHtml({
 *   title: "n = 2, m = 2",
 *   sections: [{ kind: "instances", title: "Dense", instances: [{
 *     featureProbability: 1, importance: [1, 0.9], W: [[1, 0], [0, 1]], b: [0, 0], loss: 0,
 *     featureNorms: [1, 1], superposition: [0, 0], dimensionality: [1, 1],
 *     dimensionsPerFeature: 1, WtW: [[1, 0], [0, 1]],
 *   }] }],
 * });
 * ```
 *
 * @module
 */

import {
  arrows2d,
  bars,
  diverging,
  escapeXml,
  fmt,
  type GuideLine,
  heatmap,
  num,
  plot,
  superpositionColor,
  svg,
  text,
  viridis,
} from "./svg.ts";
import { type ReportLink, seeAlsoHtml } from "./induction_report.ts";

export type { ReportLink };

/** One trained model instance, as written to `results.json`. */
export interface ToyInstanceResult {
  /** 1 − S: the probability that a feature is non-zero. */
  featureProbability: number;
  /** Iᵢ, one per feature. */
  importance: number[];
  /** W as m rows of n numbers (column i is feature i's direction). */
  W: number[][];
  /** The output bias, n numbers. */
  b: number[];
  /** Final training loss (importance-weighted squared error, mean over the batch). */
  loss: number;
  /** ‖Wᵢ‖ for each feature. */
  featureNorms: number[];
  /** Σ_{j≠i} (Ŵᵢ·Wⱼ)² for each feature (0: its own dimension). */
  superposition: number[];
  /** Dᵢ = ‖Wᵢ‖² / Σⱼ (Ŵᵢ·Wⱼ)²: the fraction of a dimension feature i gets. */
  dimensionality: number[];
  /** m / ‖W‖²_F. */
  dimensionsPerFeature: number;
  /** WᵀW, n × n. */
  WtW: number[][];
}

/** A region of the phase diagram (its name, colour and what it means). */
export interface PhaseRegion {
  name: string;
  color?: string;
  description?: string;
}

/** One cell of the phase diagram. */
export interface PhaseCell {
  /** 1 − S of this cell. */
  featureProbability: number;
  /** Importance of the extra feature relative to the first. */
  relativeImportance: number;
  /** Region name (one of {@link PhaseData.regions}). */
  region: string;
  /** The trained W (m rows of n), drawn as a small glyph when present. */
  W?: number[][];
  loss?: number;
}

/** The phase diagram: cells[y][x] over yValues (relative importance) × xValues (1 − S). */
export interface PhaseData {
  xValues: number[];
  yValues: number[];
  regions: PhaseRegion[];
  cells: PhaseCell[][];
}

/** A section of the report. */
export type ToyReportSection =
  | {
    kind: "instances";
    title: string;
    caption?: string;
    instances: ToyInstanceResult[];
    /** Per-instance card titles (default from 1 − S). */
    labels?: string[];
  }
  | { kind: "phase"; title: string; caption?: string; phase: PhaseData }
  | {
    kind: "dimensionality";
    title: string;
    caption?: string;
    instances: ToyInstanceResult[];
  };

/** The whole report. */
export interface ToyReport {
  title: string;
  /** A line under the title (configuration, adapter, runtime). */
  subtitle?: string;
  sections: ToyReportSection[];
  /**
   * Links to other pages of the same run (the demo links its induction report and attention
   * view), shown under "See also" after the subtitle; hrefs relative to the report's folder.
   */
  links?: ReportLink[];
}

/** The fractions of a dimension the paper's features settle at, with their geometry. */
export const DIMENSION_FRACTIONS: readonly { value: number; label: string }[] = [
  { value: 1, label: "1 dedicated" },
  { value: 3 / 4, label: "3/4 tetrahedron" },
  { value: 2 / 3, label: "2/3 triangle" },
  { value: 1 / 2, label: "1/2 antipodal" },
  { value: 2 / 5, label: "2/5 pentagon" },
  { value: 3 / 8, label: "3/8 sq. antiprism" },
];

/**
 * The index in {@link DIMENSION_FRACTIONS} of the fraction nearest to a feature dimensionality
 * d, or -1 when none is within `tol` (default 0.02: 2/5 and 3/8 are 0.025 apart).
 *
 * @example
 * ```ts
 * nearestFraction(0.39); // 4 (2/5)
 * ```
 */
export function nearestFraction(d: number, tol = 0.02): number {
  let best = -1, dist = tol;
  DIMENSION_FRACTIONS.forEach((f, i) => {
    const e = Math.abs(d - f.value);
    if (e <= dist) [best, dist] = [i, e];
  });
  return best;
}

/** Default colours for the usual region names (others get a palette colour). */
const REGION_COLORS: Record<string, string> = {
  "not represented": "#c6dbef",
  "dedicated": "#fdd0a2",
  "dedicated dimension": "#fdd0a2",
  "superposition": "#e6550d",
  "antipodal superposition": "#e6550d",
};
const PALETTE = ["#c6dbef", "#fdd0a2", "#e6550d", "#74c476", "#9e9ac8", "#fdae6b"];

/** Colour of region `name` in `regions`. */
function regionColor(regions: PhaseRegion[], name: string): string {
  const i = regions.findIndex((r) => r.name === name);
  const r = regions[i];
  return r?.color ?? REGION_COLORS[name.toLowerCase()] ?? PALETTE[(i < 0 ? 5 : i) % PALETTE.length];
}

/** Colours of features by importance: the most important yellow, the least purple. */
export function importanceColors(importance: number[]): string[] {
  const lo = Math.min(...importance), hi = Math.max(...importance);
  return importance.map((v) => viridis(hi > lo ? 0.15 + 0.85 * ((v - lo) / (hi - lo)) : 0.9));
}

/** A number from JSON (where NaN and Infinity were written as null) as a number. */
function numOr(v: unknown): number {
  return typeof v === "number" ? v : NaN;
}

/** An instance read back from `results.json`: nulls become NaN again. */
function clean(inst: ToyInstanceResult): ToyInstanceResult {
  const arr = (a: unknown[]) => a.map(numOr);
  return {
    ...inst,
    featureProbability: numOr(inst.featureProbability),
    importance: arr(inst.importance),
    W: inst.W.map(arr),
    b: arr(inst.b),
    loss: numOr(inst.loss),
    featureNorms: arr(inst.featureNorms),
    superposition: arr(inst.superposition),
    dimensionality: arr(inst.dimensionality),
    dimensionsPerFeature: numOr(inst.dimensionsPerFeature),
    WtW: inst.WtW.map(arr),
  };
}

// ------------------------------------------------------------------ instance cards

/** Large matrices go to a canvas (int8-quantised, base64) instead of one SVG rect per cell. */
const CANVAS_CELLS = 2500;

function canvasHeatmap(values: number[][], title: string): string {
  const rows = values.length, cols = rows ? values[0].length : 0;
  const maxAbs = Math.max(
    1e-12,
    ...values.flat().map((v) => (Number.isFinite(v) ? Math.abs(v) : 0)),
  );
  const q = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r][c];
      q[r * cols + c] = 127 +
        Math.round(127 * Math.max(-1, Math.min(1, (Number.isFinite(v) ? v : 0) / maxAbs)));
    }
  }
  let bin = "";
  for (const b of q) bin += String.fromCharCode(b);
  const scale = Math.max(140, cols) / cols;
  return `<figure class="hm"><figcaption>${escapeXml(title)} <span class="dim">(±${
    fmt(maxAbs)
  })</span></figcaption>` +
    `<canvas class="heat" width="${cols}" height="${rows}" style="width:${
      num(cols * scale)
    }px;height:${num(rows * scale)}px" data-rows="${rows}" data-cols="${cols}" data-q="${
      btoa(bin)
    }"></canvas></figure>`;
}

function instanceCard(inst: ToyInstanceResult, label: string, index: number): string {
  const m = inst.W.length, n = inst.W[0]?.length ?? 0;
  const colors = importanceColors(inst.importance);
  const parts: string[] = [];
  parts.push(
    `<div class="card" data-instance="${index}"><h4>${escapeXml(label)}</h4>` +
      `<div class="stats">loss ${fmt(inst.loss)}<br>dims/feature ${
        fmt(inst.dimensionsPerFeature)
      }</div>`,
  );
  const tips = inst.featureNorms.map((v, i) =>
    `feature ${i}: importance ${fmt(inst.importance[i])}, ‖W${i}‖ = ${fmt(v)}, ` +
    `superposition ${fmt(inst.superposition[i])}, D${i} = ${fmt(inst.dimensionality[i])}`
  );
  if (m <= 2) {
    const arrows = Array.from({ length: n }, (_, i) => ({
      x: inst.W[0][i],
      y: m === 2 ? inst.W[1][i] : 0,
      color: colors[i],
      label: n <= 12 ? String(i) : undefined,
      title: tips[i],
    }));
    parts.push(
      `<figure class="arrows">${
        arrows2d(arrows, {
          size: 140,
          title: m === 2 ? "W columns" : "W (m = 1)",
          unitCircle: m === 2,
        })
      }</figure>`,
    );
  }
  parts.push(
    n * n > CANVAS_CELLS
      ? canvasHeatmap(inst.WtW, "WᵀW")
      : `<figure class="hm">${
        heatmap(inst.WtW, {
          size: 96,
          title: "WᵀW",
          rowLabels: n <= 20 ? inst.WtW.map((_, i) => String(i)) : undefined,
          colLabels: n <= 20 ? inst.WtW.map((_, i) => String(i)) : undefined,
          cellTitle: (r, c, v) => `(W${r})·(W${c}) = ${fmt(v)}`,
        })
      }</figure>`,
  );
  parts.push(
    `<figure class="norms">${
      bars(inst.featureNorms, inst.superposition.map(superpositionColor), {
        width: 140,
        title: "‖Wᵢ‖",
        labels: inst.featureNorms.map((_, i) => String(i)),
        titles: tips,
      })
    }</figure>`,
  );
  parts.push("</div>");
  return parts.join("");
}

function superpositionLegend(): string {
  const stops = 30;
  const body: string[] = [];
  for (let i = 0; i < stops; i++) {
    body.push(
      `<rect x="${90 + i * 4}" y="3" width="4.5" height="10" fill="${
        superpositionColor(i / (stops - 1))
      }"/>`,
    );
  }
  body.push(
    text(0, 12, "superposition:", { size: 11 }),
    text(90 + stops * 4 + 4, 12, "0 (own dimension) → ≥ 1", { size: 11 }),
  );
  return svg(380, 16, body.join(""), { label: "superposition colour scale" });
}

function importanceLegend(): string {
  const stops = 30;
  const body: string[] = [];
  for (let i = 0; i < stops; i++) {
    body.push(
      `<rect x="${80 + i * 4}" y="3" width="4.5" height="10" fill="${
        viridis(0.15 + 0.85 * i / (stops - 1))
      }"/>`,
    );
  }
  body.push(
    text(0, 12, "importance:", { size: 11 }),
    text(80 + stops * 4 + 4, 12, "least → most", { size: 11 }),
  );
  return svg(300, 16, body.join(""), { label: "importance colour scale" });
}

function instancesSection(
  s: Extract<ToyReportSection, { kind: "instances" }>,
  id: string,
): string {
  const cards = s.instances.map(clean).map((inst, i) =>
    instanceCard(inst, s.labels?.[i] ?? `1 − S = ${fmt(inst.featureProbability)}`, i)
  );
  return `<section id="${id}" class="fig-instances"><h2>${escapeXml(s.title)}</h2>` +
    (s.caption ? `<p>${escapeXml(s.caption)}</p>` : "") +
    `<div class="legend">${importanceLegend()} ${superpositionLegend()}</div>` +
    `<div class="cards">${cards.join("")}</div></section>`;
}

// ------------------------------------------------------------------ phase diagram

/** A small glyph of W (m = 1: points on a line; m = 2: arrows) inside a phase-diagram cell. */
function cellGlyph(W: number[][], x: number, y: number, w: number, h: number): string {
  const m = W.length, n = W[0]?.length ?? 0;
  const colors = importanceColors(Array.from({ length: n }, (_, i) => n - i));
  const cx = x + w / 2, cy = y + h / 2;
  const ext = Math.max(1, ...W.flat().map(Math.abs)) * 1.1;
  const r = Math.min(w, h) / 2 - 3;
  const parts = [
    `<line x1="${num(x + 3)}" y1="${num(cy)}" x2="${num(x + w - 3)}" y2="${
      num(cy)
    }" stroke="#0004"/>`,
  ];
  for (let i = 0; i < n; i++) {
    const px = cx + (W[0][i] / ext) * r, py = cy - (m >= 2 ? (W[1][i] / ext) * r : 0);
    parts.push(
      `<line x1="${num(cx)}" y1="${num(cy)}" x2="${num(px)}" y2="${num(py)}" stroke="${
        colors[i]
      }" ` +
        `stroke-width="2.5"/><circle cx="${num(px)}" cy="${num(py)}" r="2" fill="${colors[i]}" ` +
        `stroke="#333" stroke-width="0.5"/>`,
    );
  }
  return parts.join("");
}

function phaseSvg(p: PhaseData): string {
  const nx = p.xValues.length, ny = p.yValues.length;
  const cell = Math.max(14, Math.min(48, Math.floor(440 / Math.max(nx, ny))));
  const m = { l: 64, t: 10, b: 48 };
  const width = m.l + nx * cell + 16, height = m.t + ny * cell + m.b;
  const parts: string[] = [];
  for (let yi = 0; yi < ny; yi++) {
    for (let xi = 0; xi < nx; xi++) {
      const c = p.cells[yi]?.[xi];
      if (!c) continue;
      const x = m.l + xi * cell, y = m.t + (ny - 1 - yi) * cell;
      const wtxt = c.W
        ? ` W = [${c.W.map((r) => r.map((v) => fmt(v)).join(", ")).join("; ")}]`
        : "";
      parts.push(
        `<g class="cell" data-region="${
          escapeXml(c.region)
        }"><rect x="${x}" y="${y}" width="${cell}" ` +
          `height="${cell}" fill="${
            regionColor(p.regions, c.region)
          }" stroke="#fff" stroke-width="1">` +
          `<title>${
            escapeXml(
              `1 − S = ${fmt(c.featureProbability)}, relative importance ${
                fmt(c.relativeImportance)
              }: ` +
                `${c.region}.${wtxt}${c.loss !== undefined ? ` loss ${fmt(c.loss)}` : ""}`,
            )
          }</title></rect>` + (c.W && cell >= 22 ? cellGlyph(c.W, x, y, cell, cell) : "") + "</g>",
      );
    }
  }
  // Axis ticks at a few cells (values are log-spaced, so label the decades when present).
  const tickIdx = (vals: number[]) => {
    const idx = vals.map((v, i) => [v, i] as const).filter(([v]) =>
      Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 0.02
    ).map(([, i]) => i);
    return idx.length >= 2 ? idx : [0, vals.length - 1];
  };
  for (const xi of tickIdx(p.xValues)) {
    const x = m.l + xi * cell + cell / 2;
    parts.push(
      `<line x1="${num(x)}" y1="${m.t + ny * cell}" x2="${num(x)}" y2="${
        m.t + ny * cell + 4
      }" stroke="#444"/>`,
      text(x, m.t + ny * cell + 16, fmt(p.xValues[xi]), { anchor: "middle" }),
    );
  }
  for (const yi of tickIdx(p.yValues)) {
    const y = m.t + (ny - 1 - yi) * cell + cell / 2;
    parts.push(
      `<line x1="${m.l - 4}" y1="${num(y)}" x2="${m.l}" y2="${num(y)}" stroke="#444"/>`,
      text(m.l - 7, y + 4, fmt(p.yValues[yi]), { anchor: "end" }),
    );
  }
  parts.push(
    text(m.l + (nx * cell) / 2, height - 10, "feature density 1 − S (sparser →)", {
      anchor: "middle",
      size: 12,
    }),
    text(14, m.t + (ny * cell) / 2, "importance of feature 1 ÷ feature 0", {
      anchor: "middle",
      size: 12,
      rotate: -90,
    }),
  );
  return svg(width, height, parts.join(""), { label: "phase diagram" });
}

function phaseSection(s: Extract<ToyReportSection, { kind: "phase" }>, id: string): string {
  const p = s.phase;
  const counts = new Map<string, number>();
  for (const c of p.cells.flat()) counts.set(c.region, (counts.get(c.region) ?? 0) + 1);
  const legend = p.regions.map((r) =>
    `<li><span class="swatch" style="background:${regionColor(p.regions, r.name)}"></span>` +
    `<b>${escapeXml(r.name)}</b> (${counts.get(r.name) ?? 0} cells)` +
    (r.description ? ` — ${escapeXml(r.description)}` : "") + "</li>"
  ).join("");
  return `<section id="${id}" class="fig-phase"><h2>${escapeXml(s.title)}</h2>` +
    (s.caption ? `<p>${escapeXml(s.caption)}</p>` : "") +
    `<div class="row"><figure>${
      phaseSvg(p)
    }</figure><ul class="regions">${legend}</ul></div></section>`;
}

// ------------------------------------------------------------------ dimensionality

function dimensionalitySection(
  s: Extract<ToyReportSection, { kind: "dimensionality" }>,
  id: string,
): string {
  const insts = s.instances.map(clean).sort((a, b) => b.featureProbability - a.featureProbability);
  const xs = insts.map((d) => 1 / d.featureProbability);
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  const dom: [number, number] = xMax > xMin * 1.01
    ? [xMin / 1.15, xMax * 1.15]
    : [xMin / 2, xMax * 2];
  const scatter: [number, number][] = [];
  const titles: string[] = [];
  insts.forEach((d, k) => {
    // A small deterministic spread along x, so stacked points stay visible.
    d.dimensionality.forEach((v, i) => {
      const jitter = 1 + 0.06 * (((i * 7919) % 101) / 101 - 0.5);
      scatter.push([xs[k] * jitter, Number.isFinite(v) ? v : 0]);
      titles.push(
        `1/(1 − S) = ${fmt(xs[k])}, feature ${i}: D = ${fmt(v)}, ‖W‖ = ${fmt(d.featureNorms[i])}`,
      );
    });
  });
  const hlines: GuideLine[] = DIMENSION_FRACTIONS.map((f) => ({ y: f.value, label: f.label }));
  const lineMax = Math.max(0, ...insts.map((d) => d.dimensionsPerFeature).filter(Number.isFinite));
  const maxD = Math.min(2, Math.max(1, lineMax, ...scatter.map(([, y]) => y)));
  const fig = plot({
    width: 720,
    height: 400,
    x: { label: "1 / (1 − S)", domain: dom, log: true },
    y: { label: "dimensions per feature", domain: [0, maxD * 1.05] },
    series: [
      {
        kind: "points",
        points: scatter,
        color: "#3b528b",
        size: 2.6,
        opacity: 0.45,
        titles,
        label: "Dᵢ (each feature)",
      },
      {
        kind: "line",
        points: insts.map((d, k) => [xs[k], d.dimensionsPerFeature]),
        color: "#111",
        size: 2,
        titles: insts.map((d, k) =>
          `1/(1 − S) = ${fmt(xs[k])}: m/‖W‖²F = ${fmt(d.dimensionsPerFeature)}, loss ${fmt(d.loss)}`
        ),
        label: "m / ‖W‖²F",
      },
    ],
    hlines,
    legend: true,
  });
  const rows = insts.map((d, k) => {
    const near = (k: number) => d.dimensionality.filter((v) => nearestFraction(v) === k).length;
    return `<tr><td>${fmt(d.featureProbability)}</td><td>${fmt(xs[k])}</td><td>${
      fmt(d.loss)
    }</td>` +
      `<td>${fmt(d.dimensionsPerFeature)}</td>` +
      DIMENSION_FRACTIONS.map((_, k) => `<td>${near(k)}</td>`).join("") +
      `<td>${d.featureNorms.filter((v) => v < 0.1).length}</td></tr>`;
  }).join("");
  const table = `<table><thead><tr><th>1 − S</th><th>1/(1 − S)</th><th>loss</th>` +
    `<th>m/‖W‖²F</th>${
      DIMENSION_FRACTIONS.map((f) => `<th>Dᵢ≈${escapeXml(f.label.split(" ")[0])}</th>`).join("")
    }` +
    `<th>‖Wᵢ‖ &lt; 0.1</th></tr></thead><tbody>${rows}</tbody></table>`;
  return `<section id="${id}" class="fig-dimensionality"><h2>${escapeXml(s.title)}</h2>` +
    (s.caption ? `<p>${escapeXml(s.caption)}</p>` : "") +
    `<figure>${fig}</figure>` +
    `<details><summary>features at each fraction (the nearest, within 0.02)</summary>${table}</details></section>`;
}

// ------------------------------------------------------------------ page

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1320px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 6px; border-bottom: 1px solid #ddd; }
h4 { margin: 0; font-size: 13px; } p { max-width: 900px; } .sub { color: #666; margin: 0 0 12px; }
nav a { margin-right: 12px; } figure { margin: 0; } .dim { color: #888; font-weight: normal; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px; background: #fcfcfc; }
.card { display: flex; flex-direction: column; gap: 6px; padding: 6px; }
.card figure { margin: 0; }
.card figcaption { font-weight: 600; font-size: 12px; }
.stats { color: #555; font-size: 12px; } .legend svg { margin-right: 20px; }
canvas.heat { image-rendering: pixelated; display: block; border: 1px solid #999; }
.row { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }
.regions { list-style: none; padding: 0; max-width: 420px; } .regions li { margin-bottom: 8px; }
.swatch { display: inline-block; width: 14px; height: 14px; border: 1px solid #999; vertical-align: -2px; margin-right: 6px; }
table { border-collapse: collapse; font-size: 12px; margin-top: 8px; } td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
.see-also h2 { font-size: 15px; margin: 14px 0 4px; border: 0; } .see-also ul { margin: 0; }
.hl { filter: drop-shadow(0 0 2px #e00); } .hl rect, rect.hl { stroke: #e00; stroke-width: 1.5; }
`;

/** Inline script: draws the canvas heatmaps and highlights a feature across a card on hover. */
const SCRIPT = `
(function () {
  var stops = ${
  JSON.stringify([[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]])
};
  function col(t) {
    var x = Math.min(1, Math.max(0, t)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
    return [0, 1, 2].map(function (k) { return Math.round(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f); });
  }
  document.querySelectorAll("canvas.heat").forEach(function (c) {
    var rows = +c.dataset.rows, cols = +c.dataset.cols, q = atob(c.dataset.q);
    var ctx = c.getContext("2d"), img = ctx.createImageData(cols, rows);
    for (var i = 0; i < rows * cols; i++) {
      var rgb = col(q.charCodeAt(i) / 254);
      img.data[4 * i] = rgb[0]; img.data[4 * i + 1] = rgb[1]; img.data[4 * i + 2] = rgb[2]; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  });
  document.querySelectorAll(".card").forEach(function (card) {
    card.addEventListener("mouseover", function (e) {
      var el = e.target.closest("[data-f]");
      card.querySelectorAll(".hl").forEach(function (h) { h.classList.remove("hl"); });
      if (!el) return;
      card.querySelectorAll('[data-f="' + el.dataset.f + '"]').forEach(function (h) { h.classList.add("hl"); });
    });
  });
})();
`;

/**
 * Build the report as one self-contained HTML document (no external URL is referenced).
 *
 * @param report the title, a subtitle, the sections to draw and optional links
 * @returns the HTML text
 * @example
 * ```ts
 * const html = toyReportHtml({ title: "Toy models", sections: [] });
 * ```
 */
export function toyReportHtml(report: ToyReport): string {
  const ids = report.sections.map((s, i) => `fig-${i + 1}-${s.kind}`);
  const body = report.sections.map((s, i) => {
    switch (s.kind) {
      case "instances":
        return instancesSection(s, ids[i]);
      case "phase":
        return phaseSection(s, ids[i]);
      case "dimensionality":
        return dimensionalitySection(s, ids[i]);
    }
  });
  const nav = report.sections.map((s, i) => `<a href="#${ids[i]}">${escapeXml(s.title)}</a>`)
    .concat(report.links?.length ? [`<a href="#see-also">See also</a>`] : [])
    .join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(report.title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeXml(report.title)}</h1>
${report.subtitle ? `<p class="sub">${escapeXml(report.subtitle)}</p>` : ""}
<nav>${nav}</nav>
${seeAlsoHtml(report.links)}
${body.join("\n")}
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** Re-exported for callers that colour their own figures like the report. */
export { diverging, superpositionColor, viridis };
