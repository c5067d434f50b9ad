/**
 * Tokens coloured by a value (an activation, a direct-logit-attribution score, a loss), like
 * CircuitsVis's `colored_tokens`: an HTML fragment with no script, the value shown on hover.
 *
 * @module
 */

/** Options of {@link coloredTokens}. */
export interface ColoredTokensOptions {
  /**
   * "diverging": negative red, 0 white, positive blue, symmetric around 0; "sequential": white
   * (min) to blue (max); "auto" (default): diverging when the values have both signs.
   */
  colormap?: "auto" | "diverging" | "sequential";
  /** Value shown at full colour below (default: the data's minimum, or −max|v| diverging). */
  min?: number;
  /** Value shown at full colour above (default: the data's maximum, or max|v| diverging). */
  max?: number;
  /** Name of the value in the hover text (default "value"). */
  label?: string;
  /** Decimals in the hover text (default 4). */
  digits?: number;
  /** A title above the tokens. */
  title?: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A token as shown: newlines and tabs visible, an empty token as ∅. */
function shown(t: string): string {
  return t.replace(/\n/g, "↵").replace(/\t/g, "⇥") || "∅";
}

function mix(a: readonly number[], b: readonly number[], t: number): string {
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

const WHITE = [255, 255, 255];
const BLUE = [33, 102, 172];
const RED = [178, 24, 43];

/**
 * The colour of `value` (CSS `rgb(...)`) and whether text on it should be white.
 *
 * @example
 * ```ts
 * valueColor(1, -1, 1, "diverging"); // { background: "rgb(33, 102, 172)", dark: true }
 * ```
 */
export function valueColor(
  value: number,
  min: number,
  max: number,
  colormap: "diverging" | "sequential",
): { background: string; dark: boolean } {
  if (!Number.isFinite(value)) return { background: "rgb(230, 230, 230)", dark: false };
  let t: number;
  let to: readonly number[];
  if (colormap === "diverging") {
    const m = Math.max(Math.abs(min), Math.abs(max)) || 1;
    t = Math.min(1, Math.abs(value) / m);
    to = value < 0 ? RED : BLUE;
  } else {
    const span = max - min;
    t = span > 0 ? Math.min(1, Math.max(0, (value - min) / span)) : 0;
    to = BLUE;
  }
  return { background: mix(WHITE, to, t), dark: t > 0.6 };
}

/**
 * Tokens coloured by one value each, as an HTML fragment: every token is a `<span>` whose
 * background encodes its value and whose hover text (a `title`, and a tooltip shown while
 * hovered) gives the token, its position and the value. Text is escaped; whitespace is kept.
 *
 * @example
 * ```ts
 * const html = coloredTokens(tok.toStrTokens(ids), Array.from(await dla.read()), { label: "DLA" });
 * await Deno.writeTextFile("tokens.html", `<!doctype html><meta charset="utf-8">${html}`);
 * ```
 */
export function coloredTokens(
  tokens: readonly string[],
  values: ArrayLike<number>,
  opts: ColoredTokensOptions = {},
): string {
  if (tokens.length !== values.length) {
    throw new RangeError(
      `Cannot run coloredTokens: ${tokens.length} tokens but ${values.length} values`,
    );
  }
  const vals = Array.from(values, Number);
  const finite = vals.filter(Number.isFinite);
  const lo = finite.length ? Math.min(...finite) : 0;
  const hi = finite.length ? Math.max(...finite) : 0;
  const colormap = opts.colormap === undefined || opts.colormap === "auto"
    ? (lo < 0 && hi > 0 ? "diverging" : "sequential")
    : opts.colormap;
  if (colormap !== "diverging" && colormap !== "sequential") {
    throw new RangeError(
      `Cannot run coloredTokens: colormap "${colormap}" is not "auto", "diverging" or "sequential"`,
    );
  }
  let min = opts.min ?? lo;
  let max = opts.max ?? hi;
  if (colormap === "diverging" && opts.min === undefined && opts.max === undefined) {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    min = -m;
    max = m;
  }
  const label = opts.label ?? "value";
  const digits = opts.digits ?? 4;
  const spans = tokens.map((t, i) => {
    const v = vals[i];
    const { background, dark } = valueColor(v, min, max, colormap);
    const tip = `${i}: ${JSON.stringify(t)}  ${label} = ${
      Number.isFinite(v) ? v.toFixed(digits) : String(v)
    }`;
    return `<span class="gb-tok" style="background:${background};${dark ? "color:#fff;" : ""}" ` +
      `title="${escapeHtml(tip)}" data-tip="${escapeHtml(tip)}" data-value="${v}">${
        escapeHtml(shown(String(t)))
      }</span>`;
  });
  const legend = `<div class="gb-tokens-legend">${escapeHtml(label)}: ${
    colormap === "diverging"
      ? `red ${min.toFixed(digits)} · white 0 · blue ${max.toFixed(digits)}`
      : `white ${min.toFixed(digits)} → blue ${max.toFixed(digits)}`
  }</div>`;
  const style = `<style>
.gb-tokens { font: 13px/2.1 ui-monospace, SFMono-Regular, Menlo, monospace; color: #1f2328; }
.gb-tokens .gb-tok { white-space: pre; padding: 2px 1px; margin: 0 1px; border-radius: 3px;
  border: 1px solid #eaeef2; position: relative; cursor: default; }
.gb-tokens .gb-tok:hover { outline: 2px solid #1f2328; }
.gb-tokens .gb-tok:hover::after { content: attr(data-tip); position: absolute; left: 0; top: 100%;
  margin-top: 4px; z-index: 10; background: #1f2328; color: #fff; padding: 2px 6px; border-radius: 4px;
  font: 12px/1.4 system-ui, sans-serif; white-space: pre; pointer-events: none; }
.gb-tokens-legend { font: 12px system-ui, sans-serif; color: #57606a; margin-top: 4px; }
.gb-tokens h3 { font: 600 14px system-ui, sans-serif; margin: 0 0 4px; }
</style>`;
  const title = opts.title ? `<h3>${escapeHtml(opts.title)}</h3>` : "";
  return `<div class="gb-tokens">${style}${title}<div>${spans.join("")}</div>${legend}</div>`;
}
