/**
 * Small SVG builders for glassbox's reports: a line/scatter plot with linear or log axes and
 * labelled guide lines, a heatmap, 2-D arrows from the origin, horizontal bars, and the colour
 * maps they use. Each returns a self-contained `<svg>` string (no external references), so a
 * report is one HTML file that opens offline. Pure TypeScript: runs in Deno and the browser.
 *
 * @example
 * ```ts
 * import { arrows2d, viridis } from "./svg.ts";
 * const svg = arrows2d([{ x: 1, y: 0, color: viridis(1) }, { x: 0, y: 1, color: viridis(0) }]);
 * ```
 *
 * @module
 */

/** Escape text for use in SVG/HTML text and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  );
}

/** A number rounded for SVG coordinates (2 decimals, no "-0"). */
export function num(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? "0" : String(r);
}

/** Short human formatting for tick and tooltip values (3 significant digits). */
export function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(digits - 1).replace("e+", "e");
  return String(Number(v.toPrecision(digits)));
}

// ------------------------------------------------------------------ colours

/** Viridis anchors (t = 0, 0.25, 0.5, 0.75, 1), interpolated linearly. */
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function lerpColor(stops: [number, number, number][], t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/**
 * Viridis colour for t in [0, 1] (purple → green → yellow); the toy figures colour features by
 * importance with the most important yellow, as the paper does.
 */
export function viridis(t: number): string {
  return lerpColor(VIRIDIS, t);
}

const DIVERGING: [number, number, number][] = [
  [33, 102, 172],
  [146, 197, 222],
  [247, 247, 247],
  [244, 165, 130],
  [178, 24, 43],
];

/** Blue (−maxAbs) → white (0) → red (+maxAbs), for signed matrices such as WᵀW. */
export function diverging(v: number, maxAbs: number): string {
  const m = maxAbs > 0 ? maxAbs : 1;
  return lerpColor(DIVERGING, 0.5 + 0.5 * Math.max(-1, Math.min(1, v / m)));
}

/**
 * Colour for a feature's superposition Σ_{j≠i} (Ŵᵢ·Wⱼ)² as the paper draws its bars: black
 * when the feature has its own dimension (0), shading to yellow at 1 and above.
 */
export function superpositionColor(s: number): string {
  return lerpColor([[20, 20, 20], [120, 60, 140], [230, 120, 40], [250, 220, 60]], Math.min(1, s));
}

// ------------------------------------------------------------------ scales and frames

/** A function from data to pixels that also knows its ticks. */
export interface Scale {
  (v: number): number;
  ticks: number[];
  log: boolean;
}

/** A linear or base-10 log scale mapping `domain` onto `range`. */
export function scale(domain: [number, number], range: [number, number], log = false): Scale {
  const [d0, d1] = log ? [Math.log10(domain[0]), Math.log10(domain[1])] : domain;
  const span = d1 - d0 || 1;
  const f = ((v: number) => {
    const t = ((log ? Math.log10(v) : v) - d0) / span;
    return range[0] + t * (range[1] - range[0]);
  }) as Scale;
  f.log = log;
  f.ticks = log ? logTicks(domain) : linearTicks(domain);
  return f;
}

function linearTicks([a, b]: [number, number], count = 5): number[] {
  const lo = Math.min(a, b), hi = Math.max(a, b);
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * p).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function logTicks([a, b]: [number, number]): number[] {
  const lo = Math.min(a, b), hi = Math.max(a, b);
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo) + 1e-9); e <= Math.ceil(Math.log10(hi) - 1e-9); e++) {
    const v = 10 ** e;
    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
  }
  if (out.length < 3) {
    // A narrow log range: 1-2-5 ticks inside it.
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const k of [2, 5]) {
        const v = k * 10 ** e;
        if (v >= lo && v <= hi) out.push(v);
      }
    }
    out.sort((x, y) => x - y);
  }
  return out;
}

/** Wrap a body in an `<svg>` element of the given size. */
export function svg(
  width: number,
  height: number,
  body: string,
  opts: { label?: string; className?: string } = {},
): string {
  const label = opts.label ? ` role="img" aria-label="${escapeXml(opts.label)}"` : "";
  const cls = opts.className ? ` class="${escapeXml(opts.className)}"` : "";
  return `<svg width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}"${cls}${label} font-family="system-ui, sans-serif" ` +
    `font-size="11">${body}</svg>`;
}

/** A `<text>` element. */
export function text(
  x: number,
  y: number,
  s: string,
  opts: {
    anchor?: "start" | "middle" | "end";
    size?: number;
    color?: string;
    rotate?: number;
    weight?: string;
  } = {},
): string {
  const attrs = [`x="${num(x)}"`, `y="${num(y)}"`];
  if (opts.anchor && opts.anchor !== "start") attrs.push(`text-anchor="${opts.anchor}"`);
  if (opts.size) attrs.push(`font-size="${opts.size}"`);
  if (opts.color) attrs.push(`fill="${opts.color}"`);
  if (opts.weight) attrs.push(`font-weight="${opts.weight}"`);
  if (opts.rotate) attrs.push(`transform="rotate(${opts.rotate} ${num(x)} ${num(y)})"`);
  return `<text ${attrs.join(" ")}>${escapeXml(s)}</text>`;
}

/** A `<title>` child (hover tooltip), or "" for none. */
function tip(s: string | undefined): string {
  return s ? `<title>${escapeXml(s)}</title>` : "";
}

// ------------------------------------------------------------------ line / scatter plot

/** One axis of {@link plot}. */
export interface Axis {
  label: string;
  domain: [number, number];
  log?: boolean;
  /** Tick values (default: from the scale). */
  ticks?: number[];
  tickFormat?: (v: number) => string;
}

/** One data series of {@link plot}. */
export interface Series {
  kind: "line" | "points";
  points: [number, number][];
  color: string;
  label?: string;
  /** Point radius (points) or stroke width (line). */
  size?: number;
  opacity?: number;
  /** Tooltip per point. */
  titles?: string[];
}

/** A labelled horizontal guide line of {@link plot}. */
export interface GuideLine {
  y: number;
  label: string;
  color?: string;
}

/** Options of {@link plot}. */
export interface PlotOptions {
  width?: number;
  height?: number;
  x: Axis;
  y: Axis;
  series: Series[];
  hlines?: GuideLine[];
  title?: string;
  /** Show a legend of the labelled series (top right). */
  legend?: boolean;
}

/**
 * A line and/or scatter plot with axes, ticks, optional log scales and guide lines.
 *
 * @example
 * ```ts
 * const s = plot({
 *   x: { label: "1/(1−S)", domain: [1, 100], log: true },
 *   y: { label: "dims per feature", domain: [0, 1] },
 *   series: [{ kind: "line", points: [[1, 1], [100, 0.4]], color: "black" }],
 *   hlines: [{ y: 0.5, label: "1/2" }],
 * });
 * ```
 */
export function plot(opts: PlotOptions): string {
  const width = opts.width ?? 560, height = opts.height ?? 340;
  const m = { l: 56, r: opts.hlines?.length ? 118 : 16, t: opts.title ? 26 : 12, b: 44 };
  const sx = scale(opts.x.domain, [m.l, width - m.r], opts.x.log);
  const sy = scale(opts.y.domain, [height - m.b, m.t], opts.y.log);
  const fx = opts.x.tickFormat ?? ((v: number) => fmt(v));
  const fy = opts.y.tickFormat ?? ((v: number) => fmt(v));
  const parts: string[] = [];
  const clipId = `clip${Math.random().toString(36).slice(2, 9)}`;
  parts.push(
    `<defs><clipPath id="${clipId}"><rect x="${m.l}" y="${m.t}" width="${width - m.l - m.r}" ` +
      `height="${height - m.t - m.b}"/></clipPath></defs>`,
  );
  if (opts.title) parts.push(text(m.l, 16, opts.title, { weight: "600", size: 12 }));
  // Grid and ticks.
  for (const v of opts.x.ticks ?? sx.ticks) {
    const x = sx(v);
    parts.push(
      `<line x1="${num(x)}" y1="${m.t}" x2="${num(x)}" y2="${height - m.b}" stroke="#eee"/>`,
      `<line x1="${num(x)}" y1="${height - m.b}" x2="${num(x)}" y2="${
        height - m.b + 4
      }" stroke="#444"/>`,
      text(x, height - m.b + 16, fx(v), { anchor: "middle" }),
    );
  }
  for (const v of opts.y.ticks ?? sy.ticks) {
    const y = sy(v);
    parts.push(
      `<line x1="${m.l}" y1="${num(y)}" x2="${width - m.r}" y2="${num(y)}" stroke="#eee"/>`,
      `<line x1="${m.l - 4}" y1="${num(y)}" x2="${m.l}" y2="${num(y)}" stroke="#444"/>`,
      text(m.l - 7, y + 4, fy(v), { anchor: "end" }),
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${width - m.l - m.r}" height="${height - m.t - m.b}" ` +
      `fill="none" stroke="#444"/>`,
    text((m.l + width - m.r) / 2, height - 8, opts.x.label, { anchor: "middle", size: 12 }),
    text(14, (m.t + height - m.b) / 2, opts.y.label, { anchor: "middle", size: 12, rotate: -90 }),
  );
  // Guide labels, top to bottom, pushed apart where lines are closer than a text line.
  const guides = (opts.hlines ?? []).map((h) => ({ h, y: sy(h.y), ly: sy(h.y) }))
    .sort((a, b) => a.y - b.y);
  for (let i = 1; i < guides.length; i++) {
    guides[i].ly = Math.max(guides[i].ly, guides[i - 1].ly + 11);
  }
  for (const { h, y, ly } of guides) {
    const c = h.color ?? "#888";
    parts.push(
      `<line class="guide" x1="${m.l}" y1="${num(y)}" x2="${width - m.r}" y2="${num(y)}" ` +
        `stroke="${c}" stroke-dasharray="4 3"/>`,
      text(width - m.r + 5, ly + 4, h.label, { color: c }),
    );
  }
  const body: string[] = [];
  for (const s of opts.series) {
    const op = s.opacity !== undefined ? ` opacity="${s.opacity}"` : "";
    if (s.kind === "line") {
      const d = s.points.filter(([x, y]) => Number.isFinite(sx(x)) && Number.isFinite(sy(y)))
        .map(([x, y], i) => `${i ? "L" : "M"}${num(sx(x))},${num(sy(y))}`).join("");
      body.push(
        `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.size ?? 2}"${op}/>`,
      );
      for (const [i, [x, y]] of s.points.entries()) {
        if (!Number.isFinite(sx(x)) || !Number.isFinite(sy(y))) continue;
        body.push(
          `<circle cx="${num(sx(x))}" cy="${num(sy(y))}" r="${(s.size ?? 2) + 1}" ` +
            `fill="${s.color}"${op}>${tip(s.titles?.[i])}</circle>`,
        );
      }
    } else {
      for (const [i, [x, y]] of s.points.entries()) {
        if (!Number.isFinite(sx(x)) || !Number.isFinite(sy(y))) continue;
        body.push(
          `<circle class="pt" cx="${num(sx(x))}" cy="${num(sy(y))}" r="${s.size ?? 3}" ` +
            `fill="${s.color}"${op}>${tip(s.titles?.[i])}</circle>`,
        );
      }
    }
  }
  parts.push(`<g clip-path="url(#${clipId})">${body.join("")}</g>`);
  if (opts.legend) {
    const labelled = opts.series.filter((s) => s.label);
    labelled.forEach((s, i) => {
      const y = m.t + 14 + i * 15;
      const x = width - m.r - 150;
      parts.push(
        s.kind === "line"
          ? `<line x1="${x}" y1="${y - 4}" x2="${x + 16}" y2="${
            y - 4
          }" stroke="${s.color}" stroke-width="2"/>`
          : `<circle cx="${x + 8}" cy="${y - 4}" r="3.5" fill="${s.color}"/>`,
        text(x + 22, y, s.label!),
      );
    });
  }
  return svg(width, height, parts.join(""), { label: opts.title ?? opts.y.label });
}

// ------------------------------------------------------------------ heatmap

/** Options of {@link heatmap}. */
export interface HeatmapOptions {
  /** Cell size in pixels (default: fits `size`). */
  cell?: number;
  /** Largest width/height of the grid in pixels when `cell` is not given (default 200). */
  size?: number;
  /** Colour scale ±maxAbs (default: the largest |value|). */
  maxAbs?: number;
  rowLabels?: string[];
  colLabels?: string[];
  title?: string;
  /** Colour of a value (default {@link diverging}). */
  color?: (v: number) => string;
  /** Tooltip of cell (r, c) (default "[r, c] = v"). */
  cellTitle?: (r: number, c: number, v: number) => string;
  /** Draw a colour bar beside the grid (default true). */
  colorbar?: boolean;
}

/**
 * A matrix as coloured cells (row 0 at the top), with a tooltip per cell and a colour bar.
 *
 * @example
 * ```ts
 * const s = heatmap([[1, -0.3], [-0.3, 1]], { title: "WᵀW" });
 * ```
 */
export function heatmap(values: number[][], opts: HeatmapOptions = {}): string {
  const rows = values.length, cols = rows ? values[0].length : 0;
  const maxAbs = opts.maxAbs ??
    Math.max(1e-12, ...values.flat().map((v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
  const color = opts.color ?? ((v: number) => diverging(v, maxAbs));
  const cell = opts.cell ?? Math.max(2, Math.floor((opts.size ?? 200) / Math.max(rows, cols, 1)));
  const left = opts.rowLabels ? 22 : 4;
  const top = (opts.title ? 18 : 2) + (opts.colLabels ? 14 : 2);
  const bar = opts.colorbar ?? true;
  const gw = cols * cell, gh = rows * cell;
  const width = left + gw + (bar ? 56 : 6);
  const height = Math.max(top + gh + 6, bar ? top + 90 : 0);
  const parts: string[] = [];
  if (opts.title) parts.push(text(left, 13, opts.title, { weight: "600", size: 12 }));
  const showTips = rows * cols <= 4096;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r][c];
      const t = showTips
        ? tip(opts.cellTitle ? opts.cellTitle(r, c, v) : `[${r}, ${c}] = ${fmt(v)}`)
        : "";
      parts.push(
        `<rect x="${left + c * cell}" y="${top + r * cell}" width="${cell}" height="${cell}" ` +
          `fill="${color(v)}">${t}</rect>`,
      );
    }
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${gw}" height="${gh}" fill="none" stroke="#999"/>`,
  );
  const labelEvery = Math.max(1, Math.ceil(10 / cell));
  opts.rowLabels?.forEach((s, r) => {
    if (r % labelEvery === 0) {
      parts.push(text(left - 4, top + r * cell + cell / 2 + 4, s, { anchor: "end", size: 9 }));
    }
  });
  opts.colLabels?.forEach((s, c) => {
    if (c % labelEvery === 0) {
      parts.push(text(left + c * cell + cell / 2, top - 4, s, { anchor: "middle", size: 9 }));
    }
  });
  if (bar) {
    const bx = left + gw + 10, bh = 80, steps = 20;
    for (let i = 0; i < steps; i++) {
      const v = maxAbs * (1 - (2 * (i + 0.5)) / steps);
      parts.push(
        `<rect x="${bx}" y="${num(top + (i * bh) / steps)}" width="10" ` +
          `height="${num(bh / steps + 0.5)}" fill="${color(v)}"/>`,
      );
    }
    parts.push(
      `<rect x="${bx}" y="${top}" width="10" height="${bh}" fill="none" stroke="#999"/>`,
      text(bx + 14, top + 8, fmt(maxAbs), { size: 9 }),
      text(bx + 14, top + bh / 2 + 3, "0", { size: 9 }),
      text(bx + 14, top + bh, fmt(-maxAbs), { size: 9 }),
    );
  }
  return svg(width, height, parts.join(""), { label: opts.title ?? "heatmap" });
}

// ------------------------------------------------------------------ arrows

/** One arrow of {@link arrows2d}. */
export interface Arrow {
  x: number;
  y: number;
  color: string;
  label?: string;
  title?: string;
}

/** Options of {@link arrows2d}. */
export interface ArrowOptions {
  /** Width and height in pixels (default 180). */
  size?: number;
  /** Half-width of the view in data units (default: the longest arrow × 1.15, at least 1). */
  extent?: number;
  title?: string;
  /** Draw the unit circle (default true). */
  unitCircle?: boolean;
}

/**
 * Vectors drawn as arrows from the origin (y up), with the unit circle and axes for scale: the
 * toy model's feature directions (columns of W) for m = 2, or m = 1 with y = 0.
 *
 * @example
 * ```ts
 * const s = arrows2d([{ x: 1, y: 0, color: "gold", label: "0" }], { title: "W columns" });
 * ```
 */
export function arrows2d(arrows: Arrow[], opts: ArrowOptions = {}): string {
  const size = opts.size ?? 180;
  const top = opts.title ? 18 : 0;
  const longest = Math.max(0, ...arrows.map((a) => Math.hypot(a.x, a.y)).filter(Number.isFinite));
  const extent = opts.extent ?? Math.max(1, longest * 1.15);
  const r = (size / 2 - 6) / extent;
  const cx = size / 2, cy = top + size / 2;
  const head = Math.max(4, size / 30);
  const parts: string[] = [];
  if (opts.title) parts.push(text(4, 13, opts.title, { weight: "600", size: 12 }));
  parts.push(
    `<line x1="4" y1="${cy}" x2="${size - 4}" y2="${cy}" stroke="#ddd"/>`,
    `<line x1="${cx}" y1="${top + 4}" x2="${cx}" y2="${top + size - 4}" stroke="#ddd"/>`,
  );
  if (opts.unitCircle ?? true) {
    parts.push(
      `<circle cx="${cx}" cy="${cy}" r="${
        num(r)
      }" fill="none" stroke="#bbb" stroke-dasharray="3 3"/>`,
    );
  }
  // Shortest arrows last, so that a small one is not hidden under a long one.
  const order = arrows.map((_, i) => i).sort((i, j) =>
    Math.hypot(arrows[j].x, arrows[j].y) - Math.hypot(arrows[i].x, arrows[i].y)
  );
  for (const i of order) {
    const a = arrows[i];
    if (!Number.isFinite(a.x) || !Number.isFinite(a.y)) continue;
    const x = cx + a.x * r, y = cy - a.y * r;
    const len = Math.hypot(x - cx, y - cy);
    const g: string[] = [`<g class="arrow" data-f="${i}">${tip(a.title)}`];
    if (len < 1.5) {
      g.push(
        `<circle cx="${num(cx)}" cy="${
          num(cy)
        }" r="2.5" fill="${a.color}" stroke="#333" stroke-width="0.5"/>`,
      );
    } else {
      const ux = (x - cx) / len, uy = (y - cy) / len;
      const h = Math.min(head, len * 0.6);
      const bx = x - ux * h, by = y - uy * h;
      g.push(
        `<line x1="${cx}" y1="${cy}" x2="${num(bx)}" y2="${
          num(by)
        }" stroke="${a.color}" stroke-width="2.5"/>`,
        `<path d="M${num(x)},${num(y)}L${num(bx - uy * h * 0.55)},${num(by + ux * h * 0.55)}` +
          `L${num(bx + uy * h * 0.55)},${num(by - ux * h * 0.55)}Z" fill="${a.color}"/>`,
      );
      if (a.label !== undefined) {
        g.push(
          text(x + ux * 9, y + uy * 9 + 4, a.label, { anchor: "middle", size: 10, color: "#333" }),
        );
      }
    }
    g.push("</g>");
    parts.push(g.join(""));
  }
  return svg(size, top + size, parts.join(""), { label: opts.title ?? "feature directions" });
}

// ------------------------------------------------------------------ bars

/** Options of {@link bars}. */
export interface BarOptions {
  width?: number;
  /** Row height in pixels (default: fits 200 px, 3 to 14). */
  row?: number;
  /** Value at the right edge (default: max(1, largest value)). */
  max?: number;
  labels?: string[];
  titles?: string[];
  title?: string;
  /** Draw a reference line at this value (default 1). */
  reference?: number;
}

/**
 * Horizontal bars, one per value (the paper's feature-norm bars, coloured by superposition).
 *
 * @example
 * ```ts
 * const s = bars([1, 0.9, 0.1], ["black", "black", "gold"], { title: "‖Wᵢ‖" });
 * ```
 */
export function bars(values: number[], colors: string[], opts: BarOptions = {}): string {
  const width = opts.width ?? 200;
  const row = opts.row ?? Math.max(3, Math.min(14, Math.floor(200 / Math.max(1, values.length))));
  const top = opts.title ? 18 : 2;
  const left = opts.labels && row >= 9 ? 22 : 4;
  const max = opts.max ?? Math.max(1, ...values.filter(Number.isFinite));
  const w = width - left - 8;
  const parts: string[] = [];
  if (opts.title) parts.push(text(4, 13, opts.title, { weight: "600", size: 12 }));
  values.forEach((v, i) => {
    const bw = Math.max(0, Math.min(1, (Number.isFinite(v) ? v : 0) / max)) * w;
    const y = top + i * row;
    parts.push(
      `<rect class="bar" data-f="${i}" x="${left}" y="${y + 0.5}" width="${num(bw)}" ` +
        `height="${Math.max(1, row - 1)}" fill="${colors[i] ?? "#333"}">${
          tip(opts.titles?.[i])
        }</rect>`,
    );
    if (opts.labels && row >= 9) {
      parts.push(text(left - 4, y + row / 2 + 3.5, opts.labels[i], { anchor: "end", size: 9 }));
    }
  });
  const ref = opts.reference ?? 1;
  if (ref <= max) {
    const x = left + (ref / max) * w;
    parts.push(
      `<line x1="${num(x)}" y1="${top}" x2="${num(x)}" y2="${top + values.length * row}" ` +
        `stroke="#999" stroke-dasharray="3 2"/>`,
      text(x, top + values.length * row + 11, fmt(ref), { anchor: "middle", size: 9 }),
    );
  }
  return svg(width, top + values.length * row + 14, parts.join(""), {
    label: opts.title ?? "bars",
  });
}
