/**
 * A self-contained HTML report of an induction-head training run (`glassbox induction`): the
 * loss curve, every head's induction and previous-token scores over training (the phase change
 * shows as the jump of a layer-1 head's induction score while the loss falls), and the final
 * scores per head. Plain inline SVG and CSS: no script, no external file.
 *
 * @module
 */

/** What the report reads: the JSON that `inductionResultsJson` makes (results.json). */
export interface InductionReportData {
  options: {
    layers: number;
    steps: number;
    seed: number;
    dModel: number;
    heads: number;
    ctx: number;
    batch: number;
    lr: number;
  };
  backend?: string;
  seconds?: number;
  steps_per_second?: number;
  tokens_per_second?: number;
  steps: number[];
  losses: number[];
  eval_steps: number[];
  induction_scores: number[][][];
  prev_token_scores: number[][][];
  final: {
    induction: number[][];
    prev_token: number[][];
    best_induction: { layer: number; head: number; score: number };
    best_prev_token: { layer: number; head: number; score: number };
    loss: number | null;
  };
  phase_change: { step: number; from: number; to: number } | null;
}

/** A link to another file of the same run (a report, an attention view), shown under "See also". */
export interface ReportLink {
  /** Where it points: a path relative to the page's folder (or any URL). */
  href: string;
  /** The link's text. */
  label: string;
  /** A sentence after the link (plain text). */
  description?: string;
}

/**
 * The "See also" list of links as an HTML `<section>` (empty string for no links). Shared by the
 * induction and toy-model reports.
 *
 * @example
 * ```ts
 * seeAlsoHtml([{ href: "attention.html", label: "Attention view" }]);
 * ```
 */
export function seeAlsoHtml(links: readonly ReportLink[] | undefined): string {
  if (!links?.length) return "";
  const items = links.map((l) =>
    `<li><a href="${escapeHtml(l.href)}">${escapeHtml(l.label)}</a>${
      l.description ? `: ${escapeHtml(l.description)}` : ""
    }</li>`
  ).join("\n");
  return `<section id="see-also" class="see-also"><h2>See also</h2>\n<ul>\n${items}\n</ul></section>`;
}

/** HTML-escape text. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One line of a chart. */
export interface Series {
  label: string;
  color: string;
  points: [number, number][];
  width?: number;
  opacity?: number;
  dash?: string;
}

/** Options of {@link lineChart}. */
export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  yMin?: number;
  yMax?: number;
  /** A dashed vertical marker: x and its label. */
  marker?: { x: number; label: string } | null;
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(6)));
  }
  return out;
}

/**
 * A line chart as an inline `<svg>`, with axes, ticks, a legend and an optional marker.
 *
 * @example
 * ```ts
 * const svg = lineChart({ title: "loss", xLabel: "step", yLabel: "loss",
 *   series: [{ label: "loss", color: "#333", points: [[0, 4.1], [100, 3.9]] }] });
 * ```
 */
export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 760;
  const H = o.height ?? 300;
  const m = { l: 56, r: 150, t: 30, b: 42 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const x0 = Math.min(0, ...xs);
  const x1 = Math.max(1, ...xs);
  let y0 = o.yMin ?? Math.min(...ys);
  let y1 = o.yMax ?? Math.max(...ys);
  if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = [0, 1];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const Y = (y: number) => m.t + (1 - (y - y0) / (y1 - y0)) * ph;
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${
      escapeHtml(o.title)
    }">`,
  );
  parts.push(
    `<text x="${m.l}" y="18" class="title">${escapeHtml(o.title)}</text>`,
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" class="plot"/>`,
  );
  for (const t of niceTicks(y0, y1)) {
    parts.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${f(Y(t))}" y2="${f(Y(t))}" class="grid"/>`,
      `<text x="${m.l - 6}" y="${f(Y(t) + 4)}" class="tick" text-anchor="end">${t}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1)) {
    parts.push(
      `<line x1="${f(X(t))}" x2="${f(X(t))}" y1="${m.t + ph}" y2="${m.t + ph + 4}" class="axis"/>`,
      `<text x="${f(X(t))}" y="${m.t + ph + 16}" class="tick" text-anchor="middle">${t}</text>`,
    );
  }
  parts.push(
    `<text x="${m.l + pw / 2}" y="${H - 6}" class="label" text-anchor="middle">${
      escapeHtml(o.xLabel)
    }</text>`,
    `<text x="14" y="${m.t + ph / 2}" class="label" text-anchor="middle" transform="rotate(-90 14 ${
      m.t + ph / 2
    })">${escapeHtml(o.yLabel)}</text>`,
  );
  if (o.marker) {
    const x = f(X(o.marker.x));
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${m.t}" y2="${m.t + ph}" class="marker"/>`,
      `<text x="${x}" y="${m.t - 4}" class="markertext" text-anchor="middle">${
        escapeHtml(o.marker.label)
      }</text>`,
    );
  }
  for (const s of o.series) {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length === 0) continue;
    const d = pts.map((p, i) =>
      `${i ? "L" : "M"}${f(X(p[0]))},${f(Y(Math.min(y1, Math.max(y0, p[1]))))}`
    )
      .join("");
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${
        s.width ?? 1.6
      }" stroke-opacity="${s.opacity ?? 1}"${
        s.dash ? ` stroke-dasharray="${s.dash}"` : ""
      }><title>${escapeHtml(s.label)}</title></path>`,
    );
  }
  const legend = o.series.filter((s) => s.label);
  legend.forEach((s, i) => {
    const y = m.t + 8 + i * 16;
    parts.push(
      `<line x1="${m.l + pw + 12}" x2="${
        m.l + pw + 32
      }" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2.5"${
        s.dash ? ` stroke-dasharray="${s.dash}"` : ""
      }/>`,
      `<text x="${m.l + pw + 38}" y="${y + 4}" class="tick">${escapeHtml(s.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

const LAYER_COLORS = [
  ["#1f5fa8", "#3f88d0", "#6aaee8", "#9cccf5", "#0d3c70", "#5a7fa8", "#8fb3d9", "#2b6f9e"],
  ["#c2410c", "#ea7a1a", "#f5a54a", "#b45309", "#f97316", "#9a3412", "#fdba74", "#d97706"],
  ["#15803d", "#22a55a", "#4ade80", "#166534", "#65a30d", "#86efac", "#14532d", "#3f9142"],
  ["#7e22ce", "#a855f7", "#c084fc", "#6b21a8", "#d8b4fe", "#581c87", "#9333ea", "#e9d5ff"],
];

/** A color for head h of layer l. */
export function headColor(l: number, h: number): string {
  const pal = LAYER_COLORS[l % LAYER_COLORS.length];
  return pal[h % pal.length];
}

/** Moving average over a centred window. */
export function smooth(v: number[], window: number): number[] {
  const out: number[] = [];
  const half = Math.floor(window / 2);
  let sum = 0;
  let n = 0;
  let lo = 0;
  let hi = -1;
  for (let i = 0; i < v.length; i++) {
    const a = Math.max(0, i - half);
    const b = Math.min(v.length - 1, i + half);
    while (hi < b) {
      hi++;
      if (Number.isFinite(v[hi])) (sum += v[hi], n++);
    }
    while (lo < a) {
      if (Number.isFinite(v[lo])) (sum -= v[lo], n--);
      lo++;
    }
    out.push(n ? sum / n : NaN);
  }
  return out;
}

function scoreTable(title: string, scores: number[][], bestL: number, bestH: number): string {
  const H = scores[0]?.length ?? 0;
  const head = Array.from({ length: H }, (_, h) => `<th>head ${h}</th>`).join("");
  const rows = scores.map((row, l) =>
    `<tr><th>layer ${l}</th>${
      row.map((s, h) => {
        const a = Math.max(0, Math.min(1, s));
        const mark = l === bestL && h === bestH ? " best" : "";
        return `<td class="cell${mark}" style="background: rgba(194, 65, 12, ${
          (0.08 + 0.85 * a).toFixed(2)
        }); color: ${a > 0.55 ? "#fff" : "#111"}">${s.toFixed(3)}</td>`;
      }).join("")
    }</tr>`
  ).join("\n");
  return `<h3>${escapeHtml(title)}</h3><table><tr><th></th>${head}</tr>\n${rows}</table>`;
}

/**
 * The report as one HTML document; `opts.links` adds a "See also" list after the summary (hrefs
 * relative to the report's folder).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("out/report.html", inductionReportHtml(inductionResultsJson(result)));
 * ```
 */
export function inductionReportHtml(
  d: InductionReportData,
  opts: { links?: readonly ReportLink[] } = {},
): string {
  const o = d.options;
  const L = d.final.induction.length;
  const Hn = d.final.induction[0]?.length ?? 0;
  const marker = d.phase_change
    ? { x: d.phase_change.step, label: `phase change ≈ step ${d.phase_change.step}` }
    : null;
  const win = Math.max(1, Math.min(51, Math.floor(d.losses.length / 40) | 1));
  const lossChart = lineChart({
    title: "Training loss (next-token cross-entropy)",
    xLabel: "step",
    yLabel: "loss",
    marker,
    series: [
      {
        label: "per step",
        color: "#888",
        width: 0.8,
        opacity: 0.5,
        points: d.steps.map((s, i) => [s, d.losses[i]]),
      },
      {
        label: `mean of ${win}`,
        color: "#111",
        width: 2,
        points: smooth(d.losses, win).map((v, i) => [d.steps[i], v]),
      },
    ],
  });
  const headSeries = (scores: number[][][]) =>
    Array.from({ length: L }, (_, l) =>
      Array.from({ length: Hn }, (_, h): Series => ({
        label: `L${l}H${h}`,
        color: headColor(l, h),
        dash: l === 0 && L > 1 ? "5 3" : undefined,
        points: d.eval_steps.map((s, i) => [s, scores[i][l][h]]),
      }))).flat();
  const indChart = lineChart({
    title: "Induction score of each head over training",
    xLabel: "step",
    yLabel: "induction score",
    yMin: 0,
    yMax: 1,
    marker,
    series: headSeries(d.induction_scores),
  });
  const prevChart = lineChart({
    title: "Previous-token score of each head over training",
    xLabel: "step",
    yLabel: "previous-token score",
    yMin: 0,
    yMax: 1,
    marker,
    series: headSeries(d.prev_token_scores),
  });
  const bi = d.final.best_induction;
  const bp = d.final.best_prev_token;
  const summary = [
    `<b>${L}-layer</b> attention-only model, d_model ${o.dModel}, ${o.heads} heads, context ${o.ctx}, ` +
    `batch ${o.batch}, AdamW lr ${o.lr}, ${o.steps} steps, seed ${o.seed}` +
    (d.backend ? `, ${escapeHtml(d.backend)} backend` : "") + ".",
    `Best induction head: <b>L${bi.layer}H${bi.head}</b> scores <b>${bi.score.toFixed(3)}</b>; ` +
    `best previous-token head of layer 0: <b>L${bp.layer}H${bp.head}</b> scores <b>${
      bp.score.toFixed(3)
    }</b>.`,
    d.phase_change
      ? `Phase change: the best induction score passes halfway from ${
        d.phase_change.from.toFixed(2)
      } to ${d.phase_change.to.toFixed(2)} at step <b>${d.phase_change.step}</b>.`
      : "No phase change: the best induction score did not rise by 0.2.",
    d.final.loss !== null ? `Final loss ${d.final.loss.toFixed(4)}.` : "",
    d.seconds !== undefined
      ? `Trained in ${d.seconds.toFixed(1)} s (${(d.steps_per_second ?? 0).toFixed(2)} steps/s, ${
        Math.round(d.tokens_per_second ?? 0)
      } tokens/s, evaluations included).`
      : "",
  ].filter(Boolean).map((s) => `<p>${s}</p>`).join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Induction heads: ${L}-layer model</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 820px; color: #111; }
h1 { font-size: 22px; margin-bottom: 4px; }
h3 { margin: 18px 0 6px; font-size: 15px; }
svg { display: block; margin: 14px 0; }
svg .title { font-size: 14px; font-weight: 600; }
svg .tick { font-size: 11px; fill: #444; }
svg .label { font-size: 12px; fill: #222; }
svg .plot { fill: #fcfcfc; stroke: #bbb; }
svg .grid { stroke: #e6e6e6; }
svg .axis { stroke: #888; }
svg .marker { stroke: #b91c1c; stroke-dasharray: 4 3; stroke-width: 1.4; }
svg .markertext { font-size: 11px; fill: #b91c1c; }
table { border-collapse: collapse; }
th, td { padding: 4px 10px; text-align: right; font-size: 13px; }
td.best { outline: 2px solid #111; }
.note { color: #555; font-size: 12px; }
.see-also h2 { font-size: 15px; margin: 14px 0 4px; }
.see-also ul { margin: 0; padding-left: 20px; }
</style>
</head>
<body>
<h1>Induction heads: ${L}-layer attention-only transformer</h1>
${summary}
${seeAlsoHtml(opts.links)}
${lossChart}
${indChart}
${prevChart}
${scoreTable("Final induction scores", d.final.induction, bi.layer, bi.head)}
${scoreTable("Final previous-token scores", d.final.prev_token, bp.layer, bp.head)}
<p class="note">Sequences: [BOS] + a random prefix of 0–20 tokens + a run r of 8–20 random tokens +
r again + random filler, so where the repeat starts varies. Induction score: a head's mean
attention from each token of the second copy of r to the token just after that token's earlier
copy. Previous-token score: mean attention to the position before. Both measured on held-out
sequences every few steps; dashed lines are layer 0.</p>
</body>
</html>
`;
}
