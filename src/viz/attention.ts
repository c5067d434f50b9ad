/// <reference lib="dom" />
/**
 * The attention view, like CircuitsVis's `attention_heads`: a thumbnail of every head's pattern,
 * layer by layer; clicking one shows it as a large token-by-token heatmap; hovering a token (in
 * the heatmap's labels or in the token strip) highlights what it attends to (blue) and what
 * attends to it (orange); clicking a token keeps that focus.
 *
 * One implementation serves two places:
 * - in a browser page, call {@link mountAttentionView} on an element;
 * - for a self-contained file, {@link attentionViewHtml} writes a whole HTML document with the
 *   data and the same function's source inlined (`mountAttentionView.toString()`, which is why it
 *   is written as one function that refers to nothing outside itself). {@link attentionViewScript}
 *   and {@link attentionViewFragment} give the pieces for embedding in another page.
 *
 * @module
 */

import type { ActivationCache } from "../model/hooks.ts";
import type { HookedTransformer } from "../model/hooked_transformer.ts";
import { readTensors, type Tensor } from "../tensor.ts";

/** What the view shows: the tokens and every head's pattern. */
export interface AttentionViewData {
  /** The token strings, one per position. */
  tokens: string[];
  /**
   * `patterns[layer][head]`: the head's attention pattern, row-major [query, key] (P × P
   * values in [0, 1], each row summing to 1 over keys ≤ query).
   */
  patterns: ArrayLike<number>[][];
  /** Layer names (default "Layer 0", ...). */
  layerNames?: string[];
  /** A title above the view. */
  title?: string;
}

/** What {@link mountAttentionView} returns. */
export interface AttentionViewHandle {
  /** Show head `head` of layer `layer` large. */
  select(layer: number, head: number): void;
  /** Focus a token (as hovering it does), or null to clear. */
  focus(token: number | null): void;
  /** The head shown: [layer, head]. */
  selected(): [number, number];
  /** Remove the view from its element. */
  destroy(): void;
}

/** Options of {@link mountAttentionView}. */
export interface AttentionViewOptions {
  /** The head shown first (default [0, 0]). */
  initial?: [number, number];
  /** Largest side of the big heatmap in CSS pixels (default 480). */
  maxSize?: number;
}

/**
 * Render the attention view into `root` (replacing its content). Runs in a browser; the same
 * function's source is what {@link attentionViewHtml} inlines, so it uses nothing from outside
 * its own body.
 *
 * @example
 * ```ts
 * const view = mountAttentionView(document.getElementById("view")!, data);
 * view.select(1, 3);
 * ```
 */
export function mountAttentionView(
  root: HTMLElement,
  data: AttentionViewData,
  opts: AttentionViewOptions = {},
): AttentionViewHandle {
  const CSS = `
.gb-attn { font: 13px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
  background: #fff; padding: 12px; box-sizing: border-box; }
.gb-attn * { box-sizing: border-box; }
.gb-attn h2 { font-size: 16px; margin: 0 0 4px; font-weight: 600; }
.gb-attn-hint { color: #57606a; font-size: 12px; margin-bottom: 10px; }
.gb-attn-body { display: flex; gap: 20px; align-items: flex-start; flex-wrap: wrap; }
.gb-attn-heads { display: grid; gap: 3px; align-items: center; justify-items: center; }
.gb-attn-heads-label { font-size: 11px; color: #57606a; }
.gb-attn-layer-label { font-size: 11px; color: #57606a; justify-self: end; padding-right: 4px;
  white-space: nowrap; }
.gb-attn-thumb { padding: 1px; border: 2px solid transparent; border-radius: 4px; background: none;
  cursor: pointer; line-height: 0; }
.gb-attn-thumb:hover { border-color: #afb8c1; }
.gb-attn-thumb[aria-pressed="true"] { border-color: #0969da; background: #ddf4ff; }
.gb-attn-thumb canvas { image-rendering: pixelated; display: block; border: 1px solid #d0d7de; }
.gb-attn-main { display: flex; flex-direction: column; gap: 8px; }
.gb-attn-title { font-size: 15px; font-weight: 600; }
.gb-attn-matrix { display: grid; align-items: end; }
.gb-attn-cols { position: relative; }
.gb-attn-col { position: absolute; bottom: 2px; transform-origin: 0 100%; white-space: pre;
  font-size: 11px; color: #444c56; cursor: default; overflow: hidden; text-overflow: ellipsis; }
.gb-attn-rows { display: flex; flex-direction: column; align-items: flex-end; padding-right: 4px; }
.gb-attn-row { white-space: pre; font-size: 11px; color: #444c56; overflow: hidden;
  text-overflow: ellipsis; max-width: 100%; cursor: default; display: flex; align-items: center; }
.gb-attn-row.gb-on, .gb-attn-col.gb-on { color: #0969da; font-weight: 600; }
.gb-attn-canvas { position: relative; align-self: start; }
.gb-attn-canvas canvas { position: absolute; left: 0; top: 0; }
.gb-attn-heat { image-rendering: pixelated; border: 1px solid #d0d7de; }
.gb-attn-info { min-height: 20px; font-size: 12px; color: #24292f; font-variant-numeric: tabular-nums; }
.gb-attn-tokens { margin-top: 14px; line-height: 1.9; max-width: 1100px; }
.gb-attn-tok { display: inline-block; white-space: pre; padding: 0 3px; margin: 2px 1px; border-radius: 3px;
  border: 1px solid #eaeef2; cursor: pointer; font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
  font-size: 13px; }
.gb-attn-tok.gb-focus { outline: 2px solid #1f2328; }
.gb-attn-legend { font-size: 12px; color: #57606a; margin-top: 6px; }
.gb-attn-sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; vertical-align: -1px; }
`;
  const doc = root.ownerDocument;
  if (!doc.getElementById("gb-attn-style")) {
    const st = doc.createElement("style");
    st.id = "gb-attn-style";
    st.textContent = CSS;
    doc.head.appendChild(st);
  }
  const tokens = data.tokens.map(String);
  const P = tokens.length;
  const L = data.patterns.length;
  if (P === 0 || L === 0) {
    root.textContent = "Nothing to show: no tokens or no layers.";
    return { select() {}, focus() {}, selected: () => [0, 0], destroy() {} };
  }
  for (const [l, heads] of data.patterns.entries()) {
    for (const [h, pat] of heads.entries()) {
      if (pat.length !== P * P) {
        throw new RangeError(
          `mountAttentionView: pattern of layer ${l} head ${h} has ${pat.length} values; ` +
            `${P} tokens need ${P * P}`,
        );
      }
    }
  }
  const layerName = (l: number) => data.layerNames?.[l] ?? `Layer ${l}`;
  const show = (t: string) => t.replace(/\n/g, "↵").replace(/\t/g, "⇥") || "∅";
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string) => {
    const e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const clamp01 = (v: number) => (v > 1 ? 1 : v > 0 ? v : 0);
  // White to dark blue; keys after the query (masked) light grey.
  const rgb = (v: number): [number, number, number] => {
    const t = clamp01(v);
    return [
      Math.round(255 - t * (255 - 8)),
      Math.round(255 - t * (255 - 48)),
      Math.round(255 - t * (255 - 107)),
    ];
  };
  const paint = (canvas: HTMLCanvasElement, pat: ArrayLike<number>) => {
    canvas.width = P;
    canvas.height = P;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    const img = ctx.createImageData(P, P);
    for (let q = 0; q < P; q++) {
      for (let k = 0; k < P; k++) {
        const i = (q * P + k) * 4;
        const [r, g, b] = k > q ? [238, 240, 243] : rgb(pat[q * P + k]);
        img.data[i] = r;
        img.data[i + 1] = g;
        img.data[i + 2] = b;
        img.data[i + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  };

  let cur: [number, number] = [0, 0];
  if (opts.initial) {
    const [l0, h0] = opts.initial;
    if (l0 >= 0 && l0 < L && h0 >= 0 && h0 < data.patterns[l0].length) cur = [l0, h0];
  }
  let focusTok: number | null = null;
  let locked = false;
  let hoverCell: [number, number] | null = null;

  root.replaceChildren();
  const wrap = el("div", "gb-attn");
  if (data.title) wrap.appendChild(el("h2", undefined, data.title));
  wrap.appendChild(
    el(
      "div",
      "gb-attn-hint",
      "Click a head to enlarge it. Hover a cell, a label or a token: blue is what that token " +
        "attends to, orange what attends to it. Click a token to keep the focus.",
    ),
  );
  const body = el("div", "gb-attn-body");
  wrap.appendChild(body);

  // Thumbnails: one row per layer, one column per head.
  const nHeadsMax = Math.max(...data.patterns.map((hs) => hs.length));
  const thumbSize = Math.max(22, Math.min(64, Math.floor(480 / nHeadsMax) - 8));
  const headsPanel = el("div", "gb-attn-heads");
  headsPanel.style.gridTemplateColumns = `auto repeat(${nHeadsMax}, ${thumbSize + 6}px)`;
  headsPanel.appendChild(el("div"));
  for (let h = 0; h < nHeadsMax; h++) {
    headsPanel.appendChild(el("div", "gb-attn-heads-label", `H${h}`));
  }
  const thumbs: HTMLButtonElement[][] = [];
  data.patterns.forEach((heads, l) => {
    const label = el("div", "gb-attn-layer-label", data.layerNames?.[l] ?? `L${l}`);
    label.title = layerName(l);
    headsPanel.appendChild(label);
    thumbs.push(heads.map((pat, h) => {
      const b = el("button", "gb-attn-thumb");
      b.type = "button";
      b.title = `${layerName(l)}, head ${h}`;
      b.dataset.layer = String(l);
      b.dataset.head = String(h);
      const c = el("canvas");
      c.style.width = `${thumbSize}px`;
      c.style.height = `${thumbSize}px`;
      paint(c, pat);
      b.appendChild(c);
      b.addEventListener("click", () => select(l, h));
      headsPanel.appendChild(b);
      return b;
    }));
    for (let h = heads.length; h < nHeadsMax; h++) headsPanel.appendChild(el("div"));
  });
  body.appendChild(headsPanel);

  // The big heatmap with token labels.
  const main = el("div", "gb-attn-main");
  const title = el("div", "gb-attn-title");
  main.appendChild(title);
  const maxSize = opts.maxSize ?? 480;
  const cell = Math.max(3, Math.min(28, Math.floor(maxSize / P)));
  const side = cell * P;
  const labelsOn = cell >= 8;
  const font = Math.max(8, Math.min(12, cell - 2));
  const longest = tokens.reduce((m, t) => Math.max(m, show(t).length), 1);
  const labelW = labelsOn ? Math.min(140, 14 + longest * font * 0.62) : 8;
  const colH = labelsOn ? Math.min(110, 10 + longest * font * 0.55) : 8;
  const matrix = el("div", "gb-attn-matrix");
  matrix.style.gridTemplateColumns = `${labelW}px ${side + 2}px`;
  matrix.appendChild(el("div"));
  const cols = el("div", "gb-attn-cols");
  cols.style.height = `${colH}px`;
  const rows = el("div", "gb-attn-rows");
  const colEls: HTMLElement[] = [];
  const rowEls: HTMLElement[] = [];
  tokens.forEach((t, i) => {
    const c = el("div", "gb-attn-col", labelsOn ? show(t) : "");
    c.style.left = `${1 + i * cell + cell / 2 - font / 2}px`;
    c.style.fontSize = `${font}px`;
    c.style.maxWidth = `${colH * 1.3}px`;
    c.style.transform = "rotate(-60deg) translateX(2px)";
    c.title = `key ${i}: ${JSON.stringify(t)}`;
    c.addEventListener("mouseenter", () => hoverToken(i));
    c.addEventListener("mouseleave", () => hoverToken(null));
    c.addEventListener("click", () => clickToken(i));
    cols.appendChild(c);
    colEls.push(c);
    const r = el("div", "gb-attn-row", labelsOn ? show(t) : "");
    r.style.height = `${cell}px`;
    r.style.fontSize = `${font}px`;
    r.title = `query ${i}: ${JSON.stringify(t)}`;
    r.addEventListener("mouseenter", () => hoverToken(i));
    r.addEventListener("mouseleave", () => hoverToken(null));
    r.addEventListener("click", () => clickToken(i));
    rows.appendChild(r);
    rowEls.push(r);
  });
  rows.style.paddingTop = "1px";
  matrix.appendChild(cols);
  matrix.appendChild(rows);
  const stack = el("div", "gb-attn-canvas");
  stack.style.width = `${side + 2}px`;
  stack.style.height = `${side + 2}px`;
  const heat = el("canvas", "gb-attn-heat");
  heat.style.width = `${side + 2}px`;
  heat.style.height = `${side + 2}px`;
  const overlay = el("canvas");
  const dpr = (globalThis as { devicePixelRatio?: number }).devicePixelRatio || 1;
  overlay.width = Math.round((side + 2) * dpr);
  overlay.height = Math.round((side + 2) * dpr);
  overlay.style.width = `${side + 2}px`;
  overlay.style.height = `${side + 2}px`;
  stack.appendChild(heat);
  stack.appendChild(overlay);
  matrix.appendChild(stack);
  main.appendChild(matrix);
  const info = el("div", "gb-attn-info", " ");
  main.appendChild(info);
  body.appendChild(main);

  // The token strip.
  const strip = el("div", "gb-attn-tokens");
  const tokEls = tokens.map((t, i) => {
    const s = el("span", "gb-attn-tok", show(t));
    s.title = `${i}: ${JSON.stringify(t)}`;
    s.dataset.index = String(i);
    s.addEventListener("mouseenter", () => hoverToken(i));
    s.addEventListener("mouseleave", () => hoverToken(null));
    s.addEventListener("click", () => clickToken(i));
    strip.appendChild(s);
    return s;
  });
  wrap.appendChild(strip);
  const legend = el("div", "gb-attn-legend");
  const sw = (color: string) => {
    const s = el("span", "gb-attn-sw");
    s.style.background = color;
    return s;
  };
  const ramp = sw("linear-gradient(90deg, #fff, rgb(8,48,107))");
  ramp.style.width = "48px";
  ramp.style.border = "1px solid #d0d7de";
  legend.append(
    "0 ",
    ramp,
    " 1 attention weight   ",
    sw("rgba(9,105,218,0.75)"),
    " focused token attends to   ",
    sw("rgba(230,120,20,0.75)"),
    " attends to the focused token",
  );
  wrap.appendChild(legend);
  root.appendChild(wrap);

  const pattern = () => data.patterns[cur[0]][cur[1]];
  const fmt = (v: number) => v.toFixed(3);

  function drawOverlay() {
    const ctx = overlay.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, side + 2, side + 2);
    const box = (x: number, y: number, w: number, h: number, color: string, lw: number) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = lw;
      ctx.strokeRect(1 + x + lw / 2, 1 + y + lw / 2, w - lw, h - lw);
    };
    if (focusTok !== null) {
      box(0, focusTok * cell, (focusTok + 1) * cell, cell, "rgba(9,105,218,0.95)", 2);
      box(
        focusTok * cell,
        focusTok * cell,
        cell,
        (P - focusTok) * cell,
        "rgba(230,120,20,0.95)",
        2,
      );
    }
    if (hoverCell) {
      const [q, k] = hoverCell;
      box(k * cell, q * cell, cell, cell, "#1f2328", Math.min(2, Math.max(1, cell / 6)));
    }
  }

  function drawStrip() {
    const pat = pattern();
    tokEls.forEach((s, j) => {
      s.classList.toggle("gb-focus", j === focusTok);
      if (focusTok === null) {
        s.style.background = "";
        s.style.color = "";
        return;
      }
      const q = focusTok;
      // j ≤ q: what the focused token attends to; j > q: what attends to it.
      const v = j <= q ? pat[q * P + j] : pat[j * P + q];
      const a = clamp01(v);
      s.style.background = j <= q ? `rgba(9,105,218,${a * 0.85})` : `rgba(230,120,20,${a * 0.85})`;
      s.style.color = a > 0.55 ? "#fff" : "";
      s.title = j <= q
        ? `${j}: ${JSON.stringify(tokens[j])}; ${q} attends to it: ${fmt(v)}`
        : `${j}: ${JSON.stringify(tokens[j])}; attends to ${q}: ${fmt(v)}`;
    });
    rowEls.forEach((r, i) => r.classList.toggle("gb-on", i === focusTok || i === hoverCell?.[0]));
    colEls.forEach((c, i) => c.classList.toggle("gb-on", i === focusTok || i === hoverCell?.[1]));
  }

  function describe() {
    const pat = pattern();
    const head = `${layerName(cur[0])}, head ${cur[1]}`;
    if (hoverCell) {
      const [q, k] = hoverCell;
      const v = k > q ? "masked (a query sees only earlier keys)" : fmt(pat[q * P + k]);
      info.textContent = `${head}: query ${q} ${JSON.stringify(tokens[q])} → key ${k} ${
        JSON.stringify(tokens[k])
      }: ${v}`;
      return;
    }
    if (focusTok !== null) {
      const q = focusTok;
      const top = Array.from({ length: q + 1 }, (_, k) => k)
        .sort((a, b) => pat[q * P + b] - pat[q * P + a])
        .slice(0, 3)
        .map((k) => `${k} ${JSON.stringify(tokens[k])} ${fmt(pat[q * P + k])}`);
      info.textContent = `${head}: token ${q} ${JSON.stringify(tokens[q])} attends most to ${
        top.join(", ")
      }${locked ? " (click it again to release)" : ""}`;
      return;
    }
    info.textContent = `${head}. Hover the heatmap or a token.`;
  }

  function refresh() {
    drawOverlay();
    drawStrip();
    describe();
  }

  function select(l: number, h: number) {
    if (!(l >= 0 && l < L && h >= 0 && h < data.patterns[l].length)) {
      throw new RangeError(`mountAttentionView: no head ${h} in layer ${l}`);
    }
    cur = [l, h];
    thumbs.forEach((row, li) =>
      row.forEach((b, hi) => b.setAttribute("aria-pressed", String(li === l && hi === h)))
    );
    root.dataset.layer = String(l);
    root.dataset.head = String(h);
    title.textContent = `${layerName(l)} · head ${h}`;
    paint(heat, pattern());
    refresh();
  }

  function hoverToken(i: number | null) {
    if (locked) return;
    focusTok = i;
    refresh();
  }

  function clickToken(i: number) {
    if (locked && focusTok === i) {
      locked = false;
    } else {
      locked = true;
      focusTok = i;
    }
    refresh();
  }

  const cellAt = (ev: MouseEvent): [number, number] | null => {
    const r = overlay.getBoundingClientRect();
    const x = ev.clientX - r.left - 1;
    const y = ev.clientY - r.top - 1;
    const k = Math.floor(x / cell);
    const q = Math.floor(y / cell);
    return q >= 0 && q < P && k >= 0 && k < P ? [q, k] : null;
  };
  overlay.addEventListener("mousemove", (ev) => {
    hoverCell = cellAt(ev);
    refresh();
  });
  overlay.addEventListener("mouseleave", () => {
    hoverCell = null;
    refresh();
  });
  overlay.addEventListener("click", (ev) => {
    const c = cellAt(ev);
    if (c) clickToken(c[0]);
  });

  select(cur[0], cur[1]);
  return {
    select,
    focus(i: number | null) {
      if (i !== null && !(Number.isInteger(i) && i >= 0 && i < P)) {
        throw new RangeError(`mountAttentionView: no token ${i} (there are ${P})`);
      }
      locked = false;
      focusTok = i;
      refresh();
    },
    selected: () => [cur[0], cur[1]],
    destroy() {
      root.replaceChildren();
      delete root.dataset.layer;
      delete root.dataset.head;
    },
  };
}

// ------------------------------------------------------------------------------ data

/**
 * The view's data from a cache holding every layer's `hook_pattern` (batch element `batch`,
 * default 0): one readback of all the patterns.
 *
 * @example
 * ```ts
 * const { cache } = model.runWithCache([ids], { names: /hook_pattern$/ });
 * const data = await attentionDataFromCache(cache, tokenizer.toStrTokens(ids));
 * cache.dispose();
 * ```
 */
export async function attentionDataFromCache(
  cache: ActivationCache,
  tokens: readonly string[],
  opts: { batch?: number; title?: string } = {},
): Promise<AttentionViewData> {
  const pats: Tensor[] = [];
  while (cache.has("pattern", pats.length)) pats.push(cache.get("pattern", pats.length));
  if (pats.length === 0) {
    throw new RangeError(
      "Cannot run attentionDataFromCache: the cache holds no blocks.0.attn.hook_pattern " +
        "(runWithCache(tokens, { names: /hook_pattern$/ }))",
    );
  }
  const [B, H, P, K] = pats[0].shape;
  const b = opts.batch ?? 0;
  if (!Number.isInteger(b) || b < 0 || b >= B) {
    throw new RangeError(`Cannot run attentionDataFromCache: batch ${b} is outside [0, ${B})`);
  }
  if (P !== tokens.length || K !== P) {
    throw new RangeError(
      `Cannot run attentionDataFromCache: ${tokens.length} token strings for patterns ` +
        `${pats[0].describe()} ([batch, head, query ${P}, key ${K}])`,
    );
  }
  const values = await readTensors(pats);
  const patterns = values.map((v) =>
    Array.from({ length: H }, (_, h) => {
      const start = (b * H + h) * P * P;
      return (v as Float32Array).slice(start, start + P * P);
    })
  );
  return { tokens: [...tokens], patterns, title: opts.title };
}

/**
 * Run `model` on one sequence of token ids and collect every head's pattern for the view.
 *
 * @example
 * ```ts
 * const ids = [...tok.toTokens("The cat sat on the mat. The cat")];
 * const data = await attentionData(model, ids, tok.toStrTokens(ids));
 * ```
 */
export async function attentionData(
  model: HookedTransformer,
  ids: readonly number[],
  tokens: readonly string[],
  opts: { title?: string } = {},
): Promise<AttentionViewData> {
  const { logits, cache } = model.runWithCache([ids], { names: /hook_pattern$/ });
  logits.dispose();
  try {
    return await attentionDataFromCache(cache, tokens, { title: opts.title });
  } finally {
    cache.dispose();
  }
}

// ------------------------------------------------------------------------------ strings

/** JSON for inlining in a `<script>`: values rounded to `digits` decimals, `<` escaped. */
export function attentionDataJson(data: AttentionViewData, digits = 4): string {
  const f = 10 ** digits;
  const json = JSON.stringify({
    tokens: data.tokens,
    patterns: data.patterns.map((heads) =>
      heads.map((p) => Array.from(p, (v) => Math.round(v * f) / f))
    ),
    layerNames: data.layerNames,
    title: data.title,
  });
  return json.replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/**
 * The view's JavaScript: defines `mountAttentionView(root, data, opts)` (the function above, as
 * source). Put it in a `<script>` and call it.
 *
 * @example
 * ```ts
 * const js = attentionViewScript(); // "function mountAttentionView(root, data, opts = {}) {...}"
 * ```
 */
export function attentionViewScript(): string {
  const src = mountAttentionView.toString();
  return src.startsWith("function mountAttentionView") ? src : `const mountAttentionView = ${src};`;
}

/**
 * An HTML fragment (a `<div>` and a `<script>`) showing the view, for embedding in a page.
 * `id` names the div (default "gb-attention"); `initial` is the [layer, head] shown first.
 *
 * @example
 * ```ts
 * const html = attentionViewFragment(data, { id: "attn-1", initial: [1, 2] });
 * ```
 */
export function attentionViewFragment(
  data: AttentionViewData,
  opts: { id?: string; initial?: [number, number] } = {},
): string {
  const id = opts.id ?? "gb-attention";
  if (!/^[A-Za-z][\w-]*$/.test(id)) {
    throw new RangeError(
      `Cannot run attentionViewFragment: id ${JSON.stringify(id)} is not a plain HTML id`,
    );
  }
  return `<div id="${id}"></div>\n<script>\n(() => {\n${attentionViewScript()}\n` +
    `mountAttentionView(document.getElementById(${JSON.stringify(id)}), ${attentionDataJson(data)}${
      opts.initial ? `, { initial: ${JSON.stringify(opts.initial)} }` : ""
    });\n})();\n</script>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A whole, self-contained HTML document showing the view (no network access needed);
 * `initial` is the [layer, head] shown first.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("attn.html", attentionViewHtml(data, { title: "gpt2 on a sentence" }));
 * ```
 */
export function attentionViewHtml(
  data: AttentionViewData,
  opts: { title?: string; initial?: [number, number] } = {},
): string {
  const title = opts.title ?? data.title ?? "Attention patterns";
  const withTitle = { ...data, title };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body { margin: 0; background: #fff; }</style>
</head>
<body>
${attentionViewFragment(withTitle, { id: "gb-attention", initial: opts.initial })}
</body>
</html>
`;
}
